"""Build a throw-away git repository from a fixture tree and format-patch files.

Used by ``qlint demo`` and by the tests; it only ever writes inside the
temporary directory it is given.
"""

from __future__ import annotations

import email.header
import re
import shutil
from pathlib import Path

import pygit2

from .change import InputError

_SIG = pygit2.Signature("Ada Fixture", "ada@example.invalid", 1677668400, 0)


def split_patch(text: str) -> tuple[str, str]:
    """(commit message, diff text) of one ``git format-patch`` file."""
    head, sep, rest = text.partition("\n\n")
    subject = ""
    m = re.search(r"^Subject: (.*(?:\n[ \t].*)*)", head, re.M)
    if m:
        subject = " ".join(line.strip() for line in m.group(1).splitlines())
        subject = str(email.header.make_header(email.header.decode_header(subject)))
        subject = re.sub(r"^\[PATCH[^\]]*\]\s*", "", subject)
    body, _, diff = rest.partition("\ndiff --git ")
    body = body.split("\n---\n")[0].strip()
    diff = "diff --git " + diff
    diff = re.split(r"\n-- \n", diff)[0] + "\n"
    return (subject + ("\n\n" + body if body else "")).strip() + "\n", diff


def build(tree: Path, patches: list[Path], dest: Path) -> tuple[pygit2.Repository, str, list[str]]:
    """Copy ``tree`` to ``dest``, commit it, then commit each patch in turn.

    Returns (repo, base commit id, commit ids of the patches).
    """
    if dest.exists():
        shutil.rmtree(dest)
    shutil.copytree(tree, dest)
    repo = pygit2.init_repository(str(dest))
    idx = repo.index
    idx.add_all()
    idx.write()
    base = repo.create_commit("HEAD", _SIG, _SIG, "base\n", idx.write_tree(), [])
    ids = []
    parent = base
    for p in patches:
        message, diff_text = split_patch(p.read_text(encoding="utf-8"))
        try:
            diff = pygit2.Diff.parse_diff(diff_text)
            repo.apply(diff, pygit2.enums.ApplyLocation.BOTH)
        except Exception as exc:
            raise InputError(f"{p.name}: does not apply: {exc}") from None
        idx = repo.index
        idx.read()
        parent = repo.create_commit("HEAD", _SIG, _SIG, message, idx.write_tree(), [parent])
        ids.append(str(parent))
    return repo, str(base), ids


def fixtures_root() -> Path:
    """The fixtures directory, from a checkout or from the installed package."""
    from qlint import fixtures

    return Path(next(iter(fixtures.__path__)))


def case_patches(case: Path) -> tuple[list[Path], list[Path]]:
    setup = sorted((case / "setup").glob("*.patch")) if (case / "setup").is_dir() else []
    return setup, sorted(case.glob("*.patch"))
