"""The command line as a user meets it: exit codes, one-line errors, JSON, no writes."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from qlint.analyzer.sources.fixture_repo import build, case_patches

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AER = FIXTURES / "examples" / "pci-config-unguarded" / "invalid" / "aer-mask-unguarded"
GUARDED = FIXTURES / "examples" / "pci-config-unguarded" / "valid" / "aer-mask-guarded"


def qlint(*args, cwd=None):
    return subprocess.run(
        [sys.executable, "-m", "qlint.analyzer.cli", *args], capture_output=True, text=True, cwd=cwd
    )


@pytest.fixture
def aer_repo(tmp_path):
    _, patches = case_patches(AER)
    repo, base, ids = build(FIXTURES / "tree", patches, tmp_path / "repo")
    return tmp_path / "repo", base, ids


def _snapshot(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode())
            h.update(p.read_bytes())
            h.update(str(p.stat().st_mtime_ns).encode())
    return h.hexdigest()


def test_break_exits_1_with_review_text(aer_repo):
    repo, base, ids = aer_repo
    r = qlint("-C", str(repo), "HEAD")
    assert r.returncode == 1, r.stderr
    assert "hw/pci/pcie_aer.c:" in r.stdout and "[pci-config-unguarded]" in r.stdout
    assert "hw_compat_7_2[]" in r.stdout  # the fix names the current array
    assert "machine types 7.2 and older" in " ".join(r.stdout.split())  # the paragraph is wrapped


def test_clean_range_exits_0(tmp_path):
    _, patches = case_patches(GUARDED)
    build(FIXTURES / "tree", patches, tmp_path / "repo")
    r = qlint("-C", str(tmp_path / "repo"), "HEAD~1..HEAD")
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 errors" in r.stdout


def test_json_schema(aer_repo):
    repo, base, ids = aer_repo
    r = qlint("-C", str(repo), "--format", "json", f"{base}..HEAD")
    doc = json.loads(r.stdout)
    assert doc["version"] == 1
    (f,) = [f for f in doc["findings"] if f["rule"] == "pci-config-unguarded"]
    for key in ("rule", "severity", "path", "line", "end_line", "function", "commit", "message", "suggestion",
                "details", "quoted", "fingerprint", "related", "confidence"):
        assert key in f
    assert f["function"] == "pcie_aer_init" and f["commit"] == ids[-1] and f["severity"] == "error"
    assert doc["summary"]["error"] >= 1


@pytest.mark.parametrize(
    "args, words",
    [
        (["no-such-rev"], "unknown revision"),
        (["HEAD~9..HEAD"], "unknown revision"),
        (["--format", "xml", "HEAD"], "unknown format"),
        (["a", "b"], "one revision"),
    ],
)
def test_bad_input_is_one_line_exit_2(aer_repo, args, words):
    repo, _, _ = aer_repo
    r = qlint("-C", str(repo), *args)
    assert r.returncode == 2
    assert words in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_not_a_repository(tmp_path):
    r = qlint("-C", str(tmp_path), "HEAD")
    assert r.returncode == 2 and "not a git repository" in r.stderr
    r = qlint("-C", str(tmp_path / "missing"), "HEAD")
    assert r.returncode == 2 and len(r.stderr.strip().splitlines()) == 1


def test_repository_is_unchanged_by_a_review(aer_repo):
    repo, base, _ = aer_repo
    before = _snapshot(repo)
    qlint("-C", str(repo), f"{base}..HEAD")
    qlint("-C", str(repo), "--format", "json", "HEAD")
    assert _snapshot(repo) == before


def test_bare_repository(aer_repo, tmp_path):
    repo, base, _ = aer_repo
    bare = tmp_path / "bare.git"
    subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(bare)], check=True)
    r = qlint("-C", str(bare), "HEAD")
    assert r.returncode == 1 and "pcie_aer_init" in r.stdout


def test_demo_runs_and_shows_break_and_fix():
    r = qlint("demo")
    assert r.returncode == 0, r.stderr
    assert "[pci-config-unguarded]" in r.stdout
    assert "post-release fix" in r.stdout
    assert "[compat-entry-missing]" not in r.stdout


def test_rules_and_rule_doc():
    r = qlint("rules")
    assert r.returncode == 0
    names = {line.split()[0] for line in r.stdout.splitlines()}
    assert {"pci-config-unguarded", "compat-entry-missing", "compat-entry-unknown-property",
            "compat-entry-wrong-version"} <= names
    r = qlint("rule", "pci-config-unguarded")
    assert r.returncode == 0 and "## Why is this bad?" in r.stdout
    r = qlint("rule", "nope")
    assert r.returncode == 2


def test_window_after_release_says_to_create_the_array(tmp_path):
    """VERSION 8.0.0 and no hw_compat_8_0 yet: the fix names the array to create."""
    release = sorted((FIXTURES / "demo").glob("0002-*.patch"))
    _, aer = case_patches(AER)
    build(FIXTURES / "tree", release + aer, tmp_path / "repo")
    r = qlint("-C", str(tmp_path / "repo"), "HEAD")
    assert r.returncode == 1
    text = " ".join(r.stdout.split())
    assert "hw_compat_8_0[] does not exist yet" in text
    assert "machine types 8.0 and older" in text


def _git(repo, *args):
    return subprocess.run(["git", "-C", str(repo), *args], check=True, capture_output=True, text=True).stdout


def test_staged_reviews_the_index_and_leaves_it_alone(tmp_path):
    """--staged sees what `git add` staged, not the work tree, and writes nothing."""
    repo = tmp_path / "repo"
    build(FIXTURES / "tree", [], repo)
    _git(repo, "reset", "-q", "--hard")  # a work tree matching HEAD
    _, aer = case_patches(AER)
    _git(repo, "apply", "--index", str(aer[0]))
    index_before = (repo / ".git" / "index").read_bytes()
    r = qlint("-C", str(repo), "--staged")
    assert r.returncode == 1, r.stdout + r.stderr
    assert "[pci-config-unguarded]" in r.stdout and "staged" in r.stdout
    assert (repo / ".git" / "index").read_bytes() == index_before
    # an unstaged copy of the same change is not reviewed
    _git(repo, "reset", "-q")
    r = qlint("-C", str(repo), "--staged")
    assert r.returncode == 0 and r.stdout == ""


def test_install_hook_refuses_a_foreign_hook(tmp_path):
    repo = tmp_path / "repo"
    build(FIXTURES / "tree", [], repo)
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.parent.mkdir(exist_ok=True)
    hook.write_text("#!/bin/sh\necho mine\n")
    r = qlint("install-hook", "-C", str(repo))
    assert r.returncode == 2 and "not overwriting" in r.stderr
    assert hook.read_text() == "#!/bin/sh\necho mine\n"
    hook.unlink()
    r = qlint("install-hook", "-C", str(repo))
    assert r.returncode == 0 and "qlint --staged" in hook.read_text()
    r = qlint("install-hook", "-C", str(repo))  # re-installing our own hook is fine
    assert r.returncode == 0


def test_config_and_baseline_end_to_end(aer_repo, tmp_path):
    repo, base, _ = aer_repo
    cfg = tmp_path / "qlint.toml"
    cfg.write_text('[[suppress]]\nrule = "pci-config-unguarded"\npath = "hw/pci/*"\nreason = "reviewed on the list"\n')
    r = qlint("-C", str(repo), "--config", str(cfg), "HEAD")
    assert r.returncode == 0 and "[pci-config-unguarded]" not in r.stdout
    cfg.write_text('[[suppress]]\nrule = "pci-config-unguarded"\npath = "hw/pci/*"\n')
    r = qlint("-C", str(repo), "--config", str(cfg), "HEAD")
    assert r.returncode == 2 and "reason" in r.stderr and len(r.stderr.strip().splitlines()) == 1
    bl = tmp_path / "baseline.json"
    r = qlint("-C", str(repo), "--write-baseline", str(bl), "HEAD")
    assert r.returncode == 1 and bl.exists()
    r = qlint("-C", str(repo), "--baseline", str(bl), "HEAD")
    assert r.returncode == 0 and "0 errors" in r.stdout


def test_rule_doc_lists_its_tested_examples():
    r = qlint("rule", "compat-entry-wrong-version")
    assert "## Tested examples" in r.stdout
    assert "invalid/older-array (fires)" in r.stdout and "valid/post-release-fix (stays silent)" in r.stdout


# -- objects the repository lacks: partial and shallow clones ------------------------------------

PARTIAL = "is not in the repository: partial clone?"
SHALLOW = "is not in the repository: shallow clone?"
SHALLOWS = "are not in the repository: shallow clone?"


@pytest.fixture(scope="module")
def demo_source(tmp_path_factory):
    """The demo history, served to clones with filters (as a forge serves CI)."""
    from qlint.analyzer.sources.fixture_repo import build_demo

    dest = tmp_path_factory.mktemp("src") / "qemu"
    _, base, ids = build_demo(dest)
    _git(dest, "config", "uploadpack.allowFilter", "true")
    return dest, base, ids


def _clone(src, dest, *how):
    subprocess.run(["git", "clone", "-q", "--no-checkout", *how, f"file://{src}", str(dest)], check=True)
    return dest


def _one_line_exit_2(r, *words):
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.endswith("\n") and len(r.stderr.splitlines()) == 1, r.stderr
    assert "Traceback" not in r.stderr and "internal error" not in r.stderr, r.stderr
    for w in words:
        assert w in r.stderr, r.stderr


@pytest.fixture(scope="module")
def blobless(demo_source, tmp_path_factory):
    src, base, ids = demo_source
    return _clone(src, tmp_path_factory.mktemp("bl") / "qemu", "--filter=blob:none"), base, ids


@pytest.mark.parametrize("how", ["range", "commit", "json"])
def test_blobless_clone_is_exit_2_naming_the_blob(blobless, how):
    """Once reviewed as "nothing changed", exit 0: the blobs of the break were simply not there."""
    repo, base, ids = blobless
    args = {"range": [f"{base}..HEAD"], "commit": [ids[0]], "json": ["--format", "json", ids[0]]}[how]
    before = _snapshot(repo)
    r = qlint("-C", str(repo), *args)
    _one_line_exit_2(r, PARTIAL, "blob ", "hw/pci/pcie_aer.c")
    assert r.stdout == ""
    assert _snapshot(repo) == before  # nothing fetched into it


def test_blobless_clone_other_commands_say_so_too(blobless):
    repo, base, ids = blobless
    _one_line_exit_2(qlint("machines", cwd=repo), PARTIAL)  # was a listing of nothing, exit 0
    _one_line_exit_2(qlint("matrix", "x-pcie-err-unc-mask", cwd=repo), PARTIAL)
    patch = sorted((FIXTURES / "demo").glob("0001-*.patch"))[0]
    # was "hw/pci/pcie_aer.c is not in the base tree": it is, its blob is not
    _one_line_exit_2(qlint("-C", str(repo), "--patch", str(patch), "--base", base), PARTIAL, "hw/pci/pcie_aer.c")


def test_shallow_clone_matrix_is_exit_2(demo_source, tmp_path):
    src, _, _ = demo_source
    shallow = _clone(src, tmp_path / "shallow", "--depth", "1")
    _one_line_exit_2(qlint("matrix", "x-pcie-err-unc-mask", cwd=shallow), SHALLOWS)
    # the cache knows the releases below the tip from a full clone: they are not here (was KeyError)
    assert qlint("-C", str(src), "HEAD~4..HEAD").returncode == 1
    _one_line_exit_2(qlint("matrix", "x-pcie-err-unc-mask", cwd=shallow), SHALLOW, "release 8.0.0")


def test_shallow_clone_review_is_not_a_root_commit(demo_source, tmp_path):
    """The cut-off commit has parents git did not fetch: reviewing it as adding every file is wrong."""
    src, _, _ = demo_source
    shallow = _clone(src, tmp_path / "shallow", "--depth", "1")
    _one_line_exit_2(qlint("-C", str(shallow), "HEAD"), SHALLOWS)
    _one_line_exit_2(qlint("-C", str(shallow), "HEAD~1"), "unknown revision", "shallow clone")


def _drop_object(repo: Path, oid: str) -> None:
    (repo / ".git" / "objects" / oid[:2] / oid[2:]).unlink()


def test_missing_blob_and_tree_are_exit_2_naming_them(aer_repo):
    repo, base, ids = aer_repo
    import pygit2

    r = pygit2.Repository(str(repo))
    tip = r[ids[-1]].peel(pygit2.Commit)
    blob = str(tip.tree["hw/pci/pcie_aer.c"].id)
    sub = str(tip.parents[0].tree["include"].id)
    _drop_object(repo, blob)
    _one_line_exit_2(qlint("-C", str(repo), "HEAD"), PARTIAL, blob)
    _one_line_exit_2(qlint("matrix", ids[-1], cwd=repo), PARTIAL)  # was NotFoundError
    _drop_object(repo, sub)
    _one_line_exit_2(qlint("-C", str(repo), "HEAD"), PARTIAL)


# -- the command line's habits -------------------------------------------------------------------


@pytest.mark.parametrize("args, words", [
    (["rules"], "pci-config-unguarded"),
    (["rule", "pci-config-unguarded"], "## Why is this bad?"),
    (["machines"], "hw_compat_7_2"),
    (["matrix", "x-pcie-err-unc-mask"], "Rescue for VMs"),
    (["machines", "--format", "json"], '"arrays"'),
])
def test_dash_c_before_a_command(demo_source, tmp_path, args, words):
    """`qlint -C REPO COMMAND` read COMMAND as a revision to review."""
    src, _, _ = demo_source
    r = qlint("-C", str(src), *args, cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert words in r.stdout


def test_dash_c_before_demo_runs_the_demo(tmp_path):
    r = qlint("-C", str(tmp_path), "demo", "--format", "json")
    assert r.returncode == 0, r.stderr
    assert any(f["rule"] == "pci-config-unguarded" for f in json.loads(r.stdout)["findings"])


def test_version():
    from importlib.metadata import version

    r = qlint("--version")
    assert r.returncode == 0 and r.stdout == f"qlint {version('qlint')}\n"


@pytest.mark.parametrize("args", [["demo", "--help"], ["rule", "--help"], ["rules", "--help"], ["rule", "-h"],
                                  ["matrix", "--help"], ["machines", "--help"], ["install-hook", "--help"]])
def test_command_help(args):
    """`qlint demo --help` ran the demo; `qlint rule --help` looked for a rule named --help."""
    r = qlint(*args)
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith(f"Usage: qlint {args[0]} ")
    assert "[pci-config-unguarded]" not in r.stdout and "qlint demo:" not in r.stdout


def test_top_level_help_shows_the_review_and_the_commands():
    r = qlint("--help")
    assert r.returncode == 0
    assert "--staged" in r.stdout and "--patch" in r.stdout
    assert all(c in r.stdout for c in ("demo", "rules", "matrix", "machines", "install-hook"))


@pytest.mark.parametrize("args", [
    ["--bogus"], ["--format"], ["-j", "x"], ["rule"], ["rule", "a", "b"], ["rule", "nope"], ["matrix"],
    ["matrix", "--bogus"], ["machines", "--bogus"], ["rules", "--bogus"], ["rules", "--format", "html"],
    ["demo", "--format", "xml"],
    ["demo", "--keep"], ["-C"], ["--patch", "/nonexistent"], ["HEAD~9..HEAD"], ["no-such-rev"],
    ["HEAD\nforged: second line"], ["HEAD\x1b[2J\x1b]0;title\x07"],
])
def test_every_error_is_one_line_ending_in_a_newline(aer_repo, args):
    repo, _, _ = aer_repo
    r = qlint(*args, cwd=repo)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.endswith("\n") and len(r.stderr.splitlines()) == 1, repr(r.stderr)
    assert r.stderr.startswith("qlint: ") and "\x1b" not in r.stderr and "\x07" not in r.stderr


def test_revision_with_a_newline_is_escaped(aer_repo):
    repo, _, _ = aer_repo
    r = qlint("-C", str(repo), "HEAD\nforged: second line")
    assert r.stderr == "qlint: unknown revision: HEAD\\x0aforged: second line\n"


@pytest.mark.parametrize("args", [
    [], ["-j", "2", "HEAD~1..HEAD"], ["--no-cache", "HEAD"], ["-C", ".", "HEAD"], ["review", "HEAD"],
    ["--format", "json", "HEAD~1..HEAD"], ["--jobs", "1", "--format", "json", "-C", ".", "HEAD"],
])
def test_readme_invocations_still_review(aer_repo, args):
    repo, _, _ = aer_repo
    r = qlint(*args, cwd=repo)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "pci-config-unguarded" in r.stdout


def test_readme_fix_and_patch_invocations(aer_repo):
    repo, base, _ = aer_repo
    r = qlint("--fix", "HEAD", cwd=repo)
    assert r.returncode == 1 and r.stdout.startswith("diff --git"), r.stderr
    _, patches = case_patches(AER)
    r = qlint("-C", str(repo), "--base", base, "--patch", str(patches[0]), "--format", "email")
    assert r.returncode == 1 and "[pci-config-unguarded]" in r.stdout, r.stderr


def _as_a_terminal_shows(text: str) -> list[str]:
    """The lines a terminal shows for ``text`` (a carriage return writes over the line from its start)."""
    shown = []
    for line in text.replace("\r\n", "\n").split("\n"):
        cells: list[str] = []
        for part in line.split("\r"):
            cells[:len(part)] = part
        shown.append("".join(cells).rstrip())
    return [s for s in shown if s]


def test_error_after_progress_is_a_line_of_its_own(blobless):
    """On a terminal the progress line has no newline: an error printed after it was glued to it."""
    import pty

    repo, _, _ = blobless
    leader, follower = pty.openpty()
    try:
        r = subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", "-C", str(repo), "HEAD~5..HEAD"],
                           stdout=subprocess.PIPE, stderr=follower, timeout=120)
        os.close(follower)
        out = b""
        while True:
            try:
                chunk = os.read(leader, 65536)
            except OSError:  # the terminal's other side is closed: all read
                break
            if not chunk:
                break
            out += chunk
    finally:
        os.close(leader)
    assert r.returncode == 2
    shown = _as_a_terminal_shows(out.decode())
    assert len(shown) == 1 and shown[0].startswith("qlint: blob ") and shown[0].endswith("without --filter)"), shown


# -- parallel runs survive their workers ---------------------------------------------------------

_DYING_WORKER = """
import os, signal, sys
from qlint.analyzer import cli, engine

def dying(_work):
    os.kill(os.getpid(), signal.SIGKILL)  # as the kernel's OOM killer or `kill -9` would

setattr(engine, sys.argv[1], dying)  # forked workers inherit the module as it is now
cli.main(sys.argv[2:])
"""


@pytest.fixture(scope="module")
def long_range(tmp_path_factory):
    """45 commits (enough for two processes: --jobs is capped by chunks of CHUNK patches), the last
    one the AER break."""
    from qlint.analyzer.engine import CHUNK

    repo = tmp_path_factory.mktemp("long") / "repo"
    _, base, _ = build(FIXTURES / "tree", [], repo)
    _git(repo, "reset", "-q", "--hard")
    for i in range(CHUNK + 4):
        with open(repo / "hw" / "pci" / "pci.c", "a") as f:
            f.write(f"/* note {i} */\n")
        _git(repo, "-c", "user.name=Ada", "-c", "user.email=ada@example.invalid", "commit", "-qam", f"note {i}")
    _, aer = case_patches(AER)
    _git(repo, "apply", "--index", str(aer[0]))
    _git(repo, "-c", "user.name=Ada", "-c", "user.email=ada@example.invalid", "commit", "-qm", "aer")
    return repo, base


def test_long_range_in_two_processes_finds_the_break(long_range):
    repo, base = long_range
    r = qlint("-C", str(repo), "-j", "2", f"{base}..HEAD")
    assert r.returncode == 1 and "[pci-config-unguarded]" in r.stdout, r.stderr


@pytest.mark.parametrize("worker", ["_worker_prefilter", "_worker_review"])
def test_a_killed_worker_is_exit_2_at_once(long_range, worker):
    """`kill -9` of a --jobs 2 worker left the parent waiting for its work for ever."""
    repo, base = long_range
    r = subprocess.run([sys.executable, "-c", _DYING_WORKER, worker, "-C", str(repo), "-j", "2", f"{base}..HEAD"],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.startswith("qlint: a review process died") and len(r.stderr.splitlines()) == 1, r.stderr
    assert r.stdout == ""
