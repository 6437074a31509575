"""Run every rule over every patch of a series, in one process or several."""

from __future__ import annotations

import gc
import multiprocessing
import os
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Iterator, Self

from qlint.analyzer.tree import cache, kbuild, shipped
from qlint.analyzer.diff import prefilter
from qlint.analyzer.change import InputError, LazyFileChange, Series
from qlint.analyzer.finding import Finding
from qlint.analyzer.fix.fixgen import generate as generate_fixes
from qlint.analyzer.fix.fixplan import FixSet
from qlint.analyzer.limits import FINDINGS, over
from qlint.analyzer.diff.review import Review
from qlint.analyzer.rule import Rule, all_rules
from qlint.analyzer.diff.semdiff import IndexPool

# Patches per unit of work of the prefilter pass handed to a worker.
CHUNK = 40
# Groups of patches to review per process (see _groups).
GROUPS_PER_JOB = 4
# Skipped patches between two steps of the garbage collector (see _Collector).
PREFILTER_STEP = 50
# --jobs 0 (the default) uses several processes only for ranges at least this long.
AUTO_JOBS_MIN_PATCHES = 200


class _Collector:
    """Keeps Python's cyclic garbage collector off the caches.

    A full collection visits every live container object, and a run holds hundreds of
    thousands of them in its caches (models, per-file scans, tree indexes), most of them alive
    to the end: on a release cycle reviewed from a warm cache, full collections took a third of
    the time.  So at every step (a reviewed patch, or a few skipped ones) what is alive is frozen
    out of the collector's scans, and every ``full_every`` steps everything is unfrozen and
    collected once, which frees reference cycles that died in between (qlint's own data makes
    none: a test checks that a review leaves no cyclic garbage).  Reference counting frees
    everything else as before, and automatic collection of young objects stays on.
    """

    def __init__(self, full_every: int = 128):
        self.full_every = full_every
        self.steps = 0

    def __enter__(self) -> Self:
        gc.freeze()
        return self

    def step(self) -> None:
        self.steps += 1
        if self.steps % self.full_every == 0:
            gc.unfreeze()
            gc.collect()
        gc.freeze()

    def __exit__(self, *exc) -> None:
        gc.unfreeze()


@dataclass
class Report:
    """What a review found, and what reporters render."""

    series: Series
    findings: list[Finding] = field(default_factory=list)
    _fixes: FixSet | None = field(default=None, repr=False)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    @property
    def fixes(self) -> FixSet:
        """The edits of the findings' fix plans at the reviewed tip (``--fix``), and the findings
        with none: made by fixgen the first time they are asked for, so that a reporter only
        prints them."""
        if self._fixes is None:
            self._fixes = generate_fixes(self)
        return self._fixes


def auto_jobs(series: Series) -> int:
    """The number of processes ``--jobs 0`` means for this series."""
    if len(series.patches) < AUTO_JOBS_MIN_PATCHES:
        return 1
    return max(1, min(os.cpu_count() or 1, 8))


def review(series: Series, rules: list[Rule] | None = None, progress=None, jobs: int = 1) -> Report:
    """Run ``rules`` (default: all) over every patch; ``progress(i, n, patch)`` is told as it goes.

    ``jobs`` > 1 prefilters and then reviews groups of consecutive patches in that many forked
    processes and merges their findings in patch order: the report is the same as with one
    process.  (Every patch is reviewed against the whole series, so obligations met by later
    patches are seen either way.)
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
        with _Collector() as collector:
            for i in range(n):
                if progress is not None:
                    progress(i + 1, n, series.patches[i])
                report.findings.extend(_review_one(series, rules, pool, i, collector=collector))
    finally:
        cache.store().flush()
    return report


def _review_one(series: Series, rules: list[Rule], pool: IndexPool, i: int, checked: bool = False,
                collector: _Collector | None = None) -> list[Finding]:
    """The findings of patch ``i`` (``checked``: the prefilter already said it can matter)."""
    patch = series.patches[i]
    if not checked and not prefilter.can_matter(patch):
        if collector is not None and i % PREFILTER_STEP == 0:
            collector.step()
        return []  # no relevant fact changes: no rule can fire (see prefilter)
    pr = Review(patch, series, pool)
    out: list[Finding] = []
    for rule in rules:
        for f in rule.check(pr):
            out.append(f)
            if len(out) > FINDINGS:
                raise over(f'patch {patch.index}/{patch.total} "{patch.subject}" has more than {FINDINGS:,} findings; '
                           f"qlint reports at most {FINDINGS:,} for one patch", "FINDINGS")
    out = _on_versioned_machines(pr, out)
    out = _on_shipped_code(pr, out)
    for f in patch.files:
        if isinstance(f, LazyFileChange):
            f.unload()  # later patches read snapshots, not this patch's texts
    if collector is not None:
        collector.step()
    return out


def _on_versioned_machines(pr: Review, findings: list[Finding]) -> list[Finding]:
    """Drop findings on code that no versioned machine type can hold.

    Cross-version migration is promised only for versioned machine types; the
    build description (meson.build and Kconfig) says which boards build a file.
    Both trees are asked: a patch that also stops a versioned board from building
    the file does not thereby silence its own findings.  Where neither can tell,
    the finding stays, with its confidence lowered.
    """
    out = []
    for f in findings:
        reaches = [kbuild.holders(pr.new_index, f.path)]
        if pr.old_index is not None:
            reaches.append(kbuild.holders(pr.old_index, f.path))
        known = [r for r in reaches if r is not None]
        if not known:
            if f.confidence == "high":
                f.confidence = "medium"
        elif not any(r.boards for r in known):
            continue
        out.append(f)
    return out


def _on_shipped_code(pr: Review, findings: list[Finding]) -> list[Finding]:
    """Drop findings on state no release sent, and on code nothing runs.

    A VMState finding is about the stream of a description: if the last release
    had no such description (it is new in this series or since the release) or
    marked it unmigratable, no VM of an older QEMU sends or expects it.  A finding
    in a C function that nothing calls, installs or names is about code that
    never runs (a helper added ahead of its first user).
    """
    out = []
    for f in findings:
        if f.stream is not None:
            release = shipped.release_index(pr)
            if release is not None and not shipped.vmstate_shipped(release, f.path, f.stream, _vmsd_name(pr, f)):
                continue
        elif f.in_function and f.function and not shipped.has_callers(pr.new_index, f.path, f.function):
            continue
        out.append(f)
    return out


def _vmsd_name(pr: Review, f: Finding) -> str | None:
    model = pr.new_index.model(f.path)
    for d in model.vmstates if model is not None else ():
        if d.var == f.stream:
            return d.name
    return None


# What forked workers review: set in the parent just before the fork, inherited by the children.
_WORK: dict = {}


def _worker_init() -> None:
    cache.forget()  # the parent's database connection must not be used across fork
    _WORK["pool"] = IndexPool()
    _WORK["collector"] = _Collector().__enter__()  # the process ends with the pool: no exit


def _worker_prefilter(start: int) -> list[int]:
    """The patches of chunk ``start`` that can matter (the prefilter parses what it must)."""
    series = _WORK["series"]
    try:
        out = [i for i in range(start, min(start + CHUNK, len(series.patches)))
               if prefilter.can_matter(series.patches[i])]
        _WORK["collector"].step()
        return out
    finally:
        cache.store().flush()


def _worker_review(group: list[int]) -> list[Finding]:
    series, rules, pool = _WORK["series"], _WORK["rules"], _WORK["pool"]
    out: list[Finding] = []
    try:
        for i in group:
            out.extend(_review_one(series, rules, pool, i, checked=True, collector=_WORK["collector"]))
    finally:
        cache.store().flush()
    return out


def _groups(indices: list[int], jobs: int) -> list[list[int]]:
    """Consecutive runs of the patches to review, about GROUPS_PER_JOB per process: few enough
    that a worker's tree indexes follow consecutive commits, enough to even out the load."""
    n = max(1, min(len(indices), jobs * GROUPS_PER_JOB))
    size = max(1, -(-len(indices) // n))
    return [indices[k:k + size] for k in range(0, len(indices), size)]


def _review_parallel(series: Series, rules: list[Rule], progress, jobs: int) -> list[Finding]:
    """Two passes of forked workers: the prefilter over chunks of the range, then the review of
    the patches it kept, in groups of consecutive ones (most of a range is skipped, and what is
    left clusters: reviewing chunks of the range would leave one worker with the busy stretch)."""
    cache.store().flush()
    _WORK.update(series=series, rules=rules)
    n = len(series.patches)
    findings: list[Finding] = []
    try:
        with _workers(jobs) as workers:
            keep = [i for chunk in workers.map(_worker_prefilter, range(0, n, CHUNK)) for i in chunk]
        # fresh workers for the review: what the prefilter parsed and read is on disk or useless
        # now, and a process does not give back the memory it freed
        groups = _groups(keep, jobs)
        if groups:
            with _workers(min(jobs, len(groups))) as workers:
                for group, found in zip(groups, workers.map(_worker_review, groups)):
                    findings.extend(found)  # imap keeps the order of the groups: patch order
                    if progress is not None:
                        progress(group[-1] + 1, n, series.patches[group[-1]])
    finally:
        _WORK.clear()
    if progress is not None:
        progress(n, n, series.patches[-1])
    return findings


@contextmanager
def _workers(jobs: int) -> Iterator[ProcessPoolExecutor]:
    """``jobs`` forked worker processes.  A worker that dies (killed, out of memory) is an error at
    once: multiprocessing.Pool replaced it and waited forever for the work it had taken.  On any
    error the other workers are stopped, not waited for."""
    workers = ProcessPoolExecutor(jobs, mp_context=multiprocessing.get_context("fork"), initializer=_worker_init)
    try:
        yield workers
    except BrokenProcessPool:
        _stop(workers)
        raise InputError(f"a review process died (killed, or out of memory?); nothing is reported "
                         f"(--jobs {jobs}; --jobs 1 reviews in this process)") from None
    except BaseException:
        _stop(workers)
        raise
    workers.shutdown(wait=True)


def _stop(workers: ProcessPoolExecutor) -> None:
    workers.shutdown(wait=False, cancel_futures=True)
    # the executor only waits for running work; its processes are not public
    for proc in list((getattr(workers, "_processes", None) or {}).values()):
        proc.terminate()
    # let the executor's manager thread close its wake-up pipe now: at interpreter exit,
    # concurrent.futures writes to that pipe and, racing a late close, prints a traceback
    manager = getattr(workers, "_executor_manager_thread", None)
    if manager is not None:
        manager.join(timeout=5)
