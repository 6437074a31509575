"""Releases in a repository's history: X.Y.0 on the main line, X.Y.Z on stable branches.

A release is a commit that sets VERSION to X.Y.Z.  The main line's releases
(X.Y.0) are found along the first-parent history of the tip; point releases
(X.Y.Z, 0 < Z < 50) on branches named ``stable-X.Y`` (local or remote) and on
tags ``vX.Y.Z``, when the repository has them.  Versions X.Y.50 and X.Y.9x are
development trees and release candidates, never releases.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import pygit2

from qlint.analyzer.change import InputError
from qlint.analyzer.sources.gitsrc import (
    VERSION_RE,
    GitSnapshot,
    ReleaseFinder,
    first_parent,
    get_object,
    read_blob,
    tree_of,
)

_STABLE_REF_RE = re.compile(r"^refs/(?:heads|remotes/[^/]+)/stable-(\d+)\.(\d+)$")
_TAG_RE = re.compile(r"^refs/tags/v(\d+)\.(\d+)\.(\d+)$")
_STABLE_WALK_LIMIT = 5000


@dataclass(frozen=True)
class Release:
    version: tuple[int, int, int]
    commit: str
    source: str  # "main line", "stable-8.0", "tag v8.0.1", "given"

    @property
    def name(self) -> str:
        return ".".join(map(str, self.version))

    @property
    def minor(self) -> tuple[int, int]:
        return self.version[0], self.version[1]


@dataclass
class History:
    releases: list[Release]  # oldest first
    stable_refs: list[str]  # stable branches and point-release tags the repository has

    @property
    def has_point_releases(self) -> bool:
        return any(r.version[2] for r in self.releases)


def parse_version(text: str) -> tuple[int, int, int] | None:
    m = re.fullmatch(r"v?(\d+)\.(\d+)(?:\.(\d+))?", text.strip())
    if not m:
        return None
    return int(m.group(1)), int(m.group(2)), int(m.group(3) or 0)


def _version_at(repo: pygit2.Repository, commit: pygit2.Commit) -> tuple[int, int, int] | None:
    try:
        oid = tree_of(commit)["VERSION"].id
    except KeyError:
        return None
    m = VERSION_RE.match(read_blob(repo, str(oid), "VERSION"))
    return (int(m.group(1)), int(m.group(2)), int(m.group(3))) if m else None


def _is_point_release(v: tuple[int, int, int] | None) -> bool:
    return v is not None and 0 < v[2] < 50


def _main_line(repo: pygit2.Repository, tip: pygit2.Commit) -> set[str]:
    seen, c = set(), tip
    while c is not None:
        seen.add(str(c.id))
        c = first_parent(repo, c)
    return seen


def _stable_branch_releases(repo, ref_name: str, head: pygit2.Commit, main: set[str]) -> list[Release]:
    """Commits of a stable branch (down to where it leaves the main line) that set VERSION to X.Y.Z."""
    out, c = [], head
    for _ in range(_STABLE_WALK_LIMIT):
        if str(c.id) in main:
            break
        parent = first_parent(repo, c)
        v = _version_at(repo, c)
        pv = _version_at(repo, parent) if parent is not None else None
        if _is_point_release(v) and v != pv:
            out.append(Release(v, str(c.id), ref_name))
        if parent is None:
            break
        c = parent
    return out


def find_history(repo: pygit2.Repository, tip: pygit2.Commit, given: dict[str, str] | None = None) -> History:
    """Every release the tip descends from, plus point releases of stable branches and tags, plus ``given``."""
    by_version: dict[tuple[int, int, int], Release] = {}
    for (x, y), c in ReleaseFinder(repo).releases(tip).items():
        by_version[(x, y, 0)] = Release((x, y, 0), str(c.id), "main line")
    stable_refs: list[str] = []
    main: set[str] | None = None
    for ref in repo.references:
        sm, tm = _STABLE_REF_RE.match(ref), _TAG_RE.match(ref)
        if not (sm or (tm and int(tm.group(3)) > 0)):
            continue
        try:
            head = repo.references[ref].peel(pygit2.Commit)
        except Exception:
            continue
        short = ref.split("/", 2)[-1] if sm else "tag " + ref.rsplit("/", 1)[-1]
        stable_refs.append(short)
        if tm:
            v = _version_at(repo, head)
            if _is_point_release(v):
                by_version.setdefault(v, Release(v, str(head.id), short))
            continue
        if main is None:
            main = _main_line(repo, tip)
        for rel in _stable_branch_releases(repo, short, head, main):
            by_version.setdefault(rel.version, rel)
    for name, rev in (given or {}).items():
        v = parse_version(name)
        if v is None:
            raise InputError(f"--release {name}={rev}: {name!r} is not a version like 8.0.1")
        try:
            c = repo.revparse_single(rev).peel(pygit2.Commit)
        except (KeyError, ValueError, pygit2.GitError):
            raise InputError(f"--release {name}={rev}: unknown revision {rev!r}") from None
        by_version[v] = Release(v, str(c.id), "given")
    return History(sorted(by_version.values(), key=lambda r: r.version), sorted(stable_refs))


def snapshot(repo: pygit2.Repository, rel: Release) -> GitSnapshot:
    commit = get_object(repo, rel.commit, "commit", f"release {rel.name}").peel(pygit2.Commit)
    return GitSnapshot(repo, tree_of(commit), "v" + rel.name)
