"""Every rule's examples, as one generic test, and every rule over every example as one golden.

fixtures/examples/<rule>/<invalid|valid>/<case>/ holds format-patch files
(setup/ ones are history, the others are reviewed) and an ``expect`` file:
``RULE PATH FUNCTION|-`` lines that must be reported (as errors or warnings), and
``silent RULE`` lines for rules that must report nothing (no error, no warning).

An ``expect`` file names only the rules its author thought of.  So, as cargo-semver-checks
does, every finding of every rule on every example also goes into one reviewed golden file,
tests/golden/examples.golden: a rule that starts firing on another rule's example, or a new
rule, shows up there.  ``QLINT_UPDATE_GOLDEN=1 python3 -m pytest tests/test_examples.py``
rewrites it; review the diff before committing it.  And every rule, run on a change that
cannot matter (a comment appended to each file an example touches, at the example's tip),
must report nothing at all.
"""

from __future__ import annotations

import os
from pathlib import Path

import pygit2
import pytest

from qlint.analyzer.engine import review
from qlint.analyzer.sources.fixture_repo import build, case_patches
from qlint.analyzer.sources.gitsrc import review_range
from qlint.analyzer.rule import all_rules

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden" / "examples.golden"
UPDATE = os.environ.get("QLINT_UPDATE_GOLDEN") == "1"

CASES = sorted(p for p in (FIXTURES / "examples").glob("*/*/*") if p.is_dir())


def _name(case: Path) -> str:
    return str(case.relative_to(FIXTURES / "examples"))


def _build(case: Path, dest: Path) -> tuple[pygit2.Repository, str, str]:
    """The example's repository: (repo, the commit before the reviewed patches, the tip)."""
    setup, patches = case_patches(case)
    repo, _, ids = build(FIXTURES / "tree", setup + patches, dest)
    start = ids[len(setup) - 1] if setup else f"{ids[0]}~1"
    return repo, start, ids[-1]


@pytest.fixture(scope="module")
def reports(tmp_path_factory):
    """Each example's report, made once for the per-case checks and the golden."""
    memo = {}

    def get(case: Path):
        if case not in memo:
            dest = tmp_path_factory.mktemp("example") / "repo"
            _, start, tip = _build(case, dest)
            memo[case] = review(review_range(str(dest), f"{start}..{tip}"))
        return memo[case]

    return get


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


@pytest.mark.parametrize("case", CASES, ids=[_name(c) for c in CASES])
def test_example(case: Path, reports):
    report = reports(case)
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


def _golden_lines(case: Path, report) -> list[str]:
    lines = [f"== {_name(case)}"]
    for f in report.findings:
        lines.append(f"{f.patch_index}/{f.patch_total} {f.severity} {f.rule} {f.path}:{f.line} "
                     f"{f.function or '-'} [{f.confidence}] {f.message}")
    return lines


def test_every_rule_over_every_example(reports):
    """All findings of all rules on all examples, against one reviewed golden file."""
    got = "\n".join(line for case in CASES for line in _golden_lines(case, reports(case))) + "\n"
    if UPDATE:
        GOLDEN.write_text(got, encoding="utf-8")
    assert GOLDEN.exists(), f"no {GOLDEN.name}: run with QLINT_UPDATE_GOLDEN=1 and review it"
    assert got == GOLDEN.read_text(encoding="utf-8"), (
        "findings on the examples changed: rerun with QLINT_UPDATE_GOLDEN=1 and review the diff")


def _noop_commit(repo: pygit2.Repository, tip: str, paths: list[str]) -> str:
    """A commit on ``tip`` that appends a comment to each of ``paths``: it changes no fact."""
    idx = repo.index
    idx.read_tree(repo[tip].peel(pygit2.Commit).tree)
    tree = repo[tip].peel(pygit2.Commit).tree
    for path in paths:
        data = tree[path].data + b"\n/* nothing to see here */\n"
        idx.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.enums.FileMode.BLOB))
    sig = repo[tip].peel(pygit2.Commit).author
    return str(repo.create_commit(None, sig, sig, "A comment\n", idx.write_tree(), [tip]))


def _touched_sources(repo: pygit2.Repository, start: str, tip: str) -> list[str]:
    diff = repo.diff(repo.revparse_single(start), repo.revparse_single(tip))
    tree = repo[tip].peel(pygit2.Commit).tree
    paths = {d.delta.new_file.path for d in diff}
    return sorted(p for p in paths if p.endswith((".c", ".h")) and p in tree)


@pytest.mark.parametrize("case", CASES, ids=[_name(c) for c in CASES])
def test_noop_change_is_silent(case: Path, tmp_path: Path):
    """Every rule, on the example's tip and a commit that only adds comments (or changes nothing),
    reports nothing."""
    repo, start, tip = _build(case, tmp_path / "repo")
    paths = _touched_sources(repo, start, tip)
    assert paths, "an example touches at least one C file"
    noop = _noop_commit(repo, tip, paths)
    report = review(review_range(str(tmp_path / "repo"), f"{tip}..{noop}"))
    assert not report.findings, "; ".join(f"{f.rule} {f.path}:{f.line} {f.message}" for f in report.findings)
    empty = _noop_commit(repo, tip, [])  # the same tree as its parent
    assert not review(review_range(str(tmp_path / "repo"), f"{tip}..{empty}")).findings


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
        sevs = r.severities()
        assert len(set(sevs)) == len(sevs) and set(sevs) <= {"error", "warning", "note"}, f"{r.name}: {sevs}"


def test_every_finding_carries_a_severity_its_rule_declares(reports):
    """The severities README.md's table shows for a rule are those its findings carry."""
    declared = {r.name: r.severities() for r in all_rules()}
    for case in CASES:
        for f in reports(case).findings:
            assert f.severity in declared[f.rule], f"{_name(case)}: {f.rule} gives a {f.severity}: declare it"
