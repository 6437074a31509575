"""Run every rule over every patch of a series."""

from __future__ import annotations

from dataclasses import dataclass, field

from . import cache, prefilter
from .change import LazyFileChange, Series
from .finding import Finding
from .rulebase import Rule, all_rules
from .semdiff import IndexPool, PatchReview


@dataclass
class Report:
    series: Series
    findings: list[Finding] = field(default_factory=list)

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]


def review(series: Series, rules: list[Rule] | None = None, progress=None) -> Report:
    """Run ``rules`` (default: all) over every patch; ``progress(i, n, patch)`` is told as it goes."""
    rules = all_rules() if rules is None else rules
    pool = IndexPool()
    report = Report(series)
    try:
        for i, patch in enumerate(series.patches, 1):
            if progress is not None:
                progress(i, len(series.patches), patch)
            if not prefilter.can_matter(patch):
                continue  # no relevant fact changes: no rule can fire (see prefilter)
            pr = PatchReview(patch, series, pool)
            for rule in rules:
                report.findings.extend(rule.check(pr))
            for f in patch.files:
                if isinstance(f, LazyFileChange):
                    f.unload()  # later patches read snapshots, not this patch's texts
    finally:
        cache.store().flush()
    return report
