"""Which boards can hold a file: meson.build and Kconfig read (analyzer/kbuild.py, `qlint machines --holds`)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from qlint.analyzer.tree import kbuild
from qlint.analyzer.change import EmptySnapshot, OverlaySnapshot
from qlint.analyzer.sources.fixture_repo import build, fixtures_root
from qlint.analyzer.tree.index import TreeIndex

FIXTURE_TREE = Path(__file__).resolve().parents[1] / "fixtures" / "tree"


def _snap(files: dict[str, str]):
    return OverlaySnapshot(EmptySnapshot(), {p: t.encode() for p, t in files.items()}, "test")


def _fixture_index(extra: dict[str, str] | None = None) -> TreeIndex:
    files = {str(p.relative_to(FIXTURE_TREE)): p.read_text() for p in FIXTURE_TREE.rglob("*") if p.is_file()}
    files.update(extra or {})
    return TreeIndex(_snap(files))


def _when(sources):
    return sorted((s.path, s.when) for s in sources)


# --- meson.build ---------------------------------------------------------------


def test_meson_when_string_list_and_multiline_files():
    text = """
system_ss.add(when: 'CONFIG_FOO', if_true: files('foo.c'))
system_ss.add(when: ['CONFIG_VIRTIO', 'CONFIG_BAR'],
              if_true: files(
  'bar.c',   # the device
  'bar-common.c',
))
system_ss.add(files('always.c'))
"""
    assert _when(kbuild.parse_meson("hw/x/meson.build", text)) == [
        ("hw/x/always.c", ()),
        ("hw/x/bar-common.c", ("VIRTIO", "BAR")),
        ("hw/x/bar.c", ("VIRTIO", "BAR")),
        ("hw/x/foo.c", ("FOO",)),
    ]


def test_meson_comments_and_if_false_build_nothing_when_true():
    text = """
# system_ss.add(when: 'CONFIG_OLD', if_true: files('old.c'))
system_ss.add(when: 'CONFIG_KVM', if_true: files('kvm.c'), if_false: files('kvm-stub.c'))
"""
    assert _when(kbuild.parse_meson("hw/x/meson.build", text)) == [("hw/x/kvm.c", ("KVM",))]


def test_meson_source_sets_added_under_a_condition():
    text = """
pci_ss = ss.source_set()
pci_ss.add(files('pci.c'))
pcie_ss = ss.source_set()
pcie_ss.add(when: 'CONFIG_PCI_EXPRESS', if_true: files('pcie.c'))
pci_ss.add_all(pcie_ss)
system_ss.add_all(when: 'CONFIG_PCI', if_true: pci_ss)
"""
    assert _when(kbuild.parse_meson("hw/pci/meson.build", text)) == [
        ("hw/pci/pci.c", ("PCI",)),
        ("hw/pci/pcie.c", ("PCI", "PCI_EXPRESS")),
    ]


def test_meson_arch_directories():
    srcs = kbuild.parse_meson("hw/arm/meson.build", "arm_ss.add(when: 'CONFIG_X', if_true: files('x.c'))")
    assert [s.arch for s in srcs] == ["arm"]
    srcs = kbuild.parse_meson("hw/net/meson.build", "system_ss.add(when: 'CONFIG_X', if_true: files('x.c'))")
    assert [s.arch for s in srcs] == [None]
    srcs = kbuild.parse_meson("target/riscv/meson.build", "riscv_ss.add(files('cpu.c'))")
    assert [s.arch for s in srcs] == ["riscv"]


def test_meson_garbage_is_no_error():
    for text in ("(" * 50_000, ")" * 1000 + "add(when:", "files('" + "x" * 10_000, "\0\xff'''", ""):
        kbuild.parse_meson("hw/x/meson.build", text)


# --- Kconfig ---------------------------------------------------------------------


def test_kconfig_attributes():
    text = """
config FOO
    bool
    default y if PCI_DEVICES || PCIE_DEVICES
    depends on PCI && !XEN   # a comment
    select BAR if TCG
    imply BAZ

menuconfig QUX
    bool
    default y
"""
    syms = {s.name: s for s in kbuild.parse_kconfig("hw/x/Kconfig", text)}
    foo = syms["FOO"]
    assert foo.defaults == ["PCI_DEVICES || PCIE_DEVICES"]
    assert foo.depends == ["PCI && !XEN"]
    assert foo.selects == [("BAR", "TCG")] and foo.implies == [("BAZ", None)]
    assert syms["QUX"].defaults == [None] and foo.line == 2


@pytest.mark.parametrize("expr,on,expected", [
    ("A && B", {"A", "B"}, True),
    ("A && B", {"A"}, False),
    ("A || B", {"B"}, True),
    ("!A", set(), True),
    ("(A || B) && !C", {"A", "C"}, False),
    ("A &&", {"A"}, False),
    ("(" * 100 + "A", {"A"}, False),
])
def test_kconfig_expressions(expr, on, expected):
    assert kbuild.evaluate(expr, lambda n: n in on) is expected


_BOARDS_KCONFIG = """
config PCI
    bool

config PCI_DEVICES
    bool

config KVM
    bool

config VERSIONED_BOARD
    bool
    default y
    depends on MYARCH
    imply PCI_DEVICES
    select PCI

config DEV_BOARD
    bool
    default y
    depends on MYARCH
    select DEV_UART

config DEV_UART
    bool

config PCI_NIC
    bool
    default y if PCI_DEVICES
    depends on PCI

config KVM_ONLY
    bool
    default y
    depends on PCI && KVM

config MYARCH
    bool
"""


def _model():
    syms = kbuild._Symbols({s.name: s for s in kbuild.parse_kconfig("hw/Kconfig", _BOARDS_KCONFIG)})
    return kbuild.BuildModel({}, syms)


def test_closure_follows_imply_and_defaults():
    on = _model().closure(_model().seeds("VERSIONED_BOARD"))
    assert {"VERSIONED_BOARD", "PCI", "PCI_DEVICES", "PCI_NIC"} <= set(on)
    assert on["PCI_NIC"].how == "default y if PCI_DEVICES"
    # a build-system symbol (nothing selects it, no default) does not stop what depends on it
    assert "KVM_ONLY" in on


def test_closure_does_not_take_another_board_of_the_same_target():
    m = _model()
    on = m.closure(m.seeds("VERSIONED_BOARD"))
    # DEV_BOARD is `default y` on the same target, but the versioned board does not build it
    assert "DEV_BOARD" not in on and "DEV_UART" not in on
    assert "DEV_UART" in m.closure(m.seeds("DEV_BOARD"))


# --- the fixture tree, end to end ----------------------------------------------------


def test_fixture_tree_holders():
    idx = _fixture_index()
    assert kbuild.versioned_boards(idx) == {"Q35": "hw/i386/pc.c", "ARM_VIRT": "hw/arm/virt.c"}
    nic = kbuild.holders(idx, "hw/net/acme_nic.c")
    assert sorted(nic.boards) == ["ARM_VIRT", "Q35"]
    assert [s.how for s in nic.boards["Q35"]] == ["board", "imply", "default y if PCI_DEVICES"]
    # the sysbus UART only the unversioned development board selects
    assert kbuild.holders(idx, "hw/char/acme_uart.c").boards == {}
    # PCI core files through a source set added under CONFIG_PCI
    assert sorted(kbuild.holders(idx, "hw/pci/pcie_aer.c").boards) == ["ARM_VIRT", "Q35"]
    # the x86 CPU model: built for the i386 target only
    assert sorted(kbuild.holders(idx, "target/i386/cpu.c").boards) == ["Q35"]
    # a header, or a file no meson.build names: qlint cannot tell
    assert kbuild.holders(idx, "include/hw/char/acme_uart.h") is None
    assert kbuild.holders(idx, "hw/misc/nowhere.c") is None


def test_a_tree_without_build_description_cannot_tell():
    files = {str(p.relative_to(FIXTURE_TREE)): p.read_text() for p in FIXTURE_TREE.rglob("*.[ch]")}
    idx = TreeIndex(_snap(files))
    assert kbuild.versioned_boards(idx) is None
    assert kbuild.holders(idx, "hw/char/acme_uart.c") is None


def test_a_patch_that_selects_the_device_from_a_versioned_board_makes_it_held():
    kconfig = (FIXTURE_TREE / "hw/i386/Kconfig").read_text() + "    select ACME_UART\n"
    idx = _fixture_index({"hw/i386/Kconfig": kconfig})
    assert sorted(kbuild.holders(idx, "hw/char/acme_uart.c").boards) == ["Q35"]


# --- the command -----------------------------------------------------------------------


def _qlint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def fixture_repo(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("kbuild") / "qemu"
    build(fixtures_root() / "tree", [], dest)
    return dest


def test_command_holds_json(fixture_repo: Path):
    r = _qlint("machines", "-C", str(fixture_repo), "--format", "json",
               "--holds", "hw/net/acme_nic.c", "--holds", "acme-uart", "--holds", "no-such-type")
    assert r.returncode == 0, r.stderr
    data = json.loads(r.stdout)
    nic, uart, missing = data["holds"]
    boards = {b["symbol"]: b for b in nic["files"][0]["boards"]}
    assert boards["CONFIG_Q35"]["machine_types"] == ["pc-q35-8.0"]
    assert boards["CONFIG_Q35"]["oldest"] == ["pc-q35-7.1"]
    assert [s["symbol"] for s in boards["CONFIG_Q35"]["chain"]] == ["Q35", "PCI_DEVICES", "ACME_NIC"]
    assert nic["files"][0]["built"] == [{"meson": "hw/net/meson.build", "when": ["CONFIG_ACME_NIC"], "arch": None}]
    assert uart["files"][0]["path"] == "hw/char/acme_uart.c" and uart["files"][0]["boards"] == []
    assert "error" in missing


def test_command_holds_text(fixture_repo: Path):
    r = _qlint("machines", "-C", str(fixture_repo), "--holds", "hw/char/acme_uart.c", "--holds", "hw/net/acme_nic.c")
    assert r.returncode == 0, r.stderr
    assert "hw/char/acme_uart.c: built when CONFIG_ACME_UART (hw/char/meson.build)\n" \
           "    no versioned machine type can hold it\n" in r.stdout
    assert "Q35 > imply PCI_DEVICES > ACME_NIC (default y if PCI_DEVICES)" in r.stdout


def test_unknown_holder_lowers_confidence_and_min_confidence_drops_it(tmp_path: Path):
    import shutil

    tree = tmp_path / "tree"
    shutil.copytree(FIXTURE_TREE, tree)
    (tree / "hw/net/meson.build").unlink()  # nothing says who builds acme_nic.c any more
    patches = sorted((fixtures_root() / "examples/vmstate-field-added/invalid/plain-field").glob("*.patch"))
    dest = tmp_path / "qemu"
    build(tree, patches, dest)
    r = _qlint("-C", str(dest), "--format", "json", "HEAD")
    assert r.returncode == 1, r.stderr
    found = json.loads(r.stdout)["findings"]
    assert [(f["rule"], f["confidence"]) for f in found] == [("vmstate-field-added", "medium")]
    r = _qlint("-C", str(dest), "--format", "json", "--min-confidence", "high", "HEAD")
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout)["findings"] == []
    # with the build description the same finding is high
    build(FIXTURE_TREE, patches, tmp_path / "known")
    r = _qlint("-C", str(tmp_path / "known"), "--format", "json", "--min-confidence", "high", "HEAD")
    assert r.returncode == 1 and [f["confidence"] for f in json.loads(r.stdout)["findings"]] == ["high"]


def test_review_text_names_only_the_machine_types_that_can_hold_the_file():
    from qlint.analyzer.fix import wording

    idx = _fixture_index()
    everywhere = wording.machine_types((7, 2), idx)
    assert "pc-q35-7.2" in everywhere and "virt-7.2" in everywhere
    # the x86 CPU model is built for the i386 target only: no virt machine type holds it
    assert wording.machine_types((7, 2), idx, path="target/i386/cpu.c") == \
        "machine types 7.2 and older (pc-q35-7.2 and older)"
    # a PCI device that both boards build keeps both; a file qlint cannot place keeps the full list
    assert wording.machine_types((7, 2), idx, path="hw/net/acme_nic.c") == everywhere
    assert wording.machine_types((7, 2), idx, path="include/hw/net/acme_nic.h") == everywhere


def test_a_patch_that_also_unplugs_the_device_from_versioned_boards_is_still_reviewed(tmp_path: Path):
    """The build description of the base counts too: the reviewed patch cannot drop its own finding."""
    patch_dir = fixtures_root() / "examples/vmstate-field-added/invalid/plain-field"
    text = next(patch_dir.glob("*.patch")).read_text()
    kconfig = (FIXTURE_TREE / "hw/net/Kconfig").read_text()
    # the same patch, also making the NIC depend on what the versioned boards have not
    lines = kconfig.splitlines()
    assert "    depends on PCI" in lines
    extra = (
        "diff --git a/hw/net/Kconfig b/hw/net/Kconfig\n"
        "--- a/hw/net/Kconfig\n+++ b/hw/net/Kconfig\n"
        f"@@ -1,{len(lines)} +1,{len(lines)} @@\n"
        + "".join(f"-{line}\n+{line} && !PCI_DEVICES\n" if line == "    depends on PCI" else f" {line}\n"
                  for line in lines)
    )
    body, sig, tail = text.partition("\n-- \n")
    patch = tmp_path / "0001-unplug.patch"
    patch.write_text(body.rstrip("\n") + "\n" + extra + sig + tail)
    dest = tmp_path / "qemu"
    build(FIXTURE_TREE, [patch], dest)
    shown = subprocess.run(["git", "-C", str(dest), "show", "--stat", "--format=", "HEAD"],
                           capture_output=True, text=True).stdout
    assert "hw/net/Kconfig" in shown  # the patch does unplug the device
    r = _qlint("-C", str(dest), "--format", "json", "HEAD")
    assert r.returncode == 1, r.stderr
    assert [f["rule"] for f in json.loads(r.stdout)["findings"]] == ["vmstate-field-added"]
