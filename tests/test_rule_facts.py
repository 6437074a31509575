"""The facts the typed diff names for rules, on small QEMU-style snippets.

Rules read no file bytes and run no regex: what they need of the C text is a named fact of the
model (``model``) or of the diff (``diff``), tested here.
"""

from __future__ import annotations

from qlint.analyzer.fix import wording
from qlint.analyzer.cmodel import cparse
from qlint.analyzer.diff.api import is_integer, norm_value, shown_value, spells_string, version_line

COMPAT = b"""
GlobalProperty hw_compat_7_2[] = {
    { TYPE_FOO_DEV, "x-foo", "off", .optional = true },
    { "other-dev", "x-bar", "on" },
    { "cpu", "x-level", stringify(4) },
    { "cpu", "x-opt", "off", .optional = false },
    { "cpu", "model-id", "QEMU Virtual CPU version " v },
};
#define PC_COMPAT_2_12 \\
        {\\
            .driver   = "virtio-foo",\\
            .property = "x-thing",\\
            .value    = "off",\\
        },
"""

VMSD = b"""
static const VMStateDescription vmstate_foo = {
    .name = "foo",
    .version_id = 3,
    .minimum_version_id = 2,
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(ctrl, FooState),
        VMSTATE_UINT32(regs[2], FooState),
        VMSTATE_UINT16(parent_obj.bar, FooState),
        VMSTATE_UINT8(dev->mode, FooState),
        VMSTATE_END_OF_LIST()
    },
};
"""


def _entries(src: bytes = COMPAT) -> dict[str, object]:
    m = cparse.parse("hw/core/machine.c", src)
    return {e.property: e for a in m.compat_arrays for e in a.entries}


def test_compat_entry_optional_is_read_from_its_initialiser():
    es = _entries()
    assert es["x-foo"].optional
    assert not es["x-bar"].optional
    assert not es["x-opt"].optional  # .optional = false


def test_compat_value_written_as_a_call():
    es = _entries()
    assert es["x-level"].value_is_call  # stringify(4)
    assert not es["x-bar"].value_is_call
    assert not es["x-thing"].value_is_call


def test_compat_entry_array_version_comes_from_the_array_name():
    es = _entries()
    assert es["x-foo"].array_version == (7, 2)
    assert es["x-thing"].array_version == (2, 12)  # a #define PC_COMPAT_2_12
    m = cparse.parse("hw/i386/pc.c", b'GlobalProperty pc_compat_list[] = {\n    { "cpu", "x-a", "on" },\n};\n')
    assert all(e.array_version is None for a in m.compat_arrays for e in a.entries)


def test_vmstate_plain_field():
    (d,) = cparse.parse("hw/misc/foo.c", VMSD).vmstates
    assert {f.field: f.plain_field for f in d.fields if f.field} == {
        "ctrl": True, "regs[2]": False, "parent_obj.bar": False, "dev->mode": False}


def test_integer_values_after_normalisation():
    assert is_integer(norm_value("0x10")) and is_integer(norm_value('"-1"')) and is_integer(norm_value("4u"))
    assert not is_integer(norm_value("on")) and not is_integer(norm_value("FOO_DEFAULT"))
    assert not is_integer("1.5")


def test_shown_value():
    assert (shown_value("true"), shown_value('"off"'), shown_value("0x4"), shown_value(None)) == ("on", "off", "4", "?")


def test_spells_string_finds_string_literals_only():
    assert spells_string(COMPAT, "x-bar")
    assert not spells_string(COMPAT, "other")  # inside "other-dev", not a literal of its own
    assert not spells_string(COMPAT, "TYPE_FOO_DEV")  # a macro, not a string
    assert not spells_string(None, "x-bar")


def test_version_line_is_the_added_line_setting_a_version():
    (d,) = cparse.parse("hw/misc/foo.c", VMSD).vmstates
    lines = VMSD.decode().splitlines()
    version = lines.index("    .version_id = 3,") + 1
    minimum = lines.index("    .minimum_version_id = 2,") + 1
    assert version_line(VMSD, {minimum}, d) == minimum
    assert version_line(VMSD, {version, minimum}, d) == version
    assert version_line(VMSD, {d.line + 1}, d) == d.line  # the patch changed .name only
    assert version_line(None, {version}, d) == d.line


def test_closest_name_for_did_you_mean():
    assert wording.closest("x-pcie-err-unc-msk", ["x-pcie-err-unc-mask", "x-pcie-lnksta-dllla"]) == "x-pcie-err-unc-mask"
    assert wording.closest("vectors", ["x-pcie-err-unc-mask"]) is None


# -- the review of real example series: the typed diff and the series services --------------


def _reviews(case: str, tmp_path) -> list:
    from pathlib import Path

    from qlint.analyzer.sources.fixture_repo import build, case_patches
    from qlint.analyzer.sources.gitsrc import review_range
    from qlint.analyzer.diff.review import Review
    from qlint.analyzer.diff.semdiff import IndexPool

    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    setup, patches = case_patches(fixtures / "examples" / case)
    _, _, ids = build(fixtures / "tree", setup + patches, tmp_path / "repo")
    start = ids[len(setup) - 1] if setup else f"{ids[0]}~1"
    series = review_range(str(tmp_path / "repo"), f"{start}..{ids[-1]}")
    pool = IndexPool()
    return [Review(p, series, pool) for p in series.patches]


def test_config_writes_old_and_new_sides(tmp_path):
    (r,) = _reviews("pci-config-unguarded/invalid/aer-mask-unguarded", tmp_path)
    (ch,) = r.config_writes.changes
    new = {(w.path, w.write): w for w in r.config_writes.new}
    old = {(w.path, w.write) for w in r.config_writes.old}
    for w in ch.new:
        assert new[(ch.path, w)].props == ()  # on the new side, unguarded
        assert (ch.path, w) not in old
    assert r.config_writes.guarded == []


def test_first_patch_with_entry_and_series_entries(tmp_path):
    first, second = _reviews("compat-entry-missing/valid/series-later-patch", tmp_path)
    (gc,) = first.config_writes.guarded
    v = first.current_version
    assert first.first_patch_with_entry([gc.prop], v) is second.patch
    assert second.first_patch_with_entry([gc.prop], v) is second.patch
    owners = ["pci-device"]
    assert first.series_adds_entry_for(owners) and second.series_adds_entry_for(owners)
    assert not first.series_adds_entry_for(["no-such-device"])
    assert second.compat.added and not first.compat.added


def test_no_patch_meets_the_obligation(tmp_path):
    reviews = _reviews("compat-entry-missing/invalid/series-never-met", tmp_path)
    (gc,) = reviews[0].config_writes.guarded
    assert reviews[0].first_patch_with_entry([gc.prop], reviews[0].current_version) is None
