"""Facts extracted from a file, kept on disk by blob id so the next run does not parse it again.

An sqlite database (stdlib, no server) in ``$QLINT_CACHE_DIR``, else ``$XDG_CACHE_HOME/qlint``,
else ``~/.cache/qlint``.  Keys are (kind, blob id, path); values are compact JSON of plain data
(lists, strings, numbers, booleans, null), shaped by the type each kind declares in ``_kinds()``.
A row is read back by checking it against that type while rebuilding the records: nothing in the
file is ever run as code, and a row of the wrong shape, size or encoding is a miss.  The database
file is named after a format version derived from qlint's version and a hash of the code that
produces the values, so a changed extractor never reads entries an older one wrote: it starts a
new file.  WAL mode lets two runs share the cache; writes are batched into few transactions.

The cache is an accelerator only: when it is disabled (``QLINT_NO_CACHE=1``, ``--no-cache``),
missing, locked, corrupt or unwritable, qlint computes everything and the findings are the same.
A lock is waited for once (``WAIT`` seconds): then the run stops using what it waited for (writes,
or the whole cache).  It never writes anywhere but the cache directory.
"""

from __future__ import annotations

import dataclasses
import hashlib
import itertools
import json
import operator
import os
import sqlite3
import time
import types
import typing
from functools import cache as _memo
from pathlib import Path

# Modules whose code decides what is stored: a change to any of them is a new format.
# (configdiff: the prefilter's digest records which functions is_init_function() calls init code.)
# the modules whose code decides what a cached row holds, relative to the analyzer package
_FORMAT_SOURCES = ("cmodel/cparse.py", "cmodel/lexemes.py", "cmodel/model.py", "tree/index.py",
                   "diff/prefilter.py", "diff/semdiff.py", "diff/configdiff.py", "tree/machines.py",
                   "sources/gitsrc.py", "tree/cache.py", "limits.py")
# How rows are laid out; older layouts (pickles) live in files of other names and are never read.
_LAYOUT = "json"
_PENDING_LIMIT = 200
MAX_VALUE = 64 << 20  # bytes: a larger row is a miss, never loaded
WAIT = 2.0  # seconds a locked database is waited for, once per run
_STATS = {"hits": 0, "misses": 0, "bad": 0, "unstorable": 0, "waits": 0}
# What this run stopped using after a failure ("read": the whole cache, "write": storing).  Kept
# across a fork, so the workers of a run do not wait for a lock again; reset() forgets it.
_GIVEN_UP: set[str] = set()


def format_version() -> str:
    from importlib import metadata

    try:
        ver = metadata.version("qlint")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        ver = "0"
    h = hashlib.sha256(ver.encode())
    h.update(_LAYOUT.encode())
    here = Path(__file__).resolve().parents[1]
    for name in _FORMAT_SOURCES:
        try:
            h.update((here / name).read_bytes())
        except OSError:  # pragma: no cover
            h.update(name.encode())
    import tree_sitter_c

    h.update(getattr(tree_sitter_c, "__version__", "").encode())
    return h.hexdigest()[:16]


def cache_dir() -> Path:
    env = os.environ.get("QLINT_CACHE_DIR")
    if env:
        return Path(env)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg) if xdg else Path.home() / ".cache"
    return base / "qlint"


def disabled() -> bool:
    return os.environ.get("QLINT_NO_CACHE", "") not in ("", "0")


# -- the stored kinds and their plain-data form ----------------------------------------------------


def _kinds() -> dict[str, object]:
    """The type of the values of each kind: what put() writes and get() accepts."""
    from qlint.analyzer.tree.machines import _BoardFile
    from qlint.analyzer.cmodel.model import CompatArray, FileModel

    return {
        "model": FileModel,
        "carrays": list[CompatArray],
        "facts": tuple[str, tuple[tuple[str, tuple[int, int], str, str, str], ...]],  # prefilter.file_facts
        "grep": list[str],
        "releases": dict[tuple[int, int], str],
        "board": tuple[_BoardFile | None],
        # index._scan_oid: (the scan's result,)
        "scan-compat": tuple[bool],
        "scan-machines-hint": tuple[bool],
        "scan-propfields": tuple[frozenset[bytes]],
        "scan-tmacro": tuple[tuple[dict[str, str], dict[str, str], set[str]]],
        "scan-types": tuple[list[tuple[str, str | None, str | None, str | None, int, bool, bool]]],
        "scan-tnaming": tuple[list[tuple[str, str, str | None, str | None, int]]],
        "scan-machines-pp": tuple[tuple[str, dict[str, tuple[tuple[str, ...] | None, str]], list[str]]],
    }


class _Bad(ValueError):
    """A value that does not have the shape its type declares."""


class _Codec:
    """How values of one type are written as plain data and read back, their shape checked.

    ``enc(v, memo)`` and ``dec(p, memo)`` convert one value, ``enc_many(vs, memo)`` and
    ``dec_many(p, memo)`` a list of values at once, in columns, so that the records of a whole
    file are checked and built by a few loops in C rather than one call each.  Every function
    raises on a value of another shape.  ``fast``: the type (str, int, bool, None's) of the values
    that are their own plain form, which a container passes through without a call.  ``memo``
    belongs to one row: it numbers the shared values already written or read.
    """

    __slots__ = ("enc", "dec", "enc_many", "dec_many", "fast")

    def __init__(self, enc, dec, enc_many=None, dec_many=None, fast=None):
        self.enc, self.dec, self.fast = enc, dec, fast
        self.enc_many = enc_many or (lambda vs, memo: [x if type(x) is fast else enc(x, memo) for x in vs])
        self.dec_many = dec_many or (lambda p, memo: [x if type(x) is fast else dec(x, memo) for x in _list(p)])


def _list(p) -> list:
    if type(p) is not list:
        raise _Bad("list")
    return p


def _only(want: type, items) -> bool:
    """Every item is of type ``want`` exactly (a bool is no int here)."""
    return set(map(type, items)) <= {want}


def _scalar(want: type) -> _Codec:
    def one(v, memo):
        if type(v) is not want:
            raise _Bad(want.__name__)
        return v

    def many(vs, memo):
        if type(vs) is not list or not _only(want, vs):
            raise _Bad(want.__name__)
        return vs

    return _Codec(one, one, many, many, want)


_SCALARS = {t: _scalar(t) for t in (str, int, bool, type(None))}


@_memo
def _codec(tp) -> _Codec:
    """The codec of values of type ``tp``.

    Plain data is what ``json`` reads and writes: a dataclass is the list of its fields, a tuple,
    list or set a list, a dict a list of its keys and its values, bytes a latin-1 string; strings
    keep lone surrogates (paths git gave as bytes).  A frozen dataclass or a tuple of records met
    again in the same row (the guards every statement of a branch shares) is written once, then as
    its number.
    """
    if tp in _SCALARS:
        return _SCALARS[tp]
    if tp is bytes:
        return _Codec(_bytes_enc, _bytes_dec)
    if tp is tuple:  # a guard's condition (model.Cond): nested tuples of strings and None
        return _Codec(_tree_enc, _tree_dec)
    if dataclasses.is_dataclass(tp):
        codec = _dataclass_codec(tp)
        return _shared(codec) if tp.__dataclass_params__.frozen else codec
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (types.UnionType, typing.Union) and len(args) == 2 and type(None) in args:
        return _optional_codec(_codec(next(a for a in args if a is not type(None))))
    if origin is tuple and args and not (len(args) == 2 and args[1] is Ellipsis):
        return _record_codec([_codec(a) for a in args])
    if origin in (list, set, frozenset, tuple):
        item = _codec(args[0])
        codec = _sequence_codec(origin, item)
        return _shared(codec) if origin is tuple and item.fast is None else codec
    if origin is dict:
        return _dict_codec(_codec(args[0]), _codec(args[1]))
    raise TypeError(f"no plain form for {tp!r}")


def _bytes_enc(v, memo):
    if type(v) is not bytes:
        raise _Bad("bytes")
    return v.decode("latin-1")


def _bytes_dec(v, memo):
    if type(v) is not str:
        raise _Bad("bytes")
    return v.encode("latin-1")  # a character above U+00FF: UnicodeEncodeError, a ValueError


def _tree_enc(v, memo):
    if type(v) is tuple:
        return [x if type(x) is str else _tree_enc(x, memo) for x in v]
    if v is None or type(v) is str:
        return v
    raise _Bad("condition")


def _tree_dec(v, memo):
    if type(v) is list:
        return tuple([x if type(x) is str else _tree_dec(x, memo) for x in v])
    if v is None or type(v) is str:
        return v
    raise _Bad("condition")


def _shared(codec: _Codec) -> _Codec:
    """``codec`` for immutable values that recur: each once per row, then its number in the row."""
    enc, dec = codec.enc, codec.dec
    slot = object()

    def enc_shared(v, memo):
        seen = memo.setdefault(slot, {})
        n = seen.get(v)  # equal values, not only the same object: Function.conds and call_sites
        if n is not None:
            return n
        out = enc(v, memo)
        seen[v] = len(seen)
        return out

    def dec_shared(v, memo):
        got = memo.setdefault(slot, [])
        if type(v) is int:
            if v < 0:
                raise _Bad("reference")
            return got[v]  # a number not yet read: IndexError
        out = dec(v, memo)
        got.append(out)
        return out

    def dec_many(p, memo):
        got = memo.setdefault(slot, [])
        out = []
        for x in _list(p):
            if type(x) is int:
                if x < 0:
                    raise _Bad("reference")
                out.append(got[x])
            else:
                out.append(y := dec(x, memo))
                got.append(y)
        return out

    return _Codec(enc_shared, dec_shared, dec_many=dec_many)


def _optional_codec(inner: _Codec) -> _Codec:
    enc, dec, fast = inner.enc, inner.dec, inner.fast
    if fast is type(None) or enc is _tree_enc:
        raise TypeError("an optional value that may itself be None")
    return _Codec(lambda v, memo: None if v is None else enc(v, memo),
                  lambda v, memo: None if v is None else dec(v, memo), fast=fast)


def _record_codec(parts: list[_Codec]) -> _Codec:
    """A fixed-length tuple: a list of as many items, each of its own type (columns for many)."""
    n = len(parts)
    fasts = [c.fast for c in parts]
    encs, decs = [c.enc for c in parts], [c.dec for c in parts]
    enc_manys, dec_manys = [c.enc_many for c in parts], [c.dec_many for c in parts]

    def enc(v, memo):
        if type(v) is not tuple or len(v) != n:
            raise _Bad("tuple")
        return [x if type(x) is t else e(x, memo) for t, e, x in zip(fasts, encs, v)]

    def dec(v, memo):
        if type(v) is not list or len(v) != n:
            raise _Bad("tuple")
        return tuple([x if type(x) is t else d(x, memo) for t, d, x in zip(fasts, decs, v)])

    def enc_many(vs, memo):
        if not _only(tuple, vs) or not set(map(len, vs)) <= {n}:
            raise _Bad("tuple")
        cols = list(zip(*vs)) if vs else [()] * n
        return [e(list(c), memo) for e, c in zip(enc_manys, cols)]

    def dec_many(p, memo):
        if type(p) is not list or len(p) != n:
            raise _Bad("columns")
        cols = [d(c, memo) for d, c in zip(dec_manys, p)]
        if len(set(map(len, cols))) != 1:  # zip would cut the longer ones short
            raise _Bad("columns")
        return list(zip(*cols))

    return _Codec(enc, dec, enc_many, dec_many)


def _sequence_codec(kind: type, item: _Codec) -> _Codec:
    """A list, set, frozenset or tuple of one type; many of them: their lengths and their items."""
    item_enc_many, item_dec_many = item.enc_many, item.dec_many

    def enc(v, memo):
        if type(v) is not kind:
            raise _Bad(kind.__name__)
        return item_enc_many(list(v), memo)

    def dec(p, memo):
        items = item_dec_many(p, memo)
        return items if kind is list else kind(items)

    def enc_many(vs, memo):
        if not _only(kind, vs):
            raise _Bad(kind.__name__)
        return [list(map(len, vs)), item_enc_many(list(itertools.chain.from_iterable(vs)), memo)]

    def dec_many(p, memo):
        if type(p) is not list or len(p) != 2:
            raise _Bad(kind.__name__)
        lens, items = _SCALARS[int].dec_many(p[0], memo), item_dec_many(p[1], memo)
        if sum(lens) != len(items) or (lens and min(lens) < 0):
            raise _Bad(kind.__name__)
        out, at = [], 0
        for n in lens:
            out.append(items[at : at + n] if kind is list else kind(items[at : at + n]))
            at += n
        return out

    return _Codec(enc, dec, enc_many, dec_many)


def _dict_codec(key: _Codec, val: _Codec) -> _Codec:
    """A dict: its keys and its values, as two columns."""
    pairs = _record_codec([key, val])

    def enc(v, memo):
        if type(v) is not dict:
            raise _Bad("dict")
        return pairs.enc_many(list(v.items()), memo)

    def dec(p, memo):
        return dict(pairs.dec_many(p, memo))

    return _Codec(enc, dec)


def _dataclass_codec(cls: type) -> _Codec:
    """A dataclass: the list of its fields in declaration order (many: a column per field)."""
    hints = typing.get_type_hints(cls)
    fields = dataclasses.fields(cls)
    names = [f.name for f in fields]
    rec = _record_codec([_codec(hints[n]) for n in names])
    get = operator.attrgetter(*names)
    values = get if len(names) > 1 else (lambda v: (get(v),))
    # every field checked and given: setting them is all the generated __init__ would do
    plain_init = all(f.init for f in fields) and not hasattr(cls, "__post_init__") and "__slots__" not in vars(cls)
    new = object.__new__

    def make(vals: tuple):
        if not plain_init:
            return cls(*vals)
        obj = new(cls)
        obj.__dict__.update(zip(names, vals))
        return obj

    def enc(v, memo):
        if type(v) is not cls:
            raise _Bad(cls.__name__)
        return rec.enc(values(v), memo)

    def enc_many(vs, memo):
        if not _only(cls, vs):
            raise _Bad(cls.__name__)
        return rec.enc_many(list(map(values, vs)), memo)

    return _Codec(enc, lambda p, memo: make(rec.dec(p, memo)), enc_many,
                  lambda p, memo: list(map(make, rec.dec_many(p, memo))))


@_memo
def _kind_codec(kind: str) -> _Codec:
    try:
        tp = _kinds()[kind]
    except KeyError:
        raise KeyError(f"cache kind {kind!r} declares no type in cache._kinds()") from None
    return _codec(tp)


def to_row(kind: str, value) -> bytes:
    """The stored form of ``value``, a value of ``kind`` (ValueError if it has another shape)."""
    plain = _kind_codec(kind).enc(value, {})
    return json.dumps(plain, ensure_ascii=True, separators=(",", ":"), check_circular=False).encode("ascii")


def from_row(kind: str, raw) -> object:
    """The value a stored row holds; ValueError (or another exception) for a row of another shape."""
    if type(raw) is not bytes or len(raw) > MAX_VALUE:
        raise _Bad("row")
    return _kind_codec(kind).dec(json.loads(raw), {})


def _key(key: str) -> bytes:
    # paths from git are bytes, kept as lone surrogates: surrogatepass encodes any string
    return key.encode("utf-8", "surrogatepass")


def _locked(exc: sqlite3.Error) -> bool:
    """The database is locked or busy (an error that follows a wait of the busy timeout)."""
    return ((getattr(exc, "sqlite_errorcode", 0) or 0) & 0xFF) in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)


# -- the store --------------------------------------------------------------------------------------


class Store:
    """A key-value store of plain facts; every failure turns it into a no-op."""

    def __init__(self, path: Path | None):
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.writable = "write" not in _GIVEN_UP
        self.pending: dict[tuple[str, str], bytes] = {}
        self.last_size = 0  # bytes of the last value get() returned (a hint for memory budgets)
        if path is not None and "read" not in _GIVEN_UP:
            self.db = self._open(path)

    def _open(self, path: Path) -> sqlite3.Connection | None:
        # two runs creating the file at once: switching it to WAL can fail with "locked" without
        # waiting, so the loser tries again; all attempts share one wait of WAIT seconds
        deadline = time.monotonic() + WAIT
        while True:
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(str(path), timeout=max(deadline - time.monotonic(), 0.001),
                                     isolation_level=None, check_same_thread=False)
            except (sqlite3.Error, OSError):  # no directory, not a database file
                return self._give_up("read", None)
            try:
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("CREATE TABLE IF NOT EXISTS facts (kind TEXT NOT NULL, key BLOB NOT NULL, "
                           "value BLOB NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID")
                db.execute(f"PRAGMA busy_timeout={int(WAIT * 1000)}")
                return db
            except sqlite3.Error as exc:
                db.close()
                if not _locked(exc) or time.monotonic() >= deadline:
                    return self._give_up("read", exc)
                time.sleep(0.05)

    def _give_up(self, what: str, exc: sqlite3.Error | None) -> None:
        """Stop reading ("read") or storing ("write") for the rest of the run."""
        if exc is not None and _locked(exc):
            _STATS["waits"] += 1
        _GIVEN_UP.add(what)
        self.pending.clear()
        if what == "write":
            self.writable = False
        else:
            self._off()
        return None

    def _query(self, sql: str, args: tuple) -> list:
        """The rows of a query, or [] once the database fails (the store is then off)."""
        try:
            return self.db.execute(sql, args).fetchall() if self.db is not None else []
        except sqlite3.Error as exc:
            self._give_up("read", exc)
            return []

    def _decode(self, kind: str, raw):
        try:
            value = from_row(kind, raw)
        except Exception:  # anything a row of another shape makes the decoder raise: recompute it
            _STATS["bad"] += 1
            return None
        self.last_size = len(raw)
        return value

    def get(self, kind: str, key: str):
        """The stored value, or None (absent, unreadable, of another shape, or the cache is off)."""
        _kind_codec(kind)
        raw = self.pending.get((kind, key))
        if raw is None:
            rows = self._query("SELECT value FROM facts WHERE kind=? AND key=? AND length(value)<=?",
                               (kind, _key(key), MAX_VALUE))
            raw = rows[0][0] if rows else None
        value = self._decode(kind, raw) if raw is not None else None
        _STATS["hits" if value is not None else "misses"] += 1
        return value

    def get_many(self, kind: str, keys: list[str]) -> dict:
        """{key: value} for the keys present."""
        _kind_codec(kind)
        if self.db is None:
            return {k: v for k in keys if (v := self.get(kind, k)) is not None}
        out = {}
        for i in range(0, len(keys), 500):
            chunk = [_key(k) for k in keys[i : i + 500]]
            rows = self._query(f"SELECT key, value FROM facts WHERE kind=? AND key IN ({','.join('?' * len(chunk))}) "
                               "AND length(value)<=?", (kind, *chunk, MAX_VALUE))
            for k, raw in rows:
                value = self._decode(kind, raw)
                if value is not None and type(k) is bytes:
                    out[k.decode("utf-8", "surrogatepass")] = value
        return out

    def keys(self, kind: str) -> set[str]:
        """Every key stored under ``kind`` (for kinds with few rows)."""
        out = {key for (k, key) in self.pending if k == kind}
        for (k,) in self._query("SELECT key FROM facts WHERE kind=?", (kind,)):
            if type(k) is bytes:
                out.add(k.decode("utf-8", "surrogatepass"))
        return out

    def put(self, kind: str, key: str, value) -> None:
        _kind_codec(kind)  # an undeclared kind is a mistake in qlint: say so, whatever the state
        if self.db is None or not self.writable:
            return
        try:
            self.pending[(kind, key)] = to_row(kind, value)
        except (ValueError, TypeError, RecursionError):  # not the declared shape: not stored
            _STATS["unstorable"] += 1
            return
        if len(self.pending) >= _PENDING_LIMIT:
            self.flush()

    def flush(self) -> None:
        if self.db is None or not self.writable or not self.pending:
            self.pending.clear()
            return
        rows = [(k, _key(key), v) for (k, key), v in self.pending.items()]
        self.pending.clear()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO facts (kind, key, value) VALUES (?, ?, ?)", rows)
            self.db.execute("COMMIT")
        except sqlite3.Error as exc:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            # locked for longer than the wait, disk full, read-only: run on without storing
            self._give_up("write", exc)

    def _off(self) -> None:
        try:
            if self.db is not None:
                self.db.close()
        except sqlite3.Error:
            pass
        self.db = None

    def close(self) -> None:
        self.flush()
        self._off()


_STORE: Store | None = None


def store() -> Store:
    """The process's store, opened on first use (a no-op store when the cache is off)."""
    global _STORE
    if _STORE is None:
        _STORE = Store(None if disabled() else cache_dir() / f"facts-{format_version()}.sqlite")
    return _STORE


def forget() -> None:
    """Drop the store without touching its connection (in a forked child: the parent owns it)."""
    global _STORE
    if _STORE is not None:
        _ORPHANS.append(_STORE)  # never closed here: closing would act on the parent's connection
    _STORE = None


_ORPHANS: list[Store] = []


def reset() -> None:
    """Close the store (flushing pending writes); the next use opens it again from the environment."""
    global _STORE
    if _STORE is not None:
        _STORE.close()
    _STORE = None
    _GIVEN_UP.clear()
