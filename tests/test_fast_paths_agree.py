"""What makes ranges fast must not change what qlint says: the fact cache, the prefilter, --jobs.

Behaviour only; the timings live in bench/speed.py.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest

from qlint.analyzer.tree import cache, index
from qlint.analyzer.cmodel import cparse
from qlint.analyzer import engine
from qlint.analyzer.diff import prefilter
from qlint.analyzer.change import EmptySnapshot, FileChange, OverlaySnapshot, Patch
from qlint.analyzer.sources.fixture_repo import commit_change, build, case_patches
from qlint.analyzer.sources.gitsrc import review_range
from qlint.analyzer.cmodel.model import PropertyDef

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
CASES = sorted(p for p in (FIXTURES / "examples").glob("*/invalid/*") if p.is_dir())[::3]


def _forget_memory() -> None:
    """What a new process would start with (the disk cache stays)."""
    cache.reset()
    index.clear_memory()
    prefilter._MEMO.clear()
    prefilter._SHAPES.clear()


def _findings(repo: Path, spec: str, jobs: int = 1) -> list[dict]:
    _forget_memory()
    report = engine.review(review_range(str(repo), spec), jobs=jobs)
    return [f.to_dict() for f in report.findings]


def _case_repo(case: Path, tmp_path: Path) -> tuple[Path, str]:
    setup, patches = case_patches(case)
    _, base, ids = build(FIXTURES / "tree", setup + patches, tmp_path / "repo")
    return tmp_path / "repo", f"{base}..{ids[-1]}"


@pytest.mark.parametrize("case", CASES, ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_same_findings_uncached_cold_warm_and_in_processes(case, tmp_path, monkeypatch):
    repo, spec = _case_repo(case, tmp_path)
    monkeypatch.setenv("QLINT_NO_CACHE", "1")
    uncached = _findings(repo, spec)
    assert uncached, "every invalid example has a finding"
    monkeypatch.delenv("QLINT_NO_CACHE")
    cold = _findings(repo, spec)
    assert list(cache.cache_dir().glob("facts-*.sqlite")), "the cold run filled the cache"
    warm = _findings(repo, spec)
    monkeypatch.setattr(engine, "CHUNK", 1)  # one patch per unit of work: every patch in some worker
    parallel = _findings(repo, spec, jobs=3)
    assert uncached == cold == warm == parallel


def test_warm_run_parses_nothing(tmp_path, monkeypatch):
    repo, spec = _case_repo(CASES[0], tmp_path)
    first = _findings(repo, spec)
    calls = []
    real = cparse.parse
    monkeypatch.setattr(cparse, "parse", lambda path, data: calls.append(path) or real(path, data))
    assert _findings(repo, spec) == first
    assert calls == []


def test_entries_of_another_format_are_never_read(tmp_path, monkeypatch):
    """A store written by another extractor (another format version) is another file: never read."""
    repo, spec = _case_repo(CASES[0], tmp_path)
    expected = _findings(repo, spec)
    # poison a store of another format with an empty model for every key the real run stored
    real = cache.format_version()
    good = sqlite3.connect(str(cache.cache_dir() / f"facts-{real}.sqlite"))
    keys = good.execute("SELECT kind, key FROM facts").fetchall()
    good.close()
    monkeypatch.setattr(cache, "format_version", lambda: "0ld0ld0ld0ld0ld0")
    cache.reset()
    st = cache.store()
    poison = {"model": index.FileModel(path="x"), "facts": (prefilter.EMPTY, ())}
    for kind, key in keys:
        if kind in poison:
            st.put(kind, key.decode("utf-8", "surrogatepass"), poison[kind])
    cache.reset()
    monkeypatch.setattr(cache, "format_version", lambda: real)
    (cache.cache_dir() / f"facts-{real}.sqlite").unlink()
    assert _findings(repo, spec) == expected


def test_format_version_follows_the_extractor_source(monkeypatch, tmp_path):
    before = cache.format_version()
    fake = tmp_path / "cparse.py"
    fake.write_text("# another extractor\n")
    real_read = Path.read_bytes
    monkeypatch.setattr(Path, "read_bytes",
                        lambda self: real_read(fake) if self.name == "cparse.py" else real_read(self))
    assert cache.format_version() != before


def test_damaged_or_unusable_cache_runs_uncached(tmp_path, monkeypatch):
    repo, spec = _case_repo(CASES[0], tmp_path)
    expected = _findings(repo, spec)
    db = next(cache.cache_dir().glob("facts-*.sqlite"))
    con = sqlite3.connect(str(db))
    con.execute("UPDATE facts SET value = x'00ff00'")  # every value unreadable
    con.commit()
    con.close()
    assert _findings(repo, spec) == expected
    # not a database at all
    for p in cache.cache_dir().glob("facts-*"):
        p.unlink()
    db.write_bytes(b"this is not sqlite" * 100)
    assert _findings(repo, spec) == expected
    # a cache directory that cannot be created (a file is in the way)
    blocker = tmp_path / "blocker"
    blocker.write_text("")
    monkeypatch.setenv("QLINT_CACHE_DIR", str(blocker / "qlint"))
    assert _findings(repo, spec) == expected


def _writer(path: str, who: int, n: int) -> None:
    os.environ["QLINT_CACHE_DIR"] = path
    cache.reset()
    st = cache.store()
    for i in range(n):
        st.put("grep", f"{who}:{i}", [str(who), str(i), "x" * 500])
        st.put("grep", f"shared:{i}", [str(i)])  # both write the same keys too
    cache.reset()


def test_two_concurrent_writers_do_not_corrupt_the_store(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_writer, args=(str(tmp_path), w, 1500)) for w in (1, 2)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    db = next(tmp_path.glob("facts-*.sqlite"))
    con = sqlite3.connect(str(db))
    assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    con.close()
    os.environ["QLINT_CACHE_DIR"] = str(tmp_path)
    cache.reset()
    st = cache.store()
    got = st.get_many("grep", [f"{w}:{i}" for w in (1, 2) for i in range(1500)])
    assert len(got) == 3000 and got["2:1499"] == ["2", "1499", "x" * 500]
    assert st.get("grep", "shared:7") == ["7"]


def test_cache_location(monkeypatch, tmp_path):
    monkeypatch.delenv("QLINT_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "qlint"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "qlint"


def test_cli_no_cache_writes_nothing_and_says_the_same(tmp_path):
    repo, spec = _case_repo(CASES[0], tmp_path)
    cdir = Path(os.environ["QLINT_CACHE_DIR"])

    def run(*extra):
        r = subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", "-C", str(repo), "--format", "json",
                            *extra, spec], capture_output=True, text=True)
        assert r.returncode in (0, 1), r.stderr
        return json.loads(r.stdout)

    off = run("--no-cache")
    assert not list(cdir.glob("facts-*"))
    on = run()
    assert list(cdir.glob("facts-*.sqlite"))
    assert on == off == run("--jobs", "2")


def test_cli_rejects_a_negative_job_count(tmp_path):
    r = subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", "-C", str(tmp_path), "--jobs", "-1"],
                       capture_output=True, text=True)
    assert r.returncode == 2 and r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


# -- the prefilter -------------------------------------------------------------------------

DEVICE = b"""\
static void foo_realize(PCIDevice *dev, Error **errp)
{
    FooState *s = FOO(dev);
%s
    pci_set_word(dev->config + PCI_SUBSYSTEM_ID, 0x1100);
}

static Property foo_props[] = {
    DEFINE_PROP_BOOL("x-thing", FooState, thing, true),
%s
};
"""


def _digest(realize: bytes = b"", props: bytes = b"", pad: bytes = b"") -> str:
    return prefilter.digest(cparse.parse("hw/misc/foo.c", pad + DEVICE % (realize, props)))


def test_digest_ignores_comments_layout_and_moves():
    d = _digest()
    assert d != prefilter.EMPTY
    assert _digest(realize=b"    /* a comment */", pad=b"/* moved down */\n\n\n") == d
    assert _digest(realize=b"    trace_foo_realize(s);") == d  # a call that sets nothing


def test_digest_sees_what_rules_start_from():
    d = _digest()
    assert _digest(realize=b"    pci_set_byte(dev->config + PCI_LATENCY_TIMER, 4);") != d
    assert _digest(props=b'    DEFINE_PROP_BOOL("x-other", FooState, other, false),') != d
    assert _digest(realize=b"    if (!s->thing) {\n        return;\n    }") != d  # a new guard
    assert prefilter.digest(cparse.parse("util/x.c", b"int f(void) { return 1; }\n")) == prefilter.EMPTY


# One function per way a body makes a config write (see cparse.MAY_WRITE), and functions that
# only call or install a writing helper, which decides whether the helper is init code.
WRITERS = b"""
static void foo_fill(uint8_t *cap, int v)
{
    uint8_t *p = cap + 2;
    p[0] = v;
}
static void foo_helper(PCIDevice *pdev)
{
    pci_set_word(pdev->wmask + PCI_COMMAND, 0);
}
static void foo_store(FooState *s)
{
    stl_le_p(s->dev.config + 0x40, 1);
}
static void foo_clear(FooState *s)
{
    memset(s->dev.cmask + 0x40, 0, 4);
}
static void foo_caps(PCIDevice *pdev, Error **errp)
{
    pcie_aer_init(pdev, 1, 0x100, 0x48, errp);
    msix_init_exclusive_bar(pdev, 2, 1, errp);
}
static void foo_realize(PCIDevice *pdev, Error **errp)
{
    foo_helper(pdev);
}
static void foo_write_config(PCIDevice *pdev, uint32_t a, uint32_t v, int l)
{
    trace_foo(a);
}
static void foo_tick(void *opaque)
{
    foo_store(opaque);
}
static void foo_get_features(VirtIODevice *vdev, uint64_t *features)
{
    virtio_add_feature(features, VIRTIO_F_FOO);
}
static void foo_class_init(ObjectClass *klass, const void *data)
{
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);
    k->vendor_id = PCI_VENDOR_ID_REDHAT;
    k->realize = foo_realize;
    k->config_write = foo_write_config;
}
static int foo_unrelated(int x)
{
    return x * 2;
}
"""


@pytest.mark.parametrize("path", sorted(p for p in FIXTURES.rglob("*") if p.suffix in (".c", ".h")) + ["WRITERS"],
                         ids=lambda p: p if isinstance(p, str) else str(p.relative_to(FIXTURES)))
def test_facts_only_parse_gives_the_full_models_facts(path):
    """The prefilter skips bodies that cannot write: its digest and entries must be the full model's."""
    data = WRITERS if path == "WRITERS" else path.read_bytes()
    name = "hw/misc/foo.c" if path == "WRITERS" else str(path.relative_to(FIXTURES))
    full = cparse.parse(name, data)
    part = cparse.parse(name, data, facts_only=True)
    assert (prefilter.digest(part), prefilter.entries(part)) == (prefilter.digest(full), prefilter.entries(full))
    if path == "WRITERS":
        assert {w.function for w in full.writes} == {"foo_fill", "foo_helper", "foo_store", "foo_clear", "foo_caps",
                                                     "foo_class_init"}
        assert full.functions["foo_get_features"].feature_calls
        # skipped: nothing to write and no writer named; walked: a caller of a writing helper
        assert full.functions["foo_unrelated"].conds and not part.functions["foo_unrelated"].conds
        assert part.functions["foo_realize"].calls == {"foo_helper"}
        assert part.functions["foo_tick"].calls == {"foo_store"}


def _mem_patch(old: bytes, new: bytes) -> Patch:
    base = OverlaySnapshot(EmptySnapshot(), {"hw/misc/foo.c": old}, "old")
    after = OverlaySnapshot(base, {"hw/misc/foo.c": new}, "new")
    f = FileChange("hw/misc/foo.c", "hw/misc/foo.c", "M", old, new)
    return Patch("x", "x", "s", [f], base, after)


def test_can_matter():
    old = DEVICE % (b"", b"")
    assert not prefilter.can_matter(_mem_patch(old, b"/* header */\n" + old))
    assert prefilter.can_matter(_mem_patch(old, DEVICE % (b"", b'    DEFINE_PROP_BOOL("y", FooState, y, true),')))
    # a file no rule reads
    doc = Patch("x", "x", "s", [FileChange("docs/a.rst", "docs/a.rst", "M", b"a", b"b")], EmptySnapshot(), EmptySnapshot())
    assert not prefilter.can_matter(doc)
    # user-mode emulation and the TCG code generator hold no migrated state, whatever they look like
    new = DEVICE % (b"", b'    DEFINE_PROP_BOOL("y", FooState, y, true),')
    for path in ("linux-user/foo.c", "tcg/foo.c"):
        p = _mem_patch(old, new)
        p.files[0].path = p.files[0].old_path = path
        assert not prefilter.can_matter(p)


def test_property_defs_stay_plain_data():
    """The cache stores models as plain data: they must read back equal."""
    m = cparse.parse("hw/misc/foo.c", DEVICE % (b"", b""))
    assert cache.from_row("model", cache.to_row("model", m)) == m
    assert isinstance(m.props[0], PropertyDef)


FIELD_FILES = {
    "hw/a.c": b'static Property a_props[] = {\n    DEFINE_PROP_BIT("x-a", AState, parent_obj.cap_present,\n'
              b'                    A_FOO_BITNR, true),\n};\n',
    "hw/b.c": b'static Property b_props[] = {\n    DEFINE_PROP_UINT32("vectors", BState, nvectors, 2),\n};\n'
              b"/* A_FOO_BITNR */\n",
    "hw/c.c": b"static void c_realize(CState *s)\n{\n    s->nvectors = 4; /* cap_present A_FOO_BITNR */\n}\n",
    "hw/d.c": b'static Property d_props[] = {\n    DEFINE_PROP_BOOL("v", DState, vectors_on, true),\n'
              b'    DEFINE_PROP_UINT8("w", DState, regs[REG_W], 0),\n};\n',
}


def _props_by_field_by_grep(idx, fieldname: str, hint: str | None) -> list:
    """What props_by_field answered when it grepped the tree for the field (the reference)."""
    import re

    needle = fieldname.encode()
    paths = idx.grep(needle)
    if hint:
        hpaths = set(idx.grep(hint.encode()))
        paths = [p for p in paths if p in hpaths] or paths
    rx = re.compile(rb"DEFINE_PROP\w*\(\s*(?:\"[^\"]*\"|\w+)\s*,\s*\w+\s*,\s*[\w.\[\]]*\b" + re.escape(needle) + rb"\b")
    out = []
    for p in paths:
        if rx.search(idx.snap.read(p) or b""):
            out.extend(pr for pr in idx.model(p).props if pr.field == fieldname or pr.field.endswith("." + fieldname))
    return out


def test_props_by_field_from_the_scan_equals_the_grep():
    snap = OverlaySnapshot(EmptySnapshot(), FIELD_FILES, "fields")
    cases = [(f, h) for f in ("nvectors", "vectors", "cap_present", "parent_obj", "regs", "REG_W", "vectors_on", "absent")
             for h in (None, "A_FOO_BITNR", "c_realize", "nothing-has-this")]
    for fieldname, hint in cases:
        index.clear_memory()
        got = index.TreeIndex(snap).props_by_field(fieldname, hint)
        assert got == _props_by_field_by_grep(index.TreeIndex(snap), fieldname, hint), (fieldname, hint)
    idx = index.TreeIndex(snap)
    assert [p.name for p in idx.props_by_field("nvectors")] == ["vectors"]
    assert idx.props_by_field("vectors") == []  # only a word of the field argument counts
    assert [p.name for p in idx.props_by_field("cap_present", "A_FOO_BITNR")] == ["x-a"]
    # a file with the hint mentions the field but defines no property on it: nothing
    assert idx.props_by_field("nvectors", "c_realize") == []


def test_tree_listing_is_the_same_however_it_was_derived(tmp_path):
    """Snapshots list their files through a diff from the last listing: same result as a full walk."""
    from qlint.analyzer.sources import gitsrc

    setup, patches = case_patches(FIXTURES / "examples" / "compat-entry-missing" / "invalid" / "series-never-met")
    repo, base, ids = build(FIXTURES / "tree", setup + patches, tmp_path / "repo")
    trees = [repo[c].tree for c in [base, *ids]]

    def full(tree):
        gitsrc._LAST_LISTING.clear()
        return gitsrc._listing(repo, tree)

    def walk(tree, prefix=""):  # the order qlint always listed files in
        out, stack = [], [(prefix, tree)]
        while stack:
            pre, t = stack.pop()
            for e in t:
                if e.type_str == "tree":
                    stack.append((pre + e.name + "/", repo[e.id]))
                else:
                    out.append((pre + e.name, str(e.id)))
        return out

    expected = [full(t) for t in trees]
    assert expected == [walk(t) for t in trees] and expected[0] != expected[-1]
    gitsrc._LAST_LISTING.clear()
    for order in (range(len(trees)), reversed(range(len(trees))), [0, len(trees) - 1, 1]):
        for i in order:
            assert gitsrc._listing(repo, trees[i]) == expected[i]


def test_raw_listing_matches_the_patches(tmp_path):
    """The one-command listing the prefilter reads names the same files and blobs as the patches."""
    setup, patches = case_patches(FIXTURES / "examples" / "compat-entry-missing" / "invalid" / "series-never-met")
    repo, base, ids = build(FIXTURES / "tree", setup + patches, tmp_path / "repo")
    series = review_range(str(tmp_path / "repo"), f"{base}..{ids[-1]}")
    assert all(p.touched is not None for p in series.patches)
    for p in series.patches:
        from_files = sorted((f.status, f.path or f.old_path, p.old.blob_id(f.old_path) if f.old_path else None,
                             p.new.blob_id(f.path) if f.path else None) for f in p.files)
        assert sorted(p.touched) == from_files


# -- the search of later patches for a compat entry ------------------------------------------

LATER = FIXTURES / "examples" / "compat-entry-missing" / "valid" / "series-later-patch"
MACHINE = "hw/core/machine.c"
ENTRY_AT = b'    { "acme-serial-pci-2x", "x-fifo-depth", "16" },\n'


def _entry(line: str):
    """A step that adds ``line`` to hw_compat_7_2[]."""
    return lambda tree: {MACHINE: tree[MACHINE].data.replace(ENTRY_AT, ENTRY_AT + line.encode() + b"\n")}


def _retype(tree) -> dict[str, bytes]:
    """A step that changes acme_nic.c's TypeInfo parent: it changes QOM types only."""
    data = tree["hw/net/acme_nic.c"].data
    assert b".parent = TYPE_PCI_DEVICE," in data
    return {"hw/net/acme_nic.c": data.replace(b".parent = TYPE_PCI_DEVICE,", b".parent = TYPE_DEVICE,")}


def _later_series(tmp_path: Path, steps) -> list[dict]:
    """compat-entry-missing's findings on patch 1 of the example (a guarded change, no entry)
    followed by one commit per step (a function of the tree giving the files to write)."""
    setup, patches = case_patches(LATER)
    repo, base, ids = build(FIXTURES / "tree", setup + patches[:1], tmp_path / "repo")
    for k, step in enumerate(steps):
        files = step(repo.revparse_single(ids[-1]).tree)
        ids.append(commit_change(repo, ids[-1], f"step {k + 2}\n", "HEAD", files=files))
    return [f for f in _findings(tmp_path / "repo", f"{base}..{ids[-1]}") if f["rule"] == "compat-entry-missing"]


def test_an_entry_added_after_unrelated_table_and_type_changes_is_found(tmp_path):
    """Patches that change other entries or the QOM types are passed by cheaply; the one that
    adds the entry is still the one named."""
    found = _later_series(tmp_path, [_entry('    { "acme-nic", "x-other", "off" },'), _retype,
                                     _entry('    { TYPE_PCI_DEVICE, "x-pcie-err-unc-mask", "off" },')])
    assert [f["severity"] for f in found] == ["note"], found
    assert "by patch 4/4" in found[0]["message"]


def test_an_entry_for_another_property_does_not_meet_the_obligation(tmp_path):
    found = _later_series(tmp_path, [_entry('    { TYPE_PCI_DEVICE, "x-pcie-err-unc-maskx", "off" },'), _retype,
                                     _entry('    { "acme-nic", "x-other", "off" },')])
    assert [f["severity"] for f in found] == ["error"], found


def test_entries_added_counts_copies_and_ignores_other_changes():
    head = b'#include "hw/boards.h"\nGlobalProperty hw_compat_7_2[] = {\n'
    one = b'    { "acme-nic", "rx-queues", "1" },\n'
    tail = b"};\n"

    def patch(old: bytes, new: bytes) -> Patch:
        base = OverlaySnapshot(EmptySnapshot(), {MACHINE: old}, "old")
        after = OverlaySnapshot(base, {MACHINE: new}, "new")
        return Patch("x", "x", "s", [FileChange(MACHINE, MACHINE, "M", old, new)], base, after)

    same = head + one + tail
    assert prefilter.entries_added(patch(same, b"/* moved */\n" + same)) == set()
    assert prefilter.entries_added(patch(same, head + one + one + tail)) == {
        ("hw_compat_7_2", (7, 2), "acme-nic", "rx-queues", "1")}
    other = b'    { "acme-nic", "x-other", "off" },\n'
    added = prefilter.entries_added(patch(same, head + one + other + tail))
    assert {e[3] for e in added} == {"x-other"}
    p = patch(same, head + one + other + tail)
    assert not prefilter.could_add_entry(p, {"rx-queues"}, types_matter=True)
    assert prefilter.could_add_entry(p, {"x-other"}, types_matter=False)
    macro = patch(same, head + one + b'    { "acme-nic", ACME_PROP_NAME, "off" },\n' + tail)
    assert prefilter.could_add_entry(macro, {"rx-queues"}, types_matter=False)  # may resolve to it


def test_type_facts_ignore_lines_but_not_parents(tmp_path):
    setup, _ = case_patches(LATER)
    repo, base, ids = build(FIXTURES / "tree", setup, tmp_path / "repo")
    top = ids[-1] if ids else base
    tree = repo.revparse_single(top).tree
    moved = commit_change(repo, top, "moved\n", None,
                                files={"hw/net/acme_nic.c": b"\n\n" + tree["hw/net/acme_nic.c"].data})
    retyped = commit_change(repo, top, "retyped\n", None, files=_retype(tree))
    for commit, changes in ((moved, False), (retyped, True)):
        patch = review_range(str(tmp_path / "repo"), f"{top}..{commit}").patches[0]
        assert index.changes_tree_facts(patch, compat=False) is changes


# -- processes, releases, blobs ------------------------------------------------------------------

def test_review_groups_cover_every_kept_patch_in_order():
    for keep in ([], [3], list(range(0, 100, 3)), list(range(7))):
        for jobs in (1, 2, 3):
            groups = engine._groups(keep, jobs)
            assert [i for g in groups for i in g] == keep
            assert all(groups) and len(groups) <= max(1, jobs * engine.GROUPS_PER_JOB)


def test_releases_from_the_cache_equal_a_full_walk(tmp_path, monkeypatch):
    from qlint.analyzer.sources import fixture_repo, gitsrc

    _, _, ids = fixture_repo.build_demo(tmp_path / "demo")

    def releases(tip: str) -> dict:
        r = gitsrc.open_repo(str(tmp_path / "demo"))
        return {v: str(c.id) for v, c in gitsrc.ReleaseFinder(r).releases(r[tip]).items()}

    monkeypatch.setenv("QLINT_NO_CACHE", "1")
    cache.reset()
    expected = {tip: releases(tip) for tip in ids}
    assert any(expected.values())
    monkeypatch.delenv("QLINT_NO_CACHE")
    # tips in any order: later walks stop at commits an earlier walk answered
    for order in (ids, ids[::-1]):
        cache.reset()
        assert {tip: releases(tip) for tip in order} == expected
        cache.store().flush()


def test_greps_are_the_same_with_a_tiny_blob_memory(tmp_path, monkeypatch):
    from qlint.analyzer.sources import gitsrc

    repo, spec = _case_repo(CASES[0], tmp_path)
    normal = _findings(repo, spec)
    monkeypatch.setattr(gitsrc, "_BLOB_BUDGET", 1)
    gitsrc._BLOBS.clear()
    gitsrc._BLOB_BYTES = 0
    assert _findings(repo, spec) == normal
    assert len(gitsrc._BLOBS) <= 1


def test_parallel_run_of_a_range_with_nothing_to_review(tmp_path, monkeypatch):
    setup, _ = case_patches(LATER)
    repo, base, ids = build(FIXTURES / "tree", setup, tmp_path / "repo")
    top = start = ids[-1] if ids else base
    for k in range(3):
        top = commit_change(repo, top, f"docs {k}\n", "HEAD", files={"docs/notes.txt": b"v%d\n" % k})
    monkeypatch.setattr(engine, "CHUNK", 1)
    assert _findings(tmp_path / "repo", f"{start}..{top}", jobs=2) == []


def test_a_warm_run_answers_every_grep_from_the_cache(tmp_path):
    repo, spec = _case_repo(CASES[0], tmp_path)
    first = _findings(repo, spec)
    assert index._GREP, "the cold run greps the tree"
    assert _findings(repo, spec) == first
    assert index._GREP == {}  # filled only by a grep that read the tree's files


@pytest.mark.parametrize("case", sorted(p for p in (FIXTURES / "examples").glob("*/invalid/*") if p.is_dir())[1::4],
                         ids=lambda p: f"{p.parts[-3]}/{p.name}")
def test_a_review_leaves_no_cyclic_garbage(case, tmp_path):
    """engine._Collector freezes what a review keeps out of the collector's scans: a reference
    cycle (a review and the diff it caches) would keep its tree indexes alive in the frozen set."""
    import gc

    repo, spec = _case_repo(case, tmp_path)
    series = review_range(str(repo), spec)
    _forget_memory()
    gc.collect()
    gc.disable()
    try:
        report = engine.review(series)
        assert report.findings
        del report
        assert gc.collect() == 0
    finally:
        gc.enable()


def _carried(old: bytes, new: bytes, path: str = "hw/misc/foo.c"):
    """prefilter._carry of old -> new after parsing old as the prefilter does: (facts or None,
    the facts a parse of new gives)."""
    prefilter._SHAPES.clear()
    m, shape = cparse.parse_facts(path, old)
    prefilter._remember_shape("o:" + path, shape, (prefilter.digest(m), prefilter.entries(m)))
    got = prefilter._carry("o:" + path, "n:" + path, lambda: old, new)
    m2, shape2 = cparse.parse_facts(path, new)
    if got is not None:
        assert prefilter._SHAPES["n:" + path][0] == shape2, "the carried Shape is the parsed one"
    return got, (prefilter.digest(m2), prefilter.entries(m2))


def test_a_change_inside_an_inert_function_is_carried_without_a_parse():
    new = WRITERS.replace(b"    return x * 2;", b"    int y = x + 1;\n    if (y) {\n        y--;\n    }\n    return y * 2;")
    got, real = _carried(WRITERS, new)
    assert got == real
    # a function added between two inert ones, and one deleted
    new = WRITERS + b"\nstatic int foo_other(int a)\n{\n    return a;\n}\n"
    assert _carried(WRITERS, new)[0] is not None
    assert _carried(new, WRITERS)[0] is not None
    # an #include (qlint reads no fact from one), but not another directive
    old = b'#include "qemu/osdep.h"\n' + WRITERS
    assert _carried(old, old.replace(b"osdep.h\"\n", b"osdep.h\"\n#include \"hw/pci/pci.h\"\n"))[0] is not None
    # a #define qlint reads no fact from, but not a mask, a DEFINE_PROP list, or another directive
    got, real = _carried(old, old.replace(b"osdep.h\"\n", b"osdep.h\"\n#define FOO_BIT 3\n"))
    assert got is not None and got == real
    for directive in (b"#define FOO_MASK (1 << FOO_BIT)", b"#define FOO_PROPS(f) DEFINE_PROP_BOOL(\"x\", S, f, true)",
                      b"#undef FOO", b"#ifdef FOO\n#endif"):
        got, real = _carried(old, old.replace(b"osdep.h\"\n", b"osdep.h\"\n" + directive + b"\n"))
        assert got is None, directive
    # the continuation of a #define deleted: the #define goes on into the next one
    macros = b"#define FOO_A(x) \\\n    foo_a(x)\n#define FOO_B(x) \\\n    foo_b(x)\n\nstatic int foo_c;\n"
    for gone in (b"    foo_a(x)\n", b"    foo_b(x)\n"):
        got, real = _carried(macros + WRITERS, macros.replace(gone, b"") + WRITERS)
        assert got is None or got == real
    # lines inserted before the first row (the new Shape holds them: _carried compares)
    assert _carried(b'#include "t.h"\n', b'/*\n * SPDX-License-Identifier: GPL-2.0-or-later\n */\n#include "t.h"\n',
                    "hw/misc/trace.h")[0] is not None


@pytest.mark.parametrize("old, new", [
    # inside a function that writes, or next to one
    (b"    pci_set_word(pdev->wmask + PCI_COMMAND, 0);", b"    if (x) {\n        pci_set_word(pdev->wmask + PCI_COMMAND, 0);\n    }"),
    # an inert function that starts to write, or to call a writer
    (b"    return x * 2;", b"    pci_set_byte(d->config + 4, 1);\n    return x * 2;"),
    (b"    return x * 2;", b"    foo_helper(NULL);\n    return x * 2;"),
    # a directive, an unclosed comment or string, brackets that now close the function early
    (b"    return x * 2;", b"#ifdef CONFIG_FOO\n    return x * 2;\n#endif"),
    (b"    return x * 2;", b"    /* start\n    return x * 2;"),
    (b"    return x * 2;", b"    return x * 2; }\n    {"),
    # valid brackets, but the function no longer parses: its region is parsed again and refused
    (b"    return x * 2;", b"  out:"),
    # a new syntax error in a function that writes: in the whole file, the functions after it are lost
    (b"    pci_set_word(pdev->wmask + PCI_COMMAND, 0);", b"    pci_set_word(pdev->wmask + PCI_COMMAND, 0);\n    static"),
])
def test_a_change_that_may_change_facts_is_parsed(old, new):
    assert old in WRITERS
    got, _ = _carried(WRITERS, WRITERS.replace(old, new))
    assert got is None


def test_a_change_inside_a_function_that_writes_is_compared_on_its_own():
    """A change that touches a function that writes parses that function alone, before and after:
    same facts and same calls to the file's writers, the file's facts are carried."""
    for old, new in [
        (b"    foo_helper(pdev);", b"    trace_realize(pdev);\n    foo_helper(pdev);"),
        (b"    foo_store(opaque);", b"    FooState *s = opaque;\n\n    foo_store(s);"),
    ]:
        assert old in WRITERS
        got, real = _carried(WRITERS, WRITERS.replace(old, new))
        assert got is not None and got == real, new
    # a syntax error that was there before (a macro tree-sitter does not know) may stay
    loop = b"    msix_init_exclusive_bar(pdev, 2, 1, errp);\n    QLIST_FOREACH(c, &pdev->caps, next) {\n        c->n++;\n    }"
    old = WRITERS.replace(b"    msix_init_exclusive_bar(pdev, 2, 1, errp);", loop)
    got, real = _carried(old, old.replace(b"        c->n++;", b"        c->n += 2;"))
    assert got is not None and got == real
    # next to a directive: the #endif row above is not part of the region
    old = WRITERS.replace(b"static void foo_realize", b"#ifdef CONFIG_FOO\nint foo_x;\n#endif\nstatic void foo_realize")
    got, real = _carried(old, old.replace(b"    foo_helper(pdev);", b"    trace_realize(pdev);\n    foo_helper(pdev);"))
    assert got is not None and got == real


def test_a_function_inserted_next_to_a_directive():
    """The blank rows between a conditional's directive and its first item are no directive's:
    the carried Shape is a parse's when a function goes in after them."""
    old = WRITERS.replace(b"static void foo_tick", b"#ifndef CONFIG_USER_ONLY\nstatic void foo_tick").replace(
        b"static void foo_get_features", b"#endif\nstatic void foo_get_features")
    new = old.replace(b"#ifndef CONFIG_USER_ONLY\n", b"#ifndef CONFIG_USER_ONLY\n\nstatic int foo_n(void)\n{\n    return 2;\n}\n\n")
    got, real = _carried(old, new)
    assert got is not None and got == real
    # an #include dropped after #if: the row after the directive is now blank
    old = b'#if defined(CONFIG_TCG)\n#include "accel/getpc.h"\n\n/* c */\nint foo_x;\n#endif\n'
    got, real = _carried(old, old.replace(b'#include "accel/getpc.h"\n', b""), "include/exec/foo.h")
    assert got is not None and got == real


FOO_BUS_H = b"""#ifndef HW_FOO_BUS_H
#define HW_FOO_BUS_H

#include "hw/qdev-core.h"

struct FooBusClass {
    BusClass parent_class;
};

#define TYPE_FOO_BUS "foo-bus"
OBJECT_DECLARE_TYPE(FooBus, FooBusClass,
                    FOO_BUS)

void foo_bus_init(void);

void foo_device_set_state(FooDevice *dev,
                          enum foo_state state);

#endif
"""


def test_a_change_after_a_macro_call_with_no_semicolon():
    """The declaration after a macro call with no ';' is its own item while it starts with a
    keyword, and joins the call once it starts with a type name; parsed on their own, the two
    stay apart.  The change is not carried: the Shape would be wrong."""
    new = FOO_BUS_H.replace(b"void foo_bus_init", b"BusState *foo_bus_init")
    got, real = _carried(FOO_BUS_H, new, "include/hw/foo/foo-bus.h")
    assert got is None or got == real  # _carried also requires the parse's Shape


def test_a_region_over_a_third_of_the_file_is_parsed_whole():
    """Parsing a region twice (to compare) costs more than parsing the file once when it holds
    much of the file: a change in a function of 244 of the file's 545 rows is parsed whole;
    the same change in a file where that function is small is carried."""
    def file(n: int) -> bytes:
        body = b"".join(b"    s->r[%d] = %d;\n" % (i, i) for i in range(n))
        rest = b"".join(b"static int foo_f%d(int x)\n{\n    return x + %d;\n}\n\n" % (i, i) for i in range(60))
        return b"static void foo_realize(PCIDevice *pdev, Error **errp)\n{\n    pci_set_word(pdev->wmask + 4, 0);\n" + body + b"}\n\n" + rest
    for n, carried in ((240, False), (20, True)):
        old = file(n)
        got, real = _carried(old, old.replace(b"    s->r[3] = 3;", b"    s->r[3] = 4;"))
        assert (got is not None) == carried and (got is None or got == real), n


def test_a_second_definition_of_a_function_is_parsed():
    """Under #ifdef, a file may define a function twice; the model keeps the last definition.
    A stub of foo_realize added after the real one loses its call to foo_helper, which stops
    being init code, though the stub itself is inert."""
    old = WRITERS.replace(b"static void foo_write_config", b"#else\nint foo_y;\n#endif\nstatic void foo_write_config")
    old = old.replace(b"static void foo_realize", b"#ifdef CONFIG_FOO\nstatic void foo_realize")
    new = old.replace(b"int foo_y;\n", b"int foo_y;\nstatic void foo_realize(PCIDevice *pdev, Error **errp)\n{\n}\n")
    got, real = _carried(old, new)
    assert real != _carried(old, old)[1]
    assert got is None


def test_a_new_caller_of_a_writer_is_parsed():
    """foo_helper is init code while only foo_realize calls it: a runtime function that now calls
    it changes the file's facts, though no write in the changed function does."""
    old_facts = _carried(WRITERS, WRITERS)[1]
    got, real = _carried(WRITERS, WRITERS.replace(b"    foo_store(opaque);", b"    foo_store(opaque);\n    foo_helper(opaque);"))
    assert real != old_facts
    assert got is None


SHARED_ROW = b"""static int foo_unrelated(int x)
{
    int y = x;

    return y * 2;
} static Property foo_props[] = {
    DEFINE_PROP_BOOL("x-y", FooState, y, true),
};
"""
UNTERMINATED_IF = b"""#if defined(CONFIG_FOO)
static int foo_zero(void)
{
    return 0;
}

static int foo_one(int a)
{
    int b = a;

    b++;
    return b;
}
"""


def test_items_that_share_a_row_or_an_unterminated_conditional():
    """An item that starts on the last row of an inert one is in the region the change is parsed
    again in: it must be inert too (here it holds properties).  A conditional with no #endif ends
    on its last item's row: that row is the item's, not a directive's."""
    got, real = _carried(SHARED_ROW, SHARED_ROW.replace(b"int y = x;", b"int y = x + 1;"))
    assert got == real
    assert _carried(SHARED_ROW, SHARED_ROW.replace(b"} static Property", b"}\nstatic Property").replace(
        b"y, true", b"y, false"))[0] is None
    got, real = _carried(UNTERMINATED_IF, UNTERMINATED_IF.replace(b"int b = a;", b"int b = a + 1;"))
    assert got == real


def test_carried_facts_and_shapes_are_those_of_a_parse():
    """Every line of every fixture file and of WRITERS, deleted, doubled, or with a statement or
    a blank line inserted after it: whatever _carry accepts, a parse of the result agrees with
    (the Shape is checked in _carried)."""
    files = [(str(p.relative_to(FIXTURES)), p.read_bytes()) for p in sorted(FIXTURES.rglob("*.c"))][:12]
    carried = refused = 0
    for path, data in files + [("hw/misc/foo.c", WRITERS)]:
        lines = data.split(b"\n")
        for i in range(0, len(lines), 3):
            for edit in ([], [lines[i], lines[i]], [lines[i], b"    x++;"], [lines[i], b""]):
                new = b"\n".join(lines[:i] + edit + lines[i + 1:])
                got, real = _carried(data, new, path)
                if got is None:
                    refused += 1
                else:
                    carried += 1
                    assert got == real, (path, i, edit)
    assert carried > 100 and refused > 100
