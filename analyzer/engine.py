"""Run every rule over every patch of a series."""

from __future__ import annotations

from dataclasses import dataclass, field

from .change import Series
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


def review(series: Series, rules: list[Rule] | None = None) -> Report:
    rules = all_rules() if rules is None else rules
    pool = IndexPool()
    report = Report(series)
    for patch in series.patches:
        pr = PatchReview(patch, series, pool)
        for rule in rules:
            report.findings.extend(rule.check(pr))
    return report
