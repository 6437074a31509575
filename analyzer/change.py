"""The change model: a series of patches, each with its files' old and new text.

Every input (a git range, the index, an mbox) is turned into a :class:`Series`;
everything after that reads only this module's types and :class:`Snapshot`.
"""

from __future__ import annotations

import bisect
import hashlib
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator


class InputError(Exception):
    """Bad input from the user: reported as one line, exit status 2."""


class MissingObjectError(InputError):
    """An object the review needs is not in the repository (a partial or a shallow clone).

    Never a reason to review less: a file that cannot be read is not a file that did not change.
    """


class Snapshot:
    """A read-only view of a source tree at one point of a series.

    ``read`` returns a file's bytes or None; ``blob_id`` a stable identity of
    those bytes (a git object id, or a hash for in-memory files) that caches
    can key on.  A snapshot never writes anywhere.
    """

    def __init__(self, label: str):
        self.label = label

    def read(self, path: str) -> bytes | None:  # pragma: no cover - interface
        raise NotImplementedError

    def blob_id(self, path: str) -> str | None:  # pragma: no cover - interface
        raise NotImplementedError

    def files(self) -> Iterator[tuple[str, str]]:  # pragma: no cover - interface
        """(path, blob id) of every file."""
        raise NotImplementedError

    def read_oid(self, oid: str) -> bytes | None:  # pragma: no cover - interface
        """Bytes of the file whose blob id ``files()`` gave."""
        raise NotImplementedError

    def tree_id(self) -> str | None:
        """A stable identity of the whole tree (a git tree id) that caches can key whole-tree
        facts on; None when the tree has none (files changed in memory)."""
        return None


class EmptySnapshot(Snapshot):
    """A tree with no file (the parent of a root commit; a base for test overlays)."""

    def __init__(self, label: str = "empty"):
        super().__init__(label)

    def read(self, path):
        return None

    def blob_id(self, path):
        return None

    def read_oid(self, oid):
        return None

    def files(self):
        return iter(())


class _MemIds:
    """Blob ids of in-memory files ("mem:" and a hash of the bytes), each bytes object hashed once:
    callers ask for a file's id once per fact they look up (a function with N config writes asks
    N times)."""

    def __init__(self):
        self._ids: dict[int, tuple[bytes, str]] = {}  # id(data) -> (data, oid); data held, so its id stays its own
        self._data: dict[str, bytes] = {}

    def of(self, data: bytes) -> str:
        hit = self._ids.get(id(data))
        if hit is None or hit[0] is not data:
            hit = self._ids[id(data)] = (data, "mem:" + hashlib.sha1(data).hexdigest())
            self._data[hit[1]] = data
        return hit[1]

    def data(self, oid: str) -> bytes | None:
        return self._data.get(oid)


class OverlaySnapshot(Snapshot):
    """A snapshot with some files replaced, added or deleted in memory."""

    def __init__(self, base: Snapshot, changes: dict[str, bytes | None], label: str):
        super().__init__(label)
        self.base = base
        self.changes = dict(changes)
        self._ids = _MemIds()

    def read(self, path: str) -> bytes | None:
        if path in self.changes:
            return self.changes[path]
        return self.base.read(path)

    def blob_id(self, path: str) -> str | None:
        if path in self.changes:
            data = self.changes[path]
            return None if data is None else self._ids.of(data)
        return self.base.blob_id(path)

    def read_oid(self, oid: str) -> bytes | None:
        if oid.startswith("mem:"):
            if self._ids.data(oid) is None:
                for data in self.changes.values():
                    if data is not None:
                        self._ids.of(data)
            if self._ids.data(oid) is not None:
                return self._ids.data(oid)
        return self.base.read_oid(oid)

    def files(self) -> Iterator[tuple[str, str]]:
        for path, oid in self.base.files():
            if path not in self.changes:
                yield path, oid
        for path, data in self.changes.items():
            if data is not None:
                yield path, self._ids.of(data)


_UNCHANGED = object()


class SeriesTrees:
    """The trees of a series applied in memory: a base, and for each path a patch changed, its
    versions by patch number.  The tree after patch k is a view of that (:meth:`add`), so a
    series costs what its changes cost, not one copy of all earlier changes per patch."""

    def __init__(self, base: Snapshot):
        self.base = base
        self.count = 0
        self.steps: dict[str, tuple[list[int], list[bytes | None]]] = {}
        self.ids = _MemIds()

    def add(self, changes: dict[str, bytes | None], label: str) -> Snapshot:
        """The tree after one more patch, which makes ``changes`` (None: deleted)."""
        self.count += 1
        for path, data in changes.items():
            numbers, versions = self.steps.setdefault(path, ([], []))
            numbers.append(self.count)
            versions.append(data)
        return _SeriesSnapshot(self, self.count, label)

    def version(self, path: str, k: int):
        """A path's bytes in tree k (None: deleted), or _UNCHANGED when no patch up to k touched it."""
        steps = self.steps.get(path)
        if steps is None:
            return _UNCHANGED
        i = bisect.bisect_right(steps[0], k) - 1
        return steps[1][i] if i >= 0 else _UNCHANGED


class _SeriesSnapshot(Snapshot):
    def __init__(self, trees: SeriesTrees, k: int, label: str):
        super().__init__(label)
        self.trees, self.k = trees, k

    def read(self, path: str) -> bytes | None:
        data = self.trees.version(path, self.k)
        return self.trees.base.read(path) if data is _UNCHANGED else data

    def blob_id(self, path: str) -> str | None:
        data = self.trees.version(path, self.k)
        if data is _UNCHANGED:
            return self.trees.base.blob_id(path)
        return None if data is None else self.trees.ids.of(data)

    def read_oid(self, oid: str) -> bytes | None:
        data = self.trees.ids.data(oid) if oid.startswith("mem:") else None
        return data if data is not None else self.trees.base.read_oid(oid)

    def files(self) -> Iterator[tuple[str, str]]:
        for path, oid in self.trees.base.files():
            if self.trees.version(path, self.k) is _UNCHANGED:
                yield path, oid
        for path in self.trees.steps:
            data = self.trees.version(path, self.k)
            if data is not _UNCHANGED and data is not None:
                yield path, self.trees.ids.of(data)


@dataclass
class FileChange:
    path: str  # new path ('' if deleted)
    old_path: str  # old path ('' if added)
    status: str  # A, D, M, R
    old_data: bytes | None
    new_data: bytes | None
    added: set[int] = field(default_factory=set)  # new-side line numbers
    removed: set[int] = field(default_factory=set)  # old-side line numbers
    binary: bool = False

    @property
    def display_path(self) -> str:
        return self.path or self.old_path


class LazyFileChange(FileChange):
    """A FileChange whose texts and changed lines are read only when something asks for them.

    ``load()`` returns (old_data, new_data, added, removed, binary).  A long range keeps
    only paths and blob ids in memory; the prefilter decides most patches from blob ids alone.
    """

    def __init__(self, path: str, old_path: str, status: str, load: Callable[[], tuple]):
        self.path, self.old_path, self.status = path, old_path, status
        self._load = load
        self._loaded: tuple | None = None

    def _get(self, i: int):
        if self._loaded is None:
            self._loaded = self._load()
        return self._loaded[i]

    def _set(self, i: int, v) -> None:
        cur = list(self._loaded if self._loaded is not None else self._load())
        cur[i] = v
        self._loaded = tuple(cur)

    def unload(self) -> None:
        """Forget the texts (they are read again if asked for)."""
        self._loaded = None

    old_data = property(lambda self: self._get(0), lambda self, v: self._set(0, v))
    new_data = property(lambda self: self._get(1), lambda self, v: self._set(1, v))
    added = property(lambda self: self._get(2), lambda self, v: self._set(2, v))
    removed = property(lambda self: self._get(3), lambda self, v: self._set(3, v))
    binary = property(lambda self: self._get(4), lambda self, v: self._set(4, v))

    def __repr__(self) -> str:
        return f"LazyFileChange({self.status} {self.old_path!r} -> {self.path!r})"


@dataclass
class Patch:
    """One commit (or one mail of a series)."""

    ident: str  # full commit id, or another stable id
    short: str  # what a reader sees: abbreviated id, or "staged", or "[PATCH 2/5]"
    subject: str
    files: list[FileChange]
    old: Snapshot
    new: Snapshot
    index: int = 1
    total: int = 1
    message_id: str | None = None
    # (status A/D/M, path, old blob id, new blob id) of every touched file, without rename
    # detection, when the source lists it cheaply: the prefilter reads it instead of ``files``
    touched: list[tuple[str, str, str | None, str | None]] | None = None

    def changed(self, path: str) -> FileChange | None:
        for f in self.files:
            if f.path == path or (not f.path and f.old_path == path):
                return f
        return None


class LazyPatch(Patch):
    """A Patch whose file list is computed when first asked for (a skipped patch never is)."""

    def __init__(self, load_files: Callable[[], list[FileChange]], **kw):
        self._load_files = load_files
        self._files: list[FileChange] | None = None
        super().__init__(files=None, **kw)

    @property
    def files(self) -> list[FileChange]:
        if self._files is None:
            self._files = self._load_files()
        return self._files

    @files.setter
    def files(self, value) -> None:
        self._files = value


@dataclass
class Series:
    patches: list[Patch]
    base: Snapshot
    tip: Snapshot
    description: str = ""
    # Snapshots of earlier releases, by version, when the source can find them
    # (a git history can; an mbox on a plain tree cannot).
    release_lookup: Callable[[Snapshot, tuple[int, int]], Snapshot | None] | None = None
    release_versions: Callable[[], list[tuple[int, int]]] | None = None
    # Point releases (X.Y.Z on stable branches and tags): (version, where found, snapshot)
    point_releases: Callable[[], list[tuple[tuple[int, int, int], str, Snapshot]]] | None = None
    # What the source left out of the review and says so (a submodule update in an mbox)
    notes: list[str] = field(default_factory=list)

    def __iter__(self) -> Iterable[Patch]:
        return iter(self.patches)
