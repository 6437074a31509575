"""--patch: mailing-list input applied in memory, and everything hostile it may carry."""

from __future__ import annotations

import hashlib
import re
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from qlint.analyzer.change import EmptySnapshot, InputError, OverlaySnapshot
from qlint.analyzer.engine import review
from qlint.analyzer.sources.fixture_repo import build, case_patches
from qlint.analyzer.sources.mbox import apply_series, review_patch, split_mails

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
        # git strips one component: "/etc/x" is etc/x in the tree, as git apply says
        (b"diff --git a/x b/x\n--- /etc/x\n+++ /etc/x\n@@ -1 +1 @@\n-a\n+b\n", b"etc/x is not in the base tree"),
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
    from qlint.analyzer.cmodel import cparse

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


# --- applied as git am applies it (git itself is the reference) --------------------------------

sys.path.insert(0, str(Path(__file__).parent))
from patchref import (git, git_am, git_apply, mail, make_repo, multipart, part, qlint_tree,  # noqa: E402
                      split_format_patch)

TREE = {str(p.relative_to(FIXTURES / "tree")): p.read_bytes() for p in (FIXTURES / "tree").rglob("*") if p.is_file()}
AER_MAIL = _REAL
AER_HEAD, AER_MSG, AER_DIFF = split_format_patch(AER_MAIL)
AER_SUBJECT = b"[PATCH] hw/pci/aer: Implement the uncorrectable error mask register"
_AER_C, _AER_H = AER_DIFF.split(b"diff --git a/include", 1)
_AER_H = b"diff --git a/include" + _AER_H


@pytest.fixture(scope="module")
def gitrepo(tmp_path_factory):
    """The fixture tree committed by git itself, for git am to apply on."""
    return make_repo(tmp_path_factory.mktemp("gitref") / "repo", TREE)


def _reviews_the_aer_break(repo_path, data):
    r = qlint("-C", str(repo_path), "--patch", "-", stdin=data)
    assert r.returncode == 1, r.stderr
    assert b"[pci-config-unguarded]" in r.stdout and b"pcie_aer_init" in r.stdout
    return r


def _same_tree_as_git_am(gitrepo, data, base=None):
    ours = qlint_tree(base or TREE, data)
    theirs = git_am(gitrepo, data)
    assert theirs is not None, "git am refuses the mail: the test is wrong"
    assert ours == theirs


@pytest.mark.parametrize("ctype, cte", [(b"text/x-patch; charset=utf-8", b"base64"),
                                        (b"text/x-diff; charset=utf-8", b"quoted-printable"),
                                        (b"application/octet-stream", b"base64"),
                                        (b"text/plain; charset=utf-8", b"quoted-printable")])
def test_a_diff_in_a_mime_attachment_is_reviewed(repo, gitrepo, ctype, cte):
    data = multipart(AER_SUBJECT, [part(AER_MSG), part(AER_DIFF, ctype, cte, b"0001-aer.patch")])
    _reviews_the_aer_break(repo, data)
    _same_tree_as_git_am(gitrepo, data)


def test_an_inline_diff_and_one_more_in_an_attachment_are_both_applied(repo, gitrepo):
    data = multipart(AER_SUBJECT, [part(AER_MSG + b"---\n" + _AER_H), part(_AER_C, b"text/x-patch", b"base64", b"c.patch")])
    _reviews_the_aer_break(repo, data)
    _same_tree_as_git_am(gitrepo, data)


def test_a_whole_mail_in_base64_or_quoted_printable_is_reviewed(repo, gitrepo):
    import base64 as b64
    import quopri

    for cte, body in ((b"base64", b64.encodebytes(AER_MSG + AER_DIFF)),
                      (b"quoted-printable", quopri.encodestring(AER_MSG + AER_DIFF))):
        data = mail(AER_SUBJECT, body, b"Content-Transfer-Encoding: " + cte + b"\n")
        _reviews_the_aer_break(repo, data)
        _same_tree_as_git_am(gitrepo, data)


def test_a_traditional_diff_without_diff_git_lines_is_reviewed(repo, gitrepo):
    plain = re.sub(rb"diff --git [^\n]*\nindex [^\n]*\n", b"", AER_DIFF)
    assert b"diff --git" not in plain and plain.startswith(b"--- a/hw/pci/pcie_aer.c\n+++ b/hw/pci/pcie_aer.c\n@@")
    data = mail(AER_SUBJECT, AER_MSG + b"---\n" + plain)
    _reviews_the_aer_break(repo, data)
    _same_tree_as_git_am(gitrepo, data)


def test_a_signature_between_file_diffs_does_not_end_the_patch(repo, gitrepo):
    # the change that breaks comes after the "-- " line: git am applies it, so it is reviewed
    data = mail(AER_SUBJECT, AER_MSG + _AER_H + b"-- \n2.39.2\n\n" + _AER_C + b"-- \n2.39.2\n\n")
    _reviews_the_aer_break(repo, data)
    _same_tree_as_git_am(gitrepo, data)


def test_a_removed_line_that_reads_like_a_signature_separator_stays_in_its_hunk(tmp_path):
    # a removed line "- " is "-- " in the patch: only the hunk's line counts say it is not a signature
    aer_c = TREE["hw/pci/pcie_aer.c"].replace(b"    pci_set_long(dev->config + offset + PCI_ERR_UNCOR_SEVER,",
                                              b"    /* todo:\n- \n     */\n    pci_set_long(dev->config + offset + PCI_ERR_UNCOR_SEVER,")
    base = {**TREE, "hw/pci/pcie_aer.c": aer_c}
    repo_path = make_repo(tmp_path / "repo", base)
    diff = (b"diff --git a/hw/pci/pcie_aer.c b/hw/pci/pcie_aer.c\n--- a/hw/pci/pcie_aer.c\n+++ b/hw/pci/pcie_aer.c\n"
            b"@@ -20,8 +20,9 @@ int pcie_aer_init(PCIDevice *dev, uint8_t cap_ver, uint16_t offset,\n"
            b"                  PCI_ERR_UNC_SUPPORTED);\n \n-    /* todo:\n-- \n-     */\n"
            b"+    pci_set_long(dev->config + offset + PCI_ERR_UNCOR_MASK,\n+                 PCI_ERR_UNC_MASK_DEFAULT);\n"
            b"+    pci_set_long(dev->wmask + offset + PCI_ERR_UNCOR_MASK,\n+                 PCI_ERR_UNC_SUPPORTED);\n"
            b"     pci_set_long(dev->config + offset + PCI_ERR_UNCOR_SEVER,\n"
            b"                  PCI_ERR_UNC_SEVERITY_DEFAULT);\n     pci_set_long(dev->wmask + offset + PCI_ERR_UNCOR_SEVER,\n"
            b"-- \n2.39.2\n\n")
    data = mail(AER_SUBJECT, AER_MSG + b"---\n" + _AER_H + diff)
    _reviews_the_aer_break(repo_path, data)
    _same_tree_as_git_am(repo_path, data, base)


def test_a_binary_patch_of_a_source_file_is_refused_not_skipped(tmp_path, repo):
    work = make_repo(tmp_path / "bin", TREE)
    (work / "hw/pci/pcie_aer.c").write_bytes(TREE["hw/pci/pcie_aer.c"] + b"\0binary\0")
    diff = git(work, "diff", "--binary").stdout
    assert b"GIT binary patch" in diff
    r = qlint("-C", str(repo), "--patch", "-", stdin=diff)
    assert _one_line_error(r) and b"hw/pci/pcie_aer.c" in r.stderr and b"binary" in r.stderr


def test_a_binary_patch_of_a_firmware_blob_is_skipped_and_the_rest_reviewed(repo):
    blob = (b"diff --git a/pc-bios/x.bin b/pc-bios/x.bin\nnew file mode 100644\nindex 0000000..1111111\n"
            b"GIT binary patch\nliteral 3\nKcmZ?wX8-^H00IC2\n\nliteral 0\nHcmV?d00001\n\n")
    _reviews_the_aer_break(repo, mail(AER_SUBJECT, AER_MSG + b"---\n" + blob + AER_DIFF))


def test_copy_then_modify_keeps_the_original(repo, gitrepo):
    nic = TREE["hw/net/acme_nic.c"].split(b"\n")
    copy = (b"diff --git a/hw/net/acme_nic.c b/hw/net/acme_nic2.c\nsimilarity index 95%\n"
            b"copy from hw/net/acme_nic.c\ncopy to hw/net/acme_nic2.c\n--- a/hw/net/acme_nic.c\n+++ b/hw/net/acme_nic2.c\n"
            b"@@ -1,3 +1,3 @@\n-" + nic[0] + b"\n+/* the second ACME NIC */\n " + nic[1] + b"\n " + nic[2] + b"\n")
    edit = (b"diff --git a/hw/net/acme_nic.c b/hw/net/acme_nic.c\n--- a/hw/net/acme_nic.c\n+++ b/hw/net/acme_nic.c\n"
            b"@@ -1,3 +1,4 @@\n " + nic[0] + b"\n+/* the first ACME NIC */\n " + nic[1] + b"\n " + nic[2] + b"\n")
    data = (mail(b"[PATCH 1/2] hw/net: Copy the ACME NIC", b"Copy.\n---\n" + copy)
            + mail(b"[PATCH 2/2] hw/net: Comment the first ACME NIC", b"Comment.\n---\n" + edit))
    r = qlint("-C", str(repo), "--patch", "-", stdin=data)
    assert r.returncode == 0, r.stderr
    _same_tree_as_git_am(gitrepo, data)
    series = review_patch(str(repo), data, "HEAD", "copy")
    assert [(f.status, f.path) for f in series.patches[0].files] == [("A", "hw/net/acme_nic2.c")]
    assert series.patches[1].new.read("hw/net/acme_nic.c").startswith(nic[0] + b"\n/* the first ACME NIC */\n")


def test_a_submodule_update_is_skipped_with_a_note(tmp_path):
    old, new = "1" * 40, "2" * 40
    repo_path = make_repo(tmp_path / "repo", TREE, gitlinks={"roms/seabios": old})
    sub = (f"diff --git a/roms/seabios b/roms/seabios\nindex {old[:7]}..{new[:7]} 160000\n--- a/roms/seabios\n"
           f"+++ b/roms/seabios\n@@ -1 +1 @@\n-Subproject commit {old}\n+Subproject commit {new}\n").encode()
    data = (mail(b"[PATCH 1/2] roms: Update seabios", b"Update.\n---\n" + sub)
            + mail(AER_SUBJECT.replace(b"[PATCH]", b"[PATCH 2/2]"), AER_MSG + AER_DIFF))
    assert git_am(repo_path, data) is not None
    r = _reviews_the_aer_break(repo_path, data)
    assert b"roms/seabios" in r.stderr and b"submodule" in r.stderr and b"not reviewed" in r.stderr


def _big_file(n):
    return b"".join(b"    x = step(x, %d);\n" % i for i in range(n))


def test_a_hunk_far_from_its_stated_line_is_found_as_git_apply_finds_it(tmp_path):
    base = {"hw/misc/big.c": _big_file(6000)}
    repo_path = make_repo(tmp_path / "repo", base)
    diff = (b"diff --git a/hw/misc/big.c b/hw/misc/big.c\n--- a/hw/misc/big.c\n+++ b/hw/misc/big.c\n"
            b"@@ -10,3 +10,3 @@\n     x = step(x, 5000);\n-    x = step(x, 5001);\n+    x = step(x, -1);\n     x = step(x, 5002);\n")
    theirs = git_apply(repo_path, diff)
    assert theirs is not None
    assert qlint_tree(base, diff) == theirs


def test_of_two_equally_far_places_the_forward_one_wins_as_in_git(tmp_path):
    block = b"    a();\n    b();\n    c();\n"
    text = _big_file(40) + block + _big_file(41) + block + _big_file(40)
    base = {"hw/misc/two.c": text}
    repo_path = make_repo(tmp_path / "repo", base)
    # stated exactly between the two copies of the block (lines 41 and 85)
    diff = (b"diff --git a/hw/misc/two.c b/hw/misc/two.c\n--- a/hw/misc/two.c\n+++ b/hw/misc/two.c\n"
            b"@@ -63,3 +63,3 @@\n     a();\n-    b();\n+    B();\n     c();\n")
    theirs = git_apply(repo_path, diff)
    assert theirs is not None and theirs["hw/misc/two.c"].index(b"B()") > len(text) // 2
    assert qlint_tree(base, diff) == theirs


_AER_FILE_HDR = b"diff --git a/hw/pci/pcie_aer.c b/hw/pci/pcie_aer.c\n--- a/hw/pci/pcie_aer.c\n+++ b/hw/pci/pcie_aer.c\n"


@pytest.mark.parametrize("diff, words", [
    # a created file that exists
    (b"diff --git a/hw/pci/pcie_aer.c b/hw/pci/pcie_aer.c\nnew file mode 100644\n--- /dev/null\n+++ b/hw/pci/pcie_aer.c\n"
     b"@@ -0,0 +1 @@\n+int x;\n", b"already exists"),
    # counts too small: the hunk ends before its trailing context and must then match at the end of the file
    (AER_DIFF.replace(b"@@ -19,6 +19,11 @@", b"@@ -19,3 +19,8 @@"), b"does not apply: hw/pci/pcie_aer.c hunk 1"),
    (AER_DIFF.replace(b"@@ -19,6 +19,11 @@", b"@@ -19,6 +19,-11 @@"), b"corrupt patch"),
    (AER_DIFF.replace(b"@@ -19,6 +19,11 @@", b"@@ -19,six +19,11 @@"), b"corrupt patch"),
    # a deletion with no hunks of a file that has contents
    (b"diff --git a/hw/pci/pcie_aer.c b/hw/pci/pcie_aer.c\ndeleted file mode 100644\nindex 557bfd5..0000000\n",
     b"leaves file contents"),
])
def test_what_git_apply_refuses_is_exit_2(repo, gitrepo, diff, words):
    data = mail(AER_SUBJECT, AER_MSG + diff)
    assert git_am(gitrepo, data) is None
    r = qlint("-C", str(repo), "--patch", "-", stdin=data)
    assert _one_line_error(r), r.stderr
    assert words in r.stderr


def _series(*mails):
    return b"".join(mail(subject, body) for subject, body in mails)


def test_a_series_with_a_missing_patch_says_so_instead_of_renumbering(repo):
    _, (p1, p2) = case_patches(SERIES)
    one = p1.read_bytes().replace(b"[PATCH 1/2]", b"[PATCH 1/3]")
    three = p2.read_bytes().replace(b"[PATCH 2/2]", b"[PATCH 3/3]")
    r = qlint("-C", str(repo), "--patch", "-", stdin=one + three)
    assert _one_line_error(r) and b"2/3" in r.stderr and b"missing" in r.stderr


def test_the_first_patches_of_a_series_are_reviewed_with_a_note(repo):
    """0001-*.patch given alone is reviewable; the review says what it left out."""
    _, (p1, _p2) = case_patches(SERIES)
    r = qlint("-C", str(repo), "--patch", "-", "--format", "json", stdin=p1.read_bytes())
    assert r.returncode == 1, r.stderr
    assert b"patch 2/2 is not in the input: 1 of 2 reviewed" in r.stderr
    assert b"compat-entry-missing" in r.stdout


def test_a_patch_that_does_not_apply_is_named_with_its_subject(repo):
    _, (p1, p2) = case_patches(SERIES)
    one = p1.read_bytes().replace(b"[PATCH 1/2]", b"[PATCH 1/3]")
    three = p2.read_bytes().replace(b"[PATCH 2/2]", b"[PATCH 3/3]")
    two = mail(b"[PATCH 2/3] hw/pci: Tidy \x1b[31mthe AER\x1b[0m init",
               b"Tidy.\n---\n" + _AER_FILE_HDR + b"@@ -30,3 +30,3 @@\n not\n-in\n+the\n tree\n")
    r = qlint("-C", str(repo), "--patch", "-", stdin=one + two + three)
    assert r.returncode == 2 and b"\x1b" not in r.stderr
    assert r.stderr == (b'qlint: patch 2/3 "hw/pci: Tidy \\x1b[31mthe AER\\x1b[0m init": '
                        b"does not apply: hw/pci/pcie_aer.c hunk 1\n")


def test_a_subject_of_brackets_costs_linear_time(repo):
    # the [PATCH n/m] pattern took 27 s on 62 KiB of "[ " and four times as long per doubling
    data = AER_MAIL.replace(b"Subject: [PATCH]", b"Subject: [PATCH] " + b"[ " * (128 * 1024), 1)
    r = subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", "-C", str(repo), "--patch", "-"],
                       input=data, capture_output=True, timeout=60)
    assert r.returncode == 1 and b"pcie_aer_init" in r.stdout


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


def test_a_long_series_costs_what_its_changes_cost():
    import tracemalloc

    def peak(n):
        data = b"".join(mail(b"[PATCH %d/%d] hw/misc: Add f%d" % (i, n, i),
                             b"Add.\n---\ndiff --git a/hw/misc/f%d.c b/hw/misc/f%d.c\nnew file mode 100644\n"
                             b"--- /dev/null\n+++ b/hw/misc/f%d.c\n@@ -0,0 +1 @@\n+int f%d;\n" % (i, i, i, i))
                        for i in range(1, n + 1))
        base = OverlaySnapshot(EmptySnapshot(), {}, "empty")
        tracemalloc.start()
        patches = apply_series(split_mails(data), base, "long")
        size = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        assert patches[-1].new.read("hw/misc/f1.c") == b"int f1;\n" and len(patches) == n
        return size

    # each tree after a patch used to copy every earlier change: memory grew with the square
    assert peak(800) < 3 * peak(400)


def test_input_over_the_limit_is_read_no_further(tmp_path, repo):
    from qlint.analyzer.sources.mbox import MAX_INPUT, read_input

    huge = tmp_path / "huge.mbox"
    with open(huge, "wb") as f:
        f.truncate(MAX_INPUT * 4)
    assert len(read_input(str(huge))) == MAX_INPUT + 1
    r = qlint("-C", str(repo), "--patch", str(huge))
    assert _one_line_error(r) and b"32 MiB" in r.stderr


def test_a_series_longer_than_the_limit_is_refused_naming_it(repo):
    from qlint.analyzer.sources.mbox import MAX_PATCHES

    n = MAX_PATCHES + 1
    data = b"".join(mail(b"[PATCH %d/%d] x" % (i, n), b"x\n---\n" + _AER_FILE_HDR + b"@@ -1 +1 @@\n-a\n+b\n")
                    for i in range(1, n + 1))
    r = qlint("-C", str(repo), "--patch", "-", stdin=data)
    assert _one_line_error(r) and str(MAX_PATCHES).encode() in r.stderr


def test_non_utf8_paths_subjects_and_text_pass_through_unchanged(repo, gitrepo):
    diff = (b'diff --git "a/hw/misc/caf\\351.c" "b/hw/misc/caf\\351.c"\nnew file mode 100644\nindex 0000000..1111111\n'
            b'--- /dev/null\n+++ "b/hw/misc/caf\\351.c"\n@@ -0,0 +1,2 @@\n+/* Fran\xe7ois */\n+int caf\xe9;\n')
    data = mail(b"[PATCH] hw/misc: Add Fran\xe7ois's caf\xe9", b"Add.\n---\n" + diff)
    series = review_patch(str(repo), data, "HEAD", "latin")
    (patch,) = series.patches
    assert patch.subject.encode("utf-8", "surrogateescape") == b"hw/misc: Add Fran\xe7ois's caf\xe9"
    (fc,) = patch.files
    assert fc.path.encode("utf-8", "surrogateescape") == b"hw/misc/caf\xe9.c"
    assert fc.new_data == b"/* Fran\xe7ois */\nint caf\xe9;\n"
    _same_tree_as_git_am(gitrepo, data)


def test_encoded_words_in_a_subject_are_decoded(repo):
    data = mail(b"[PATCH] =?iso-8859-1?q?hw/misc:_Fran=E7ois?= =?utf-8?b?Y2Fmw6k=?=", AER_MSG + AER_DIFF)
    (patch,) = review_patch(str(repo), data, "HEAD", "words").patches
    assert patch.subject == "hw/misc: Françoiscafé"


def test_a_text_change_then_a_binary_deletion_of_one_file_in_one_mail(repo):
    blob = b"".join(b"word %d\n" % i for i in range(5))
    series = (mail(b"[PATCH 1/2] pc-bios: Add a table", b"Add.\n---\ndiff --git a/pc-bios/t.txt b/pc-bios/t.txt\n"
                   b"new file mode 100644\n--- /dev/null\n+++ b/pc-bios/t.txt\n@@ -0,0 +1,5 @@\n"
                   + b"".join(b"+" + ln for ln in blob.splitlines(keepends=True)))
              + mail(b"[PATCH 2/2] pc-bios: Replace the table", b"Replace.\n---\n"
                     b"diff --git a/pc-bios/t.txt b/pc-bios/t.txt\n--- a/pc-bios/t.txt\n+++ b/pc-bios/t.txt\n"
                     b"@@ -1,3 +1,3 @@\n word 0\n-word 1\n+word one\n word 2\n"
                     b"diff --git a/pc-bios/t.txt b/pc-bios/t.txt\ndeleted file mode 100644\nindex 1111111..0000000\n"
                     b"GIT binary patch\nliteral 0\nHcmV?d00001\n\n"))
    patches = review_patch(str(repo), series, "HEAD", "bin").patches
    assert patches[1].new.read("pc-bios/t.txt") is None
    assert [(f.status, f.old_path, f.binary) for f in patches[1].files] == [("D", "pc-bios/t.txt", True)]


def test_a_change_to_a_file_with_a_non_utf8_name_applies(tmp_path):
    name = b"hw/misc/caf\xe9.c".decode("utf-8", "surrogateescape")
    base = {**TREE, name: b"int a;\nint b;\nint c;\n"}
    repo_path = make_repo(tmp_path / "repo", base)
    diff = (b'diff --git "a/hw/misc/caf\\351.c" "b/hw/misc/caf\\351.c"\n--- "a/hw/misc/caf\\351.c"\n'
            b'+++ "b/hw/misc/caf\\351.c"\n@@ -1,3 +1,3 @@\n int a;\n-int b;\n+int b\xe9;\n int c;\n')
    data = mail(b"[PATCH] hw/misc: Rename b", b"Rename.\n---\n" + diff)
    _same_tree_as_git_am(repo_path, data, base)
    (patch,) = review_patch(str(repo_path), data, "HEAD", "latin").patches
    assert [(f.status, f.path, sorted(f.added), sorted(f.removed)) for f in patch.files] == [("M", name, [2], [2])]
