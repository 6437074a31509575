"""``qlint --fix``: the patch applies with git apply, and the fixed series no longer breaks.

For every invalid example of the rules that write fixes, the example series
is built, ``qlint --fix`` is run on it (as a user would, in a subprocess), the
patch is checked and applied with git in the temporary repository and
committed, and qlint runs again:

- for config-space fixes, on the fix commit alone (the fix sent as a
  follow-up patch): it breaks nothing.  A VMState fix changes the wire format
  that the broken patch introduced, so reviewed on its own it is (rightly) a
  wire change: it is meant to be folded into the patch;
- on the series with the fix folded into its last patch (``git commit
  --amend``, what the author of the series does): the finding is gone and no
  other error appears.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from qlint.analyzer.engine import review
from qlint.analyzer.sources.fixture_repo import build, case_patches
from qlint.analyzer.sources.gitsrc import review_range

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("QLINT_UPDATE_GOLDEN") == "1"
FIX_RULES = ("compat-entry-missing", "pci-config-unguarded", "property-default-changed", "vmstate-field-added",
             "vmstate-field-removed", "vmstate-subsection-unguarded", "vmstate-version-bump")
# rules whose fix is a compat entry: none when qlint cannot spell the old value as a property
# string (a default behind a constant it cannot evaluate), and it says so
ENTRY_RULES = ("compat-entry-missing", "property-default-changed")
# invalid examples for which qlint writes no fix, and why: the test checks that it says so rather
# than write a wrong one, and fails the day it starts writing one (then this entry goes)
NO_FIX = {
    "vmstate-field-removed/invalid/buffer-held-in-place-grows":
        "a size change needs a property and a second, tested field of the old size",
    "vmstate-field-removed/invalid/sub-array-of-fewer-elements":
        "a size change needs a property and a second, tested field of the old size",
}
CASES = sorted(p for r in FIX_RULES for p in (FIXTURES / "examples" / r / "invalid").glob("*") if p.is_dir())

pytestmark = pytest.mark.skipif(shutil.which("git") is None, reason="needs the git command")

_ENV = {**os.environ, "GIT_AUTHOR_NAME": "t", "GIT_AUTHOR_EMAIL": "t@example.invalid",
        "GIT_COMMITTER_NAME": "t", "GIT_COMMITTER_EMAIL": "t@example.invalid", "GIT_CONFIG_NOSYSTEM": "1",
        "HOME": "/nonexistent"}


def _git(repo: Path, *args: str, stdin: str | None = None) -> str:
    r = subprocess.run(["git", "-C", str(repo), *args], input=stdin, capture_output=True, text=True, env=_ENV)
    assert r.returncode == 0, f"git {' '.join(args)} failed: {r.stderr}"
    return r.stdout


def _qlint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", *args], capture_output=True, text=True)


def _keys(report, severities=("error", "warning")) -> set[tuple[str, str, str]]:
    return {(f.rule, f.path, f.function or "-") for f in report.findings if f.severity in severities}


def _expected(case: Path) -> set[tuple[str, str, str]]:
    out = set()
    for line in (case / "expect").read_text().splitlines():
        parts = line.split()
        if parts and parts[0] != "silent":
            out.add((parts[0], parts[1], parts[2] if len(parts) > 2 else "-"))
    return out


def _build(case: Path, dest: Path) -> tuple[str, str]:
    setup, patches = case_patches(case)
    _, _, ids = build(FIXTURES / "tree", setup + patches, dest)
    start = ids[len(setup) - 1] if setup else f"{ids[0]}~1"
    return start, ids[-1]


def _apply(repo: Path, patch: str) -> None:
    _git(repo, "apply", "--check", "-", stdin=patch)
    _git(repo, "apply", "--index", "-", stdin=patch)
    _git(repo, "commit", "-q", "-m", "qlint --fix")


@pytest.mark.parametrize("case", CASES, ids=[str(c.relative_to(FIXTURES / "examples")) for c in CASES])
def test_fix_applies_and_silences(case: Path, tmp_path: Path):
    repo = tmp_path / "repo"
    start, tip = _build(case, repo)
    spec = f"{start}..{tip}"
    before = review(review_range(str(repo), spec))
    want = _expected(case)
    assert want <= _keys(before), "the example must fire before the fix"

    r = _qlint("-C", str(repo), "--fix", spec)
    # the findings are still there: exit status as usual (1 for an error, 0 for warnings only)
    assert r.returncode == (1 if _keys(before, ("error",)) else 0), r.stderr
    name = str(case.relative_to(FIXTURES / "examples"))
    if name in NO_FIX:
        assert not r.stdout and all(f"no automatic fix for {k[0]} at {k[1]}:" in r.stderr for k in want), r.stderr
        return
    if case.parts[-3] in ENTRY_RULES and not r.stdout:
        assert "no automatic fix for" in r.stderr, r.stderr
        pytest.skip("no fix: " + r.stderr.strip().splitlines()[-1])
    assert r.stdout.startswith("diff --git "), f"no patch; stderr: {r.stderr}"
    for key in want:
        assert f"no automatic fix for {key[0]} at {key[1]}:" not in r.stderr, r.stderr
    _apply(repo, r.stdout)

    if case.parts[-3] == "pci-config-unguarded":
        # the fix as a follow-up commit: it only adds, so reviewed alone it breaks nothing
        after_commit = review(review_range(str(repo), "HEAD~1..HEAD"))
        assert not _keys(after_commit, ("error",)), [f.message for f in after_commit.findings]

    # the fix folded into the series' last patch: the finding is gone, nothing new breaks
    _git(repo, "reset", "-q", "--soft", "HEAD~2")
    _git(repo, "commit", "-q", "-m", "last patch with the fix folded in")
    folded = review(review_range(str(repo), f"{start}..HEAD"))
    left = _keys(folded)
    assert not (want & left), [f.message for f in folded.findings if f.severity != "note"]
    new_errors = _keys(folded, ("error",)) - _keys(before, ("error",))
    assert not new_errors, [f.message for f in folded.findings if f.severity == "error"]


def test_fix_is_deterministic_and_git_apply_clean(tmp_path: Path):
    """Running --fix twice gives the same bytes; the patch has a/ b/ paths and no trailing garbage."""
    case = FIXTURES / "examples" / "pci-config-unguarded" / "invalid" / "aer-mask-unguarded"
    repo = tmp_path / "repo"
    start, tip = _build(case, repo)
    a = _qlint("-C", str(repo), "--fix", f"{start}..{tip}")
    b = _qlint("-C", str(repo), "--format", "patch", f"{start}..{tip}")
    assert a.stdout == b.stdout and a.stdout
    assert all(ln.startswith(("diff --git a/", "--- a/", "+++ b/", "@@ ", " ", "+", "-"))
               for ln in a.stdout.splitlines()), a.stdout
    assert _git(repo, "status", "--porcelain") == ""  # qlint wrote nothing


def test_fix_refuses_other_formats(tmp_path: Path):
    r = _qlint("-C", str(tmp_path), "--fix", "--format", "json")
    assert r.returncode == 2 and "--fix" in r.stderr and "Traceback" not in r.stderr


def test_demo_fix_matches_golden_and_applies(tmp_path: Path):
    """`qlint demo --fix` writes what the demo's hand-written patch 4 does; it applies and reviews clean."""
    r = _qlint("demo", "--fix")
    assert r.returncode == 0, r.stderr
    golden = GOLDEN / "demo-fix.golden"
    if UPDATE:
        golden.write_text(r.stdout, encoding="utf-8", newline="\n")
    assert r.stdout == golden.read_text(encoding="utf-8"), "rerun with QLINT_UPDATE_GOLDEN=1 and review the diff"

    demo = sorted((FIXTURES / "demo").glob("*.patch"))
    repo = tmp_path / "demo"
    _, base, ids = build(FIXTURES / "tree", demo[:-1], repo)
    _apply(repo, r.stdout)
    fixed = review(review_range(str(repo), "HEAD~1..HEAD"))
    assert not _keys(fixed, ("error", "warning")), [f.message for f in fixed.findings]
    # the hand-written fix puts its entry in the same array: the release shipped the break
    assert "hw_compat_7_2[] = {" in r.stdout.split("+    { TYPE_PCI_DEVICE")[0].rsplit("@@", 1)[-1]


def test_two_findings_one_consistent_patch(tmp_path: Path):
    """Two breaks in a range that both need a cap_present bit: distinct numbers, one section per file."""
    pci = FIXTURES / "examples" / "pci-config-unguarded" / "invalid"
    patches = sorted((pci / "aer-mask-unguarded").glob("*.patch")) + sorted((pci / "lnksta-value-changed").glob("*.patch"))
    repo = tmp_path / "repo"
    _, base, ids = build(FIXTURES / "tree", patches, repo)
    r = _qlint("-C", str(repo), "--fix", f"{base}..{ids[-1]}")
    assert r.returncode == 1 and not r.stderr, r.stderr
    assert r.stdout.count("diff --git a/hw/core/machine.c") == 1
    assert r.stdout.count("diff --git a/include/hw/pci/pci.h") == 1
    numbers = sorted(ln.split()[-1] for ln in r.stdout.splitlines() if ln.startswith("+#define"))
    assert len(numbers) == 2 and len(set(numbers)) == 2, numbers
    _apply(repo, r.stdout)
    after = review(review_range(str(repo), "HEAD~1..HEAD"))
    assert not _keys(after, ("error", "warning")), [f.message for f in after.findings]


def test_finding_changed_later_in_the_range_is_reported_unfixable(tmp_path: Path):
    """The whole demo: patch 4 already fixed patch 1's break, so there is nothing to write, and stderr says why."""
    repo = tmp_path / "demo"
    _, base, ids = build(FIXTURES / "tree", sorted((FIXTURES / "demo").glob("*.patch")), repo)
    r = _qlint("-C", str(repo), "--fix", f"{base}..{ids[-1]}")
    assert r.returncode == 1
    assert r.stdout == ""
    lines = r.stderr.splitlines()
    assert lines and all(ln.startswith("qlint: no automatic fix for ") for ln in lines), r.stderr
    assert any("pci-config-unguarded at hw/pci/pcie_aer.c:" in ln for ln in lines)


def test_fix_opens_an_empty_array_written_on_one_line(tmp_path: Path):
    """Each cycle's array starts as ``GlobalProperty hw_compat_X_Y[] = {};``: the entry goes inside."""
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURES / "tree", tree)
    machine = tree / "hw" / "core" / "machine.c"
    text = machine.read_text()
    start = text.index("GlobalProperty hw_compat_7_2[] = {")
    end = text.index("};", start) + 2
    machine.write_text(text[:start] + "GlobalProperty hw_compat_7_2[] = {};" + text[end:])
    case = FIXTURES / "examples" / "compat-entry-missing" / "invalid" / "no-entry"
    repo = tmp_path / "repo"
    _, base, ids = build(tree, sorted(case.glob("*.patch")), repo)
    spec = f"{base}..{ids[-1]}"
    r = _qlint("-C", str(repo), "--fix", spec)
    assert r.returncode == 1 and r.stdout.startswith("diff --git "), r.stderr
    assert "-GlobalProperty hw_compat_7_2[] = {};" in r.stdout
    _apply(repo, r.stdout)
    fixed = (repo / "hw" / "core" / "machine.c").read_text()
    body = fixed[fixed.index("GlobalProperty hw_compat_7_2[] = {"):]
    body = body[:body.index("};")]
    assert '"x-' in body and body.count("\n") >= 2, body  # one entry, on a line of its own
    _git(repo, "reset", "-q", "--soft", "HEAD~2")
    _git(repo, "commit", "-q", "-m", "the patch with the fix folded in")
    folded = review(review_range(str(repo), f"{base}..HEAD"))
    assert not _keys(folded, ("error",)), [f.message for f in folded.findings]
