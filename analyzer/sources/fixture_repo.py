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

from qlint.analyzer.change import InputError

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


def commit_change(repo: pygit2.Repository, parent: str, message: str, ref: str | None,
                        files: dict[str, bytes] | None = None, diff_text: str | None = None) -> str:
    """A commit on ``parent`` changing ``files`` or applying ``diff_text``, made in the index only."""
    idx = repo.index
    idx.read_tree(repo[parent].peel(pygit2.Commit).tree)
    for path, data in (files or {}).items():
        idx.add(pygit2.IndexEntry(path, repo.create_blob(data), pygit2.enums.FileMode.BLOB))
    if diff_text is not None:
        idx.write()
        repo.apply(pygit2.Diff.parse_diff(diff_text), pygit2.enums.ApplyLocation.INDEX)
        idx = repo.index
        idx.read()
    tree = idx.write_tree()
    return str(repo.create_commit(ref, _SIG, _SIG, message, tree, [parent]))


def build_demo(dest: Path) -> tuple[pygit2.Repository, str, list[str]]:
    """The demo history: v7.2.0, the 8.0 cycle with the break, v8.0.0, the fix on master and on
    a stable-8.0 branch released as v8.0.1.  Returns (repo, commit before the series, series ids)."""
    root = fixtures_root()
    patches = sorted((root / "demo").glob("*.patch"))
    repo, opened, ids = build(root / "tree", patches, dest)
    rebuilt, new_ids = on_release_root(repo, opened, ids, "7.2.0", "8.0")
    # the fix backported to the 8.0 stable branch, released as 8.0.1
    backport = sorted((root / "demo" / "stable-8.0").glob("*.patch"))[0]
    fix_message, fix_diff = split_patch(backport.read_text(encoding="utf-8"))
    fixed = commit_change(repo, new_ids[1], fix_message, None, diff_text=fix_diff)
    commit_change(repo, fixed, "Update version for v8.0.1 release\n", "refs/heads/stable-8.0",
                        files={"VERSION": b"8.0.1\n"})
    idx = repo.index
    idx.read_tree(repo[new_ids[-1]].peel(pygit2.Commit).tree)
    idx.write()
    return repo, str(rebuilt), new_ids


def on_release_root(repo: pygit2.Repository, base: str, ids: list[str], version: str,
                    next_version: str) -> tuple[str, list[str]]:
    """Rewrite a built history so that it starts with a release commit (VERSION ``version``), then
    ``base``'s tree ("Open ... development tree"), then copies of ``ids``; master points at the end."""
    base_tree = repo[base].peel(pygit2.Commit).tree
    rel = repo.create_commit(None, _SIG, _SIG, f"Update version for v{version} release\n",
                             _tree_with(repo, base_tree, "VERSION", version.encode() + b"\n"), [])
    opened = repo.create_commit(None, _SIG, _SIG, f"Open {next_version} development tree\n", base_tree.id, [rel])
    parent, new_ids = str(opened), []
    for cid in ids:
        c = repo[cid].peel(pygit2.Commit)
        parent = str(repo.create_commit(None, c.author, c.committer, c.message, c.tree.id, [parent]))
        new_ids.append(parent)
    repo.references.create("refs/heads/master", parent, force=True)
    repo.set_head("refs/heads/master")
    return str(opened), new_ids


def _tree_with(repo: pygit2.Repository, tree: pygit2.Tree, path: str, data: bytes):
    tb = repo.TreeBuilder(tree)
    tb.insert(path, repo.create_blob(data), pygit2.enums.FileMode.BLOB)
    return tb.write()


def fixtures_root() -> Path:
    """The fixtures directory, from a checkout or from the installed package."""
    from qlint import fixtures

    return Path(next(iter(fixtures.__path__)))


def case_patches(case: Path) -> tuple[list[Path], list[Path]]:
    setup = sorted((case / "setup").glob("*.patch")) if (case / "setup").is_dir() else []
    return setup, sorted(case.glob("*.patch"))
