"""``--format gitlab``: a GitLab Code Quality report (``artifacts:reports:codequality``).

GitLab keys findings by ``fingerprint`` to tell new from fixed ones between
the source and target branch, so it is the finding's own line-independent
fingerprint.  GitLab keeps one entry per fingerprint; should two findings of
one report share one, the later ones get ``-2``, ``-3``... appended, in report
order, instead of being dropped.
"""

from __future__ import annotations

import json

SEVERITIES = {"error": "major", "warning": "minor", "note": "info"}


def render(report) -> str:
    seen: dict[str, int] = {}
    issues = []
    for f in report.findings:
        fp = f.fingerprint
        seen[fp] = seen.get(fp, 0) + 1
        if seen[fp] > 1:
            fp = f"{fp}-{seen[fp]}"
        issues.append(
            {
                "description": f.message,
                "check_name": f.rule,
                "fingerprint": fp,
                "severity": SEVERITIES[f.severity],
                "location": {"path": f.path, "lines": {"begin": f.line}},
            }
        )
    return json.dumps(issues, separators=(",", ":")) + "\n"
