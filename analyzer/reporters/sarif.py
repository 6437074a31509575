"""``--format sarif``: SARIF 2.1.0 for code-scanning UIs (GitHub, GitLab, VS Code SARIF viewer).

One run; ``tool.driver.rules`` lists every rule qlint has, so a result's
``ruleIndex`` is stable for a given qlint version whatever fired.  Locations
are relative to the repository root (``%SRCROOT%``).
"""

from __future__ import annotations

import json
from importlib import metadata
from urllib.parse import quote

SCHEMA = "https://json.schemastore.org/sarif-2.1.0.json"
FINGERPRINT_KEY = "qlint/v1"
LEVELS = {"error": "error", "warning": "warning", "note": "note"}


def _version() -> str | None:
    try:
        return metadata.version("qlint")
    except metadata.PackageNotFoundError:
        return None


def _location(path: str, line: int, end_line: int | None = None) -> dict:
    # a byte of the path that is not UTF-8 is percent-encoded as itself (%FF)
    uri = quote(path.encode("utf-8", "surrogateescape"), safe="/")
    loc: dict = {"artifactLocation": {"uri": uri, "uriBaseId": "%SRCROOT%"}}
    if line >= 1:
        region = {"startLine": line}
        if end_line is not None and end_line >= line:
            region["endLine"] = end_line
        loc["region"] = region
    return {"physicalLocation": loc}


def _rule(rule) -> dict:
    doc = rule.doc()
    return {
        "id": rule.name,
        "name": rule.name,
        "shortDescription": {"text": rule.summary},
        "fullDescription": {"text": doc, "markdown": doc},
        "help": {"text": doc, "markdown": doc},
        "defaultConfiguration": {"level": LEVELS[rule.severity]},
    }


def _result(f, index: dict[str, int]) -> dict:
    res: dict = {"ruleId": f.rule}
    if f.rule in index:
        res["ruleIndex"] = index[f.rule]
    res["level"] = LEVELS[f.severity]
    res["message"] = {"text": f.message + ("\n\n" + f.details if f.details else "")}
    res["locations"] = [_location(f.path, f.line, f.end_line)]
    if f.related:
        res["relatedLocations"] = [
            {"id": i, **_location(r.path, r.line), "message": {"text": r.message}}
            for i, r in enumerate(f.related, 1)
        ]
    res["partialFingerprints"] = {FINGERPRINT_KEY: f.fingerprint}
    res["properties"] = {
        "commit": f.commit,
        "function": f.function,
        "suggestion": f.suggestion,
        "confidence": f.confidence,
    }
    return res


def render(report) -> str:
    from qlint.analyzer.rule import all_rules

    rules = [_rule(r) for r in all_rules()]
    index = {r["id"]: i for i, r in enumerate(rules)}
    driver: dict = {"name": "qlint"}
    version = _version()
    if version:
        driver["version"] = version
    driver["rules"] = rules
    run = {
        "tool": {"driver": driver},
        "results": [_result(f, index) for f in report.findings],
        "properties": {"range": report.series.description},
    }
    doc = {"$schema": SCHEMA, "version": "2.1.0", "runs": [run]}
    return json.dumps(doc, indent=2) + "\n"
