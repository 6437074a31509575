"""The migration matrix (`qlint matrix`) on small histories with releases.

The demo history is compatibility.rst's story: 7.2.0, the unguarded AER
register shipped in 8.0.0, the fix on master (8.0.50) and on stable-8.0
released as 8.0.1.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from qlint.analyzer import matrix
from qlint.analyzer.diff import matrix as mx, matrix_text
from qlint.analyzer.change import InputError
from qlint.analyzer.sources.fixture_repo import build, build_demo, fixtures_root, on_release_root

PROP = "x-pcie-err-unc-mask"


def qlint(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", *args], capture_output=True, text=True)


@pytest.fixture(scope="module")
def demo(tmp_path_factory) -> Path:
    dest = tmp_path_factory.mktemp("mx") / "qemu"
    build_demo(dest)
    return dest


def _group(m: mx.Matrix) -> mx.Group:
    assert len(m.groups) == 1, [g.versions for g in m.groups]
    return m.groups[0]


def test_demo_matrix_is_the_compatibility_rst_story(demo):
    m = matrix.from_repo(str(demo), PROP)
    assert [c.label for c in m.columns] == ["7.2.0", "8.0.0", "8.0.1", "8.0.50 (HEAD)"]
    g = _group(m)
    assert g.versions[0] == (7, 2) and g.and_older
    assert {k: mx.display(v) for k, v in g.values.items()} == {
        "7.2.0": "off", "8.0.0": "on", "8.0.1": "off", "8.0.50 (HEAD)": "off"}
    # the lists of compatibility.rst, for -M pc-7.2
    assert g.works("7.2.0", "7.2.0") and g.works("8.0.0", "8.0.0") and g.works("8.0.1", "8.0.1")
    assert g.works("7.2.0", "8.0.0") is False and g.works("8.0.0", "7.2.0") is False
    assert g.works("7.2.0", "8.0.1") and g.works("8.0.1", "7.2.0")
    assert g.works("8.0.0", "8.0.1") is False and g.works("8.0.1", "8.0.0") is False
    # 8.0 machine types never had the old behaviour
    assert (8, 0) in m.fine


def test_demo_rescue_names_the_option_and_the_destinations(demo):
    g = _group(matrix.from_repo(str(demo), PROP))
    assert len(g.rescue) == 1
    r = g.rescue[0]
    assert r["started_on"] == "8.0.0"
    assert r["option"] == f"-global pci-device.{PROP}=on"
    assert r["destinations"] == ["8.0.1", "8.0.50 (HEAD)"]
    assert r["cannot_receive"] == ["7.2.0"]


def test_text_and_json_and_html_forms(demo):
    r = qlint("matrix", "-C", str(demo), PROP)
    assert r.returncode == 0, r.stderr
    assert f"-global pci-device.{PROP}=on" in r.stdout
    assert "powered off" in r.stdout
    row = next(line for line in r.stdout.splitlines() if line.strip().startswith("8.0.0 "))
    assert row.split()[1:] == ["FAIL", "ok", "FAIL", "FAIL"]
    j = qlint("matrix", "-C", str(demo), "--format", "json", PROP)
    doc = json.loads(j.stdout)
    assert doc["property"] == PROP and doc["driver"] == "pci-device"
    assert [r["source"] for r in doc["releases"]][:3] == ["main line", "main line", "stable-8.0"]
    mig = {(x["from"], x["to"]): x["works"] for x in doc["machine_groups"][0]["migrations"]}
    assert mig[("7.2.0", "8.0.1")] is True and mig[("8.0.0", "8.0.1")] is False
    h = qlint("matrix", "-C", str(demo), "--format", "html", PROP)
    assert h.stdout.count('class="fail"') == 6  # 8.0.0 against the three others, both ways


def test_a_commit_stands_for_the_property_it_adds(demo):
    repo = pygit2.Repository(str(demo))
    fix = repo.revparse_single("HEAD").peel(pygit2.Commit)
    m = matrix.from_repo(str(demo), str(fix.id))
    assert m.subject.name == PROP and m.subject.driver == "pci-device"


def test_a_compat_entry_as_written_stands_for_its_property(demo):
    m = matrix.from_repo(str(demo), '{ TYPE_PCI_DEVICE, "x-pcie-err-unc-mask", "off" },')
    assert m.subject.name == PROP and m.subject.driver == "pci-device"


def test_without_stable_branches_the_matrix_says_so_and_takes_given_releases(tmp_path):
    dest = tmp_path / "qemu"
    repo, _, _ = build_demo(dest)
    stable = repo.references["refs/heads/stable-8.0"].target
    repo.references.delete("refs/heads/stable-8.0")
    m = matrix.from_repo(str(dest), PROP)
    assert "8.0.1" not in [c.label for c in m.columns]
    assert "no stable branch" in m.point_release_note
    m = matrix.from_repo(str(dest), PROP, given={"8.0.1": str(stable)})
    assert "8.0.1" in [c.label for c in m.columns]
    # a tag is a point release too
    repo.references.create("refs/tags/v8.0.1", stable)
    m = matrix.from_repo(str(dest), PROP)
    col = next(c for c in m.columns if c.label == "8.0.1")
    assert col.source == "tag v8.0.1" and m.point_release_note == ""


def test_a_fix_that_made_the_release_breaks_nothing(tmp_path):
    """The break and its fix land in the same cycle: 8.0.0 ships the guarded code, every migration works."""
    root = fixtures_root()
    demo = sorted((root / "demo").glob("*.patch"))
    backport = sorted((root / "demo" / "stable-8.0").glob("*.patch"))
    repo, base, ids = build(root / "tree", [demo[0], backport[0], demo[1]], tmp_path / "qemu")
    on_release_root(repo, base, ids, "7.2.0", "8.0")
    m = matrix.from_repo(str(tmp_path / "qemu"), PROP)
    assert m.groups == []
    assert (7, 2) in m.fine
    assert "No migration between these releases fails" in matrix_text.render_text(m)


def test_bad_input_is_one_line_and_exit_2(demo, tmp_path):
    for args in (["matrix", "-C", str(demo), "no-such-property"],
                 ["matrix", "-C", str(demo), "--rev", "nope", PROP],
                 ["matrix", "-C", str(demo), "--release", "8.x=HEAD", PROP],
                 ["matrix", "-C", str(demo), "--release", "8.0.1=nope", PROP],
                 ["matrix", "-C", str(tmp_path), PROP],
                 ["matrix", "-C", str(tmp_path / "missing"), PROP]):
        r = qlint(*args)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr, r.stderr


def test_unknown_property_raises_input_error(demo):
    with pytest.raises(InputError):
        matrix.from_repo(str(demo), "x-no-such")


def test_post_release_review_comment_carries_the_matrix(demo):
    """The review of the fix includes the table and the rescue (the demo's last patch)."""
    r = qlint("demo")
    assert "Migrations between releases, and the rescue:" in r.stdout
    assert f"-global pci-device.{PROP}=on" in r.stdout
    j = json.loads(qlint("demo", "--format", "json").stdout)
    notes = [f for f in j["findings"] if f["rule"] == "compat-entry-wrong-version"]
    assert notes and notes[0]["matrix"]["machine_groups"][0]["rescue"][0]["started_on"] == "8.0.0"


_MACHINE_C = """\
/* test tree */
GlobalProperty hw_compat_7_2[] = {
%s};
const size_t hw_compat_7_2_len = G_N_ELEMENTS(hw_compat_7_2);
"""

_DEV_C = """\
/* test tree */
static Property acme_props[] = {
%s    DEFINE_PROP_END_OF_LIST(),
};

static void acme_realize(DeviceState *dev, Error **errp)
{
    AcmeState *s = ACME(dev);

%s}

static void acme_class_init(ObjectClass *klass, void *data)
{
    DeviceClass *dc = DEVICE_CLASS(klass);

    dc->realize = acme_realize;
    device_class_set_props(dc, acme_props);
}

static const TypeInfo acme_info = {
    .name = "acme-dev",
    .parent = TYPE_DEVICE,
    .class_init = acme_class_init,
};
"""


def _commit(repo: pygit2.Repository, parent, files: dict[str, str], message: str):
    idx = pygit2.Index()
    if parent:
        idx.read_tree(repo[parent].peel(pygit2.Commit).tree)
    for path, text in files.items():
        idx.add(pygit2.IndexEntry(path, repo.create_blob(text.encode()), pygit2.enums.FileMode.BLOB))
    sig = pygit2.Signature("T", "t@example.invalid", 1700000000, 0)
    return repo.create_commit("refs/heads/master", sig, sig, message, idx.write_tree(repo), [parent] if parent else [])


def test_a_fix_that_reshapes_the_code_is_traced_through_the_lines_it_replaced(tmp_path):
    """The fix does not guard the broken statement, it rewrites it: the releases that ran the
    broken code are found through the line the fix removed, so 8.0.0 is the broken release."""
    repo = pygit2.init_repository(str(tmp_path / "q"), bare=True)
    old = "    s->regs[0] = ACME_REG_LEGACY;\n"
    new = "    s->regs[0] = acme_compute_reg(s, ACME_REG_LEGACY);\n"
    c = _commit(repo, None, {"VERSION": "7.2.0\n", "hw/core/machine.c": _MACHINE_C % "",
                             "hw/misc/acme.c": _DEV_C % ("", old)}, "Update version for v7.2.0 release\n")
    c = _commit(repo, c, {"VERSION": "7.2.50\n"}, "Open 8.0 development tree\n")
    c = _commit(repo, c, {"hw/misc/acme.c": _DEV_C % ("", new)}, "acme: compute the register\n")
    c = _commit(repo, c, {"VERSION": "8.0.0\n"}, "Update version for v8.0.0 release\n")
    c = _commit(repo, c, {"VERSION": "8.0.50\n"}, "Open 8.1 development tree\n")
    prop = '    DEFINE_PROP_BOOL("x-legacy-reg", AcmeState, legacy_reg, false),\n'
    fixed = "    s->regs[0] = s->legacy_reg ? ACME_REG_LEGACY : acme_compute_reg(s, ACME_REG_LEGACY);\n"
    fix = _commit(repo, c, {"hw/misc/acme.c": _DEV_C % (prop, fixed),
                            "hw/core/machine.c": _MACHINE_C % '    { "acme-dev", "x-legacy-reg", "on" },\n'},
                  "acme: keep the legacy register for 7.2 machines\n")
    m = matrix.from_repo(str(tmp_path / "q"), str(fix))
    g = _group(m)
    assert {k: mx.display(v) for k, v in g.values.items()} == {
        "7.2.0": "on", "8.0.0": "off", "8.0.50 (HEAD)": "on"}
    assert g.works("7.2.0", "8.0.50 (HEAD)") and g.works("8.0.0", "8.0.50 (HEAD)") is False
    assert g.rescue[0]["option"] == "-global acme-dev.x-legacy-reg=off"


def test_a_tie_between_restored_values_does_not_depend_on_the_hash_seed(tmp_path):
    """Two values restored as often as each other: the summary takes the first in the tree's
    order, in every process (a set's order changes with PYTHONHASHSEED)."""
    from qlint.analyzer.sources.fixture_repo import commit_change

    repo, base, ids = build(fixtures_root() / "tree", [], tmp_path / "repo")
    top = ids[-1] if ids else base
    text = repo.revparse_single(top).tree["hw/core/machine.c"].data
    for array in (b"hw_compat_7_1", b"hw_compat_7_0"):
        head = b"GlobalProperty " + array + b"[] = {\n"
        assert head in text
        text = text.replace(head, head + b'    { "acme-nic", "rx-queues", "2" },\n')
    commit_change(repo, top, "tie\n", "HEAD", files={"hw/core/machine.c": text})
    seen = set()
    for seed in range(8):
        r = subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", "matrix", "-C", str(tmp_path / "repo"),
                            "--format", "json", "acme-nic.rx-queues"],
                           capture_output=True, text=True, env={**__import__("os").environ, "PYTHONHASHSEED": str(seed)})
        assert r.returncode == 0, r.stderr
        seen.add(json.loads(r.stdout)["restored_by_compat"])
    assert len(seen) == 1
