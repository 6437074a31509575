"""``--format json``: the stable machine-readable report (see README, "JSON output")."""

from __future__ import annotations

import json

SCHEMA_VERSION = 1


def render(report) -> str:
    doc = {
        "version": SCHEMA_VERSION,
        "range": report.series.description,
        "patches": [
            {"index": p.index, "total": p.total, "commit": p.ident, "subject": p.subject}
            for p in report.series.patches
        ],
        "findings": [f.to_dict() for f in report.findings],
        "summary": {
            sev: sum(1 for f in report.findings if f.severity == sev) for sev in ("error", "warning", "note")
        },
    }
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"
