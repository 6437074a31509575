"""The C model, on small QEMU-style snippets."""

from __future__ import annotations

from qlint.analyzer.cmodel import cparse


def parse(src: str):
    return cparse.parse("x.c", src.encode())


def test_pci_set_on_config_with_guard_chain():
    m = parse(
        """
int foo_init(PCIDevice *dev, uint16_t offset)
{
    if (dev->cap_present & QEMU_PCIE_FOO) {
        pci_set_long(dev->wmask + offset + PCI_FOO_REG,
                     PCI_FOO_SUPPORTED);
    }
    pci_set_word(dev->config + PCI_BAR_REG, 0x1);
    return 0;
}
"""
    )
    w1, w2 = m.writes
    assert (w1.target, w1.offset, w1.value, w1.function) == ("wmask", "PCI_FOO_REG+offset", "PCI_FOO_SUPPORTED", "foo_init")
    assert [g.cond for g in w1.guards] == [("bit", "cap_present", "QEMU_PCIE_FOO", "PCIDevice")]
    assert w1.guards[0].taken is True
    assert (w2.target, w2.offset, w2.guards) == ("config", "PCI_BAR_REG", ())


def test_derived_pointer_and_subscript_and_else_branch():
    m = parse(
        """
static void bar_realize(PCIDevice *pci_dev, Error **errp)
{
    BarState *s = BAR(pci_dev);
    uint8_t *exp_cap = pci_dev->config + s->pos;
    uint8_t *conf = pci_dev->config;

    if (s->legacy) {
        conf[PCI_INTERRUPT_PIN] = 1;
    } else {
        pci_set_word(exp_cap + PCI_EXP_LNKSTA, PCI_EXP_LNK_X);
    }
}
"""
    )
    pin, lnk = m.writes
    assert (pin.target, pin.offset, pin.value) == ("config", "PCI_INTERRUPT_PIN", "1")
    assert pin.guards[0].cond == ("field", "legacy", "BarState") and pin.guards[0].taken
    assert (lnk.target, lnk.offset) == ("config", "PCI_EXP_LNKSTA+s->pos")
    assert lnk.guards[0].taken is False


def test_early_return_guards_the_rest_of_the_block():
    m = parse(
        """
static void baz_realize(PCIDevice *dev, Error **errp)
{
    if (!(dev->cap_present & QEMU_PCI_BAZ)) {
        return;
    }
    pci_set_byte(dev->config + PCI_BAZ, 3);
}
"""
    )
    (w,) = m.writes
    assert w.guards[0].cond == ("not", ("bit", "cap_present", "QEMU_PCI_BAZ", "PCIDevice"))
    assert w.guards[0].taken is False


def test_non_pci_config_field_is_not_a_config_write():
    m = parse(
        """
static void gpu_realize(DeviceState *qdev, Error **errp)
{
    VirtIOGPU *g = VIRTIO_GPU(qdev);
    g->config[3] = 1;
    memset(g->config, 0, 8);
}
"""
    )
    assert m.writes == []


def test_properties_masks_types_compat_and_typeinfo():
    m = parse(
        """
#define TYPE_FOO_DEV "foo-dev"
#define QEMU_FOO_BITNR 7
enum {
    QEMU_FOO = (1 << QEMU_FOO_BITNR),
};
static Property foo_props[] = {
    DEFINE_PROP_BIT("x-foo", FooState, flags, QEMU_FOO_BITNR, true),
    DEFINE_PROP_BOOL("x-bar", FooState, bar, false),
    DEFINE_PROP_END_OF_LIST(),
};
GlobalProperty hw_compat_7_2[] = {
    { TYPE_FOO_DEV, "x-foo", "off" },
    { "other-dev", "x-bar", "on" },
};
static void foo_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    device_class_set_props(dc, foo_props);
}
static const TypeInfo foo_info = {
    .name = TYPE_FOO_DEV,
    .parent = TYPE_PCI_DEVICE,
    .instance_size = sizeof(FooState),
    .class_init = foo_class_init,
};
"""
    )
    assert m.type_macros == {"TYPE_FOO_DEV": "foo-dev"}
    assert m.masks["QEMU_FOO"] == "QEMU_FOO_BITNR" and m.numbers["QEMU_FOO_BITNR"] == 7
    foo, bar = m.props
    assert (foo.name, foo.field, foo.bit, foo.default) == ("x-foo", "flags", "QEMU_FOO_BITNR", "true")
    assert (bar.name, bar.macro, bar.bit, bar.default) == ("x-bar", "DEFINE_PROP_BOOL", None, "false")
    (arr,) = m.compat_arrays
    assert (arr.family, arr.version) == ("hw", (7, 2))
    assert [(e.driver, e.driver_is_macro, e.property, e.value) for e in arr.entries] == [
        ("TYPE_FOO_DEV", True, "x-foo", "off"),
        ("other-dev", False, "x-bar", "on"),
    ]
    (ti,) = m.typeinfos
    assert (ti.name, ti.parent, ti.class_init, ti.instance_struct) == ("TYPE_FOO_DEV", "TYPE_PCI_DEVICE", "foo_class_init", "FooState")
    assert m.functions["foo_class_init"].prop_arrays == {"foo_props"}


def test_macro_era_compat_table():
    m = parse(
        """
#define HW_COMPAT_2_4 \\
        {\\
            .driver   = "virtio-foo",\\
            .property = "x-thing",\\
            .value    = "off",\\
        },{\\
            .driver   = TYPE_BAR,\\
            .property = "x-other",\\
            .value    = stringify(0),\\
        },
"""
    )
    (arr,) = m.compat_arrays
    assert (arr.name, arr.family, arr.version, arr.style) == ("HW_COMPAT_2_4", "hw", (2, 4), "macro")
    assert [(e.driver, e.driver_is_macro, e.property) for e in arr.entries] == [
        ("virtio-foo", False, "x-thing"),
        ("TYPE_BAR", True, "x-other"),
    ]


def test_error_nodes_do_not_stop_extraction():
    m = parse(
        """
OBJECT_DECLARE_SIMPLE_TYPE(FooState, FOO)
static void foo_realize(PCIDevice *dev, Error **errp)
{
    QEMU_WEIRD_MACRO(dev) {
    pci_set_byte(dev->config + PCI_X, 1);
}
"""
    )
    assert any(w.offset == "PCI_X" for w in m.writes)


def test_property_macros_expand_into_their_arrays():
    m = parse(
        """
#define ACME_BASE_PROPERTIES(_state, _conf) \\
    DEFINE_PROP_UINT32("max-outputs", _state, _conf.max_outputs, 1), \\
    DEFINE_PROP_BIT("edid", _state, _conf.flags, ACME_FLAG_EDID, true)

static Property acme_props[] = {
    ACME_BASE_PROPERTIES(AcmeState, conf),
    DEFINE_PROP_END_OF_LIST(),
};
"""
    )
    params, calls, _line = m.prop_macros["ACME_BASE_PROPERTIES"]
    assert params == ("_state", "_conf") and [c[0] for c in calls] == ["DEFINE_PROP_UINT32", "DEFINE_PROP_BIT"]
    assert m.prop_array_macros["acme_props"] == [("ACME_BASE_PROPERTIES", ("AcmeState", "conf"))]
    props = cparse.macro_props("ACME_BASE_PROPERTIES", params, calls, ("AcmeState", "conf"), "acme_props", "x.c", 1)
    edid = next(p for p in props if p.name == "edid")
    assert (edid.struct, edid.field, edid.bit, edid.default) == ("AcmeState", "conf.flags", "ACME_FLAG_EDID", "true")


def test_struct_members_and_field_stores():
    m = parse(
        """
typedef struct AcmeProxy AcmeProxy;
struct AcmeProxy {
    PCIDevice parent_obj;
    uint32_t flags;
    union {
        struct { int a; };
        int b;
    };
#ifdef CONFIG_ACME
    uint32_t nvectors;
#endif
    void (*notify)(AcmeProxy *p);
    uint8_t regs[4];
};
typedef struct { int x, *y; } AcmeAnon;

static void acme_realize(AcmeProxy *p)
{
    if (p->nvectors == ACME_NVECTORS_UNSPECIFIED) {
        p->nvectors = 2;
    }
    p->flags |= 1;
}
"""
    )
    assert m.struct_fields["AcmeProxy"] == {"parent_obj", "flags", "a", "b", "nvectors", "notify", "regs"}
    assert m.struct_fields["AcmeAnon"] == {"x", "y"}
    (f, value, guards, line), = m.functions["acme_realize"].fields_written  # |= is no plain store
    assert (f, value) == ("nvectors", "2")
    assert guards[0].cond[:4] == ("cmp", "==", "nvectors", "ACME_NVECTORS_UNSPECIFIED")


def test_vmstate_renames_are_paired_in_place_and_nowhere_else():
    """A stream carries no field names: a field renamed in its place is the same field, even
    next to a real change; one that moves is not paired."""
    from qlint.analyzer.cmodel.model import VMField
    from qlint.analyzer.diff.vmdiff import _renamed

    def f(macro: str, *args: str) -> VMField:
        return VMField(macro=macro, args=args, line=1, text="")

    old = [f("VMSTATE_BOOL", "on", "S"), f("VMSTATE_UINT32", "hash_types", "S"), f("VMSTATE_UINT16", "len", "S")]
    new = [f("VMSTATE_BOOL", "on", "S"), f("VMSTATE_UINT32", "runtime_hash_types", "S"),
           f("VMSTATE_UINT32_V", "supported", "S", "2"), f("VMSTATE_UINT16", "len", "S")]
    assert [x.field for x in _renamed(old, new)] == ["on", "runtime_hash_types", "len"]
    moved = [f("VMSTATE_BOOL", "on", "S"), f("VMSTATE_UINT16", "len", "S"), f("VMSTATE_UINT32", "irq", "S")]
    assert [x.field for x in _renamed(old, moved)] == ["on", "hash_types", "len"]
    wider = [f("VMSTATE_BOOL", "on", "S"), f("VMSTATE_UINT64", "hash_types64", "S"), f("VMSTATE_UINT16", "len", "S")]
    assert [x.field for x in _renamed(old, wider)] == ["on", "hash_types", "len"]


def test_a_struct_tag_type_argument_of_define_prop_is_one_argument():
    src = b"""
static Property props[] = {
    DEFINE_PROP_UINT32("tx-ping-pong", struct xlx_ethlite, c_tx_pingpong, 1),
    DEFINE_PROP_BIT("x-a", struct Foo, flags, 3, true),
    DEFINE_PROP_BOOL("blitter", union Bar, vga.enable_blitter, true),
    DEFINE_PROP_UINT32("plain", PlainState, field, 7),
};
"""
    m = cparse.parse("hw/x/x.c", src)
    got = [(p.name, p.struct, p.field, p.bit, p.default) for p in m.props]
    assert got == [
        ("tx-ping-pong", "xlx_ethlite", "c_tx_pingpong", None, "1"),
        ("x-a", "Foo", "flags", "3", "true"),
        ("blitter", "Bar", "vga.enable_blitter", None, "true"),
        ("plain", "PlainState", "field", None, "7"),
    ]
