"""The rule interface and rule discovery.

A rule reads the review of one patch (``review.Review``: the typed diff of ``diff`` and the
series services) and returns findings; it builds them with :meth:`Rule.finding` and may point
at other places with :class:`Related`.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from typing import Iterable

from qlint.analyzer.finding import Finding, Related
from qlint.analyzer.diff.review import Review

__all__ = ["Finding", "Related", "Review", "Rule", "all_rules", "rules_table"]


class Rule:
    """Base class.  Subclasses set ``name``, ``severity`` and ``summary``, and
    ``other_severities`` when some of their findings carry another severity."""

    name: str = ""
    severity: str = "error"
    other_severities: tuple[str, ...] = ()
    summary: str = ""

    def check(self, review: Review) -> Iterable[Finding]:  # pragma: no cover - interface
        raise NotImplementedError

    @classmethod
    def doc(cls) -> str:
        return inspect.cleandoc(cls.__doc__ or "")

    @classmethod
    def severities(cls) -> tuple[str, ...]:
        """Every severity a finding of this rule can carry, the usual one first."""
        return (cls.severity, *cls.other_severities)

    def finding(self, review: Review, **kw) -> Finding:
        p = review.patch
        kw.setdefault("severity", self.severity)
        return Finding(
            rule=self.name,
            commit=p.ident if p.ident else None,
            commit_subject=p.subject,
            patch_index=p.index,
            patch_total=p.total,
            **kw,
        )


def all_rules() -> list[Rule]:
    from qlint import rules as pkg

    out: list[Rule] = []
    for info in sorted(pkgutil.iter_modules(pkg.__path__), key=lambda i: i.name):
        mod = importlib.import_module(f"{pkg.__name__}.{info.name}")
        for _, obj in inspect.getmembers(mod, inspect.isclass):
            if issubclass(obj, Rule) and obj is not Rule and obj.__module__ == mod.__name__:
                out.append(obj())
    return out


def rules_table(rules: list[Rule]) -> str:
    """The Markdown table of ``rules`` that README.md shows: one row per rule, linked to its module."""
    def cell(text: str) -> str:
        return " ".join(text.split()).replace("|", "\\|")

    rows = ["| rule | severity | what it catches |", "|---|---|---|"]
    for r in rules:
        module = type(r).__module__.rsplit(".", 1)[-1]
        rows.append(f"| [`{r.name}`](rules/{module}.py) | {' / '.join(r.severities())} | {cell(r.summary)} |")
    return "\n".join(rows) + "\n"
