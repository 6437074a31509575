"""Facts extracted from a file, kept on disk by blob id so the next run does not parse it again.

An sqlite database (stdlib, no server) in ``$QLINT_CACHE_DIR``, else ``$XDG_CACHE_HOME/qlint``,
else ``~/.cache/qlint``.  Keys are (kind, blob id, path); values are pickles of the extracted
records.  The database file is named after a format version derived from qlint's version and a
hash of the code that produces the values, so a changed extractor never reads entries an older
one wrote: it starts a new file.  WAL mode and a busy timeout let two runs share the cache;
writes are batched into few transactions.

The cache is an accelerator only: when it is disabled (``QLINT_NO_CACHE=1``, ``--no-cache``),
missing, locked, corrupt or unwritable, qlint computes everything and the findings are the same.
It never writes anywhere but the cache directory.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import sqlite3
import time
from pathlib import Path

# Modules whose code decides what is stored: a change to any of them is a new format.
# (semdiff: the prefilter's digest records which functions is_init_function() calls init code.)
_FORMAT_SOURCES = ("cparse.py", "model.py", "index.py", "prefilter.py", "semdiff.py", "machines.py", "gitsrc.py",
                   "cache.py")
_PENDING_LIMIT = 200
_STATS = {"hits": 0, "misses": 0}


def format_version() -> str:
    from importlib import metadata

    try:
        ver = metadata.version("qlint")
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a bare checkout
        ver = "0"
    h = hashlib.sha256(ver.encode())
    here = Path(__file__).resolve().parent
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


class Store:
    """A key-value store of pickled facts; every failure turns it into a no-op."""

    def __init__(self, path: Path | None):
        self.path = path
        self.db: sqlite3.Connection | None = None
        self.pending: dict[tuple[str, str], bytes] = {}
        self.last_size = 0  # bytes of the last value get() returned (a hint for memory budgets)
        if path is None:
            return
        # two runs creating the file at once: switching it to WAL can fail with "locked" without
        # waiting for the busy timeout, so the loser tries again before giving the cache up
        for attempt in range(5):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                db = sqlite3.connect(str(path), timeout=10, isolation_level=None, check_same_thread=False)
                db.execute("PRAGMA busy_timeout=10000")
                db.execute("PRAGMA journal_mode=WAL")
                db.execute("PRAGMA synchronous=NORMAL")
                db.execute("CREATE TABLE IF NOT EXISTS facts (kind TEXT NOT NULL, key TEXT NOT NULL, "
                           "value BLOB NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID")
                self.db = db
                return
            except sqlite3.OperationalError:
                time.sleep(0.05 * (attempt + 1))
            except (sqlite3.Error, OSError):
                break
        self.db = None

    def get(self, kind: str, key: str):
        """The stored value, or None (absent, unreadable, or the cache is off)."""
        raw = self.pending.get((kind, key))
        if raw is None and self.db is not None:
            try:
                row = self.db.execute("SELECT value FROM facts WHERE kind=? AND key=?", (kind, key)).fetchone()
            except sqlite3.Error:
                self._off()
                row = None
            raw = row[0] if row else None
        if raw is None:
            _STATS["misses"] += 1
            return None
        try:
            value = pickle.loads(raw)
        except Exception:  # a damaged entry: recompute it
            _STATS["misses"] += 1
            return None
        _STATS["hits"] += 1
        self.last_size = len(raw)
        return value

    def get_many(self, kind: str, keys: list[str]) -> dict:
        """{key: value} for the keys present."""
        out = {}
        if self.db is None:
            return {k: v for k in keys if (v := self.get(kind, k)) is not None}
        for i in range(0, len(keys), 500):
            chunk = keys[i : i + 500]
            try:
                rows = self.db.execute(
                    f"SELECT key, value FROM facts WHERE kind=? AND key IN ({','.join('?' * len(chunk))})",
                    (kind, *chunk)).fetchall()
            except sqlite3.Error:
                self._off()
                return out
            for k, raw in rows:
                try:
                    out[k] = pickle.loads(raw)
                except Exception:
                    pass
        return out

    def keys(self, kind: str) -> set[str]:
        """Every key stored under ``kind`` (for kinds with few rows)."""
        out = {key for (k, key) in self.pending if k == kind}
        if self.db is not None:
            try:
                out.update(r[0] for r in self.db.execute("SELECT key FROM facts WHERE kind=?", (kind,)))
            except sqlite3.Error:
                self._off()
        return out

    def put(self, kind: str, key: str, value) -> None:
        if self.db is None:
            return
        try:
            self.pending[(kind, key)] = pickle.dumps(value, protocol=pickle.HIGHEST_PROTOCOL)
        except Exception:  # pragma: no cover - every stored record is plain data
            return
        if len(self.pending) >= _PENDING_LIMIT:
            self.flush()

    def flush(self) -> None:
        if self.db is None or not self.pending:
            self.pending.clear()
            return
        rows = [(k, key, v) for (k, key), v in self.pending.items()]
        self.pending.clear()
        try:
            self.db.execute("BEGIN IMMEDIATE")
            self.db.executemany("INSERT OR REPLACE INTO facts (kind, key, value) VALUES (?, ?, ?)", rows)
            self.db.execute("COMMIT")
        except sqlite3.Error:
            try:
                self.db.execute("ROLLBACK")
            except sqlite3.Error:
                pass
            # locked for longer than the timeout, disk full, read-only: run on without storing

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
