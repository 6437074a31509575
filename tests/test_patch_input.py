"""--patch: mailing-list input applied in memory, and everything hostile it may carry."""

from __future__ import annotations

import hashlib
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qlint.analyzer.change import InputError
from qlint.analyzer.engine import review
from qlint.analyzer.fixture_repo import build, case_patches
from qlint.analyzer.mbox import review_patch, split_mails

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AER = FIXTURES / "examples" / "pci-config-unguarded" / "invalid" / "aer-mask-unguarded"
SERIES = FIXTURES / "examples" / "compat-entry-missing" / "valid" / "series-later-patch"


def qlint(*args, stdin=None):
    return subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", *args], capture_output=True, input=stdin)


@pytest.fixture(scope="module")
def repo(tmp_path_factory):
    path = tmp_path_factory.mktemp("base") / "repo"
    build(FIXTURES / "tree", [], path)
    return path


def _tree_digest(path: Path) -> str:
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode() + p.read_bytes())
    return h.hexdigest()


def _one_line_error(r):
    err = r.stderr.decode()
    return r.returncode == 2 and len(err.strip().splitlines()) == 1 and "Traceback" not in err


def test_format_patch_file(repo):
    _, patches = case_patches(AER)
    r = qlint("-C", str(repo), "--patch", str(patches[0]))
    assert r.returncode == 1
    assert b"[pci-config-unguarded]" in r.stdout and b"pcie_aer_init" in r.stdout


def test_mbox_series_keeps_numbering_and_message_ids(repo):
    _, patches = case_patches(SERIES)
    cover = (b"From 0000 Mon Sep 17 00:00:00 2001\nFrom: Ada <ada@example.invalid>\n"
             b"Subject: [PATCH v3 0/2] hw/pci/aer: uncorrectable error mask\nMessage-Id: <cover@x>\n\n"
             b"Cover letter, no diff.\n")
    mails = []
    for i, p in enumerate(patches, 1):
        text = p.read_bytes().replace(b"\nSubject: [PATCH", b"\nMessage-Id: <p%d@x>\nSubject: [PATCH v3" % i, 1)
        mails.append(text)
    data = cover + b"".join(mails)
    parsed = split_mails(data)
    assert [(m.index, m.total, m.message_id) for m in parsed] == [(1, 2, "<p1@x>"), (2, 2, "<p2@x>")]
    series = review_patch(str(repo), data, "HEAD", "series.mbox")
    rep = review(series)
    # the obligation of patch 1 is met by patch 2: a note, no error
    assert not rep.errors
    assert any(f.rule == "compat-entry-missing" and f.severity == "note" and f.patch_index == 1 for f in rep.findings)
    r = qlint("-C", str(repo), "--patch", "-", "--format", "email", stdin=data)
    assert r.returncode == 0 and b"Message-Id: <p1@x>" in r.stdout


def test_plain_unified_diff_and_crlf(repo):
    _, patches = case_patches(AER)
    text = patches[0].read_bytes()
    diff = text[text.index(b"diff --git"):]
    r1 = qlint("-C", str(repo), "--patch", "-", stdin=diff)
    r2 = qlint("-C", str(repo), "--patch", "-", stdin=text.replace(b"\n", b"\r\n"))
    assert r1.returncode == r2.returncode == 1
    assert b"pcie_aer_init" in r1.stdout and b"pcie_aer_init" in r2.stdout


@pytest.mark.parametrize(
    "payload, words",
    [
        (b"", b"empty"),
        (b"From ", b"no patches"),  # found by hypothesis: a From line and nothing else
        (b"From x\nSubject: hello\n\njust words\n", b"no patches"),
        (b"diff --git a/../etc/passwd b/../etc/passwd\n--- a/../etc/passwd\n+++ b/../etc/passwd\n@@ -1 +1 @@\n-a\n+b\n",
         b"unsafe path"),
        (b"diff --git a//etc/x b//etc/x\n--- a//etc/x\n+++ b//etc/x\n@@ -1 +1 @@\n-a\n+b\n", b"unsafe path"),
        (b"diff --git a/x b/x\n--- /etc/x\n+++ /etc/x\n@@ -1 +1 @@\n-a\n+b\n", b"not a unified diff"),
        (b"diff --git a/hw/pci/pcie_aer.c b/hw/pci/pcie_aer.c\n--- a/hw/pci/pcie_aer.c\n+++ b/hw/pci/pcie_aer.c\n"
         b"@@ -1,2 +1,2 @@\n-no such line here\n+x\n context that is not there\n", b"does not apply"),
        (b"diff --git a/hw/nope.c b/hw/nope.c\n--- a/hw/nope.c\n+++ b/hw/nope.c\n@@ -1 +1 @@\n-a\n+b\n",
         b"not in the base tree"),
    ],
)
def test_hostile_input_is_one_line_exit_2_and_writes_nothing(repo, payload, words):
    before = _tree_digest(repo)
    r = qlint("-C", str(repo), "--patch", "-", stdin=payload)
    assert _one_line_error(r), r.stderr
    assert words in r.stderr
    assert _tree_digest(repo) == before


def test_binary_and_non_utf8_patches_are_reviewed(repo):
    binary = (b"diff --git a/pc-bios/x.bin b/pc-bios/x.bin\nnew file mode 100644\nindex 0000000..1111111\n"
              b"GIT binary patch\nliteral 3\nKcmZ?wX8-^H00IC2\n\nliteral 0\nHcmV?d00001\n\n")
    r = qlint("-C", str(repo), "--patch", "-", stdin=binary)
    assert r.returncode in (0, 2) and b"Traceback" not in r.stderr
    latin = (b"diff --git a/hw/net/acme_nic.c b/hw/net/acme_nic.c\n--- a/hw/net/acme_nic.c\n+++ b/hw/net/acme_nic.c\n"
             b"@@ -1,1 +1,2 @@\n+/* Fran\xe7ois was here */\n")
    first = (repo / "hw/net/acme_nic.c").read_bytes().split(b"\n", 1)[0]
    latin += b" " + first + b"\n"
    r = qlint("-C", str(repo), "--patch", "-", stdin=latin)
    assert r.returncode == 0, r.stderr


def test_oversized_input_is_refused(repo):
    big = b"diff --git a/x.c b/x.c\n" + b"+" + b"x" * (33 * 1024 * 1024) + b"\n"
    r = qlint("-C", str(repo), "--patch", "-", stdin=big)
    assert _one_line_error(r) and b"MiB" in r.stderr


_REAL = case_patches(AER)[1][0].read_bytes()


@settings(max_examples=600, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.data())
def test_generated_patches_never_crash(repo, data):
    """Mutated real patches and random bytes: a review or an InputError, nothing else."""
    lines = _REAL.split(b"\n")
    kind = data.draw(st.sampled_from(["drop", "dup", "junk", "bytes", "swap"]))
    if kind == "bytes":
        payload = data.draw(st.binary(max_size=400))
    else:
        i = data.draw(st.integers(0, len(lines) - 1))
        if kind == "drop":
            lines = lines[:i] + lines[i + 1:]
        elif kind == "dup":
            lines = lines[:i] + [lines[i]] + lines[i:]
        elif kind == "swap" and i + 1 < len(lines):
            lines[i], lines[i + 1] = lines[i + 1], lines[i]
        else:
            lines = lines[:i] + [data.draw(st.binary(max_size=60))] + lines[i:]
        payload = b"\n".join(lines)
    try:
        review(review_patch(str(repo), payload, "HEAD", "fuzz"))
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)


@settings(max_examples=1500, deadline=None)
@given(st.text(alphabet=st.sampled_from(list("{}();,=*&|!<>+-[]#\n \tabcdefPCI_xyz0123\"\\")), max_size=300))
def test_c_model_tolerates_any_text(src):
    from qlint.analyzer import cparse

    cparse.parse("fuzz.c", src.encode())


_HEADER = st.sampled_from([b"From: ", b"Subject: ", b"Message-Id: ", b"Content-Type: ", b"Content-Transfer-Encoding: ",
                           b"X-Junk: ", b"Based-on: "])


@settings(max_examples=800, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(st.lists(st.tuples(st.lists(st.tuples(_HEADER, st.binary(max_size=40)), max_size=5),
                          st.booleans(), st.binary(max_size=120)), min_size=0, max_size=4))
def test_generated_mboxes_never_crash(repo, mails):
    """Random mbox structure around a real diff: a review or an InputError."""
    out = b""
    for headers, with_diff, body in mails:
        out += b"From 1234 Mon Sep 17 00:00:00 2001\n"
        out += b"".join(h + v.replace(b"\n", b" ") + b"\n" for h, v in headers)
        out += b"\n" + body + b"\n"
        if with_diff:
            out += _REAL[_REAL.index(b"diff --git"):]
    try:
        review(review_patch(str(repo), out, "HEAD", "fuzz"))
    except InputError as exc:
        assert str(exc) and "\n" not in str(exc)


_AER_FILE_HDR = b"diff --git a/hw/pci/pcie_aer.c b/hw/pci/pcie_aer.c\n--- a/hw/pci/pcie_aer.c\n+++ b/hw/pci/pcie_aer.c\n"


def test_an_in_memory_file_is_hashed_once_however_often_its_id_is_asked(monkeypatch):
    from qlint.analyzer import change

    calls = []
    real = change.hashlib.sha1

    class Counting:
        @staticmethod
        def sha1(data):
            calls.append(len(data))
            return real(data)

    monkeypatch.setattr(change, "hashlib", Counting)
    snap = change.OverlaySnapshot(change.EmptySnapshot(), {"hw/a.c": b"x" * 100000}, "mem")
    for _ in range(1000):
        assert snap.blob_id("hw/a.c")
    assert snap.read_oid(snap.blob_id("hw/a.c")) == b"x" * 100000
    assert len(calls) == 1
    trees = change.SeriesTrees(snap)
    tip = trees.add({"hw/b.c": b"y" * 100000}, "tip")
    for _ in range(1000):
        assert tip.blob_id("hw/b.c") and tip.blob_id("hw/a.c")
    assert tip.read_oid(tip.blob_id("hw/b.c")) == b"y" * 100000
    assert len(calls) == 2


def test_a_config_write_per_line_hashes_the_patched_file_a_few_times_only(repo, monkeypatch):
    from qlint.analyzer import change

    calls = []
    real = change.hashlib.sha1
    monkeypatch.setattr(change, "hashlib", type("H", (), {"sha1": staticmethod(lambda d: calls.append(1) or real(d))}))
    writes = b"".join(b"+    pci_set_long(dev->config + offset + 0x%x, %d);\n" % (4 * i, i) for i in range(2000))
    diff = (_AER_FILE_HDR + b"@@ -16,2 +16,2002 @@ int pcie_aer_init(PCIDevice *dev, uint8_t cap_ver, uint16_t offset,\n"
            b"     pcie_add_capability(dev, PCI_EXT_CAP_ID_ERR, cap_ver, offset, size);\n" + writes
            + b"     dev->aer_cap = offset;\n")
    review(review_patch(str(repo), diff, "HEAD", "writes"))
    assert 0 < len(calls) < 10
