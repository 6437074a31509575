"""``--format patch`` (``--fix``): the fixes of all fixable findings as one ``git apply``-able patch.

The edits are made by analyzer.fixgen from the plans rules attach to their
findings; this module only prints them.  Findings without a fix are told on
standard error by the command line, not here: standard output stays a patch.
"""

from __future__ import annotations

NAME = "patch"


def render(report) -> str:
    from ..fixgen import generate, unified

    fixes = getattr(report, "fixes", None)
    if fixes is None:
        fixes = generate(report)
    return unified(fixes)
