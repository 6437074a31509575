"""What code runs, and what a release shipped (analyzer/shipped.py), on C snippets."""

from __future__ import annotations

import pytest

from qlint.analyzer.tree import shipped
from qlint.analyzer.change import EmptySnapshot, OverlaySnapshot
from qlint.analyzer.tree.index import TreeIndex
from qlint.analyzer.cmodel.model import ConfigWrite


def _index(files: dict[str, str]) -> TreeIndex:
    return TreeIndex(OverlaySnapshot(EmptySnapshot(), {p: t.encode() for p, t in files.items()}, "test"))


HELPER = """
void pcie_x_init(PCIDevice *dev, uint16_t offset)
{
    pci_set_long(dev->config + offset, 1);
}
"""


@pytest.mark.parametrize("other,expected", [
    ({}, False),
    ({"include/hw/pci/pcie.h": "void pcie_x_init(PCIDevice *dev, uint16_t offset);\n"}, False),
    ({"hw/net/nic.c": "static void nic_realize(PCIDevice *d)\n{\n    pcie_x_init(d, 0x100);\n}\n"}, True),
    ({"hw/net/nic.c": "static const Ops ops = { .init = pcie_x_init };\n"}, True),
    ({"hw/net/nic.c": "    k->realize = pcie_x_init;\n"}, True),
])
def test_a_non_static_function_is_called_from_another_file(other, expected):
    idx = _index({"hw/pci/pcie.c": HELPER, **other})
    assert shipped.has_callers(idx, "hw/pci/pcie.c", "pcie_x_init") is expected


def test_a_static_function_is_called_in_its_file_only():
    code = "static void\nfoo_init(Dev *d)\n{\n}\n\nstatic void foo_realize(Dev *d)\n{\n    foo_init(d);\n}\n"
    idx = _index({"hw/x/foo.c": code, "hw/y/bar.c": "void bar(void) { foo_init(0); }\n"})
    assert shipped.has_callers(idx, "hw/x/foo.c", "foo_init")
    lone = "static void foo_init(Dev *d);\n\nstatic void foo_init(Dev *d)\n{\n}\n"
    # another file's foo_init is not this one
    idx = _index({"hw/x/foo.c": lone, "hw/y/bar.c": "void bar(void) { foo_init(0); }\n"})
    assert not shipped.has_callers(idx, "hw/x/foo.c", "foo_init")


def test_a_callback_named_by_a_type_macro_runs():
    code = ("OBJECT_DEFINE_TYPE(AcmeDev, acme_dev, ACME_DEV, DEVICE)\n\n"
            "static void acme_dev_class_init(ObjectClass *oc, const void *data)\n{\n}\n")
    idx = _index({"hw/x/acme.c": code})
    assert shipped.has_callers(idx, "hw/x/acme.c", "acme_dev_class_init")


def test_a_file_qlint_cannot_read_has_callers():
    assert shipped.has_callers(_index({}), "hw/x/gone.c", "foo")


def _vmsd(var: str, name: str, extra: str = "") -> str:
    return (f"static const VMStateDescription {var} = {{\n    .name = \"{name}\",\n{extra}"
            "    .fields = (const VMStateField[]) {\n        VMSTATE_UINT32(x, S),\n"
            "        VMSTATE_END_OF_LIST()\n    }\n};\n")


def test_vmstate_shipped():
    release = _index({
        "hw/a/dev.c": _vmsd("vmstate_dev", "dev"),
        "hw/b/moved.c": _vmsd("vmstate_moved", "moved"),
        "hw/c/quiet.c": _vmsd("vmstate_quiet", "quiet", "    .unmigratable = 1,\n"),
    })
    assert shipped.vmstate_shipped(release, "hw/a/dev.c", "vmstate_dev", "dev")
    # renamed C variable, same section name
    assert shipped.vmstate_shipped(release, "hw/a/dev.c", "vmstate_dev_v2", "dev")
    # the file moved since the release
    assert shipped.vmstate_shipped(release, "hw/new/moved.c", "vmstate_moved", "moved")
    # an unmigratable device sent nothing
    assert not shipped.vmstate_shipped(release, "hw/c/quiet.c", "vmstate_quiet", "quiet")
    # new since the release
    assert not shipped.vmstate_shipped(release, "hw/a/dev.c", "vmstate_dev_stats", "dev/stats")


@pytest.mark.parametrize("old,new,same", [
    ("0x02", "2", True),
    ("0x01", "1U", True),
    ("010", "8", True),
    ("0x5B", "91", True),
    ("0x02", "3", False),
    ("PCI_X|0x10", "PCI_X|16", True),
    ("0x1.0p3", "8", False),
])
def test_config_write_values_compare_as_numbers(old, new, same):
    def w(value):
        return ConfigWrite("config", "PCI_CLASS_PROG", value, "[]=", "realize", 1, 1, "")
    assert (w(old).key == w(new).key) is same
