"""Versioned machine types and the compat arrays they reach (analyzer/machines.py, `qlint machines`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qlint.analyzer.fix import fixplan, wording
from qlint.analyzer.tree import machines
from qlint.analyzer.change import EmptySnapshot, OverlaySnapshot
from qlint.analyzer.sources.fixture_repo import build, fixtures_root
from qlint.analyzer.tree.index import TreeIndex

FIXTURE_TREE = Path(__file__).resolve().parents[1] / "fixtures" / "tree"


def _index(files: dict[str, str]) -> TreeIndex:
    return TreeIndex(OverlaySnapshot(EmptySnapshot(), {p: t.encode() for p, t in files.items()}, "test"))


def _fixture_index() -> TreeIndex:
    files = {str(p.relative_to(FIXTURE_TREE)): p.read_text() for p in FIXTURE_TREE.rglob("*") if p.is_file()}
    return _index(files)


def _names(types) -> list[str]:
    return sorted(t.name for t in types)


# --- the fixture tree ----------------------------------------------------------


def test_fixture_tree_mapping():
    idx = _fixture_index()
    types = {t.name: t for t in machines.machine_types(idx)}
    assert set(types) == {"pc-q35-8.0", "pc-q35-7.2", "pc-q35-7.1", "virt-8.0", "virt-7.2", "virt-7.1"}
    q = types["pc-q35-7.2"]
    assert (q.board, q.version, q.path) == ("pc-q35", (7, 2), "hw/i386/pc.c")
    # its own arrays first, then those of the newer options functions it calls
    assert types["pc-q35-7.1"].arrays == ("hw_compat_7_1", "pc_compat_7_1", "hw_compat_7_2", "pc_compat_7_2")
    assert types["virt-7.1"].arrays == ("hw_compat_7_1", "hw_compat_7_2")
    assert types["virt-8.0"].arrays == () and types["virt-8.0"].path == "hw/arm/virt.c"
    assert _names(machines.reached_by(idx, "hw_compat_7_2")) == ["pc-q35-7.1", "pc-q35-7.2", "virt-7.1", "virt-7.2"]
    # a board-specific array reaches that board only
    assert _names(machines.reached_by(idx, "pc_compat_7_2")) == ["pc-q35-7.1", "pc-q35-7.2"]
    assert machines.reached_by(idx, "hw_compat_7_0") == []
    assert machines.analyze(idx).unresolved == {}


def test_result_is_cached_on_the_index():
    idx = _fixture_index()
    assert machines.analyze(idx) is machines.analyze(idx)


def test_advice_names_the_machine_types():
    idx = _fixture_index()
    assert wording.machine_types((7, 2), idx) == (
        "machine types 7.2 and older (pc-q35-7.2, virt-7.2 and the older ones of each board)")
    assert wording.machine_types((7, 2), idx, family="pc") == "machine types 7.2 and older (pc-q35-7.2 and older)"
    # without an index, the generic wording
    assert wording.machine_types((7, 2)) == "machine types 7.2 and older (pc-q35-7.2, pc-i440fx-7.2, virt-7.2, ...)"
    assert wording.machine_types(None, idx) == "existing versioned machine types"


def test_advice_after_a_release_names_that_release_s_machine_types():
    # hw_compat_8_0 does not exist yet: it will go to the 8.0 machine types of the boards
    idx = _fixture_index()
    assert wording.machine_types((8, 0), idx) == (
        "machine types 8.0 and older (pc-q35-8.0, virt-8.0 and the older ones of each board)")


# --- macro shapes ----------------------------------------------------------------

_BOARDS_H = """
#define TYPE_MACHINE_SUFFIX "-machine"
#define MACHINE_TYPE_NAME(machinename) (machinename TYPE_MACHINE_SUFFIX)
"""

# QEMU 2023: the board's own macro pastes and stringifies MAJOR and MINOR
_VIRT_2023 = """
#include "hw/boards.h"
#define DEFINE_VIRT_MACHINE_LATEST(major, minor, latest) \\
    static void virt_##major##_##minor##_class_init(ObjectClass *oc, void *data) \\
    { \\
        MachineClass *mc = MACHINE_CLASS(oc); \\
        virt_machine_##major##_##minor##_options(mc); \\
        mc->desc = "Board " # major "." # minor; \\
        if (latest) { \\
            mc->alias = "virt"; \\
        } \\
    } \\
    static const TypeInfo machvirt_##major##_##minor##_info = { \\
        .name = MACHINE_TYPE_NAME("virt-" # major "." # minor), \\
        .parent = TYPE_VIRT_MACHINE, \\
        .class_init = virt_##major##_##minor##_class_init, \\
    }; \\
    type_init(machvirt_machine_##major##_##minor##_init);
#define DEFINE_VIRT_MACHINE_AS_LATEST(major, minor) DEFINE_VIRT_MACHINE_LATEST(major, minor, true)
#define DEFINE_VIRT_MACHINE(major, minor) DEFINE_VIRT_MACHINE_LATEST(major, minor, false)

static void virt_machine_6_0_options(MachineClass *mc)
{
}
DEFINE_VIRT_MACHINE_AS_LATEST(6, 0)

static void virt_machine_5_2_options(MachineClass *mc)
{
    virt_machine_6_0_options(mc);
    compat_props_add(mc->compat_props, hw_compat_5_2, hw_compat_5_2_len);
}
DEFINE_VIRT_MACHINE(5, 2)

static void virt_machine_5_1_options(MachineClass *mc)
{
    virt_machine_5_2_options(mc);
    compat_props_add(mc->compat_props, hw_compat_5_1, hw_compat_5_1_len);
}
DEFINE_VIRT_MACHINE(5, 1)
"""

# spapr: a suffix and a version string, and an array of the board's own
_SPAPR = """
#include "hw/boards.h"
#define DEFINE_SPAPR_MACHINE(suffix, verstr, latest) \\
    static void spapr_machine_##suffix##_class_init(ObjectClass *oc, void *data) \\
    { \\
        MachineClass *mc = MACHINE_CLASS(oc); \\
        spapr_machine_##suffix##_class_options(mc); \\
    } \\
    static const TypeInfo spapr_machine_##suffix##_info = { \\
        .name = MACHINE_TYPE_NAME("pseries-" verstr), \\
        .parent = TYPE_SPAPR_MACHINE, \\
        .class_init = spapr_machine_##suffix##_class_init, \\
    };

static void spapr_machine_6_0_class_options(MachineClass *mc)
{
}
DEFINE_SPAPR_MACHINE(6_0, "6.0", true);

static void spapr_machine_5_2_class_options(MachineClass *mc)
{
    static GlobalProperty compat[] = {
        { "spapr-pci-host-bridge", "x-thing", "off" },
    };

    spapr_machine_6_0_class_options(mc);
    compat_props_add(mc->compat_props, hw_compat_5_2, hw_compat_5_2_len);
    compat_props_add(mc->compat_props, compat, G_N_ELEMENTS(compat));
}
DEFINE_SPAPR_MACHINE(5_2, "5.2", false);
"""

# the modern shape: DEFINE_X_MACHINE(major, minor) through variadic helpers in a header
_BOARDS_H_2024 = _BOARDS_H + """
#define _VER_PICK(x1, x2, x3, x4, ...) x4
#define _VER_NAME2(prefix, major, minor) prefix "-" #major "." #minor TYPE_MACHINE_SUFFIX
#define _VER_NAME3(prefix, major, minor, micro) prefix "-" #major "." #minor "." #micro TYPE_MACHINE_SUFFIX
#define MACHINE_VER_TYPE_NAME(prefix, ...) \\
    _VER_PICK(__VA_ARGS__, _VER_NAME3, _VER_NAME2) (prefix, __VA_ARGS__)
#define _VER_SYM2(sym, prefix, major, minor) prefix ## _machine_ ## major ## _ ## minor ## _ ## sym
#define _VER_SYM3(sym, prefix, major, minor, micro) \\
    prefix ## _machine_ ## major ## _ ## minor ## _ ## micro ## _ ## sym
#define MACHINE_VER_SYM(sym, prefix, ...) \\
    _VER_PICK(__VA_ARGS__, _VER_SYM3, _VER_SYM2) (sym, prefix, __VA_ARGS__)
"""

_PC_H_2024 = """
#include "hw/boards.h"
#define DEFINE_PC_VER_MACHINE(namesym, namestr, initfn, isdefault, malias, ...) \\
    static void MACHINE_VER_SYM(class_init, namesym, __VA_ARGS__)(ObjectClass *oc, void *data) \\
    { \\
        MachineClass *mc = MACHINE_CLASS(oc); \\
        MACHINE_VER_SYM(options, namesym, __VA_ARGS__)(mc); \\
        mc->is_default = isdefault; \\
    } \\
    static const TypeInfo MACHINE_VER_SYM(info, namesym, __VA_ARGS__) = { \\
        .name = MACHINE_VER_TYPE_NAME(namestr, __VA_ARGS__), \\
        .class_init = MACHINE_VER_SYM(class_init, namesym, __VA_ARGS__), \\
    };
"""

_Q35_2024 = """
#include "qemu/osdep.h"
#include "hw/i386/pc.h"
#define DEFINE_Q35_MACHINE(major, minor) \\
    DEFINE_PC_VER_MACHINE(pc_q35, "pc-q35", pc_q35_init, false, NULL, major, minor);
#define DEFINE_Q35_MACHINE_AS_LATEST(major, minor) \\
    DEFINE_PC_VER_MACHINE(pc_q35, "pc-q35", pc_q35_init, true, "q35", major, minor);
#define DEFINE_Q35_MACHINE_BUGFIX(major, minor, micro) \\
    DEFINE_PC_VER_MACHINE(pc_q35, "pc-q35", pc_q35_init, false, NULL, major, minor, micro);

static void pc_q35_machine_options(MachineClass *m)
{
    m->family = "pc_q35";
}

static void pc_q35_machine_9_1_options(MachineClass *m)
{
    pc_q35_machine_options(m);
}
DEFINE_Q35_MACHINE_AS_LATEST(9, 1);

static void pc_q35_machine_9_0_options(MachineClass *m)
{
    pc_q35_machine_9_1_options(m);
    compat_props_add(m->compat_props, hw_compat_9_0, hw_compat_9_0_len);
    compat_props_add(m->compat_props, pc_compat_9_0, pc_compat_9_0_len);
}
DEFINE_Q35_MACHINE(9, 0);

static void pc_q35_machine_8_2_1_options(MachineClass *m)
{
    pc_q35_machine_9_0_options(m);
    compat_props_add(m->compat_props, pc_compat_8_2_1, pc_compat_8_2_1_len);
}
DEFINE_Q35_MACHINE_BUGFIX(8, 2, 1);
"""

# QEMU before 2016: name and options function spelt out in each invocation
_PIIX_OLD = """
#include "hw/boards.h"
#define DEFINE_PC_MACHINE(suffix, namestr, initfn, optsfn) \\
    static void pc_machine_##suffix##_class_init(ObjectClass *oc, void *data) \\
    { \\
        MachineClass *mc = MACHINE_CLASS(oc); \\
        optsfn(mc); \\
        mc->init = initfn; \\
    } \\
    static const TypeInfo pc_machine_type_##suffix = { \\
        .name       = namestr TYPE_MACHINE_SUFFIX, \\
        .class_init = pc_machine_##suffix##_class_init, \\
    };
#define DEFINE_I440FX_MACHINE(suffix, name, compatfn, optionfn) \\
    static void pc_init_##suffix(MachineState *machine) \\
    { \\
        pc_init1(machine); \\
    } \\
    DEFINE_PC_MACHINE(suffix, name, pc_init_##suffix, optionfn)

static void pc_i440fx_2_6_machine_options(MachineClass *m)
{
}
DEFINE_I440FX_MACHINE(v2_6, "pc-i440fx-2.6", NULL, pc_i440fx_2_6_machine_options);

static void pc_i440fx_2_5_machine_options(MachineClass *m)
{
    pc_i440fx_2_6_machine_options(m);
    SET_MACHINE_COMPAT(m, PC_COMPAT_2_5);
}
DEFINE_I440FX_MACHINE(v2_5, "pc-i440fx-2.5", NULL, pc_i440fx_2_5_machine_options);

static void xenfv_machine_options(MachineClass *m)
{
    pc_i440fx_2_5_machine_options(m);
}
DEFINE_PC_MACHINE(xenfv, "xenfv-4.2", pc_xen_hvm_init, xenfv_machine_options);
"""

_PC_H_OLD = """
#define PC_COMPAT_2_5 \\
    HW_COMPAT_2_5 \\
    { .driver = "apic", .property = "x-thing", .value = "off" },
"""


def test_2023_shape_token_pasting_and_stringification():
    idx = _index({"include/hw/boards.h": _BOARDS_H, "hw/arm/virt.c": _VIRT_2023})
    types = {t.name: t for t in machines.machine_types(idx)}
    assert set(types) == {"virt-6.0", "virt-5.2", "virt-5.1"}
    assert types["virt-5.1"].arrays == ("hw_compat_5_1", "hw_compat_5_2")
    assert types["virt-5.2"].board == "virt"


def test_expansions_follow_the_macros_they_used():
    """An invocation's expansion is memoised on the macro definitions it looked up: a header
    change to one of them gives the new names, a change to any other macro reuses the result."""
    renamed = _VIRT_2023.replace('"virt-" # major', '"mach-" # major')
    boards_h = _BOARDS_H + "\n#define UNRELATED_MACRO 1\n"
    before = {t.name for t in machines.machine_types(_index({"include/hw/boards.h": _BOARDS_H,
                                                             "hw/arm/virt.c": _VIRT_2023}))}
    # the same board file, its machine-defining macro now in a header the board includes
    define = renamed[renamed.index("#define DEFINE_VIRT_MACHINE_LATEST"):renamed.index("static void virt_machine_6_0")]
    board = '#include "hw/arm/virt-macros.h"\n' + _VIRT_2023[_VIRT_2023.index("static void virt_machine_6_0"):]
    old_h = _VIRT_2023[_VIRT_2023.index("#define DEFINE_VIRT_MACHINE_LATEST"):_VIRT_2023.index("static void virt_machine_6_0")]
    def names(header: str, boards: str = _BOARDS_H) -> set[str]:
        return {t.name for t in machines.machine_types(_index({
            "include/hw/boards.h": boards, "include/hw/arm/virt-macros.h": '#include "hw/boards.h"\n' + header,
            "hw/arm/virt.c": board}))}
    assert names(old_h) == before == {"virt-6.0", "virt-5.2", "virt-5.1"}
    assert names(define) == {"mach-6.0", "mach-5.2", "mach-5.1"}
    assert names(old_h) == before
    n = len(machines._EXPANSIONS)
    assert names(old_h, boards_h) == before
    assert len(machines._EXPANSIONS) == n  # the same invocations: no new entry


def test_spapr_shape_and_a_local_array():
    idx = _index({"include/hw/boards.h": _BOARDS_H, "hw/ppc/spapr.c": _SPAPR})
    types = {t.name: t for t in machines.machine_types(idx)}
    assert set(types) == {"pseries-6.0", "pseries-5.2"}
    # an array declared in the options function is named as the tree index names it
    assert types["pseries-5.2"].arrays == ("hw_compat_5_2", "spapr_machine_5_2_class_options:compat")


def test_modern_shape_variadic_helpers_in_headers():
    idx = _index({
        "include/hw/boards.h": _BOARDS_H_2024,
        "include/hw/i386/pc.h": _PC_H_2024,
        "hw/i386/pc_q35.c": _Q35_2024,
    })
    types = {t.name: t for t in machines.machine_types(idx)}
    assert set(types) == {"pc-q35-9.1", "pc-q35-9.0", "pc-q35-8.2.1"}
    bugfix = types["pc-q35-8.2.1"]
    assert (bugfix.board, bugfix.version) == ("pc-q35", (8, 2))
    assert bugfix.arrays == ("pc_compat_8_2_1", "hw_compat_9_0", "pc_compat_9_0")
    assert _names(machines.reached_by(idx, "hw_compat_9_0")) == ["pc-q35-8.2.1", "pc-q35-9.0"]
    # a bug-fix machine type sorts between its release and the next one
    assert [t.name for t in machines.newest_per_board(machines.reached_by(idx, "hw_compat_9_0"))] == ["pc-q35-9.0"]
    assert [t.name for t in machines.newest_per_board(machines.reached_by(idx, "pc_compat_8_2_1"))] == ["pc-q35-8.2.1"]


def test_old_shape_macro_compat_lists_and_derived_boards():
    idx = _index({
        "include/hw/boards.h": _BOARDS_H,
        "include/hw/i386/pc.h": _PC_H_OLD,
        "hw/i386/pc_piix.c": _PIIX_OLD.replace('#include "hw/boards.h"', '#include "hw/boards.h"\n#include "hw/i386/pc.h"'),
    })
    types = {t.name: t for t in machines.machine_types(idx)}
    assert set(types) == {"pc-i440fx-2.6", "pc-i440fx-2.5", "xenfv-4.2"}
    # SET_MACHINE_COMPAT(m, PC_COMPAT_2_5) and the HW_COMPAT_2_5 that macro includes
    assert types["pc-i440fx-2.5"].arrays == ("PC_COMPAT_2_5", "HW_COMPAT_2_5")
    mm = machines.analyze(idx)
    # xenfv-4.2 gets pc-i440fx-2.5's list through its options function: another board's machine type
    assert types["xenfv-4.2"].arrays == ("PC_COMPAT_2_5", "HW_COMPAT_2_5")
    assert mm.derived == {types["xenfv-4.2"]: "pc-i440fx"}
    assert wording.machine_types((2, 5), idx, array="HW_COMPAT_2_5") == (
        "machine types 2.5 and older (pc-i440fx-2.5 and older)")


def test_unknown_macro_shape_falls_back():
    board = _VIRT_2023.replace("#include \"hw/boards.h\"", "").split("static void virt_machine_6_0")[1]
    # the machine-defining macro is not defined anywhere the file can see
    idx = _index({"hw/arm/virt.c": "static void virt_machine_6_0" + board})
    mm = machines.analyze(idx)
    assert mm.types == []
    assert mm.unresolved == {"hw/arm/virt.c": ("hw_compat_5_1", "hw_compat_5_2")}
    assert wording.machine_types((5, 2), idx) == "machine types 5.2 and older (pc-q35-5.2, pc-i440fx-5.2, virt-5.2, ...)"


def test_one_unreadable_board_among_readable_ones_is_an_ellipsis():
    board = _VIRT_2023.split("static void virt_machine_6_0")[1]
    idx = _index({
        "include/hw/boards.h": _BOARDS_H,
        "hw/ppc/spapr.c": _SPAPR,
        "hw/arm/virt.c": "static void virt_machine_6_0" + board,
    })
    assert wording.machine_types((5, 2), idx) == "machine types 5.2 and older (pseries-5.2, ... and the older ones of each board)"


def test_runaway_macros_do_not_hang():
    src = """
#define LOOP(x) LOOP(x) LOOP(x)
#define DEFINE_M(a) LOOP(a) LOOP(a)
static void m_1_0_options(MachineClass *mc)
{
    compat_props_add(mc->compat_props, hw_compat_1_0, hw_compat_1_0_len);
}
DEFINE_M(1)
"""
    mm = machines.analyze(_index({"hw/x/board.c": src}))
    assert mm.types == [] and "hw/x/board.c" in mm.unresolved


# --- the command -------------------------------------------------------------------


def _qlint(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", *args], capture_output=True, text=True,
                          cwd=cwd)


@pytest.fixture(scope="module")
def fixture_repo(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("machines") / "qemu"
    build(fixtures_root() / "tree", [], dest)
    return dest


def test_command_json(fixture_repo: Path):
    r = _qlint("machines", "-C", str(fixture_repo), "--format", "json")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    assert data["version"] == 1 and len(data["commit"]) == 40
    arrays = {a["name"]: a for a in data["arrays"]}
    assert arrays["hw_compat_7_2"]["path"] == "hw/core/machine.c"
    assert sorted(m["name"] for m in arrays["hw_compat_7_2"]["machine_types"]) == [
        "pc-q35-7.1", "pc-q35-7.2", "virt-7.1", "virt-7.2"]
    # an array no machine type adds is listed with none
    assert arrays["hw_compat_7_0"]["machine_types"] == []
    virt = next(t for t in data["machine_types"] if t["name"] == "virt-7.1")
    assert virt == {"name": "virt-7.1", "board": "virt", "version": "7.1", "path": "hw/arm/virt.c",
                    "arrays": ["hw_compat_7_1", "hw_compat_7_2"], "via": None}
    assert data["unresolved"] == []


def test_command_text(fixture_repo: Path):
    r = _qlint("machines", "-C", str(fixture_repo), "HEAD")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    i = lines.index("hw_compat_7_2 (hw/core/machine.c)")
    assert lines[i + 1].split()[:4] == ["pc-q35-7.2", "..", "pc-q35-7.1", "(2)"]
    assert lines[i + 2].split()[:4] == ["virt-7.2", "..", "virt-7.1", "(2)"]


@pytest.mark.parametrize("args, msg", [
    (["no-such-rev"], "unknown revision"),
    (["--format", "xml"], "unknown format"),
    (["HEAD~1..HEAD"], "not a range"),
])
def test_command_bad_input(fixture_repo: Path, args, msg):
    r = _qlint("machines", "-C", str(fixture_repo), *args)
    assert r.returncode == 2
    assert msg in r.stderr and len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_command_not_a_repository(tmp_path: Path):
    r = _qlint("machines", "-C", str(tmp_path))
    assert r.returncode == 2 and "not a git repository" in r.stderr
    r = _qlint("machines", "-C", str(tmp_path / "missing"))
    assert r.returncode == 2 and "no such directory" in r.stderr


def test_review_after_a_release_names_the_release_s_machine_types(tmp_path: Path):
    """VERSION 8.0.0, no hw_compat_8_0 yet: the break is named for the 8.0 machine types."""
    from qlint.analyzer.engine import review
    from qlint.analyzer.sources.fixture_repo import case_patches
    from qlint.analyzer.sources.gitsrc import review_range

    fixtures = fixtures_root()
    release = sorted((fixtures / "demo").glob("0002-*.patch"))
    _, aer = case_patches(fixtures / "examples" / "pci-config-unguarded" / "invalid" / "aer-mask-unguarded")
    _, _, ids = build(fixtures / "tree", release + aer, tmp_path / "repo")
    report = review(review_range(str(tmp_path / "repo"), ids[-1]))
    details = " ".join(f.details for f in report.findings if f.rule == "pci-config-unguarded")
    assert "machine types 8.0 and older (pc-q35-8.0, virt-8.0 and the older ones of each board)" in details


def test_a_point_release_array_is_not_the_current_one():
    machine_c = """
GlobalProperty hw_compat_4_0_1[] = {
    { "virtio-pci", "x-a", "off" },
};
const size_t hw_compat_4_0_1_len = G_N_ELEMENTS(hw_compat_4_0_1);

GlobalProperty hw_compat_4_0[] = {
    { "virtio-pci", "x-b", "off" },
};
const size_t hw_compat_4_0_len = G_N_ELEMENTS(hw_compat_4_0);
"""
    q35 = _Q35_2024.replace("9, 1", "4, 1").replace("9_1", "4_1").replace("9_0", "4_0").replace("9, 0", "4, 0")
    q35 = q35.replace("8_2_1", "4_0_1").replace("8, 2, 1", "4, 0, 1")
    # 4.0 calls 4.0.1, which calls 4.1
    q35 = q35.replace("pc_q35_machine_4_0_options(MachineClass *m)\n{\n    pc_q35_machine_4_1_options(m);",
                      "pc_q35_machine_4_0_options(MachineClass *m)\n{\n    pc_q35_machine_4_0_1_options(m);")
    q35 = q35.replace("pc_q35_machine_4_0_1_options(MachineClass *m)\n{\n    pc_q35_machine_4_0_options(m);",
                      "pc_q35_machine_4_0_1_options(MachineClass *m)\n{\n    pc_q35_machine_4_1_options(m);")
    q35 = q35.replace("pc_compat_4_0_1, pc_compat_4_0_1_len", "hw_compat_4_0_1, hw_compat_4_0_1_len")
    idx = _index({"VERSION": "4.0.50\n", "hw/core/machine.c": machine_c, "include/hw/boards.h": _BOARDS_H_2024,
                  "include/hw/i386/pc.h": _PC_H_2024, "hw/i386/pc_q35.c": q35})
    assert _names(machines.reached_by(idx, "hw_compat_4_0")) == ["pc-q35-4.0"]
    assert _names(machines.reached_by(idx, "hw_compat_4_0_1")) == ["pc-q35-4.0", "pc-q35-4.0.1"]
    assert fixplan.compat_array_name(idx, (4, 0))[0] == "hw_compat_4_0"
    assert wording.machine_types((4, 0), idx) == "machine types 4.0 and older (pc-q35-4.0 and older)"
