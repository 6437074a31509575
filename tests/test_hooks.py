"""`qlint install-hook` in real repositories: where git runs hooks, and never anywhere else."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from qlint.analyzer.sources.fixture_repo import build, case_patches

ROOT = Path(__file__).resolve().parents[1]
FIXTURES = ROOT / "fixtures"
AER = FIXTURES / "examples" / "pci-config-unguarded" / "invalid" / "aer-mask-unguarded"
MARK = "# installed by qlint install-hook"
# the hook runs `qlint`: the one of the Python running the tests
ENV = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}


def qlint(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", *args], capture_output=True, text=True,
                          cwd=cwd, env=ENV)


def git(repo, *args, check=True):
    return subprocess.run(["git", "-C", str(repo), "-c", "user.name=Ada", "-c", "user.email=ada@example.invalid",
                           *args], capture_output=True, text=True, check=check, env=ENV)


@pytest.fixture
def repo(tmp_path):
    dest = tmp_path / "repo"
    build(FIXTURES / "tree", [], dest)
    git(dest, "reset", "-q", "--hard")  # a work tree matching HEAD
    return dest


def _tree(path: Path) -> dict[str, str]:
    """Every file and link below ``path`` (links as where they point)."""
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_symlink():
            out[str(p.relative_to(path))] = "-> " + os.readlink(p)
        elif p.is_file():
            out[str(p.relative_to(path))] = p.read_text(errors="replace")
    return out


def _stage_the_break(repo: Path) -> None:
    _, patches = case_patches(AER)
    git(repo, "apply", "--index", str(patches[0]))


def _commit_is_stopped_by_the_hook(worktree: Path) -> None:
    _stage_the_break(worktree)
    r = git(worktree, "commit", "-q", "-m", "hw/pci/aer: unguarded", check=False)
    assert r.returncode != 0, r.stdout + r.stderr
    assert "[pci-config-unguarded]" in r.stdout + r.stderr  # qlint's review, run by git


@pytest.mark.parametrize("args", [["--help"], ["-h"], ["--bogus"], ["--force", "--help"], ["extra"]])
def test_help_and_bad_options_write_nothing(repo, args):
    """`install-hook --help` used to write a hook."""
    before = _tree(repo / ".git")
    r = qlint("install-hook", *args, cwd=repo)
    if "--help" in args or "-h" in args:
        assert r.returncode == 0 and "Usage: qlint install-hook" in r.stdout
    else:
        assert r.returncode == 2 and len(r.stderr.splitlines()) == 1 and r.stderr.endswith("\n")
    assert _tree(repo / ".git") == before


def test_installed_hook_runs_at_commit(repo):
    r = qlint("install-hook", "-C", str(repo))
    assert r.returncode == 0, r.stderr
    hook = repo / ".git" / "hooks" / "pre-commit"
    assert MARK in hook.read_text() and os.access(hook, os.X_OK)
    _commit_is_stopped_by_the_hook(repo)


def test_dangling_symlink_is_a_foreign_hook_and_is_not_followed(repo, tmp_path):
    """A dangling link made install-hook create the file it points to, outside the repository."""
    outside = tmp_path / "elsewhere" / "evil"
    outside.parent.mkdir()
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.symlink_to(outside)
    r = qlint("install-hook", "-C", str(repo))
    assert r.returncode == 2 and "symbolic link" in r.stderr and len(r.stderr.splitlines()) == 1
    assert not outside.exists() and os.readlink(hook) == str(outside)
    # --force replaces the link itself, never writes where it points
    r = qlint("install-hook", "--force", "-C", str(repo))
    assert r.returncode == 0, r.stderr
    assert not hook.is_symlink() and MARK in hook.read_text() and not outside.exists()


def test_link_to_a_foreign_hook_is_kept(repo, tmp_path):
    theirs = tmp_path / "their-hook"
    theirs.write_text("#!/bin/sh\necho theirs\n")
    hook = repo / ".git" / "hooks" / "pre-commit"
    hook.symlink_to(theirs)
    r = qlint("install-hook", "-C", str(repo))
    assert r.returncode == 2 and "not overwriting" in r.stderr
    assert theirs.read_text() == "#!/bin/sh\necho theirs\n" and hook.is_symlink()


def test_hooks_directory_linked_out_of_the_repository(repo, tmp_path):
    elsewhere = tmp_path / "shared-hooks"
    elsewhere.mkdir()
    hooks = repo / ".git" / "hooks"
    subprocess.run(["rm", "-rf", str(hooks)], check=True)
    hooks.symlink_to(elsewhere)
    r = qlint("install-hook", "-C", str(repo))
    assert r.returncode == 2 and "leads out of the repository" in r.stderr
    assert list(elsewhere.iterdir()) == []


def test_core_hooks_path_is_where_the_hook_goes(repo):
    """It wrote .git/hooks/pre-commit, which git does not run when core.hooksPath is set."""
    git(repo, "config", "core.hooksPath", ".githooks")
    r = qlint("install-hook", "-C", str(repo))
    assert r.returncode == 0, r.stderr
    assert MARK in (repo / ".githooks" / "pre-commit").read_text()
    assert not (repo / ".git" / "hooks" / "pre-commit").exists()
    _commit_is_stopped_by_the_hook(repo)


def test_core_hooks_path_foreign_hook_is_kept(repo, tmp_path):
    shared = tmp_path / "team-hooks"
    shared.mkdir()
    (shared / "pre-commit").write_text("#!/bin/sh\nexit 0\n")
    git(repo, "config", "core.hooksPath", str(shared))
    r = qlint("install-hook", "-C", str(repo))
    assert r.returncode == 2 and "not overwriting" in r.stderr
    assert (shared / "pre-commit").read_text() == "#!/bin/sh\nexit 0\n"
    git(repo, "config", "core.hooksPath", str(tmp_path / "missing"))
    r = qlint("install-hook", "-C", str(repo))
    assert r.returncode == 2 and "does not exist" in r.stderr and not (tmp_path / "missing").exists()


def test_linked_worktree_hook_goes_to_the_main_repository(repo, tmp_path):
    """It wrote .git/worktrees/NAME/hooks/pre-commit, which git never runs."""
    wt = tmp_path / "wt"
    git(repo, "worktree", "add", "-q", "--detach", str(wt))
    r = qlint("install-hook", "-C", str(wt))
    assert r.returncode == 0, r.stderr
    assert MARK in (repo / ".git" / "hooks" / "pre-commit").read_text()
    assert not list((repo / ".git" / "worktrees").glob("*/hooks"))
    _commit_is_stopped_by_the_hook(wt)


def test_pre_commit_framework_hook_runs_the_review(repo):
    """The entry .pre-commit-hooks.yaml declares, run as the framework runs it (no file names)."""
    text = (ROOT / ".pre-commit-hooks.yaml").read_text()
    entry = re.search(r"^\s*entry:\s*(.+)$", text, re.M).group(1)
    assert re.search(r"^\s*pass_filenames:\s*false", text, re.M)
    argv = shlex.split(entry)
    assert argv[0] == "qlint"
    run = lambda: subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", *argv[1:]],  # noqa: E731
                                 cwd=repo, capture_output=True, text=True, env=ENV)
    r = run()
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr  # nothing staged
    _stage_the_break(repo)
    r = run()
    assert r.returncode == 1 and "[pci-config-unguarded]" in r.stdout
