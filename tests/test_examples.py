"""Every rule's examples, as one generic test.

fixtures/examples/<rule>/<invalid|valid>/<case>/ holds format-patch files
(setup/ ones are history, the others are reviewed) and an ``expect`` file:
``RULE PATH FUNCTION|-`` lines that must be reported (as errors or warnings), and
``silent RULE`` lines for rules that must report nothing (no error, no warning).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qlint.analyzer.engine import review
from qlint.analyzer.fixture_repo import build, case_patches
from qlint.analyzer.gitsrc import review_range
from qlint.analyzer.rulebase import all_rules

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

CASES = sorted(p for p in (FIXTURES / "examples").glob("*/*/*") if p.is_dir())


def _run(case: Path, tmp_path: Path):
    setup, patches = case_patches(case)
    _, _, ids = build(FIXTURES / "tree", setup + patches, tmp_path / "repo")
    start = ids[len(setup) - 1] if setup else None
    if start is None:
        spec = f"{ids[0]}~1..{ids[-1]}"
    else:
        spec = f"{start}..{ids[-1]}"
    return review(review_range(str(tmp_path / "repo"), spec))


def _expectations(case: Path):
    must, silent = [], []
    for line in (case / "expect").read_text().splitlines():
        parts = line.split()
        if not parts:
            continue
        if parts[0] == "silent":
            silent.append(parts[1])
        else:
            must.append((parts[0], parts[1], parts[2] if len(parts) > 2 else "-"))
    return must, silent


@pytest.mark.parametrize("case", CASES, ids=[str(c.relative_to(FIXTURES / "examples")) for c in CASES])
def test_example(case: Path, tmp_path: Path):
    report = _run(case, tmp_path)
    must, silent = _expectations(case)
    kind = case.parent.name
    rule = case.parent.parent.name
    assert rule in {r.name for r in all_rules()}, f"examples for unknown rule {rule}"
    # an invalid example must fire at the rule's severity: errors, or warnings for warning rules
    got = [(f.rule, f.path, f.function or "-") for f in report.findings if f.severity in ("error", "warning")]
    for want in must:
        assert want in got, f"expected {want}, got {got}"
    for r in silent:
        loud = [f for f in report.findings if f.rule == r and f.severity in ("error", "warning")]
        assert not loud, f"{r} must stay silent, got: " + "; ".join(f"{f.path}:{f.line} {f.message}" for f in loud)
    if kind == "invalid":
        assert must, "an invalid example must name the findings it expects"
    else:
        assert rule in silent, "a valid example must keep its own rule silent"


def test_every_rule_has_both_kinds_of_example():
    for r in all_rules():
        base = FIXTURES / "examples" / r.name
        assert list((base / "invalid").glob("*/expect")), f"{r.name} has no invalid example"
        assert list((base / "valid").glob("*/expect")), f"{r.name} has no valid example"


def test_every_rule_doc_has_the_sections():
    for r in all_rules():
        doc = r.doc()
        for section in ("## What it does", "## Why is this bad?", "## Example", "## Use instead"):
            assert section in doc, f"{r.name}: doc lacks {section}"
        assert r.summary and r.severity in ("error", "warning", "note")
