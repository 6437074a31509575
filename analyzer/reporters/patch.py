"""``--format patch`` (``--fix``): the fixes of all fixable findings as one ``git apply``-able patch.

The edits are made before rendering, by analyzer.fixgen from the plans rules attach to their
findings (``Report.fixes``); this module only prints them.  Findings without a fix are told on
standard error by the command line, not here: standard output stays a patch.
"""

from __future__ import annotations

import difflib

NAME = "patch"


def render(report) -> str:
    """The fixes as one patch that ``git apply`` takes (a/ and b/ paths)."""
    parts: list[str] = []
    for path, (old, new) in sorted(report.fixes.files.items()):
        if old == new:
            continue
        diff = list(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                         f"a/{path}", f"b/{path}", n=3))
        if not diff:
            continue
        parts.append(f"diff --git a/{path} b/{path}\n")
        parts.extend(diff)
    return "".join(parts)
