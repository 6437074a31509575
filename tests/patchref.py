"""Test helpers for --patch: mails built the ways mail clients send patches, and real git am /
git apply as the reference for what a patch changes.

git runs only in throw-away repositories under the test's temporary directory, with no user or
system configuration.
"""

from __future__ import annotations

import base64
import os
import quopri
import subprocess
from pathlib import Path

from qlint.analyzer.change import InputError, OverlaySnapshot, EmptySnapshot
from qlint.analyzer.sources.mbox import apply_series, split_mails

FROM_LINE = b"From 02c52fab2b0be1a880bc0e1969324dccd02eecdf Mon Sep 17 00:00:00 2001\n"
_ENV = {**os.environ, "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "HOME": os.devnull,
        "GIT_AUTHOR_NAME": "Ada", "GIT_AUTHOR_EMAIL": "ada@example.invalid", "GIT_COMMITTER_NAME": "Ada",
        "GIT_COMMITTER_EMAIL": "ada@example.invalid", "LC_ALL": "C"}


def git(cwd: Path, *args: str, stdin: bytes | None = None, check: bool = True) -> subprocess.CompletedProcess:
    r = subprocess.run(["git", *args], cwd=cwd, input=stdin, capture_output=True, env=_ENV)
    if check and r.returncode:
        raise AssertionError(f"git {' '.join(args)}: {r.stderr.decode(errors='replace')}")
    return r


def split_format_patch(text: bytes) -> tuple[bytes, bytes, bytes]:
    """(headers, message, diff) of a git format-patch file; the diff starts at "diff --git"."""
    head, _, body = text.partition(b"\n\n")
    k = body.index(b"\ndiff --git ") + 1
    return head + b"\n", body[:k], body[k:]


def mail(subject: bytes, body: bytes, headers: bytes = b"") -> bytes:
    return (FROM_LINE + b"From: Ada <ada@example.invalid>\nDate: Wed, 1 Mar 2023 11:00:00 +0000\n"
            + b"Subject: " + subject + b"\n" + headers + b"\n" + body)


def part(payload: bytes, ctype: bytes = b"text/plain; charset=utf-8", cte: bytes = b"7bit",
         name: bytes | None = None) -> bytes:
    """One MIME part, its payload encoded with ``cte`` (7bit, base64, quoted-printable)."""
    if cte == b"base64":
        payload = base64.encodebytes(payload)
    elif cte == b"quoted-printable":
        payload = quopri.encodestring(payload)
    disp = b"Content-Disposition: attachment; filename=\"" + name + b"\"\n" if name else b""
    return b"Content-Type: " + ctype + b"\nContent-Transfer-Encoding: " + cte + b"\n" + disp + b"\n" + payload


def multipart(subject: bytes, parts: list[bytes], boundary: bytes = b"=-=qlint-boundary=-=") -> bytes:
    body = b"This is a multi-part message in MIME format.\n"
    for p in parts:
        body += b"--" + boundary + b"\n" + p + (b"" if p.endswith(b"\n") else b"\n")
    body += b"--" + boundary + b"--\n"
    return mail(subject, body, b"MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"" + boundary + b"\"\n")


def make_repo(path: Path, files: dict[str, bytes], gitlinks: dict[str, str] | None = None) -> Path:
    """A repository whose one commit holds ``files`` (and submodule entries ``gitlinks``: path -> commit)."""
    path.mkdir(parents=True)
    git(path, "init", "-q", "-b", "master")
    for name, data in files.items():
        (path / name).parent.mkdir(parents=True, exist_ok=True)
        (path / name).write_bytes(data)
    git(path, "add", "-A")
    for name, oid in (gitlinks or {}).items():
        git(path, "update-index", "--add", "--cacheinfo", f"160000,{oid},{name}")
    git(path, "commit", "-q", "-m", "base")
    return path


def tree_files(repo: Path, rev: str = "HEAD") -> dict[str, bytes]:
    """Every blob of a commit's tree, by path (submodule entries left out)."""
    blobs = []
    for entry in filter(None, git(repo, "ls-tree", "-r", "-z", rev).stdout.split(b"\0")):
        meta, path = entry.split(b"\t", 1)
        _mode, kind, oid = meta.split()
        if kind == b"blob":
            blobs.append((path.decode("utf-8", "surrogateescape"), oid))
    out = git(repo, "cat-file", "--batch", stdin=b"".join(oid + b"\n" for _, oid in blobs)).stdout
    files, pos = {}, 0
    for path, _ in blobs:
        head_end = out.index(b"\n", pos)
        size = int(out[pos:head_end].split()[2])
        files[path] = out[head_end + 1:head_end + 1 + size]
        pos = head_end + 1 + size + 1
    return files


def git_am(repo: Path, mbox: bytes) -> dict[str, bytes] | None:
    """The tree git am makes of ``mbox`` on a copy of ``repo``'s HEAD, or None if git am refuses."""
    work = repo.parent / (repo.name + "-am")
    if not work.exists():
        git(repo.parent, "clone", "-q", str(repo), str(work))
    git(work, "am", "--abort", check=False)
    git(work, "reset", "-q", "--hard", "origin/HEAD")
    r = git(work, "am", "-q", stdin=mbox, check=False)
    if r.returncode:
        return None
    return tree_files(work)


def git_apply(repo: Path, diff: bytes) -> dict[str, bytes] | None:
    """The tree ``git apply --cached`` makes of a diff on ``repo``'s HEAD (its index is reset first)."""
    git(repo, "reset", "-q")
    r = git(repo, "apply", "--cached", "-", stdin=diff, check=False)
    if r.returncode:
        return None
    tree = git(repo, "write-tree").stdout.decode().strip()
    git(repo, "reset", "-q")
    return tree_files(repo, tree)


def qlint_tree(base: dict[str, bytes], mbox: bytes) -> dict[str, bytes] | InputError:
    """The tree qlint reviews for ``mbox`` on a tree holding ``base`` (an InputError if it refuses)."""
    snap = OverlaySnapshot(EmptySnapshot(), base, "base")
    try:
        patches = apply_series(split_mails(mbox), snap, "test")
    except InputError as exc:
        return exc
    tip = patches[-1].new
    return {path: tip.read(path) for path, _ in tip.files()}


def git_mailinfo(tmp: Path, raw: bytes) -> tuple[bool, bytes, bytes]:
    """(whether git mailinfo fails, the subject, the patch text) for one mail."""
    r = git(tmp, "mailinfo", "-u", str(tmp / "msg"), str(tmp / "patch"), stdin=raw, check=False)
    subject = next((ln[9:] for ln in r.stdout.split(b"\n") if ln.startswith(b"Subject: ")), b"")
    patch = (tmp / "patch").read_bytes() if (tmp / "patch").exists() else b""
    return r.returncode != 0, subject, patch
