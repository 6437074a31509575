"""``qlint install-hook``: a pre-commit hook where git runs hooks, written only when that is safe.

Where: what ``git rev-parse --git-path hooks`` names, so ``core.hooksPath`` and linked worktrees
(whose hooks are the main repository's) are honoured.  Never: over a hook that is not qlint's
(unless forced), through a symbolic link (a link is someone's hook, never a way to write
elsewhere), or, through a link, outside the directory git names.
"""

from __future__ import annotations

import os
import stat
import subprocess
import tempfile
from pathlib import Path

from qlint.analyzer.change import InputError

HOOK_MARK = "# installed by qlint install-hook"
HOOK_TEXT = f"""#!/bin/sh
{HOOK_MARK}
# Review staged C changes for migration-compatibility breaks; `git commit --no-verify` skips it.
exec qlint --staged
"""


def _git(repo: str, *args: str) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(["git", "-C", repo, *args], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.SubprocessError) as exc:
        raise InputError(f"install-hook needs git, to know where git runs hooks ({exc})") from None


def _git_paths(repo: str) -> tuple[Path, list[Path]]:
    """(the hooks directory as git names it, links not followed; the repository's own directories,
    git dir and work tree, links followed)."""
    r = _git(repo, "rev-parse", "--path-format=absolute", "--git-common-dir", "--show-toplevel")
    lines = r.stdout.splitlines()
    if r.returncode != 0 or len(lines) != 2:
        why = (r.stderr.strip().splitlines() or ["git rev-parse failed"])[-1]
        raise InputError(f"cannot tell where git runs hooks in {repo}: {why}")
    common, top = (Path(x) for x in lines)
    configured = _git(repo, "config", "--path", "--get", "core.hooksPath").stdout.strip()
    # git runs hooks in the work tree's top directory: a relative core.hooksPath is relative to it
    return (top / configured if configured else common / "hooks"), [common, top]


def _inside(path: Path, roots: list[Path]) -> bool:
    return any(path == r or r in path.parents for r in roots)


def _check_no_link_out(hooks: Path, roots: list[Path]) -> None:
    """A hooks directory named inside the repository must not lead out of it through a link."""
    real = Path(os.path.realpath(hooks))
    if _inside(Path(os.path.normpath(hooks)), roots) and not _inside(real, roots):
        raise InputError(f"{hooks} leads out of the repository (to {real}); not writing there")


def _refuse_foreign(hook: Path, force: bool) -> None:
    """Refuse what is there unless it is qlint's hook (or forced); a link is never followed."""
    try:
        st = os.lstat(hook)
    except FileNotFoundError:
        return
    if stat.S_ISLNK(st.st_mode):
        what = f"{hook} is a symbolic link (to {os.readlink(hook)})"
    elif not stat.S_ISREG(st.st_mode):
        raise InputError(f"{hook} exists and is not a file; not touching it")
    else:
        with open(hook, "rb") as f:  # a regular file, not a link: lstat said so
            if HOOK_MARK.encode() in f.read(1 << 20):
                return
        what = f"{hook} exists and is not qlint's"
    if not force:
        raise InputError(f"{what}; not overwriting it (--force replaces it; see the README for the "
                         f"pre-commit framework)")


def install(repo: str, force: bool) -> Path:
    """Write the hook and return its path; InputError (nothing written) when it is not safe."""
    hooks, roots = _git_paths(repo)
    _check_no_link_out(hooks, roots)
    hooks = Path(os.path.realpath(hooks))  # where git runs hooks: through links git follows
    hook = hooks / "pre-commit"
    _refuse_foreign(hook, force)
    if not hooks.is_dir() and not _inside(hooks, roots):
        raise InputError(f"{hooks} (core.hooksPath) does not exist; not creating it outside the repository")
    tmp = None
    try:
        hooks.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=hooks, prefix=".pre-commit.qlint-")
        with os.fdopen(fd, "w") as f:
            f.write(HOOK_TEXT)
        os.chmod(tmp, 0o755)
        os.replace(tmp, hook)  # replaces a link itself, never what it points to
    except OSError as exc:
        if tmp is not None and os.path.lexists(tmp):
            os.unlink(tmp)
        raise InputError(f"cannot write {hook}: {exc.strerror}") from None
    return hook
