"""Fuzzing the C model: QEMU-style C with hostile shapes mixed in, extracted and reviewed.

A case is a small C file built from the pieces qlint reads (PCI init functions with
``pci_set_*`` writes under guards, VMStateDescriptions, ``DEFINE_PROP_*`` arrays, compat
arrays and HW_COMPAT macros, TypeInfos, VMSTATE_* and property macros) with hostile shapes
among them: deep blocks and conditions, long ``&&`` and ``+`` chains, bytes that are not
UTF-8, braces and parentheses left open, comments and strings never closed, byte flips.
Each is parsed (full, facts-only, with its Shape) and reviewed as a patch of the fixture
tree; the property is that nothing raises but qlint's own one-line LimitError.
"""

from __future__ import annotations

from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qlint.analyzer.cmodel import cparse
from qlint.analyzer import engine
from qlint.analyzer.change import EmptySnapshot, FileChange, OverlaySnapshot, Patch, Series
from qlint.analyzer.limits import LimitError

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TREE = {str(p.relative_to(FIXTURES / "tree")): p.read_bytes() for p in (FIXTURES / "tree").rglob("*") if p.is_file()}
BASE = OverlaySnapshot(EmptySnapshot(), TREE, "base")
PATH = "hw/pci/pcie_aer.c"

_IDENT = st.sampled_from([b"s", b"dev", b"d", b"pdev", b"offset", b"x", b"acme_\xff", b"caf\xe9", b"TYPE_ACME"])
_REG = st.sampled_from([b"PCI_ERR_UNCOR_MASK", b"PCI_COMMAND", b"0x40", b"offset + 4", b"pos", b"PCI_ERR_CAP"])
_TARGET = st.sampled_from([b"config", b"wmask", b"w1cmask", b"cmask"])
_PROP = st.sampled_from([b'"x-acme"', b'"rx-queues"', b'"x-pcie-err-unc-mask"', b"ACME_PROP", b'"\xff\xfe"'])


@st.composite
def _condition(draw) -> bytes:
    kind = draw(st.sampled_from(["field", "bit", "chain", "not", "cmp", "call", "paren"]))
    if kind == "field":
        return b"s->" + draw(_IDENT)
    if kind == "bit":
        return b"(s->flags & BIT(ACME_%d_BITNR))" % draw(st.integers(0, 9))
    if kind == "chain":
        op = draw(st.sampled_from([b" && ", b" || "]))
        return op.join(b"s->f%d" % i for i in range(draw(st.sampled_from([2, 5, 17, 300]))))
    if kind == "not":
        n = draw(st.sampled_from([1, 3, 40, 300]))
        return b"!(" * n + b"x" + b")" * n
    if kind == "cmp":
        return b"s->level " + draw(st.sampled_from([b"<", b">=", b"==", b"!="])) + b" 3"
    if kind == "call":
        return b"acme_needed(s)"
    n = draw(st.sampled_from([1, 50, 300]))
    return b"(" * n + b"s->on" + b")" * n


@st.composite
def _write(draw) -> bytes:
    how = draw(st.sampled_from(["set", "index", "config_set", "memset", "cap", "sum"]))
    t, reg = draw(_TARGET), draw(_REG)
    if how == "set":
        return b"pci_set_%s(dev->%s + %s, %d);" % (draw(st.sampled_from([b"byte", b"word", b"long"])), t, reg,
                                                 draw(st.integers(0, 9)))
    if how == "index":
        return b"dev->%s[%s] = 0x%x;" % (t, reg, draw(st.integers(0, 255)))
    if how == "config_set":
        return b"pci_config_set_vendor_id(dev->config, 0x1234);"
    if how == "memset":
        return b"memset(dev->%s + %s, 0, 4);" % (t, reg)
    if how == "cap":
        return b"pcie_add_capability(dev, PCI_EXT_CAP_ID_ERR, 1, offset, 0x48);"
    n = draw(st.sampled_from([2, 10, 400]))
    return b"pci_set_long(dev->config + " + b" + ".join(b"R%d" % i for i in range(n)) + b", 1);"


@st.composite
def _statements(draw, depth: int = 0) -> bytes:
    out = []
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["write", "if", "exit", "nest", "loop", "decl", "stmt-expr"]))
        if kind == "write":
            out.append(draw(_write()))
        elif kind == "if" and depth < 3:
            body = draw(_statements(depth + 1))
            alt = b" else { " + draw(_statements(depth + 1)) + b" }" if draw(st.booleans()) else b""
            out.append(b"if (" + draw(_condition()) + b") { " + body + b" }" + alt)
        elif kind == "exit":
            out.append(b"if (" + draw(_condition()) + b") { error_setg(errp, \"no\"); return -EINVAL; }")
        elif kind == "nest":
            n = draw(st.sampled_from([1, 30, 490]))
            out.append(b"{" * n + draw(_write()) + b"}" * n)
        elif kind == "loop":
            out.append(b"for (i = 0; i < 4; i++) { " + draw(_write()) + b" }")
        elif kind == "decl":
            out.append(b"uint8_t *" + draw(_IDENT) + b" = dev->config + pos;")
        else:
            out.append(b"x = ({ " + draw(_write()) + b" 1; });")
    return b"\n    ".join(out)


@st.composite
def _item(draw) -> bytes:
    kind = draw(st.sampled_from(["init", "init", "vmstate", "props", "compat", "compat-macro", "typeinfo", "vmmacro",
                                 "propmacro", "define", "hostile"]))
    name = draw(st.sampled_from([b"acme_realize", b"acme_init", b"acme_class_init", b"acme_write_config",
                                 b"pcie_aer_init"]))
    if kind == "init":
        return (b"static void " + name + b"(PCIDevice *dev, Error **errp)\n{\n    AcmeState *s = ACME(dev);\n    "
                + draw(_statements()) + b"\n}\n")
    if kind == "vmstate":
        fields = b"".join(b"        VMSTATE_UINT32(r%d, AcmeState),\n" % i for i in range(draw(st.integers(0, 4))))
        return (b"static const VMStateDescription vmstate_acme = {\n    .name = \"acme\",\n    .version_id = %d,\n"
                b"    .minimum_version_id = 1,\n    .needed = acme_needed,\n    .fields = (const VMStateField[]) {\n"
                % draw(st.integers(1, 3)) + fields + b"        VMSTATE_END_OF_LIST()\n    },\n};\n")
    if kind == "props":
        rows = [b"    DEFINE_PROP_BOOL(%s, AcmeState, on, true)," % draw(_PROP),
                b"    DEFINE_PROP_BIT(\"x-bit\", AcmeState, flags, ACME_1_BITNR, false),",
                b"    DEFINE_PROP_UINT32(\"queues\", AcmeState, queues, 4),"]
        return b"static Property acme_props[] = {\n" + b"\n".join(draw(st.lists(st.sampled_from(rows), max_size=4))) + b"\n};\n"
    if kind == "compat":
        n = draw(st.sampled_from([0, 1, 3, 200]))
        entries = b"".join(b"    { \"acme-nic\", %s, \"%d\" },\n" % (draw(_PROP), i) for i in range(n))
        return b"GlobalProperty hw_compat_7_2[] = {\n" + entries + b"};\nconst size_t hw_compat_7_2_len = 1;\n"
    if kind == "compat-macro":
        value = draw(st.sampled_from([b'"on"', b"off", b" ", b"x" * 40, b"\\"]))
        return (b"#define HW_COMPAT_2_1 \\\n    {\\\n        .driver   = \"acme\" " + draw(_IDENT) + b",\\\n"
                b"        .property = \"x\",\\\n        .value    = " + value + b",\\\n    },\n")
    if kind == "typeinfo":
        return (b"static const TypeInfo acme_info = {\n    .name = TYPE_ACME,\n    .parent = TYPE_PCI_DEVICE,\n"
                b"    .class_init = acme_class_init,\n};\n")
    if kind == "vmmacro":
        return b"#define VMSTATE_ACME(_f" + draw(st.sampled_from([b"", b"\xff", b"\xe9\xe9"])) + b", _s) \\\n    VMSTATE_UINT32(_f, _s)\n"
    if kind == "propmacro":
        return b"#define ACME_PROPS(_n\xff) \\\n    DEFINE_PROP_BOOL(_n\xff, AcmeState, on, true)\n"
    if kind == "define":
        return b"#define ACME_%d_BITNR %d\n#define ACME_%d_MASK (1 << ACME_%d_BITNR)\n" % ((draw(st.integers(0, 9)),) * 4)
    return draw(st.sampled_from([
        b"/* " * 300 + b"\n", b"/* never closed\n", b'"\\"\\"\\"\\"\n', b"{ { { {\n", b"} } }\n", b"((((\n",
        b"#if 0\n", b"#endif\n", b"#define A(x\n", b"\xff\xfe\x00\n", b"'\n", b"#include <" * 20 + b"\n",
        b"DEFINE_Q35_MACHINE(v7_0, \"pc-q35-7.0\", NULL, " + b"F(" * 80 + b"x" + b")" * 80 + b");\n"]))


@st.composite
def _file(draw) -> bytes:
    data = b"#include \"qemu/osdep.h\"\n" + b"".join(draw(st.lists(_item(), min_size=1, max_size=5)))
    if data and draw(st.integers(0, 9)) == 0:
        k = draw(st.integers(0, len(data) - 1))
        data = data[:k] + bytes([draw(st.integers(0, 255))]) + data[k + 1:]
    return data


def _review(data: bytes) -> None:
    old = TREE[PATH]
    new = OverlaySnapshot(BASE, {PATH: data}, "fuzz")
    lines = data.count(b"\n") + 1
    change = FileChange(PATH, PATH, "M", old, data, added=set(range(1, lines + 1)),
                        removed=set(range(1, old.count(b"\n") + 1)))
    patch = Patch(ident="fuzz", short="[PATCH]", subject="fuzz", files=[change], old=BASE, new=new)
    engine.review(Series(patches=[patch], base=BASE, tip=new, description="fuzz"))


@settings(max_examples=int(__import__("os").environ.get("FUZZ_N", "5000")), deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                                   HealthCheck.large_base_example])
@given(_file())
def test_hostile_c_is_extracted_and_reviewed_or_one_line_error(data):
    try:
        full = cparse.parse(PATH, data)
        facts = cparse.parse(PATH, data, facts_only=True)
        model, _shape = cparse.parse_facts(PATH, data)
        assert facts.compat_arrays == model.compat_arrays == full.compat_arrays
        _review(data)
    except LimitError as exc:
        msg = str(exc)
        assert "\n" not in msg and "(limits." in msg, msg
        event(msg.split("(limits.")[1].split(";")[0])
        return
    event("reviewed")
