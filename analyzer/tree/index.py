"""The tree index: whole-tree facts at one snapshot.

VERSION and the current compat array, every ``*_compat_X_Y`` array, QOM
types (name, parent, class_init, file) and the properties each type defines.
Whole-tree facts come from a cheap byte prefilter plus regular expressions;
only the few files a question needs are parsed into the full C model.  Both
are cached by blob id, so walking a range re-reads only what changed.
"""

from __future__ import annotations

import re
from collections import OrderedDict
from dataclasses import dataclass, field

from qlint.analyzer.tree import cache
from qlint.analyzer.cmodel import cparse, lexemes
from qlint.analyzer.change import Snapshot
from qlint.analyzer.cmodel.model import CompatArray, CompatEntry, FileModel, PropertyDef

# Top-level directories that hold no device models or compat tables (user-mode emulation, the
# TCG code generator, tools, tests...): no migrated state, so neither the index nor the semantic
# diff reads them.
_SKIP_DIRS = (
    "tests/", "roms/", "pc-bios/", "docs/", "python/", "scripts/", "subprojects/",
    "linux-headers/", "tools/", "contrib/", "qga/", "linux-user/", "bsd-user/",
    "disas/", "tcg/", "fpu/", "storage-daemon/", "plugins/", "gdb-xml/",
)
_SOURCE_SUFFIXES = (".c", ".h")
# a property or type name written as a macro, which string_name resolves through the type macros
MACRO_NAME_RE = re.compile(r"[A-Z][A-Z0-9_]*")

_TYPE_MACRO_RE = re.compile(rb'#[ \t]*define[ \t]+([A-Z]\w*)[ \t]+"([^"\\\n]*)"[ \t]*(?:/[*/].*)?$', re.M)
_TYPE_MACRO_ALIAS_RE = re.compile(rb"#\s*define\s+(TYPE_\w+)\s+(TYPE_\w+)\s*$", re.M)
_TYPEINFO_START_RE = re.compile(rb"\b(?:TypeInfo|VirtioPCIDeviceTypeInfo)\s+\w+(?:\s*\[\s*\])?\s*=\s*\{")
_FIELD_RE = {
    k: re.compile(rb"\." + k.encode() + rb"\s*=\s*(\"[^\"]*\"|[A-Za-z_]\w*)")
    for k in ("name", "parent", "class_init", "instance_init", "abstract", "base_name", "generic_name",
              "transitional_name", "non_transitional_name")
}
_PROP_HELPER_RE = re.compile(r"add_propert|property_add|props_add|add_props|alias_all|instance_init_common")
_COMPAT_HINT_RE = re.compile(
    rb"GlobalProperty\s+\w+\s*\[\s*\]\s*=|#\s*define\s+\w+_COMPAT_\d+_\d+\b|\.compat_props\s*=\s*\(GlobalProperty"
)

# Type names built from a model name: #define X86_CPU_TYPE_SUFFIX "-" TYPE_X86_CPU and
# #define X86_CPU_TYPE_NAME(name) (name X86_CPU_TYPE_SUFFIX) (or name "-" TYPE_X86_CPU directly).
_SUFFIX_MACRO_RE = re.compile(rb'^[ \t]*#[ \t]*define[ \t]+(\w+)[ \t]+"([^"\\\n]+)"[ \t]+(TYPE_\w+)[ \t]*(?:/[*/].*)?$', re.M)
# (possessive white space: each run is followed by something that is not white space, and a
# plain [ \t]+\(?[ \t]* splits a long run every way before failing)
_NAME_MACRO_RE = re.compile(
    rb'^[ \t]*+#[ \t]*+define[ \t]++(\w+)\([ \t]*+(\w+)[ \t]*+\)[ \t]++\(?[ \t]*+(\w+)[ \t]++'
    rb'(?:"([^"\\\n]+)"[ \t]++(TYPE_\w+)|(\w+))[ \t]*+\)?[ \t]*+(?:/[*/].*)?$', re.M)

_MODEL_CACHE: "OrderedDict[str, FileModel]" = OrderedDict()
# Models in memory, by the size of their source (a model takes ~8x that); the disk cache holds the rest.
_MODEL_BUDGET = 8 * 1024 * 1024
_MODEL_SIZES: dict[str, int] = {}
_MODEL_BYTES = 0
_SCAN_CACHE: dict[tuple[str, str], object] = {}
# needle -> (the files map of the snapshot last searched, paths in it holding the needle)
_GREP: dict[bytes, tuple[dict[str, str], set[str]]] = {}
# scan kind -> (the files map last scanned, {path: blob id} of the files whose scan was true)
_HITS: dict[str, tuple[dict[str, str], dict[str, str]]] = {}
# compat-holding files (path, blob id) -> their compat arrays: most snapshots share them
_COMPAT_MEMO: dict[tuple, list[CompatArray]] = {}
# "blob id:path" -> the compat arrays of that file
_CARRAYS: dict[str, list[CompatArray]] = {}
# whole-tree aggregates (type macros, QOM types) by the files they come from; shared, never mutated
_AGG_MEMO: dict[tuple, object] = {}


def clear_memory() -> None:
    """Forget every in-memory cache of this module (what a new process starts with)."""
    global _MODEL_BYTES
    for c in (_MODEL_CACHE, _MODEL_SIZES, _SCAN_CACHE, _GREP, _HITS, _COMPAT_MEMO, _CARRAYS, _AGG_MEMO):
        c.clear()
    _MODEL_BYTES = 0


def _memo_put(key: tuple, value) -> None:
    _AGG_MEMO[key] = value
    if len(_AGG_MEMO) > 8:
        _AGG_MEMO.pop(next(iter(_AGG_MEMO)))


def _remember(key: str, m: FileModel, size: int) -> None:
    """Keep a model in memory, dropping the least recently used beyond the budget."""
    global _MODEL_BYTES
    if key in _MODEL_CACHE:
        _MODEL_CACHE.move_to_end(key)
        return
    _MODEL_CACHE[key] = m
    _MODEL_SIZES[key] = size
    _MODEL_BYTES += size
    while _MODEL_BYTES > _MODEL_BUDGET and len(_MODEL_CACHE) > 1:
        old, _ = _MODEL_CACHE.popitem(last=False)
        _MODEL_BYTES -= _MODEL_SIZES.pop(old, 0)


def cached_model(path: str, blob_id: str) -> FileModel | None:
    """The model of blob ``blob_id`` at ``path`` if memory or the disk cache has it (no parsing)."""
    key = blob_id + ":" + path
    m = _MODEL_CACHE.get(key)
    if m is not None:
        _MODEL_CACHE.move_to_end(key)
        return m
    st = cache.store()
    m = st.get("model", key)
    if m is not None:
        _remember(key, m, st.last_size)
    return m


def parse_cached(path: str, blob_id: str | None, data: bytes) -> FileModel:
    """The model of ``data`` (file ``path``), from memory, the disk cache, or the parser."""
    if blob_id is None:
        return cparse.parse(path, data)
    m = cached_model(path, blob_id)
    if m is not None:
        return m
    m = cparse.parse(path, data)
    cache.store().put("model", blob_id + ":" + path, m)
    _remember(blob_id + ":" + path, m, len(data))
    return m


def facts_model(path: str, blob_id: str | None, data: bytes) -> tuple[FileModel, "cparse.Shape | None"]:
    """A model good for the prefilter's facts only (``cparse.parse_facts``) and its Shape: a full
    model (no Shape) from memory or the disk cache if there is one, else a partial parse that is
    kept nowhere (most blobs a range prefilters are never reviewed)."""
    if blob_id is not None:
        key = blob_id + ":" + path
        m = _MODEL_CACHE.get(key)
        if m is None:
            m = cache.store().get("model", key)
        if m is not None:
            return m, None
    return cparse.parse_facts(path, data)


@dataclass
class QomType:
    name: str
    parent: str | None
    class_init: str | None
    path: str
    line: int
    derived: bool = False  # made by a registration helper (virtio-pci generic/transitional names)
    instance_init: str | None = None
    abstract: bool = False


@dataclass(frozen=True)
class TypeNaming:
    """A family of QOM types named MODEL + separator + base type (CPU models, PNV chips, ...)."""

    base: str  # the TYPE_* macro of the base type, as written
    separator: str
    suffix_macro: str | None  # X86_CPU_TYPE_SUFFIX
    name_macro: str | None  # X86_CPU_TYPE_NAME
    path: str
    line: int

    def spelled(self, model: str) -> str:
        if self.suffix_macro:
            return f'"{model}" {self.suffix_macro}'
        return f'"{model}{self.separator}" {self.base}'


@dataclass(frozen=True)
class NameCheck:
    """What a compat driver built from a model name and a type macro names."""

    ok: bool
    naming: TypeNaming
    model: str
    why: str = ""  # "separator" (the literal lacks the scheme's separator) or "model" (no such model)


@dataclass
class PropSet:
    props: dict[str, PropertyDef] = field(default_factory=dict)
    dynamic: set[str] = field(default_factory=set)
    complete: bool = True
    unresolved: list[str] = field(default_factory=list)

    def has(self, name: str) -> bool:
        return name in self.props or name in self.dynamic


def _variable_offset(offset: str) -> bool:
    """An offset relative to a capability's position (pos, offset, dev->exp.exp_cap...)."""
    return any(re.search(r"[a-z]", t) for t in offset.split("+"))


# What the semantic diff never reads: the above, and headers copied from Linux.
NOT_MIGRATION_CODE = _SKIP_DIRS + ("include/standard-headers/",)


def _interesting(path: str) -> bool:
    got = _INTERESTING.get(path)
    if got is None:
        got = path.endswith(_SOURCE_SUFFIXES) and not path.startswith(_SKIP_DIRS)
        if len(_INTERESTING) < 200_000:
            _INTERESTING[path] = got
    return got


_INTERESTING: dict[str, bool] = {}  # a range asks about the same 11,000 paths for every snapshot


_BRACES = re.compile(rb"[{}]")
_BLOCK_MAX = 20000


def _block(data: bytes, start: int) -> bytes:
    """The brace-balanced block starting at data[start] == '{' (its first 20,000 bytes if it does
    not close by then)."""
    depth = 0
    for m in _BRACES.finditer(data, start, min(len(data), start + _BLOCK_MAX)):
        if m.group(0) == b"{":
            depth += 1
        else:
            depth -= 1
            if depth == 0:
                return data[start : m.end()]
    return data[start : start + _BLOCK_MAX]


_DEFINE_FN_RE = re.compile(rb"#\s*+define\s++\w++\(")
_PARENT_RE = re.compile(rb"\.parent\s*=")


def _defines_parent(data: bytes) -> bool:
    r"""Does a function-like #define hold ``.parent =`` on one of its continuation lines?  What
    ``#\s*define\s+\w+\([^)]*\)[^\n]*\\\n(?:[^\n]*\\\n)*?[^\n]*\.parent\s*=`` finds, in linear
    time: that pattern reads a #define's continuation lines again for every #define met on
    them, and looks for a ")" to the end of the file from every #define with none after it."""
    pos = 0
    known = (-1, -1)  # the last search for ")": (from, found); none in between
    covered = -1  # where the last scan that found nothing stopped
    while True:
        m = _DEFINE_FN_RE.search(data, pos)
        if m is None:
            return False
        frm = m.end()
        close = known[1] if known[0] <= frm <= known[1] else data.find(b")", frm)
        known = (frm, close)
        if close < 0:
            return False  # nor has any later #define a ")" after it
        pos = m.start() + 1
        if close <= covered:
            continue  # its lines are among those the last scan read
        found, covered = _parent_after(data, close)
        if found:
            return True


def _parent_after(data: bytes, close: int) -> tuple[bool, int]:
    """(``.parent =`` is on a continuation line after the #define whose parameters end at
    ``close``, where the scan stopped)."""
    end = data.find(b"\n", close + 1)
    if end < 0 or end - 1 <= close or data[end - 1] != 0x5C:
        return False, len(data) if end < 0 else end
    start = end + 1
    while True:
        nl = data.find(b"\n", start)
        line_end = len(data) if nl < 0 else nl
        q = data.find(b".parent", start, line_end)
        while q >= 0:
            if _PARENT_RE.match(data, q):
                return True, line_end
            q = data.find(b".parent", q + 1, line_end)
        if nl < 0 or nl == start or data[nl - 1] != 0x5C:
            return False, line_end
        start = nl + 1


_OPAQUE = "\0opaque"  # a scan result meaning: this file makes types qlint cannot read


def _scan_types(data: bytes) -> list[tuple]:
    """(name, parent, class_init, instance_init, line, derived) of every TypeInfo initialiser in a file.

    A file that also builds TypeInfo through macros (array elements that are
    macro calls, or a #define holding .parent/.name) gets an _OPAQUE entry.
    """
    out = []
    if _defines_parent(data):
        out.append((_OPAQUE, None, None, None, 0, False, False))
    rows = None
    inside = -1  # the end of the last initializer that closed: no TypeInfo starts inside one
    for m in _TYPEINFO_START_RE.finditer(data):
        if m.start() < inside:
            continue
        brace = m.end() - 1
        blk = _block(data, brace)
        if blk.endswith(b"}"):
            inside = brace + len(blk)
        # an array of TypeInfo: one block per element
        inner = blk[1:-1]
        elems = []
        if re.match(rb"\s*\{", inner):
            pos = 0
            while True:
                k = inner.find(b"{", pos)
                if k < 0:
                    break
                if re.search(rb"\w\s*\(", inner[pos:k]):
                    out.append((_OPAQUE, None, None, None, 0, False, False))
                sub = _block(inner, k)
                elems.append((brace + 1 + k, sub))
                pos = k + len(sub)
            if re.search(rb"\w\s*\(", inner[pos:]):
                out.append((_OPAQUE, None, None, None, 0, False, False))
        else:
            elems.append((brace, blk))
        for off, e in elems:
            vals = {}
            for k, rx in _FIELD_RE.items():
                fm = rx.search(e)
                if fm:
                    vals[k] = fm.group(1).decode("utf-8", "replace")
            rows = rows or lexemes.Lines(data)
            line = rows.row(off) + 1
            if "name" in vals:
                out.append((vals["name"], vals.get("parent"), vals.get("class_init"), vals.get("instance_init"),
                            line, False, vals.get("abstract") == "true"))
            base = vals.get("base_name")
            if not base and "name" not in vals and "generic_name" in vals:
                # VirtioPCIDeviceTypeInfo without a base type: the generic name hangs off .parent
                out.append((vals["generic_name"], vals.get("parent", "TYPE_VIRTIO_PCI"), vals.get("class_init"),
                            vals.get("instance_init"), line, True, False))
            if base:
                out.append((base, vals.get("parent", "TYPE_VIRTIO_PCI"), vals.get("class_init"),
                            vals.get("instance_init"), line, True, True))
                for k in ("generic_name", "transitional_name", "non_transitional_name"):
                    if k in vals:
                        out.append((vals[k], base, None, None, line, True, False))
    return out


def _tmacro_scan(d: bytes):
    """(TYPE-style string macros, macro aliases, macros defined twice with different values) of a file."""
    if b"#" not in d:
        return ({}, {}, set())
    found: dict[str, str] = {}
    twice: set[str] = set()
    for k, v in _TYPE_MACRO_RE.findall(d):
        k, v = k.decode(), v.decode("utf-8", "replace")
        if k in found and found[k] != v:
            twice.add(k)  # #ifdef TARGET_X86_64 ... #else ...: depends on the build
        found[k] = v
    return (found, {k.decode(): v.decode() for k, v in _TYPE_MACRO_ALIAS_RE.findall(d)}, twice)


def _types_scan(d: bytes):
    return _scan_types(d) if b"TypeInfo" in d else []


# DEFINE_PROP_*("name", Struct, then the field: what props_by_field looks for
_PROP_FIELD_PREFIX = rb"DEFINE_PROP\w*\(\s*(?:\"[^\"]*\"|\w+)\s*,\s*\w+\s*,\s*"
_PROP_FIELD_RE = re.compile(_PROP_FIELD_PREFIX + rb"([\w.\[\]]*)")


def _propfields_scan(d: bytes) -> frozenset[bytes]:
    """Every word of the field argument of the file's DEFINE_PROP_*() entries (parent_obj.x: both)."""
    if b"DEFINE_PROP" not in d:
        return frozenset()
    return frozenset(w for m in _PROP_FIELD_RE.finditer(d) for w in re.findall(rb"\w+", m.group(1)))


def _compat_scan(d: bytes) -> bool:
    return bool(_COMPAT_HINT_RE.search(d))


def _tmacro_hit(res) -> bool:
    return bool(res and (res[0] or res[1] or res[2]))


def changes_tree_facts(patch, compat: bool = True) -> bool:
    """Can the patch change compat tables, type macros or QOM types of the tree (what entries_for,
    type_name and covers answer)?  False when no file it touches holds a compat table, before or
    after, and every file it touches has the same type macros and QOM types (line numbers aside)
    before and after.  With ``compat`` false, compat tables do not count (what string_name,
    type_name and covers answer)."""
    touched = patch.touched
    if touched is None:
        touched = [(f.status, f.path or f.old_path,
                    patch.old.blob_id(f.old_path) if f.old_path else None,
                    patch.new.blob_id(f.path) if f.path else None) for f in patch.files]
        touched += [("D", f.old_path, patch.old.blob_id(f.old_path), None)
                    for f in patch.files if f.old_path and f.path and f.old_path != f.path]
    for _status, path, old, new in touched:
        if not _interesting(path):
            continue
        sides = [(snap, oid) for snap, oid in ((patch.old, old), (patch.new, new)) if oid is not None]
        if compat and any(_scan_oid("compat", oid, snap, _compat_scan) for snap, oid in sides):
            return True
        if _type_facts(old, patch.old) != _type_facts(new, patch.new):
            return True
    return False


def _type_facts(oid: str | None, snap) -> tuple:
    """The type macros and QOM types of one blob, without line numbers (empty for no blob)."""
    if oid is None:
        return (None, [])
    tm = _scan_oid("tmacro", oid, snap, _tmacro_scan)
    types = _scan_oid("types", oid, snap, _types_scan) or []
    return (tm if _tmacro_hit(tm) else None, [t[:4] + t[5:] for t in types])


def _prefetch(kind: str, oids: list[str]) -> None:
    """Load the scans ``kind`` of many blobs from the disk cache in a few queries (a process's
    first snapshot asks for all 4,500 files of a tree)."""
    todo = [o for o in oids if (kind, o) not in _SCAN_CACHE and not o.startswith("mem:")]
    if len(todo) < 16:
        return
    for oid, got in cache.store().get_many("scan-" + kind, todo).items():
        _SCAN_CACHE[(kind, oid)] = got[0]


def _scan_oid(kind: str, oid: str, snap, fn):
    """The per-file scan ``kind`` of blob ``oid``: memory, disk cache, or the blob itself."""
    key = (kind, oid)
    got = _SCAN_CACHE.get(key, _UNSCANNED)
    if got is not _UNSCANNED:
        return got
    st = cache.store()
    stored = st.get("scan-" + kind, oid)
    if stored is None:
        data = snap.read_oid(oid)
        stored = (fn(data),) if data is not None else (None,)
        if data is not None and not oid.startswith("mem:"):
            st.put("scan-" + kind, oid, stored)
    _SCAN_CACHE[key] = stored[0]
    return stored[0]


_UNSCANNED = object()


def _resolve(raw: str, macros: dict[str, str]) -> str | None:
    """A QOM type name as a scan recorded it: a string literal, or a type macro of the tree."""
    return raw.strip('"') if raw.startswith('"') else macros.get(raw)


class TreeIndex:
    def __init__(self, snap: Snapshot):
        self.snap = snap
        self._files: list[tuple[str, str]] | None = None
        self._files_map: dict[str, str] | None = None
        self._position: dict[str, int] | None = None
        self._by_path: dict[str, list[tuple[str, QomType]]] | None = None
        self._type_macros: dict[str, str] | None = None
        self._tmacro_key: tuple = ()
        self._types: dict[str, list[QomType]] | None = None
        self._children: dict[str, set[str]] | None = None
        self._compat: list[CompatArray] | None = None
        self._needle_cache: dict[bytes, list[str]] = {}
        self._field_cache: dict[tuple[str, str | None], list[PropertyDef]] = {}
        self._mask_cache: dict[str, str | None] = {}
        self._cmask: set[str] | None = None
        self._opaque_files: set[str] = set()
        self._misc_cache: dict = {}

    # -- basics ---------------------------------------------------------------

    def version(self) -> tuple[int, int, int] | None:
        data = self.snap.read("VERSION")
        if not data:
            return None
        m = re.match(rb"\s*(\d+)\.(\d+)\.(\d+)", data)
        if not m:
            return None
        return int(m.group(1)), int(m.group(2)), int(m.group(3))

    def current_compat_version(self) -> tuple[int, int] | None:
        """X.Y.50 / X.Y.9x (developing the next release) and X.Y.Z all mean X_Y."""
        v = self.version()
        return (v[0], v[1]) if v else None

    def files(self) -> list[tuple[str, str]]:
        if self._files is None:
            self._files = [item for item in self.snap.files() if _interesting(item[0])]
        return self._files

    def read(self, path: str) -> bytes | None:
        return self.snap.read(path)

    def model(self, path: str) -> FileModel | None:
        oid = self.snap.blob_id(path)
        if oid is not None:
            m = cached_model(path, oid)
            if m is not None:
                return m
        data = self.snap.read(path)
        if data is None:
            return None
        return parse_cached(path, oid, data)

    def _scan(self, kind: str, path: str, oid: str, fn):
        return _scan_oid(kind, oid, self.snap, fn)

    def grep(self, needle: bytes) -> list[str]:
        """Paths of interesting files containing ``needle``."""
        if needle in self._needle_cache:
            return self._needle_cache[needle]
        # a git tree never changes: its answer is kept on disk (a second run over a range greps nothing)
        tid = self.snap.tree_id()
        key = f"{tid}:{needle.decode('latin-1')}" if tid else None
        if key is not None:
            got = cache.store().get("grep", key)
            if got is not None:
                self._needle_cache[needle] = got
                return got
        fmap = self.files_map()
        prev = _GREP.get(needle)
        if prev is not None and prev[0] is fmap:
            hits = prev[1]
        else:
            # from the last snapshot this needle was looked for in: only files that differ are read
            base, hits = (prev[0], set(prev[1])) if prev is not None else ({}, set())
            for path, oid in fmap.items() - base.items():
                data = self.snap.read_oid(oid)
                if data is not None and needle in data:
                    hits.add(path)
                else:
                    hits.discard(path)
            if len(base) > len(fmap) or prev is not None:
                hits &= fmap.keys()
            _GREP.pop(needle, None)
            _GREP[needle] = (fmap, hits)
            if len(_GREP) > 64:  # each entry may hold another snapshot's file map
                _GREP.pop(next(iter(_GREP)))
        out = sorted(hits, key=self._positions().__getitem__)
        self._needle_cache[needle] = out
        if key is not None:
            cache.store().put("grep", key, out)
        return out

    def files_map(self) -> dict[str, str]:
        if self._files_map is None:
            self._files_map = dict(self.files())
        return self._files_map

    def _positions(self) -> dict[str, int]:
        """Each file's place in ``files()`` (to put a few paths in file order without a walk)."""
        if self._position is None:
            self._position = {p: i for i, (p, _) in enumerate(self.files())}
        return self._position

    # -- compat arrays ----------------------------------------------------------

    def compat_arrays(self) -> list[CompatArray]:
        if self._compat is None:
            hits = self._hits("compat", _compat_scan)
            key = tuple(hits)
            got = _COMPAT_MEMO.get(key)
            if got is None:
                got = []
                for path, oid in hits:
                    got.extend(self._compat_arrays_of(path, oid))
                _COMPAT_MEMO[key] = got
                if len(_COMPAT_MEMO) > 16:
                    _COMPAT_MEMO.pop(next(iter(_COMPAT_MEMO)))
            self._compat = got
        return self._compat

    def _compat_arrays_of(self, path: str, oid: str) -> list[CompatArray]:
        """The compat arrays of one file, kept apart from its model (a few entries, not a whole
        file's functions: a range reads them for every snapshot whose tables changed)."""
        key = oid + ":" + path
        got = _CARRAYS.get(key)
        if got is None:
            got = cache.store().get("carrays", key) if not oid.startswith("mem:") else None
            if got is None:
                m = self.model(path)
                got = list(m.compat_arrays) if m is not None else []
                if not oid.startswith("mem:"):
                    cache.store().put("carrays", key, got)
            _CARRAYS[key] = got
            if len(_CARRAYS) > 256:
                _CARRAYS.pop(next(iter(_CARRAYS)))
        return got

    def _hits(self, kind: str, fn, pred=bool) -> list[tuple[str, str]]:
        """(path, blob id), in file order, of the files whose scan ``kind`` is true.

        Derived from the last snapshot this was asked of: only files that differ are scanned.
        """
        fmap = self.files_map()
        prev = _HITS.get(kind)
        if prev is not None and prev[0] is fmap:
            hit = prev[1]
        else:
            base, hit = (prev[0], dict(prev[1])) if prev is not None else ({}, {})
            changed = fmap.items() - base.items()
            _prefetch(kind, [oid for _path, oid in changed])
            for path, oid in changed:
                if pred(self._scan(kind, path, oid, fn)):
                    hit[path] = oid
                else:
                    hit.pop(path, None)
            if prev is not None:
                for path in [p for p in hit if p not in fmap]:
                    del hit[path]
            _HITS[kind] = (fmap, hit)
        pos = self._positions()
        return sorted(hit.items(), key=lambda item: pos[item[0]])

    def entries_for(self, prop_name: str, up_to: tuple[int, int]) -> list[tuple[CompatArray, "CompatEntry"]]:
        """(array, entry) for every entry setting ``prop_name`` in arrays of release ``up_to`` or older."""
        return [(a, e) for a in self.compat_arrays() if a.version <= up_to for e in a.entries
                if e.property == prop_name or self.string_name(e.property) == prop_name]

    def arrays_of_version(self, version: tuple[int, int]) -> list[CompatArray]:
        return [a for a in self.compat_arrays() if a.version == version]

    # -- QOM types --------------------------------------------------------------

    def type_macros(self) -> dict[str, str]:
        if self._type_macros is None:
            macros: dict[str, str] = {}
            aliases: dict[str, str] = {}

            hits = self._hits("tmacro", _tmacro_scan, _tmacro_hit)
            self._tmacro_key = tuple(hits)
            got = _AGG_MEMO.get(("tmacro", self._tmacro_key))
            if got is not None:
                self._type_macros = got
                return got
            ambiguous: set[str] = set()
            for path, oid in hits:
                res = self._scan("tmacro", path, oid, _tmacro_scan)
                if res:
                    for k, v in res[0].items():
                        if k in macros and macros[k] != v:
                            ambiguous.add(k)  # #ifdef'd: which one builds depends on the target
                        macros[k] = v
                    aliases.update(res[1])
                    ambiguous |= res[2]
            for k, v in aliases.items():
                if v in macros and k not in macros:
                    macros[k] = macros[v]
            for k in ambiguous:
                macros.pop(k, None)
            self._type_macros = macros
            _memo_put(("tmacro", self._tmacro_key), macros)
        return self._type_macros

    def string_name(self, name: str) -> str:
        """A property or type name that may be a macro (PCI_BRIDGE_DEV_PROP_SHPC -> "shpc")."""
        if MACRO_NAME_RE.fullmatch(name):
            return self.type_macros().get(name, name)
        return name

    def type_name(self, text: str, is_macro: bool) -> str | None:
        if not is_macro:
            return text
        if re.fullmatch(r"\w+", text):
            return self.type_macros().get(text)
        # a concatenation such as "Opteron_G3" "-" TYPE_X86_CPU
        out = []
        for lit, ident in lexemes.strings_and_words(text):
            if ident:
                v = self.type_macros().get(ident)
                if v is None:
                    return None
                out.append(v)
            else:
                out.append(lit)
        return "".join(out) if out else None

    def _scan_all_types(self) -> None:
        self.type_macros()
        hits = self._hits("types", _types_scan)
        key = ("types", tuple(hits), self._tmacro_key)
        got = _AGG_MEMO.get(key)
        if got is not None:
            self._types, self._children, self._opaque_files = got
            return
        types: dict[str, list[QomType]] = {}
        children: dict[str, set[str]] = {}
        macros = self.type_macros()
        for path, oid in hits:
            res = self._scan("types", path, oid, _types_scan)
            for raw_name, raw_parent, ci, ii, line, derived, abstract in res or []:
                if raw_name == _OPAQUE:
                    self._opaque_files.add(path)
                    continue
                name = _resolve(raw_name, macros)
                if name is None:
                    continue
                parent = _resolve(raw_parent, macros) if raw_parent else None
                types.setdefault(name, []).append(QomType(name, parent, ci, path, line, derived, ii, abstract))
                if parent:
                    children.setdefault(parent, set()).add(name)
        self._types, self._children = types, children
        _memo_put(key, (types, children, self._opaque_files))

    def qom_types(self) -> dict[str, list[QomType]]:
        if self._types is None:
            self._scan_all_types()
        return self._types  # type: ignore[return-value]

    def _types_in(self, path: str) -> list[tuple[str, QomType]]:
        """(name, type) of the QOM types file ``path`` defines, in qom_types() order."""
        if self._by_path is None:
            self._by_path = {}
            for name, ts in self.qom_types().items():
                for t in ts:
                    self._by_path.setdefault(t.path, []).append((name, t))
        return self._by_path.get(path, [])

    def parent_of(self, name: str) -> str | None:
        ts = self.qom_types().get(name)
        return ts[0].parent if ts else None

    def ancestors(self, name: str) -> list[str]:
        out = []
        seen = {name}
        cur = self.parent_of(name)
        while cur and cur not in seen:
            out.append(cur)
            seen.add(cur)
            cur = self.parent_of(cur)
        return out

    def descendants(self, name: str) -> list[str]:
        if self._children is None:
            self._scan_all_types()
        out: list[str] = []
        stack = [name]
        seen = {name}
        while stack:
            cur = stack.pop()
            for ch in sorted(self._children.get(cur, ())):  # type: ignore[union-attr]
                if ch not in seen:
                    seen.add(ch)
                    out.append(ch)
                    stack.append(ch)
        return out

    def is_abstract(self, name: str) -> bool:
        ts = self.qom_types().get(name)
        return bool(ts) and all(t.abstract for t in ts)

    def owners_of_array(self, path: str, array: str) -> list[str]:
        """Types whose class_init (or a helper it calls) installs property array ``array`` of file ``path``."""
        out = []
        for name, t in self._types_in(path):
            if not t.class_init:
                continue
            m = self.model(path)
            if m is None:
                continue
            if any(array in m.functions[f].prop_arrays for f in m.reachable(t.class_init, installed=False)):
                out.append(name)
        return sorted(set(out))

    def covers(self, driver: str, type_name: str) -> bool:
        """A compat entry on ``driver`` applies to ``type_name``."""
        return driver == type_name or driver in self.ancestors(type_name)

    # -- properties -------------------------------------------------------------

    def own_props(self, name: str) -> PropSet:
        """Properties that type ``name`` itself defines (not inherited)."""
        ps = PropSet()
        ts = self.qom_types().get(name)
        if not ts:
            ps.complete = False
            ps.unresolved.append(name)
            return ps
        for t in ts:
            if t.derived and not t.class_init and not t.instance_init:
                continue  # names registered by a helper add no properties of their own
            m = self.model(t.path)
            if m is None:
                ps.complete = False
                continue
            roots = [r for r in (t.class_init, t.instance_init) if r]
            if any(r not in m.functions for r in roots):
                ps.complete = False
            seen: set[str] = set()
            stack = [r for r in roots if r in m.functions]
            while stack:
                cur = stack.pop()
                if cur in seen:
                    continue
                seen.add(cur)
                f = m.functions[cur]
                ps.dynamic |= f.dynamic_props
                if "?" in f.dynamic_props:
                    ps.complete = False  # a property added under a computed name
                for arr in f.prop_arrays:
                    found = [p for p in m.props if p.array == arr] + self.macro_props_of(m, arr)
                    if not found or (arr in m.open_prop_arrays and not self._macros_resolved(m, arr)):
                        ps.complete = False
                    for p in found:
                        ps.props[self.string_name(p.name)] = p
                for c in f.calls:
                    if c in m.functions:
                        stack.append(c)
                    elif _PROP_HELPER_RE.search(c) and not c.startswith(("object_property_add", "object_class_property_add")):
                        ps.complete = False  # properties added by a helper in another file
        return ps

    def props_of(self, name: str, with_subtypes: bool = False) -> PropSet:
        total = PropSet()
        chain = [name] + self.ancestors(name)
        if with_subtypes:
            chain += self.descendants(name)
        for t in chain:
            ps = self.own_props(t)
            total.props.update({k: v for k, v in ps.props.items() if k not in total.props})
            total.dynamic |= ps.dynamic
            if not ps.complete:
                total.complete = False
                total.unresolved.extend(ps.unresolved)
        if with_subtypes:
            files = {t.path for n in chain for t in self.qom_types().get(n, [])}
            if files & self._opaque_files:
                total.complete = False  # subtypes made by macros qlint cannot read
        top = chain[len(self.ancestors(name))] if chain else None
        if top is not None and self.parent_of(top) is None and top not in self.qom_types():
            total.complete = False
        return total

    def props_by_field(self, fieldname: str, hint: str | None = None) -> list[PropertyDef]:
        """Properties backed by struct field ``fieldname`` anywhere in the tree (with ``hint``:
        in the files that also contain ``hint``, when any file holding the field does)."""
        key = (fieldname, hint)
        if key in self._field_cache:
            return self._field_cache[key]
        needle = fieldname.encode()
        if re.fullmatch(r"\w+", fieldname):
            # files whose DEFINE_PROP_*() entries name the field, from a per-file scan
            paths = [p for p, oid in self._hits("propfields", _propfields_scan)
                     if needle in self._scan("propfields", p, oid, _propfields_scan)]
            if hint:
                hpaths = set(self.grep(hint.encode()))
                with_hint = [p for p in paths if p in hpaths]
                if with_hint or not paths:
                    paths = with_hint
                elif any(p in hpaths for p in self.grep(needle)):
                    paths = []  # files hold both, but none defines a property on the field
        else:
            paths = self.grep(needle)
            if hint:
                hpaths = set(self.grep(hint.encode()))
                paths = [p for p in paths if p in hpaths] or paths
            rx = re.compile(_PROP_FIELD_PREFIX + rb"[\w.\[\]]*\b" + re.escape(needle) + rb"\b")
            paths = [p for p in paths if rx.search(self.snap.read(p) or b"")]
        out = []
        for p in paths:
            m = self.model(p)
            if m is None:
                continue
            out.extend(pr for pr in m.props if pr.field == fieldname or pr.field.endswith("." + fieldname))
        self._field_cache[key] = out
        return out

    def struct_fields(self, name: str) -> frozenset[str] | None:
        """Member names of struct (or typedef) ``name`` as the tree defines it; None when not found."""
        key = ("struct", name)
        if key not in self._misc_cache:
            rx = re.compile(rb"struct\s+" + re.escape(name.encode()) + rb"\s*\{|\}\s*" + re.escape(name.encode()) + rb"\s*;")
            found: frozenset[str] | None = None
            for p in self.grep(name.encode()):
                if not rx.search(self.snap.read(p) or b""):
                    continue
                m = self.model(p)
                if m is not None and name in m.struct_fields:
                    found = (found or frozenset()) | m.struct_fields[name]
            self._misc_cache[key] = found
        return self._misc_cache[key]

    # -- type names built by code (CPU models) -----------------------------------------

    def type_namings(self) -> list[TypeNaming]:
        """Every MODEL-separator-base naming scheme the tree defines with macros."""
        key = ("namings",)
        if key in self._misc_cache:
            return self._misc_cache[key]

        def scan(d: bytes):
            if b"define" not in d or b" TYPE_" not in d:
                return []
            out = []
            # a separator only ("-"): "max-" TYPE_ARM_CPU names one type, it is no scheme
            rows = lexemes.Lines(d)
            suffixes = {m.group(1): (m.group(2), m.group(3), rows.row(m.start()) + 1)
                        for m in _SUFFIX_MACRO_RE.finditer(d) if not re.search(rb"\w", m.group(2))}
            names = {}
            for m in _NAME_MACRO_RE.finditer(d):
                if m.group(2) != m.group(3):
                    continue  # the parameter must come first: name SUFFIX
                if m.group(6) and m.group(6) in suffixes:
                    names[m.group(6)] = m.group(1)
                elif m.group(4) and not re.search(rb"\w", m.group(4)):
                    out.append((m.group(5), m.group(4), None, m.group(1), rows.row(m.start()) + 1))
            for suf, (sep, base, line) in suffixes.items():
                out.append((base, sep, suf, names.get(suf), line))
            return [tuple(x.decode() if isinstance(x, bytes) else x for x in t) for t in out]

        found: list[TypeNaming] = []
        for path, oid in self.files():
            if not path.endswith(".h"):
                continue
            for base, sep, suf, name, line in self._scan("tnaming", path, oid, scan) or []:
                found.append(TypeNaming(base, sep, suf, name, path, line))
        self._misc_cache[key] = found
        return found

    def registered_models(self, naming: TypeNaming) -> tuple[frozenset[str], tuple[re.Pattern, ...]]:
        """Model names the tree may register under ``naming``: string literals of the C files beside
        its header (model tables, aliases) and of files that format names with its NAME macro, plus
        the printf formats there ("%s-v%d") as patterns over those literals."""
        key = ("models", naming)
        if key in self._misc_cache:
            return self._misc_cache[key]
        here = naming.path.rsplit("/", 1)[0] + "/"
        paths = {p for p, _ in self.files() if p.startswith(here) and p.endswith(".c")}
        if naming.name_macro:
            # registrars elsewhere: NAME("%s") formats a model name at run time (a literal argument, as
            # in a compat entry or a board's default CPU, only uses a name)
            rx = re.compile(re.escape(naming.name_macro.encode()) + rb'\(\s*"[^"\n]*%')
            paths |= {p for p in self.grep(naming.name_macro.encode())
                      if p.endswith(".c") and rx.search(self.snap.read(p) or b"")}
        lits: set[str] = set()
        fmts: list[str] = []
        for p in sorted(paths):
            data = self.snap.read(p) or b""
            for a, b in lexemes.quoted(data):
                t = data[a + 1:b - 1].decode("utf-8", "replace")
                if "%" in t:
                    fmts.append(t)
                elif t:
                    lits.add(t)
        pats = []
        for f in dict.fromkeys(fmts):  # in the file's order: the first pattern that matches wins
            parts = re.split(r"(%l*[sdiux])", f)
            if sum(1 for x in parts if x.endswith("s") and x.startswith("%")) != 1 or parts[1:2] != ["%s"] or parts[0]:
                continue  # only "%s<fixed text and numbers>": a model name with a suffix built by code
            rx = "".join("(.+)" if x == "%s" else r"\d+" if x.startswith("%") else re.escape(x) for x in parts)
            if rx != "(.+)":
                pats.append(re.compile(rx))
        res = (frozenset(lits), tuple(pats))
        self._misc_cache[key] = res
        return res

    def check_built_name(self, text: str) -> NameCheck | None:
        """A compat driver written as "MODEL" SUFFIX, "MODEL-" TYPE_X or NAME("MODEL"), checked against
        the tree's naming schemes and model tables.  None when it follows no scheme qlint knows."""
        namings = self.type_namings()
        call = re.fullmatch(r'\(?\s*(\w+)\s*\(\s*"((?:[^"\\]|\\.)*)"\s*\)\s*\)?', text)
        toks = lexemes.strings_and_words(text)
        idents = [i for _, i in toks if i]
        naming, model, why = None, None, ""
        if call:
            naming = next((n for n in namings if n.name_macro == call.group(1)), None)
            model = call.group(2)
        elif len(idents) == 1 and toks[-1][1] and all(not i for _, i in toks[:-1]):
            lit = "".join(s for s, _ in toks[:-1])
            last = idents[0]
            by_suffix = next((n for n in namings if n.suffix_macro == last), None)
            by_base = [n for n in namings if n.base == last]
            if by_suffix is not None:
                naming, model = by_suffix, lit
            elif by_base and lit:
                # every scheme over this base agrees on the separator, or qlint cannot tell
                if len({n.separator for n in by_base}) != 1:
                    return None
                naming = by_base[0]
                if lit.endswith(naming.separator):
                    model = lit[: -len(naming.separator)]
                else:
                    model, why = lit, "separator"
        if naming is None or not model:
            return None
        if why:
            return NameCheck(False, naming, model, why)
        lits, pats = self.registered_models(naming)
        if not lits:
            return None  # no model table beside the scheme: qlint cannot tell
        if model in lits or any((m := p.fullmatch(model)) and m.group(1) in lits for p in pats):
            return NameCheck(True, naming, model)
        return NameCheck(False, naming, model, "model")

    def cmask_registers(self) -> set[str]:
        """Constant registers the PCI core marks in cmask (compared on migration load)."""
        if self._cmask is None:
            fmap = self.files_map()
            key = ("cmask", tuple((p, fmap[p]) for p in self.grep(b"cmask")))
            regs = _AGG_MEMO.get(key)
            if regs is None:
                regs = set()
                for p, _oid in key[1]:
                    m = self.model(p)
                    if m is None:
                        continue
                    for w in m.writes:
                        if w.target == "cmask" and w.offset and not _variable_offset(w.offset):
                            regs.update(w.offset.split("+"))
                _memo_put(key, regs)
            self._cmask = regs
        return self._cmask

    def prop_macro(self, name: str):
        """(params, calls, line, path) of a #define holding DEFINE_PROP_* entries, found anywhere in the tree."""
        key = ("propmacro", name)
        if key not in self._misc_cache:
            found = None
            for p in self.grep(("define " + name + "(").encode()):
                m = self.model(p)
                if m is not None and name in m.prop_macros:
                    found = m.prop_macros[name] + (p,)
                    break
            self._misc_cache[key] = found
        return self._misc_cache[key]

    def macro_props_of(self, model, array: str) -> list[PropertyDef]:
        out = []
        for macro, args in model.prop_array_macros.get(array, []):
            pm = self.prop_macro(macro)
            if pm is not None:
                params, calls, line, path = pm
                out += cparse.macro_props(macro, params, calls, args, array, model.path, line)
        return out

    def _macros_resolved(self, model, array: str) -> bool:
        """Every macro in the array expands to DEFINE_PROP_* entries only (no nested macros)."""
        for mac, _ in model.prop_array_macros.get(array, []):
            pm = self.prop_macro(mac)
            if pm is None or not all(c[0].startswith("DEFINE_PROP") and c[0] != "DEFINE_PROP_END_OF_LIST" or
                                     c[0] == "DEFINE_PROP_END_OF_LIST" for c in pm[1]):
                return False
            if any(not c[0].startswith("DEFINE_PROP") for c in pm[1]):
                return False
        return True

    def vmstate_macro(self, name: str):
        return _vmstate_macro_lookup(self, name)

    def function_anywhere(self, name: str, prefer: str | None = None):
        """(model, Function) defining ``name``: in file ``prefer`` first, else anywhere in the tree."""
        key = ("fn", name, prefer)
        if key in self._misc_cache:
            return self._misc_cache[key]
        found = None
        paths = ([prefer] if prefer else []) + [p for p in self.grep(name.encode()) if p != prefer and p.endswith(".c")]
        for p in paths[:40]:
            m = self.model(p)
            if m is not None and name in m.functions:
                found = (m, m.functions[name])
                break
        self._misc_cache[key] = found
        return found

    def nests(self, var: str) -> list[str]:
        """Descriptions that nest ``var`` through a VMSTATE_STRUCT-style field."""
        key = ("nests", var)
        if key in self._misc_cache:
            return self._misc_cache[key]
        out = []
        for p in self.grep(var.encode()):
            m = self.model(p)
            if m is None:
                continue
            for d in m.vmstates:
                if any(var in f.nested for f in d.fields):
                    out.append(d.name)
        self._misc_cache[key] = out
        return out

    def mask_bit(self, mask: str) -> str | None:
        """The bit-number identifier behind mask ``mask`` (QEMU_PCIE_X -> QEMU_PCIE_X_BITNR)."""
        ws = rb"[\s\\]*+"  # white space, line continuations included (possessive: what follows is neither)
        rx = re.compile(
            rb"\b" + re.escape(mask.encode())
            + ws + rb"=?" + ws + rb"\(*" + ws
            + rb"(?:1U?L*L?" + ws + rb"<<" + ws + rb"\(?" + ws + rb"([A-Za-z_]\w*)|(?:BIT|BIT_ULL)\(\s*([A-Za-z_]\w*)\s*\))"
        )
        if mask in self._mask_cache:
            return self._mask_cache[mask]
        found = None
        for p in self.grep(mask.encode()):
            data = self.snap.read(p) or b""
            m = rx.search(data)
            if m:
                found = (m.group(1) or m.group(2)).decode()
                break
        self._mask_cache[mask] = found
        return found

    def number(self, ident: str) -> int | None:
        rx = re.compile(rb"(?:#\s*+define\s++|\b)" + re.escape(ident.encode()) + rb"\s*+=?\s*+\(?\s*+(0[xX][0-9a-fA-F]+|\d+)\b")
        for p in self.grep(ident.encode()):
            m = rx.search(self.snap.read(p) or b"")
            if m:
                return cparse._c_int(m.group(1).decode())
        return None


def _vmstate_macro_lookup(index: "TreeIndex", name: str):
    """The VMSTATE_* macro definition called ``name`` in the tree, or None."""
    key = ("vmmacro", name)
    if key in index._misc_cache:
        return index._misc_cache[key]
    found = None
    for p in index.grep(("define " + name + "(").encode()):
        m = index.model(p)
        if m is None:
            continue
        for vm in m.vmstate_macros:
            if vm.name == name:
                found = vm
                break
        if found:
            break
    index._misc_cache[key] = found
    return found
