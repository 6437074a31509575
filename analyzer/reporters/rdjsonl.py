"""``--format rdjsonl``: reviewdog's Diagnostic JSON lines (``reviewdog -f=rdjsonl``).

One ``reviewdog.rdf.Diagnostic`` per line.  ``suggestions`` stays empty: a
reviewdog suggestion replaces a range with new text, and qlint's suggestions
are advice (lines to add in other files), so they go in the message instead.
"""

from __future__ import annotations

import json

SEVERITIES = {"error": "ERROR", "warning": "WARNING", "note": "INFO"}


def _message(f) -> str:
    parts = [f.message]
    if f.details:
        parts.append(f.details)
    if f.suggestion:
        parts.append("Suggested fix:\n\n" + "\n".join("    " + s for s in f.suggestion.splitlines()))
    return "\n\n".join(parts)


def _diagnostic(f) -> dict:
    d: dict = {
        "message": _message(f),
        "location": {
            "path": f.path,
            "range": {"start": {"line": f.line}, "end": {"line": max(f.end_line, f.line)}},
        },
        "severity": SEVERITIES[f.severity],
        "source": {"name": "qlint"},
        "code": {"value": f.rule},
    }
    if f.related:
        d["related_locations"] = [
            {"message": r.message, "location": {"path": r.path, "range": {"start": {"line": r.line}}}}
            for r in f.related
        ]
    return d


def render(report) -> str:
    return "".join(json.dumps(_diagnostic(f)) + "\n" for f in report.findings)
