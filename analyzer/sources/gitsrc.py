"""Read a git repository (bare or not) into qlint's change model with pygit2.

Only objects are read: no checkout, no index write, no ref update.
"""

from __future__ import annotations

import bisect
import os
import re
import subprocess
from collections import OrderedDict
from contextlib import contextmanager
from typing import Iterator

import pygit2

from pathlib import Path

from qlint.analyzer.tree import cache
from qlint.analyzer.change import (
    EmptySnapshot,
    FileChange,
    InputError,
    MissingObjectError,
    LazyFileChange,
    LazyPatch,
    OverlaySnapshot,
    Patch,
    Series,
    Snapshot,
)

# libgit2 maps pack files in windows of 1 GiB, up to 8 GiB, and keeps them mapped: walking the
# history for releases (60,000 commits) left 200 MB more resident in every process, and a cold
# --jobs 2 release cycle peaked at 1,192 MiB summed RSS.  With 32 MiB windows, 64 MiB at most,
# it peaked 250 MiB lower, in the same time (bench/README.md has the current figure).
pygit2.settings.mwindow_size = 32 * 1024 * 1024
pygit2.settings.mwindow_mapped_limit = 64 * 1024 * 1024

# Files whose text qlint reads; everything else is listed but not loaded.
SOURCE_SUFFIXES = (".c", ".h", ".inc")
VERSION_RE = re.compile(rb"^\s*(\d+)\.(\d+)\.(\d+)")


def wanted(path: str) -> bool:
    return path.endswith(SOURCE_SUFFIXES) or path == "VERSION"


def open_repo(path: str) -> pygit2.Repository:
    try:
        disc = pygit2.discover_repository(path)
    except Exception:
        disc = None
    if not disc:
        raise InputError(f"not a git repository: {path}")
    try:
        return pygit2.Repository(disc)
    except Exception as exc:  # pygit2 raises several kinds
        raise InputError(f"cannot open git repository {path}: {exc}") from None


_SHALLOW = "shallow clone? (git fetch --unshallow)"
_PARTIAL = "partial clone? (fetch the objects, or clone without --filter)"


def missing_object(oid: str, kind: str = "blob", path: str = "") -> MissingObjectError:
    """The one error for an object the repository lacks, naming it (and where it is, when known).

    ``kind`` "parents" is for a commit whose parents a shallow clone left out.
    """
    if kind == "parents":
        return MissingObjectError(f"the parents of commit {oid} are not in the repository: {_SHALLOW}")
    where = f" ({path})" if path else ""
    hint = _SHALLOW if kind == "commit" else _PARTIAL
    return MissingObjectError(f"{kind} {oid}{where} is not in the repository: {hint}")


_OID_RE = re.compile(r"\b[0-9a-f]{40}\b")


def as_missing(exc: BaseException, kind: str = "object", path: str = "") -> MissingObjectError | None:
    """The missing-object error pygit2's ``exc`` stands for, or None when it is about something else."""
    if isinstance(exc, MissingObjectError):
        return exc
    text = str(exc)
    if not isinstance(exc, pygit2.GitError) or not re.search(r"not found|Unable to read|cannot read", text, re.I):
        return None
    m = _OID_RE.search(text)
    return missing_object(m.group(0), kind, path) if m else None


@contextmanager
def reading(kind: str = "object", path: str = ""):
    """Objects read inside (tree diffs, patches) that the repository lacks raise MissingObjectError."""
    try:
        yield
    except pygit2.GitError as exc:
        err = as_missing(exc, kind, path)
        if err is None:
            raise
        raise err from None


def get_object(repo: pygit2.Repository, oid, kind: str = "blob", path: str = ""):
    """``repo[oid]``, or MissingObjectError naming it."""
    try:
        return repo[oid]
    except (KeyError, ValueError):  # pygit2's NotFoundError is a KeyError
        raise missing_object(str(oid), kind, path) from None


def tree_of(commit: pygit2.Commit) -> pygit2.Tree:
    """A commit's tree, or MissingObjectError (a clone made with --filter=tree:0)."""
    try:
        return commit.tree
    except (KeyError, pygit2.GitError):
        raise missing_object(str(commit.tree_id), "tree", f"of commit {str(commit.id)[:10]}") from None


def _shallow(repo: pygit2.Repository) -> frozenset[str]:
    """Commits whose parents a shallow clone left out (git's ``shallow`` file)."""
    if not repo.is_shallow:
        return frozenset()
    try:
        return frozenset((Path(repo.path) / "shallow").read_text().split())
    except OSError:
        return frozenset()


def first_parent(repo: pygit2.Repository, c: pygit2.Commit) -> pygit2.Commit | None:
    """The first parent of ``c``; None for a root commit; MissingObjectError where a shallow clone
    cut the history (libgit2 shows such a commit without parents: it is not a root)."""
    if c.parents:
        return c.parents[0]
    if str(c.id) in _shallow(repo):
        raise missing_object(str(c.id), "parents")
    return None


_BLOBS: OrderedDict[str, bytes] = OrderedDict()
_BLOB_BYTES = 0
# The source files a tree index greps (about 60 MB in a QEMU tree) and their versions along a
# range: reading them from the object store again costs 10x more than searching them in memory.
_BLOB_BUDGET = 96 * 1024 * 1024


def read_blob(repo: pygit2.Repository, oid: str, path: str = "") -> bytes:
    """Blob bytes by id, the most recently used kept for the run: a range reads the same files
    again and again.  A blob the repository lacks is MissingObjectError (``path`` names it)."""
    global _BLOB_BYTES
    data = _BLOBS.get(oid, _MISSING)
    if data is not _MISSING:
        _BLOBS.move_to_end(oid)
        return data
    data = get_object(repo, oid, "blob", path).data
    _BLOBS[oid] = data
    _BLOB_BYTES += len(data)
    while _BLOB_BYTES > _BLOB_BUDGET and len(_BLOBS) > 1:
        _BLOB_BYTES -= len(_BLOBS.popitem(last=False)[1])
    return data


_MISSING = object()


class GitSnapshot(Snapshot):
    def __init__(self, repo: pygit2.Repository, tree: pygit2.Tree, label: str):
        super().__init__(label)
        self.repo = repo
        self.tree = tree

    def _entry(self, path: str):
        try:
            return self.tree[path]
        except (KeyError, ValueError):
            return None
        except pygit2.GitError as exc:  # a subtree on the way that the repository lacks
            err = as_missing(exc, "tree", f"above {path}")
            if err is None:
                raise
            raise err from None

    def read(self, path: str) -> bytes | None:
        e = self._entry(path)
        if e is None or e.type_str != "blob":
            return None
        return read_blob(self.repo, str(e.id), path)

    def read_oid(self, oid: str) -> bytes | None:
        if oid.startswith("mem:"):
            return None  # a file changed in memory: never in the repository (OverlaySnapshot has it)
        try:
            return read_blob(self.repo, oid)
        except MissingObjectError:
            raise missing_object(oid, "blob", next((p for p, o in self.files() if o == oid), "")) from None

    def blob_id(self, path: str) -> str | None:
        e = self._entry(path)
        return str(e.id) if e is not None and e.type_str == "blob" else None

    def tree_id(self) -> str | None:
        return str(self.tree.id)

    def files(self) -> Iterator[tuple[str, str]]:
        """(path, blob id) of every file, in the order of a depth-first walk of the tree.

        Derived from the previous listing through a tree diff when there is one (a range walks
        snapshots that differ in a few files); the order never depends on that history.
        """
        # not kept here: a range holds thousands of snapshots; the tree index keeps what it needs
        return iter(_listing(self.repo, self.tree))


_LAST_LISTING: list = []  # [(tree id, {path: blob id}, sorted list)] of the last full listing


def _listing(repo: pygit2.Repository, tree: pygit2.Tree) -> list[tuple[str, str]]:
    tid = str(tree.id)
    if _LAST_LISTING and _LAST_LISTING[0][0] == tid:
        return _LAST_LISTING[0][2]
    out: list[tuple[str, str]] | None = None
    if _LAST_LISTING:
        # from the last listing through a tree diff: a range walks trees that differ in a few files
        prev_tid, prev, prev_out = _LAST_LISTING[0]
        try:
            diff = repo.diff(repo[prev_tid], tree)
            files = dict(prev)
            out = list(prev_out)
            for d in diff.deltas:
                if d.status_char() != "A":
                    path = d.old_file.path
                    if files.pop(path, None) is not None:
                        del out[bisect.bisect_left(out, _walk_key((path, "")), key=_walk_key)]
                if d.status_char() != "D" and d.new_file.mode != pygit2.enums.FileMode.COMMIT:
                    item = (d.new_file.path, str(d.new_file.id))
                    files[item[0]] = item[1]
                    bisect.insort(out, item, key=_walk_key)
        except Exception:  # any trouble: list the whole tree
            out = None
    if out is None:
        files = {}
        stack: list[tuple[str, pygit2.Tree]] = [("", tree)]
        while stack:
            prefix, t = stack.pop()
            for e in t:
                if e.type_str == "tree":
                    stack.append((prefix + e.name + "/", get_object(repo, e.id, "tree", prefix + e.name)))
                elif e.type_str == "blob":
                    files[prefix + e.name] = str(e.id)
        out = sorted(files.items(), key=_walk_key)
    _LAST_LISTING[:] = [(tid, files, out)]
    return out


_WALK_KEYS: dict[str, list] = {}


def _walk_key(item: tuple[str, str]) -> list:
    """Sort key of the order a depth-first walk of git trees meets files (lookups take the first match).

    In a directory: its files in name order first, then its subdirectories from the last to the
    first in git's tree order (which compares a directory as ``name/``).
    """
    path = item[0]
    key = _WALK_KEYS.get(path)
    if key is None:
        parts = path.split("/")
        key = [(1, tuple(-ord(c) for c in d + "/") + (1,)) for d in parts[:-1]]
        key.append((0, parts[-1]))
        if len(_WALK_KEYS) < 200_000:
            _WALK_KEYS[path] = key
    return key


def _resolve(repo: pygit2.Repository, rev: str) -> pygit2.Commit:
    try:
        obj = repo.revparse_single(rev)
        commit = obj.peel(pygit2.Commit)
    except Exception:
        shallow = " (this is a shallow clone: git fetch --unshallow?)" if repo.is_shallow else ""
        raise InputError(f"unknown revision: {rev}{shallow}") from None
    return commit


def commits_in_range(repo: pygit2.Repository, spec: str) -> list[pygit2.Commit]:
    """Non-merge commits of ``A..B`` oldest first, or the single commit REV."""
    if ".." in spec:
        if "..." in spec:
            raise InputError(f"symmetric ranges are not supported: {spec}")
        a, b = spec.split("..", 1)
        start = _resolve(repo, a or "HEAD")
        end = _resolve(repo, b or "HEAD")
        walker = repo.walk(end.id, pygit2.enums.SortMode.TOPOLOGICAL | pygit2.enums.SortMode.REVERSE)
        walker.hide(start.id)
        out = [c for c in walker if len(c.parents) <= 1]
        return out
    c = _resolve(repo, spec)
    return [c]


def _patch_for(repo: pygit2.Repository, commit: pygit2.Commit, index: int, total: int,
               touched: list | None = None) -> Patch:
    parent = first_parent(repo, commit)  # a commit a shallow clone cut off is no root commit
    parent_tree = tree_of(parent) if parent is not None else None
    tree = tree_of(commit)
    old = GitSnapshot(repo, parent_tree, str(parent.id)) if parent is not None else EmptySnapshot()
    new = GitSnapshot(repo, tree, str(commit.id))

    def files() -> list[FileChange]:
        with reading():
            if parent_tree is None:
                diff = tree.diff_to_tree(swap=True, context_lines=0)
            else:
                diff = repo.diff(parent_tree, tree, context_lines=0)
            return _lazy_files_of(repo, diff)

    subject = _message(commit).split("\n", 1)[0].rstrip("\r")
    return LazyPatch(
        files,
        ident=str(commit.id),
        short=str(commit.id)[:10],
        subject=subject,
        old=old,
        new=new,
        index=index,
        total=total,
        touched=touched,
    )


def _message(commit: pygit2.Commit) -> str:
    """The commit message with every byte kept: pygit2's ``message`` turns bytes that are not UTF-8
    (or not of the commit's encoding) into U+FFFD; surrogateescape keeps them for the reporters."""
    try:
        return commit.raw_message.decode(commit.message_encoding or "utf-8", "surrogateescape")
    except LookupError:  # an encoding header Python does not know
        return commit.raw_message.decode("utf-8", "surrogateescape")


def _raw_changes(repo: pygit2.Repository, start: str, end: str) -> dict[str, list]:
    """{commit: [(status, path, old blob, new blob)]} of the non-merge commits of start..end.

    One `git log --raw` for the whole range (git lists tree changes far faster than a tree diff
    per commit through pygit2).  Without rename detection: the prefilter only needs blob ids, and a
    rename seen as a deletion plus an addition can only make it more careful.  Empty when git is
    missing or fails: the prefilter then reads each patch's files.
    """
    try:
        r = subprocess.run(
            ["git", "--git-dir", repo.path, "-c", "log.showSignature=false", "log", "--raw", "--no-renames", "-z",
             "--no-abbrev", "--no-merges", "--no-color", "--format=%x00%H%x00", f"{start}..{end}"],
            # in a partial clone git may fetch what it lacks from the remote, writing into the repository
            capture_output=True, timeout=600, env={**os.environ, "GIT_NO_LAZY_FETCH": "1"})
    except (OSError, subprocess.SubprocessError):
        return {}
    if r.returncode != 0:
        return {}
    out: dict[str, list] = {}
    ident = ""  # the commit being read; ``cur`` is its list in ``out``, None while none is
    cur: list | None = None
    toks = r.stdout.split(b"\0")
    i = 0
    null = "0" * 40
    while i < len(toks):
        t = toks[i].strip(b"\n")
        i += 1
        if t.startswith(b":") and i < len(toks):
            meta = t[1:].decode().split()
            path = toks[i].decode("utf-8", "surrogateescape")
            i += 1
            if cur is None or len(meta) < 5 or "160000" in (meta[0], meta[1]):
                continue  # a submodule: no text
            status = meta[4][0]
            old_oid = meta[2] if meta[2] != null else None
            new_oid = meta[3] if meta[3] != null else None
            if status not in "ADM" or (old_oid is None and status != "A") or (new_oid is None and status != "D"):
                out.pop(ident, None)  # something this listing does not model: the patch reads its files
                cur = None
                continue
            cur.append((status, path, old_oid, new_oid))
        elif len(t) == 40 and re.fullmatch(rb"[0-9a-f]{40}", t):
            ident = t.decode()
            cur = out.setdefault(ident, [])
    return out


def _lazy_files_of(repo: pygit2.Repository, diff) -> list[FileChange]:
    """The files of a tree-to-tree diff; texts and changed lines are read when first asked for."""
    diff.find_similar()
    files: list[FileChange] = []
    for d in diff.deltas:
        status = d.status_char()
        old_path = d.old_file.path if status != "A" else ""
        new_path = d.new_file.path if status != "D" else ""
        old_oid = str(d.old_file.id) if old_path else None
        new_oid = str(d.new_file.id) if new_path else None
        files.append(LazyFileChange(new_path, old_path, status,
                                    lambda r=repo, o=old_oid, n=new_oid, op=old_path, np=new_path: _load(r, o, n, op, np)))
    return files


def _load(repo: pygit2.Repository, old_oid: str | None, new_oid: str | None, old_path: str, new_path: str) -> tuple:
    """(old_data, new_data, added, removed, binary) of one changed file, as git diff -U0 sees it."""
    if not (wanted(new_path) or wanted(old_path)):
        return None, None, set(), set(), False
    old = read_blob(repo, old_oid, old_path) if old_oid else None
    new = read_blob(repo, new_oid, new_path) if new_oid else None
    added: set[int] = set()
    removed: set[int] = set()
    # Patch.create_from reads the buffers while the patch lives: keep them referenced here.  The
    # paths are labels only (no repository, no attributes), and it takes no non-UTF-8 byte in one
    patch = pygit2.Patch.create_from(old, new, old_as_path=_label(old_path or new_path),
                                     new_as_path=_label(new_path or old_path), context_lines=0)
    if patch.delta.is_binary:
        return None, None, set(), set(), True
    for h in patch.hunks:
        for ln in h.lines:
            if ln.origin == "+":
                added.add(ln.new_lineno)
            elif ln.origin == "-":
                removed.add(ln.old_lineno)
    del patch
    return old, new, added, removed, False


def _label(path: str) -> str:
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "replace")


def _files_of(repo: pygit2.Repository, diff) -> list[FileChange]:
    with reading():
        diff.find_similar()
        return [_file_of(repo, p) for p in diff]


def _file_of(repo: pygit2.Repository, p: pygit2.Patch) -> FileChange:
    """One file of an index-to-tree diff, its texts read."""
    d = p.delta
    status = d.status_char()
    old_path = d.old_file.path if status != "A" else ""
    new_path = d.new_file.path if status != "D" else ""
    fc = FileChange(path=new_path, old_path=old_path, status=status, old_data=None, new_data=None)
    if d.is_binary:
        fc.binary = True
        return fc
    if not (wanted(new_path) or wanted(old_path)):
        return fc
    for h in p.hunks:
        for ln in h.lines:
            if ln.origin == "+":
                fc.added.add(ln.new_lineno)
            elif ln.origin == "-":
                fc.removed.add(ln.old_lineno)
    if old_path:
        fc.old_data = read_blob(repo, str(d.old_file.id), old_path)
    if new_path:
        fc.new_data = read_blob(repo, str(d.new_file.id), new_path)
    return fc


class ReleaseFinder:
    """Finds release commits (VERSION = X.Y.0) along first-parent history."""

    def __init__(self, repo: pygit2.Repository):
        self.repo = repo
        self._by_tip: dict[str, dict[tuple[int, int], pygit2.Commit]] = {}

    def releases(self, tip: pygit2.Commit) -> dict[tuple[int, int], pygit2.Commit]:
        key = str(tip.id)
        if key in self._by_tip:
            return self._by_tip[key]
        found: dict[tuple[int, int], str] = {}
        # the releases below a commit never change: a walk stops at the first commit whose
        # answer the cache holds (a moving HEAD walks a few commits, a new range a few hundred)
        st = cache.store()
        known = st.keys("releases")
        c = tip
        prev_oid = None
        prev_commit = None
        while True:
            try:
                oid = tree_of(c)["VERSION"].id
            except KeyError:
                oid = None
            if prev_commit is not None and oid != prev_oid and prev_oid is not None:
                # prev_commit changed VERSION: is it a release?
                v = VERSION_RE.match(read_blob(self.repo, str(prev_oid), "VERSION"))
                if v and int(v.group(3)) == 0:
                    found.setdefault((int(v.group(1)), int(v.group(2))), str(prev_commit.id))
            below = st.get("releases", str(c.id)) if str(c.id) in known else None
            if below is not None:
                for ver, cid in below.items():  # c and its first-parent ancestors, c included
                    found.setdefault(ver, cid)
                break
            prev_oid, prev_commit = oid, c
            parent = first_parent(self.repo, c)  # where a shallow clone cut the history: an error
            if parent is None:
                # a root commit that sets X.Y.0 (a history imported at a release) is that release
                v = VERSION_RE.match(read_blob(self.repo, str(oid), "VERSION")) if oid is not None else None
                if v and int(v.group(3)) == 0:
                    found.setdefault((int(v.group(1)), int(v.group(2))), str(c.id))
                break
            c = parent
        st.put("releases", key, found)
        # the cache may name releases a shallow clone of the same history lacks
        out = {ver: get_object(self.repo, cid, "commit", f"release {ver[0]}.{ver[1]}.0").peel(pygit2.Commit)
               for ver, cid in found.items()}
        self._by_tip[key] = out
        return out


def snapshot_at(repo_path: str, rev: str) -> tuple[Snapshot, str]:
    """(the tree of commit ``rev``, its full id), read-only; a bare repository works too."""
    repo = open_repo(repo_path)
    if ".." in rev:
        raise InputError(f"give one revision, not a range: {rev}")
    c = _resolve(repo, rev)
    return GitSnapshot(repo, tree_of(c), str(c.id)), str(c.id)


def point_releases(repo: pygit2.Repository, tip: pygit2.Commit):
    """A lazy list of the stable point releases the repository has (for Series.point_releases)."""
    cache: list = []

    def get():
        if not cache:
            from qlint.analyzer.sources.history import find_history, snapshot

            cache.append([(r.version, r.source, snapshot(repo, r))
                          for r in find_history(repo, tip).releases if r.version[2]])
        return cache[0]

    return get


def review_range(repo_path: str, spec: str) -> Series:
    repo = open_repo(repo_path)
    commits = commits_in_range(repo, spec)
    if not commits:
        raise InputError(f"no commits in range {spec}")
    raw = {}
    if ".." in spec and len(commits) > 1:
        a, b = spec.split("..", 1)
        raw = _raw_changes(repo, str(_resolve(repo, a or "HEAD").id), str(_resolve(repo, b or "HEAD").id))
    patches = [_patch_for(repo, c, i + 1, len(commits), raw.get(str(c.id))) for i, c in enumerate(commits)]
    finder = ReleaseFinder(repo)
    tip_commit = commits[-1]

    def release_lookup(_snap: Snapshot, version: tuple[int, int]) -> Snapshot | None:
        c = finder.releases(tip_commit).get(version)
        return GitSnapshot(repo, tree_of(c), f"v{version[0]}.{version[1]}.0") if c is not None else None

    return Series(
        patches=patches,
        base=patches[0].old,
        tip=patches[-1].new,
        description=spec,
        release_lookup=release_lookup,
        release_versions=lambda: sorted(finder.releases(tip_commit)),
        point_releases=point_releases(repo, tip_commit),
    )


def review_staged(repo_path: str) -> Series:
    """The index against HEAD, as a one-patch series (for pre-commit).  Reads the index, never writes it."""
    repo = open_repo(repo_path)
    if repo.is_bare:
        raise InputError("--staged needs a repository with an index (this one is bare)")
    try:
        head = repo.head.peel(pygit2.Commit)
    except Exception:
        raise InputError("--staged needs a HEAD commit to compare the index with") from None
    if not (Path(repo.path) / "index").exists():
        raise InputError("no index in this repository")
    diff = repo.index.diff_to_tree(tree_of(head), context_lines=0)  # reads .git/index; never writes it
    files = _files_of(repo, diff)
    old = GitSnapshot(repo, tree_of(head), str(head.id))
    changes = {f.path: f.new_data for f in files if f.path and f.new_data is not None}
    changes.update({f.old_path: None for f in files if f.status == "D"})
    new = OverlaySnapshot(old, changes, "staged:" + str(head.id))
    patch = Patch(ident="", short="staged", subject="staged changes", files=files, old=old, new=new)
    finder = ReleaseFinder(repo)
    return Series(
        patches=[patch],
        base=old,
        tip=new,
        description="staged",
        release_lookup=lambda _s, v: (GitSnapshot(repo, tree_of(finder.releases(head)[v]), f"v{v[0]}.{v[1]}.0")
                                      if v in finder.releases(head) else None),
        release_versions=lambda: sorted(finder.releases(head)),
        point_releases=point_releases(repo, head),
    )
