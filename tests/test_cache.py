"""The fact cache holds plain data only: what it reads back is checked against the type of its kind,
a row of another shape is a miss, nothing in the file runs, any path round-trips, and a locked
database is waited for once, not at every access.

Behaviour only; the timings live in bench/speed.py.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import os
import pickle
import shutil
import sqlite3
from pathlib import Path

import pytest

from qlint.analyzer.tree import cache, index
from qlint.analyzer.cmodel import cparse
from qlint.analyzer import engine
from qlint.analyzer.diff import prefilter
from qlint.analyzer.sources.fixture_repo import build, case_patches
from qlint.analyzer.sources.gitsrc import review_range
from qlint.analyzer.cmodel.model import CompatArray, CompatEntry, FileModel, Function, Guard

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
INVALID = FIXTURES / "examples"
# between them, these reviews store a value of every kind the cache declares
EVERY_KIND = [INVALID / "compat-entry-unknown-property/invalid/cpu-model-misspelt",
              INVALID / "compat-entry-unknown-property/invalid/typo",
              INVALID / "compat-entry-wrong-version/invalid/older-array"]
CASE = INVALID / "compat-entry-missing/invalid/no-entry"
# what no fixture has: property and VMState macros, a property array qlint cannot read whole
MACROS = b"""\
#define DEFINE_FOO_PROPS(_state, _field) \\
    DEFINE_PROP_BOOL("a", _state, _field, true), \\
    DEFINE_PROP_UINT32("b", _state, b, 4)

#define VMSTATE_FOO_REGS(_field, _state) \\
    VMSTATE_UINT32(_field.a, _state), \\
    VMSTATE_UINT32(_field.b, _state)

static Property foo_props[] = {
    DEFINE_FOO_PROPS(FooState, a),
    DEFINE_PROP_END_OF_LIST(),
};

static bool foo_needed(void *opaque)
{
    return true;
}

static uint64_t foo_get_features(VirtIODevice *vdev, uint64_t features, Error **errp)
{
    FooState *s = FOO(vdev);

    if (s->mq) {
        virtio_add_feature(&features, VIRTIO_FOO_F_MQ);
    }
    return features;
}

static void foo_instance_init(Object *obj)
{
    object_property_add_bool(obj, "x-extra", foo_get_extra, foo_set_extra);
}
"""


def _new_process() -> None:
    """What a new process would start with (the disk cache stays)."""
    cache.reset()
    index.clear_memory()
    prefilter._MEMO.clear()
    prefilter._SHAPES.clear()


def _review(repo: Path, spec: str) -> list[dict]:
    _new_process()
    return [f.to_dict() for f in engine.review(review_range(str(repo), spec)).findings]


def _repo(case: Path, tmp_path: Path, tree: Path = FIXTURES / "tree") -> tuple[Path, str]:
    setup, patches = case_patches(case)
    _, base, ids = build(tree, setup + patches, tmp_path / "repo")
    return tmp_path / "repo", f"{base}..{ids[-1]}"


def _uncached(repo: Path, spec: str, monkeypatch) -> list[dict]:
    monkeypatch.setenv("QLINT_NO_CACHE", "1")
    try:
        return _review(repo, spec)
    finally:
        monkeypatch.delenv("QLINT_NO_CACHE")
        cache.reset()


def _db() -> Path:
    return cache.cache_dir() / f"facts-{cache.format_version()}.sqlite"


def _rewrite_rows(change) -> int:
    """Replace the value of every stored row by ``change(kind, value)``; the number of rows."""
    con = sqlite3.connect(str(_db()))
    rows = con.execute("SELECT kind, key, value FROM facts").fetchall()
    con.executemany("UPDATE facts SET value=? WHERE kind=? AND key=?",
                    [(change(kind, value), kind, key) for kind, key, value in rows])
    con.commit()
    con.close()
    return len(rows)


def _same(a, b) -> bool:
    """Equal, and of the same types all the way down (a tuple is no list, a set no frozenset)."""
    if type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a):
        return all(_same(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, dict):
        return list(a) == list(b) and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(map(_same, a, b))
    return a == b


# -- plain data: every kind round-trips ---------------------------------------------------------------


def test_every_kind_the_reviews_store_reads_back_equal(tmp_path, monkeypatch):
    stored: list[tuple[str, object]] = []
    real_put = cache.Store.put

    def put(self, kind, key, value):
        stored.append((kind, value))
        real_put(self, kind, key, value)

    monkeypatch.setattr(cache.Store, "put", put)
    before = dict(cache._STATS)
    for n, case in enumerate(EVERY_KIND):
        repo, spec = _repo(case, tmp_path / str(n))
        cold = _review(repo, spec)
        assert cold and _review(repo, spec) == cold == _uncached(repo, spec, monkeypatch)
    assert {kind for kind, _ in stored} == set(cache._kinds()), "a review stores every declared kind"
    assert cache._STATS["unstorable"] == before["unstorable"], "every stored value has its declared shape"
    stored.append(("model", cparse.parse("hw/misc/foo.c", MACROS)))
    for kind, value in stored:
        assert _same(cache.from_row(kind, cache.to_row(kind, value)), value), kind
    # every field of a model held something in some file: each field's form was exercised
    models = [v for k, v in stored if k == "model"]
    functions = [f for m in models for f in m.functions.values()]
    for cls, values in ((FileModel, models), (Function, functions)):
        empty = [f.name for f in dataclasses.fields(cls) if not any(getattr(v, f.name) for v in values)]
        assert empty == [], f"no {cls.__name__} of these reviews has {empty}"


def test_shared_values_are_written_once_and_read_back_as_one():
    g = Guard(("and", ("field", "x", "FooState"), ("not", ("other", "y"))), "(s->x&&!y)")
    fn = Function("foo_realize", 1, 9, calls={"a", "b"}, conds=[g],
                  call_sites=[("a", (g,), 3), ("b", (g, Guard(("other", "z"), "z", False)), 4)],
                  guarded=[((g,), "a();", 3)])
    m = FileModel("hw/misc/foo.c", functions={"foo_realize": fn}, struct_fields={"FooState": frozenset({"x"})})
    raw = cache.to_row("model", m)
    assert raw.count(b"(s->x&&!y)") == 1
    back = cache.from_row("model", raw)
    assert _same(back, m)
    sites = back.functions["foo_realize"].call_sites
    assert sites[0][1][0] is sites[1][1][0] is back.functions["foo_realize"].conds[0]


# -- rows that are not what their kind stores -----------------------------------------------------------


def _first_leaf_to_float(plain):
    """``plain`` with its first scalar (or its first empty list or object) replaced by a float,
    a type no kind holds."""
    if isinstance(plain, list):
        return [_first_leaf_to_float(plain[0])] + plain[1:] if plain else [0.5]
    if isinstance(plain, dict):
        if not plain:
            return {"k": 0.5}
        k = next(iter(plain))
        return {**plain, k: _first_leaf_to_float(plain[k])}
    return 0.5


MUTATIONS = {
    "not json": lambda kind, raw: b"\x80\x05K\x01.",
    "null": lambda kind, raw: b"null",
    "nested once more": lambda kind, raw: b"[" + raw + b"]",
    "a float inside": lambda kind, raw: json.dumps(_first_leaf_to_float(json.loads(raw))).encode(),
    "a text column": lambda kind, raw: b"\"" + raw.replace(b"\\", b"\\\\").replace(b"\"", b"\\\"") + b"\"",
}


@pytest.mark.parametrize("mutation", MUTATIONS)
def test_a_row_of_another_shape_is_a_miss(mutation, tmp_path, monkeypatch):
    repo, spec = _repo(CASE, tmp_path)
    expected = _uncached(repo, spec, monkeypatch)
    assert _review(repo, spec) == expected
    assert _rewrite_rows(MUTATIONS[mutation]) > 0
    before = dict(cache._STATS)
    assert _review(repo, spec) == expected
    assert cache._STATS["hits"] == before["hits"], "no row was taken as a value"
    assert cache._STATS["bad"] > before["bad"]


CRAFTED = [
    ("model", b'["p"]'),  # too few fields
    ("facts", b'["d",[[],[[],[]],[],[],[],[]]]'),  # one column too many
    ("facts", b'["d",[["a"],[[1],[2]],["b"],["c"],[]]]'),  # columns of different lengths
    ("facts", b'["d",[["a"],[[true],[2]],["b"],["c"],["d"]]]'),  # a bool for an int
    ("carrays", b'[[], [], []]'),  # a list where the columns of records belong
    ("scan-propfields", b'[["\\u0100"]]'),  # not a byte
    ("grep", b'[1]'),
    ("releases", b'[[[[8, 0]], ["c"]]]'),  # a version of one number
    ("board", b'[-1]'),  # a reference before any value
    ("board", b'[0]'),  # a reference to a value not read yet
    ("scan-compat", b'[1]'),  # an int for a bool
    ("scan-tmacro", b'[[[["A"],[1]],[[],[]],[]]]'),
    ("model", b"[" * 100000 + b"]" * 100000),
]


@pytest.mark.parametrize("kind,raw", CRAFTED, ids=lambda x: x if isinstance(x, str) else None)
def test_a_crafted_row_is_refused(kind, raw):
    # a shape check (ValueError), or json giving up on nesting deeper than it can read
    with pytest.raises((ValueError, RecursionError)):
        cache.from_row(kind, raw)
    st = cache.store()
    st.pending[(kind, "k")] = raw  # what the database would give
    assert st.get(kind, "k") is None


def test_an_oversized_row_is_never_loaded(tmp_path, monkeypatch):
    repo, spec = _repo(CASE, tmp_path)
    expected = _review(repo, spec)
    con = sqlite3.connect(str(_db()))
    rows = [(kind, key.decode("utf-8", "surrogatepass")) for kind, key in con.execute("SELECT kind, key FROM facts")]
    con.close()
    monkeypatch.setattr(cache, "MAX_VALUE", 1)  # every stored row is larger (the least is "[]")
    loaded = []
    real = cache.from_row
    monkeypatch.setattr(cache, "from_row", lambda kind, raw: loaded.append(kind) or real(kind, raw))
    cache.reset()
    st = cache.store()
    assert rows and all(st.get(kind, key) is None for kind, key in rows)
    assert all(st.get_many(kind, [key]) == {} for kind, key in rows)
    assert loaded == []
    assert _review(repo, spec) == expected


class _Marker:
    """Unpickling this creates a file: the proof that a cache row was run as code."""

    def __init__(self, path: Path):
        self.path = path

    def __reduce__(self):
        return (open, (str(self.path), "w"))


def test_a_pickle_in_the_cache_is_never_run(tmp_path, monkeypatch):
    repo, spec = _repo(CASE, tmp_path)
    expected = _uncached(repo, spec, monkeypatch)
    _review(repo, spec)
    marker = tmp_path / "ran"
    payload = pickle.dumps(_Marker(marker))
    assert _rewrite_rows(lambda kind, raw: payload) > 0
    assert _review(repo, spec) == expected
    assert not marker.exists()


# -- paths that are not UTF-8 -------------------------------------------------------------------------


def test_non_utf8_keys_paths_and_bytes_round_trip():
    path = "hw/misc/f\udcff\udc80.c"  # git's bytes b"f\xff\x80.c", as pygit2 and the diff reader give them
    m = FileModel(path, compat_arrays=[CompatArray("hw_compat_8_0", "hw", (8, 0),
                                                   (CompatEntry("hw_compat_8_0", "f\udcffoo", False, "x", "on", 3, path),),
                                                   1, 4, path)])
    st = cache.store()
    st.put("model", "1234:" + path, m)
    st.put("scan-propfields", "1234", (frozenset({b"\xff\x00", b"ok"}),))
    st.put("releases", "c\udcff", {(8, 0): "abc"})
    cache.reset()
    st = cache.store()
    assert _same(st.get("model", "1234:" + path), m)
    assert st.get("model", "1234:hw/misc/f\udcff.c") is None
    assert st.get_many("scan-propfields", ["1234", "9"]) == {"1234": (frozenset({b"\xff\x00", b"ok"}),)}
    assert st.keys("releases") == {"c\udcff"}
    assert st.get("releases", "c\udcff") == {(8, 0): "abc"}
    assert cache._STATS["unstorable"] == 0


def test_a_file_named_in_other_bytes_than_utf8_reviews_the_same_with_the_cache(tmp_path, monkeypatch):
    tree = tmp_path / "tree"
    shutil.copytree(FIXTURES / "tree", tree)
    name = bytes(tree / "hw/core/machine.c")
    os.rename(name, name[:-2] + b"\xff.c")  # where the compat arrays are: read, not touched
    repo, spec = _repo(CASE, tmp_path, tree)
    uncached = _uncached(repo, spec, monkeypatch)
    assert "hw/core/machine\udcff.c" in json.dumps(uncached, ensure_ascii=False)
    cold = _review(repo, spec)
    before = dict(cache._STATS)
    assert _review(repo, spec) == cold == uncached
    assert cache._STATS["hits"] > before["hits"] and cache._STATS["misses"] == before["misses"]


# -- locks: waited for once ---------------------------------------------------------------------------


class _Counting(sqlite3.Connection):
    """A connection that counts the statements the database refused as locked (each one came
    after a whole busy timeout)."""

    locked = 0

    def _count(self, call, *args):
        try:
            return call(*args)
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc) or "busy" in str(exc):
                _Counting.locked += 1
            raise

    def execute(self, *args):
        return self._count(super().execute, *args)

    def executemany(self, *args):
        return self._count(super().executemany, *args)


@pytest.fixture
def counted_waits(monkeypatch):
    """The cache's connections count their lock waits; a wait is short."""
    _Counting.locked = 0
    monkeypatch.setattr(cache, "WAIT", 0.2, raising=False)
    monkeypatch.setattr(cache, "_PENDING_LIMIT", 20)  # many writes in one review
    monkeypatch.setattr(sqlite3, "connect", functools.partial(sqlite3.connect, factory=_Counting))
    return _Counting


def _hold(path: Path, rollback_journal: bool = False) -> sqlite3.Connection:
    """A second connection holding the write lock of ``path`` (with a rollback journal: every lock)."""
    con = sqlite3.connect(str(path), isolation_level=None)
    if rollback_journal:
        con.execute("CREATE TABLE IF NOT EXISTS facts (kind TEXT NOT NULL, key BLOB NOT NULL, "
                    "value BLOB NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID")
    con.execute("BEGIN EXCLUSIVE")
    return con


def test_a_write_locked_cache_is_waited_for_once_then_only_read(tmp_path, monkeypatch, counted_waits):
    repo, spec = _repo(CASE, tmp_path)
    expected = _uncached(repo, spec, monkeypatch)
    cache.store()  # the database exists, in WAL mode: readers pass a writer
    cache.reset()
    assert _db().exists()
    holder = _hold(_db())
    try:
        assert _review(repo, spec) == expected
        assert counted_waits.locked == 1
        assert cache._GIVEN_UP == {"write"}
        # what the run read before is still read: a second review in the same run waits no more
        index.clear_memory()
        prefilter._MEMO.clear()
        assert [f.to_dict() for f in engine.review(review_range(str(repo), spec)).findings] == expected
    finally:
        holder.close()
    assert counted_waits.locked == 1


def test_a_locked_database_is_waited_for_once_then_the_run_is_uncached(tmp_path, monkeypatch, counted_waits):
    repo, spec = _repo(CASE, tmp_path)
    expected = _uncached(repo, spec, monkeypatch)
    _db().parent.mkdir(parents=True, exist_ok=True)
    holder = _hold(_db(), rollback_journal=True)  # no reader passes
    try:
        assert _review(repo, spec) == expected
    finally:
        holder.close()
    assert counted_waits.locked == 1
    assert cache._GIVEN_UP == {"read"}


def test_workers_forked_after_the_wait_do_not_wait_again(tmp_path, monkeypatch, counted_waits):
    _db().parent.mkdir(parents=True, exist_ok=True)
    holder = _hold(_db(), rollback_journal=True)
    try:
        assert cache.store().db is None
        cache.forget()  # what a forked worker does first
        assert cache.store().db is None
    finally:
        holder.close()
    assert counted_waits.locked == 1
    cache.reset()  # a new run tries again
    assert cache.store().db is not None
