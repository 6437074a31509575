"""The facts the model names for rules, on small QEMU-style snippets.

Rules read no file bytes and run no regex: what they need of the C text is a named fact of the
model (``model``), tested here.
"""

from __future__ import annotations

from qlint.analyzer import advice, cparse

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


def test_closest_name_for_did_you_mean():
    assert advice.closest("x-pcie-err-unc-msk", ["x-pcie-err-unc-mask", "x-pcie-lnksta-dllla"]) == "x-pcie-err-unc-mask"
    assert advice.closest("vectors", ["x-pcie-err-unc-mask"]) is None
