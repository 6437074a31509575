"""The operators of bench/mutations.py, on QEMU-style text written here.

The benchmark's figures mean something only if each operator makes the change it is named
after, and every patch it writes applies: a no-op or broken patch would read as "silent" or
"bad input" instead of measuring qlint.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from qlint.analyzer.sources.fixture_repo import build, commit_change

BENCH = Path(__file__).resolve().parents[1] / "bench"


def _load():
    spec = importlib.util.spec_from_file_location("bench_mutations", BENCH / "mutations.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["bench_mutations"] = mod
    spec.loader.exec_module(mod)
    return mod


M = _load()

DEVICE = """\
#include "qemu/osdep.h"
#include "hw/pci/pci_device.h"

#define TYPE_WIDGET "widget"

typedef struct WidgetState {
    PCIDevice parent_obj;
    uint32_t ctrl;
    uint16_t status;
    uint8_t mode;
    bool extra;
    uint32_t flags;
    uint32_t depth;
} WidgetState;

static bool widget_extra_needed(void *opaque)
{
    WidgetState *s = opaque;

    return s->extra;
}

static const VMStateDescription vmstate_widget_extra = {
    .name = "widget/extra",
    .version_id = 1,
    .minimum_version_id = 1,
    .needed = widget_extra_needed,
    .fields = (const VMStateField[]) {
        VMSTATE_BOOL(extra, WidgetState),
        VMSTATE_END_OF_LIST()
    }
};

static const VMStateDescription vmstate_widget = {
    .name = "widget",
    .version_id = 2,
    .minimum_version_id = 1,
    .fields = (const VMStateField[]) {
        VMSTATE_PCI_DEVICE(parent_obj, WidgetState),
        VMSTATE_UINT32(ctrl, WidgetState),
        VMSTATE_UINT16(status, WidgetState),
        VMSTATE_UINT8_V(mode, WidgetState, 2),
        VMSTATE_END_OF_LIST()
    },
    .subsections = (const VMStateDescription * const []) {
        &vmstate_widget_extra,
        NULL
    }
};

static void widget_realize(PCIDevice *pdev, Error **errp)
{
    WidgetState *s = DO_UPCAST(WidgetState, parent_obj, pdev);
    uint8_t *conf = pdev->config;

    pci_set_word(pdev->config + PCI_COMMAND, PCI_COMMAND_MEMORY);
    pci_set_byte(pdev->wmask + PCI_INTERRUPT_LINE, 0xff);
    pci_config_set_interrupt_pin(conf, 1);
    conf[PCI_LATENCY_TIMER] = 0;
    s->ctrl = 0;
}

static const Property widget_properties[] = {
    DEFINE_PROP_UINT32("depth", WidgetState, depth, 16),
    DEFINE_PROP_BOOL("extra", WidgetState, extra, true),
    DEFINE_PROP_BIT("turbo", WidgetState, flags, 3, false),
};

static void widget_class_init(ObjectClass *klass, const void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);
    PCIDeviceClass *k = PCI_DEVICE_CLASS(klass);

    k->realize = widget_realize;
    k->revision = 0x01;
    k->class_id = PCI_CLASS_OTHERS;
    dc->vmsd = &vmstate_widget;
    device_class_set_props(dc, widget_properties);
}
"""

MACHINE = """\
#include "qemu/osdep.h"
#include "hw/boards.h"

GlobalProperty hw_compat_8_0[] = {
    { "gizmo", "x-fast", "off" },
};
const size_t hw_compat_8_0_len = G_N_ELEMENTS(hw_compat_8_0);

GlobalProperty hw_compat_7_2[] = {
    { "e1000e", "migrate-timadj", "off" },
};
const size_t hw_compat_7_2_len = G_N_ELEMENTS(hw_compat_7_2);
"""

OLD_COMPAT_H = """\
#ifndef HW_COMPAT_H
#define HW_COMPAT_H

#define HW_COMPAT_2_4 \\
        {\\
            .driver   = "virtio-blk-device",\\
            .property = "scsi",\\
            .value    = "true",\\
        },

#define HW_COMPAT_2_3 \\
        {\\
            .driver   = "virtio-blk-pci",\\
            .property = "any_layout",\\
            .value    = "off",\\
        },

#endif
"""

ALL_OPS = {**M.BREAK_OPS, **M.BENIGN_OPS}


def changed_lines(old: str, new: str) -> tuple[list[str], list[str]]:
    import difflib
    gone, added = [], []
    for ln in difflib.ndiff(old.splitlines(), new.splitlines()):
        if ln.startswith("- "):
            gone.append(ln[2:])
        elif ln.startswith("+ "):
            added.append(ln[2:])
    return gone, added


def sites(op: str) -> list[tuple[str, str]]:
    return [(label, thunk()) for label, thunk in ALL_OPS[op](DEVICE)]


def balanced(text: str) -> bool:
    return all(text.count(a) == text.count(b) for a, b in ("()", "{}", "[]"))


@pytest.fixture(scope="module")
def device_repo(tmp_path_factory):
    tree = tmp_path_factory.mktemp("tree")
    (tree / "hw/misc").mkdir(parents=True)
    (tree / "hw/misc/widget.c").write_text(DEVICE)
    (tree / "hw/core").mkdir(parents=True)
    (tree / "hw/core/machine.c").write_text(MACHINE)
    (tree / "include/hw").mkdir(parents=True)
    (tree / "include/hw/compat.h").write_text(OLD_COMPAT_H)
    dest = tmp_path_factory.mktemp("repo") / "r"
    repo, base, _ = build(tree, [], dest)
    return repo, dest, base


@pytest.mark.parametrize("op", sorted(ALL_OPS))
def test_every_operator_finds_a_site_and_changes_the_text(op):
    got = sites(op)
    assert got, f"{op} found no site in the QEMU-style device"
    for label, new in got:
        assert new != DEVICE, f"{op} at {label} is a no-op"
        assert balanced(new), f"{op} at {label} broke the brackets"


@pytest.mark.parametrize("op", sorted(ALL_OPS))
def test_every_operator_patch_applies(op, device_repo):
    repo, _dest, _base = device_repo
    for label, new in sites(op):
        diff = pygit2.Diff.parse_diff(M.file_diff("hw/misc/widget.c", DEVICE, new))
        assert repo.applies(diff, pygit2.enums.ApplyLocation.WORKDIR), f"{op} at {label} does not apply"
        assert diff.stats.insertions + diff.stats.deletions > 0


def test_swap_exchanges_two_adjacent_unconditional_fields():
    (label, new), = [s for s in sites("swap-fields") if "ctrl" in s[0] and "status" in s[0]]
    lines = DEVICE.splitlines()
    a = lines.index("        VMSTATE_UINT32(ctrl, WidgetState),")
    b = lines.index("        VMSTATE_UINT16(status, WidgetState),")
    assert b == a + 1
    out = new.splitlines()
    assert out[a] == lines[b] and out[b] == lines[a]
    assert out[:a] == lines[:a] and out[b + 1:] == lines[b + 1:]
    # the versioned field and VMSTATE_END_OF_LIST are never swapped
    assert all("mode" not in lb and "END_OF_LIST" not in lb for lb, _ in sites("swap-fields"))


def test_remove_add_and_retype_change_one_field():
    removed = dict(sites("remove-field"))
    gone, added = changed_lines(DEVICE, removed[next(k for k in removed if "status" in k)])
    assert gone == ["        VMSTATE_UINT16(status, WidgetState),"] and added == []
    (_label, new), = [s for s in sites("add-field") if s[0].startswith("vmstate_widget:")]
    gone, added = changed_lines(DEVICE, new)
    assert gone == [] and added == ["        VMSTATE_UINT32(ctrl, WidgetState),"]
    pos = new.index("VMSTATE_UINT8_V")
    assert new.index(added[0], pos) < new.index("VMSTATE_END_OF_LIST", pos)
    retyped = dict(sites("retype-field"))
    gone, added = changed_lines(DEVICE, retyped[next(k for k in retyped if "ctrl" in k)])
    assert gone == ["        VMSTATE_UINT32(ctrl, WidgetState),"]
    assert added == ["        VMSTATE_UINT16(ctrl, WidgetState),"]


def test_description_and_subsection_operators():
    (lab, new), = sites("rename-vmsd")
    assert '.name = "widget-m"' in new and '"widget/extra"' in new
    # a description only nested in another (VMSTATE_STRUCT) sends no name: no site
    assert M.BREAK_OPS["rename-vmsd"](DEVICE.replace("dc->vmsd = &vmstate_widget;", "")) == []
    (lab, new), = sites("rename-subsection")
    assert '.name = "widget/extra-m"' in new and '.name = "widget",' in new
    (lab, new), = sites("drop-subsection")
    assert "&vmstate_widget_extra" not in new and "vmstate_widget_extra = {" in new
    (lab, new), = sites("needed-true")
    body = new[new.index("widget_extra_needed(void *opaque)"):]
    assert body.split("{", 1)[1].lstrip().startswith("return true;")
    raised = [n for lb, n in sites("raise-minimum-version") if lb.startswith("vmstate_widget:")]
    tail = raised[0].split("vmstate_widget = {")[1]
    assert ".version_id = 3," in tail[:120] and ".minimum_version_id = 3," in tail[:120]


def test_pci_and_property_operators():
    (lab, new), = sites("add-config-write")
    _, added = changed_lines(DEVICE, new)
    assert added == ["    pci_set_word(pdev->config + PCI_SUBSYSTEM_ID, 0x5a5a);"]
    assert new.index(added[0]) < new.index("}", new.index("s->ctrl = 0;"))
    (lab, new), = sites("add-checked-config-write")
    _, added = changed_lines(DEVICE, new)
    assert added == ["    pci_set_byte(pdev->config + PCI_CLASS_PROG, 0x5a);"]
    changed = [n for _l, n in sites("change-config-write")]
    assert any("PCI_COMMAND, (PCI_COMMAND_MEMORY) ^ 1)" in n for n in changed)
    (lab, new), = sites("change-revision")
    assert "k->revision = 2;" in new
    (lab, new), = sites("change-class-id")
    assert "k->class_id = PCI_CLASS_SYSTEM_OTHER;" in new
    props = [n for _l, n in sites("prop-default")]
    assert any('"depth", WidgetState, depth, 17)' in n for n in props)
    assert any('"extra", WidgetState, extra, false)' in n for n in props)
    (lab, new), = sites("feature-bit-on")
    assert 'DEFINE_PROP_BIT("turbo", WidgetState, flags, 3, true)' in new


def code(text: str) -> str:
    """The text without comments and whitespace: what a benign operator must keep."""
    return re.sub(r"\s+", "", re.sub(r"/\*.*?\*/", "", text, flags=re.S))


def test_benign_operators_keep_the_code():
    for op in ("reflow-fields", "add-comments"):
        for label, new in sites(op):
            assert code(new) == code(DEVICE), f"{op} at {label} changed the code"
    (lab, new), = [s for s in sites("rename-vmsd-var") if s[0].startswith("vmstate_widget ")]
    assert "dc->vmsd = &vmstate_widget_r;" in new and "vmstate_widget_r = {" in new
    assert code(new.replace("vmstate_widget_r", "vmstate_widget")) == code(DEVICE)
    (lab, new), = sites("rename-local")
    assert "WidgetState *s_r = " in new and "s_r->ctrl = 0;" in new
    assert code(new.replace("s_r", "s")) == code(DEVICE)
    (lab, new), = sites("config-writes-to-helper")
    helper = new[new.index("static void widget_realize_config_init(PCIDevice *pdev)"):new.index("static void widget_realize(")]
    assert "pci_set_word(pdev->config + PCI_COMMAND, PCI_COMMAND_MEMORY);" in helper
    assert "pci_set_byte(pdev->wmask + PCI_INTERRUPT_LINE, 0xff);" in helper
    realize = new[new.index("static void widget_realize("):]
    assert "widget_realize_config_init(pdev);" in realize and "pci_set_" not in realize.split("}", 1)[0]
    # the write through the local alias conf stays where conf is in scope
    assert "pci_config_set_interrupt_pin(conf, 1);" in realize and "(conf," not in helper


def test_rename_word_leaves_members_strings_and_comments():
    body = 'x->s = s; /* s */ f("s", s.s, s);'
    assert M.rename_word(body, "s", "t") == 'x->s = t; /* s */ f("s", t.s, t);'


def commit_and_diff(repo, dest: Path, parent: str, files: dict[str, str]) -> tuple[str, str]:
    cid = commit_change(repo, parent, "widget: new property\n", None,
                        files={p: t.encode() for p, t in files.items()})
    diff = subprocess.run(["git", "-C", str(dest), "show", "--format=email", cid], capture_output=True,
                          text=True, check=True).stdout
    return cid, diff


def applied(dest: Path, patch: str, path: str) -> str:
    """The text of path once patch is applied to the work tree (which holds the base tree)."""
    out = subprocess.run(["git", "-C", str(dest), "apply", "--check", "-"], input=patch, text=True,
                         capture_output=True)
    assert out.returncode == 0, out.stderr
    tmp = dest.parent / "apply-copy"
    if tmp.exists():
        subprocess.run(["rm", "-rf", str(tmp)], check=True)
    subprocess.run(["git", "clone", "-q", str(dest), str(tmp)], check=True)
    res = subprocess.run(["git", "-C", str(tmp), "apply", "-"], input=patch, text=True, capture_output=True)
    assert res.returncode == 0, res.stderr
    return (tmp / path).read_text()


def test_ablation_removes_the_entry_and_recounts(device_repo):
    repo, dest, base = device_repo
    new_dev = DEVICE.replace('    DEFINE_PROP_BIT("turbo", WidgetState, flags, 3, false),\n',
                             '    DEFINE_PROP_BIT("turbo", WidgetState, flags, 3, true),\n')
    # the entry shares its hunk with a change outside the array, which must stay
    new_machine = MACHINE.replace('#include "hw/boards.h"\n', '#include "hw/boards.h"\n#include "hw/qdev-core.h"\n') \
        .replace('    { "gizmo", "x-fast", "off" },\n',
                 '    { "gizmo", "x-fast", "off" },\n    { "widget", "turbo", "off" },\n')
    _cid, diff = commit_and_diff(repo, dest, base, {"hw/misc/widget.c": new_dev, "hw/core/machine.c": new_machine})
    ab = M.ablate(diff, {"hw/misc/widget.c": DEVICE, "hw/core/machine.c": MACHINE},
                  {"hw/misc/widget.c": new_dev, "hw/core/machine.c": new_machine})
    assert ab is not None and ab.arrays == ["hw_compat_8_0"]
    assert '"widget", "turbo"' not in ab.removed
    headers = re.findall(r"^@@ .*", ab.removed, re.M)
    assert headers and all(h in ab.removed for h in headers)
    assert applied(dest, ab.removed, "hw/core/machine.c") == new_machine.replace('    { "widget", "turbo", "off" },\n', "")
    assert applied(dest, ab.removed, "hw/misc/widget.c") == new_dev
    moved = applied(dest, ab.moved, "hw/core/machine.c")
    newer, older = moved.split("hw_compat_7_2[] = {")
    assert '"widget", "turbo"' not in newer and '{ "widget", "turbo", "off" },' in older
    assert applied(dest, ab.moved, "hw/misc/widget.c") == new_dev


def test_ablation_of_a_macro_entry_drops_its_file_and_moves_it_whole(device_repo):
    repo, dest, base = device_repo
    new_h = OLD_COMPAT_H.replace(
        '            .value    = "true",\\\n        },\n\n#define HW_COMPAT_2_3',
        '            .value    = "true",\\\n        },{\\\n            .driver   = "widget",\\\n'
        '            .property = "turbo",\\\n            .value    = "off",\\\n        },\n\n#define HW_COMPAT_2_3')
    assert new_h != OLD_COMPAT_H
    new_dev = DEVICE.replace("flags, 3, false", "flags, 3, true")
    _cid, diff = commit_and_diff(repo, dest, base, {"include/hw/compat.h": new_h, "hw/misc/widget.c": new_dev})
    ab = M.ablate(diff, {"include/hw/compat.h": OLD_COMPAT_H, "hw/misc/widget.c": DEVICE},
                  {"include/hw/compat.h": new_h, "hw/misc/widget.c": new_dev})
    assert ab.arrays == ["HW_COMPAT_2_4"]
    assert "include/hw/compat.h" not in ab.removed  # its only hunk had no change left
    assert applied(dest, ab.removed, "hw/misc/widget.c") == new_dev
    moved = applied(dest, ab.moved, "include/hw/compat.h")
    newer, older = moved.split("#define HW_COMPAT_2_3")
    assert '"turbo"' not in newer and '"turbo"' in older
    macro = older.split("\n\n")[0].splitlines()
    assert all(ln.rstrip().endswith("\\") for ln in macro[:-1]), "a moved line ends the macro early"
    assert "".join(macro).count("{") == "".join(macro).count("}")


def test_a_diff_without_compat_entries_is_no_ablation(device_repo):
    repo, dest, base = device_repo
    new_dev = DEVICE.replace("flags, 3, false", "flags, 3, true")
    _cid, diff = commit_and_diff(repo, dest, base, {"hw/misc/widget.c": new_dev})
    assert M.ablate(diff, {"hw/misc/widget.c": DEVICE}, {"hw/misc/widget.c": new_dev}) is None
