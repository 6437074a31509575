"""Run every rule over every patch of a series, in one process or several."""

from __future__ import annotations

import multiprocessing
import os
from dataclasses import dataclass, field

from . import cache, prefilter
from .change import LazyFileChange, Series
from .finding import Finding
from .rulebase import Rule, all_rules
from .semdiff import IndexPool, PatchReview

# Patches per unit of work handed to a worker: long enough that a worker's incremental tree
# index pays off along consecutive commits, short enough to balance busy and quiet stretches.
CHUNK = 40
# --jobs 0 (the default) uses several processes only for ranges at least this long.
AUTO_JOBS_MIN_PATCHES = 200


@dataclass
class Report:
    series: Series
    findings: list[Finding] = field(default_factory=list)
    fixes: object | None = None  # analyzer.fixplan.FixSet, made for --fix / --format patch

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def auto_jobs(series: Series) -> int:
    """The number of processes ``--jobs 0`` means for this series."""
    if len(series.patches) < AUTO_JOBS_MIN_PATCHES:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def review(series: Series, rules: list[Rule] | None = None, progress=None, jobs: int = 1) -> Report:
    """Run ``rules`` (default: all) over every patch; ``progress(i, n, patch)`` is told as it goes.

    ``jobs`` > 1 reviews chunks of consecutive patches in that many forked processes and merges
    their findings in patch order: the report is the same as with one process.  (Every patch is
    reviewed against the whole series, so obligations met by later patches are seen either way.)
    """
    rules = all_rules() if rules is None else rules
    report = Report(series)
    n = len(series.patches)
    if jobs == 0:
        jobs = auto_jobs(series)
    jobs = min(jobs, (n + CHUNK - 1) // CHUNK)
    if jobs > 1 and "fork" in multiprocessing.get_all_start_methods():
        report.findings = _review_parallel(series, rules, progress, jobs)
        return report
    pool = IndexPool()
    try:
        for i in range(n):
            if progress is not None:
                progress(i + 1, n, series.patches[i])
            report.findings.extend(_review_one(series, rules, pool, i))
    finally:
        cache.store().flush()
    return report


def _review_one(series: Series, rules: list[Rule], pool: IndexPool, i: int) -> list[Finding]:
    patch = series.patches[i]
    if not prefilter.can_matter(patch):
        return []  # no relevant fact changes: no rule can fire (see prefilter)
    pr = PatchReview(patch, series, pool)
    out: list[Finding] = []
    for rule in rules:
        out.extend(rule.check(pr))
    for f in patch.files:
        if isinstance(f, LazyFileChange):
            f.unload()  # later patches read snapshots, not this patch's texts
    return out


# What forked workers review: set in the parent just before the fork, inherited by the children.
_WORK: dict = {}


def _worker_init() -> None:
    cache.forget()  # the parent's database connection must not be used across fork
    _WORK["pool"] = IndexPool()


def _worker_chunk(start: int) -> list[Finding]:
    series, rules, pool = _WORK["series"], _WORK["rules"], _WORK["pool"]
    out: list[Finding] = []
    try:
        for i in range(start, min(start + CHUNK, len(series.patches))):
            out.extend(_review_one(series, rules, pool, i))
    finally:
        cache.store().flush()
    return out


def _review_parallel(series: Series, rules: list[Rule], progress, jobs: int) -> list[Finding]:
    cache.store().flush()
    _WORK.update(series=series, rules=rules)
    n = len(series.patches)
    findings: list[Finding] = []
    ctx = multiprocessing.get_context("fork")
    try:
        with ctx.Pool(jobs, initializer=_worker_init) as workers:
            for k, chunk in enumerate(workers.imap(_worker_chunk, range(0, n, CHUNK))):
                findings.extend(chunk)  # imap keeps the order of the chunks: patch order
                if progress is not None:
                    last = min((k + 1) * CHUNK, n)
                    progress(last, n, series.patches[last - 1])
    finally:
        _WORK.clear()
    return findings
