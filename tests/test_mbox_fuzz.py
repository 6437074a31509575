"""Fuzzing the --patch reader: mails, MIME, encodings and diffs, mutated and random.

The property: whatever the input, reading and applying it ends in a review or in qlint's own
one-line InputError, never another exception, and what is applied keeps to the tree.  Where git
is cheap enough to run, the result is also compared with real git apply / git am.
"""

from __future__ import annotations

import base64
import quopri
import re
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from qlint.analyzer.change import EmptySnapshot, InputError, OverlaySnapshot
from qlint.analyzer.sources.mbox import apply_series, split_mails

sys.path.insert(0, str(Path(__file__).parent))
from patchref import git_am, git_apply, mail, make_repo, multipart, part, qlint_tree, split_format_patch

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
TREE = {str(p.relative_to(FIXTURES / "tree")): p.read_bytes() for p in (FIXTURES / "tree").rglob("*") if p.is_file()}
BASE = OverlaySnapshot(EmptySnapshot(), TREE, "base")
AER = next((FIXTURES / "examples/pci-config-unguarded/invalid/aer-mask-unguarded").glob("0*.patch")).read_bytes()
SERIES = b"".join(p.read_bytes() for p in sorted((FIXTURES / "examples/compat-entry-missing/valid/series-later-patch")
                                                   .glob("0*.patch")))
_HEAD, _MSG, _DIFF = split_format_patch(AER)
_SUBJECT = b"[PATCH] hw/pci/aer: Implement the uncorrectable error mask register"
SEEDS = [
    AER,
    SERIES,
    mail(b"[PATCH v2 0/2] cover", b"Cover letter.\n\nBased-on: <x@y>\n") + SERIES,
    mail(_SUBJECT, _MSG + b"---\n" + re.sub(rb"diff --git [^\n]*\nindex [^\n]*\n", b"", _DIFF)),
    multipart(_SUBJECT, [part(_MSG), part(_DIFF, b"text/x-patch", b"base64", b"a.patch")]),
    multipart(_SUBJECT, [part(_MSG), part(_DIFF, b"text/x-diff", b"quoted-printable", b"a.patch")]),
    mail(_SUBJECT, base64.encodebytes(_MSG + _DIFF), b"Content-Transfer-Encoding: base64\n"),
    _DIFF,
]
_LINES = [b"-- ", b"From 02c52fab2b0be1a880bc0e1969324dccd02eecdf Mon Sep 17 00:00:00 2001", b"diff --git a/x b/x",
          b"--- a/hw/pci/pcie_aer.c", b"+++ b/hw/pci/pcie_aer.c", b"--- /dev/null", b"+++ /dev/null",
          b"@@ -1,3 +1,4 @@", b"@@ -0,0 +1 @@", b"\\ No newline at end of file", b"GIT binary patch", b"literal 12",
          b"delta 3", b"HcmV?d00001", b"", b"Binary files a/x and b/x differ", b"new file mode 100644",
          b"deleted file mode 100644", b"old mode 100644", b"new mode 160000", b"rename from hw/pci/pcie_aer.c",
          b"rename to hw/pci/aer.c", b"copy from ../etc/passwd", b"copy to hw/x.c",
          b"index 557bfd5..e3d2d60 160000", b"Subproject commit 0123456789012345678901234567890123456789",
          b"Content-Type: multipart/mixed; boundary=b", b"--b", b"--b--", b"Content-Transfer-Encoding: base64",
          b"Content-Transfer-Encoding: quoted-printable", b"Content-Type: text/plain; format=flowed; delsp=yes",
          b"Subject: [PATCH 2/3] x", b"Subject: =?utf-8?q?=1b[31m=0a?=", b"---", b"From: a@b", b"[PATCH] in-body",
          b'diff --git "a/hw/\\351.c" "b/hw/\\351.c"', b"diff --git a/.git/config b/.git/config", b"+\x00\xff",
          b"=", b"==41=", b" context", b"-removed", b"+added"]


def _check(data: bytes) -> None:
    """Read and apply ``data``: a list of patches or an InputError of one printable line."""
    try:
        patches = apply_series(split_mails(data), BASE, "fuzz")
    except InputError as exc:
        msg = str(exc)
        assert msg and msg.isprintable(), repr(msg)
        event(re.sub(r"[\d\W]+", " ", msg.split(": ")[-1])[:40])
        return
    event("reviewed")
    assert [p.index for p in patches] == list(range(patches[0].index, patches[0].index + len(patches)))
    for p in patches:
        for f in p.files:
            for path in (f.path, f.old_path):
                assert not path.startswith("/") and ".." not in path.split("/") and "\0" not in path
            assert f.new_data is None or isinstance(f.new_data, bytes)


def _mutate(data: bytes, draw) -> bytes:
    lines = data.split(b"\n")
    kind = draw(st.sampled_from(["drop", "dup", "swap", "insert", "hunk", "truncate", "flip", "cr", "wrap",
                                 "encode", "repeat", "quote"]))
    i = draw(st.integers(0, max(len(lines) - 1, 0)))
    if kind == "drop" and lines:
        del lines[i]
    elif kind == "dup" and lines:
        lines.insert(i, lines[i])
    elif kind == "swap" and i + 1 < len(lines):
        lines[i], lines[i + 1] = lines[i + 1], lines[i]
    elif kind == "insert":
        lines.insert(i, draw(st.one_of(st.sampled_from(_LINES), st.binary(max_size=40))))
    elif kind == "hunk":
        heads = [k for k, ln in enumerate(lines) if ln.startswith(b"@@ -")] or [i]
        k = draw(st.sampled_from(heads))
        num = st.one_of(st.integers(0, 70).map(lambda n: str(n).encode()), st.sampled_from(
            [b"-1", b"x", b"", b"99999999999999999999999999", b"4294967297", b"0" * 5000]))
        lines[k] = b"@@ -%s,%s +%s,%s @@" % (draw(num), draw(num), draw(num), draw(num))
    elif kind == "truncate":
        return data[:draw(st.integers(0, len(data)))]
    elif kind == "flip" and data:
        k = draw(st.integers(0, len(data) - 1))
        return data[:k] + bytes([draw(st.integers(0, 255))]) + data[k + 1:]
    elif kind == "cr":
        lines = [ln + b"\r" if draw(st.booleans()) else ln for ln in lines[:50]] + lines[50:]
    elif kind == "wrap":
        cte = draw(st.sampled_from([b"7bit", b"base64", b"quoted-printable", b"8bit"]))
        ctype = draw(st.sampled_from([b"text/plain", b"text/x-patch", b"text/plain; format=flowed",
                                      b"multipart/mixed; boundary=inner", b"application/octet-stream"]))
        return multipart(_SUBJECT, [part(b"Message.\n"), part(data, ctype, cte, b"p.diff")],
                         boundary=draw(st.sampled_from([b"b", b"--", b"=-x", b""])))
    elif kind == "encode":
        body = data.partition(b"\n\n")[2] or data
        return mail(_SUBJECT, base64.encodebytes(body) if draw(st.booleans()) else quopri.encodestring(body),
                    b"Content-Transfer-Encoding: " + draw(st.sampled_from([b"base64", b"quoted-printable"])) + b"\n")
    elif kind == "repeat":
        return data + data
    elif kind == "quote":
        raw = draw(st.binary(min_size=1, max_size=8))
        name = b'"b/hw/' + b"".join(b"\\%03o" % c for c in raw) + b'.c"'
        return data.replace(b"b/hw/pci/pcie_aer.c", name, draw(st.integers(1, 3)))
    return b"\n".join(lines)


_FUZZ = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                     HealthCheck.filter_too_much])


@settings(max_examples=3000, **_FUZZ)
@given(st.data())
def test_mutated_mails_end_in_a_review_or_one_line_error(data):
    mbox = data.draw(st.sampled_from(SEEDS))
    for _ in range(data.draw(st.integers(1, 4))):
        mbox = _mutate(mbox, data.draw)
    _check(mbox)


@settings(max_examples=1000, **_FUZZ)
@given(st.sampled_from([b"", b"From 1234 Mon Sep 17 00:00:00 2001\n", b"Subject: [PATCH 1/1] x\n\n",
                        b"Content-Type: multipart/mixed; boundary=b\n\n--b\n", b"diff --git a/VERSION b/VERSION\n"]),
       st.binary(max_size=3000))
def test_random_bytes_end_in_a_review_or_one_line_error(prefix, noise):
    _check(prefix + noise)


@settings(max_examples=1000, **_FUZZ)
@given(st.lists(st.one_of(st.sampled_from(_LINES), st.sampled_from(_DIFF.split(b"\n"))), max_size=60))
def test_diff_shaped_lines_end_in_a_review_or_one_line_error(lines):
    _check(b"\n".join(lines) + b"\n")


# --- the same answer as git ------------------------------------------------------------------

# lines repeat (every 23 lines within a run of 40): where a hunk lands depends on git's search order
_SMALL = {"hw/misc/a.c": b"".join(b"    s->r[%d] = %d;\n" % (i % 23, i // 40) for i in range(80)),
          "hw/misc/b.h": b"#define B 1\n#define C 2\n"}


@pytest.fixture(scope="module")
def small_repo(tmp_path_factory):
    return make_repo(tmp_path_factory.mktemp("fuzzgit") / "repo", _SMALL)


def _hunk(lines: list[bytes], start: int, size: int, draw) -> tuple[bytes, int, int]:
    """A correct hunk over lines[start:start+size] that replaces, inserts or removes a line in it."""
    edit = draw(st.integers(1, size - 2) if size > 2 and draw(st.integers(0, 4)) else st.integers(0, size - 1))
    how = draw(st.sampled_from(["replace", "replace", "insert", "remove"]))
    body, old, new = b"", 0, 0
    for k in range(start, min(start + size, len(lines))):
        if k != start + edit:
            body, old, new = body + b" " + lines[k], old + 1, new + 1
            continue
        added = draw(st.sampled_from([b"-- \n", b"x;\n", b"\n", b"- \n"]))
        if how != "insert":
            body, old = body + b"-" + lines[k], old + 1
        if how != "remove":
            body, new = body + b"+" + added, new + 1
        if how == "insert":
            body, old, new = body + b" " + lines[k], old + 1, new + 1
    return body, old, new


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                   HealthCheck.too_slow])
@given(st.data())
def test_hunks_apply_where_and_when_git_apply_applies_them(small_repo, data):
    lines = _SMALL["hw/misc/a.c"].splitlines(keepends=True)
    diff = b"diff --git a/hw/misc/a.c b/hw/misc/a.c\n--- a/hw/misc/a.c\n+++ b/hw/misc/a.c\n"
    at = 0
    for _ in range(data.draw(st.integers(1, 3))):
        if at >= len(lines) - 1:
            break
        start = data.draw(st.integers(at, len(lines) - 1))
        size = data.draw(st.integers(1, 7))
        body, old, new = _hunk(lines, start, size, data.draw)
        stated = start + 1 + data.draw(st.sampled_from([0] * 6 + [1, -1, 5, -7, 40, -60, 200]))
        old += data.draw(st.sampled_from([0] * 8 + [1, -1]))
        diff += b"@@ -%d,%d +%d,%d @@\n" % (max(stated, 0), max(old, 0), max(stated, 0), max(new, 0)) + body
        at = start + size
    if data.draw(st.booleans()):
        diff += data.draw(st.sampled_from([b"-- \n2.39.2\n", b"\\ No newline at end of file\n", b"garbage\n"]))
    ours = qlint_tree(_SMALL, diff)
    theirs = git_apply(small_repo, diff)
    event("git applies it" if theirs is not None else "git refuses it")
    assert (None if isinstance(ours, InputError) else ours) == theirs, (diff, ours)


@settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(st.data())
def test_mime_mails_are_read_as_git_am_reads_them(tmp_path_factory, data):
    """The AER patch sent the ways mail clients send it: split over parts, encoded, nested,
    with CRLF inside an encoded part, with an HTML copy; git am and qlint must agree."""
    repo = _am_repo(tmp_path_factory)
    at = _DIFF.index(b"diff --git a/include")
    pieces = data.draw(st.sampled_from([[_MSG + b"---\n" + _DIFF], [_MSG + b"---\n", _DIFF],
                                        [_MSG + b"---\n" + _DIFF[:at], _DIFF[at:]], [_MSG, _DIFF[:at], _DIFF[at:]]]))
    crlf = data.draw(st.booleans()) and data.draw(st.booleans())
    parts = []
    for p in pieces:
        cte = data.draw(st.sampled_from([b"7bit", b"base64", b"quoted-printable"]))
        ctype = data.draw(st.sampled_from([b"text/plain; charset=utf-8", b"text/x-patch", b"application/octet-stream"]))
        parts.append(part(p.replace(b"\n", b"\r\n") if crlf and cte != b"7bit" else p, ctype, cte, b"p.diff"))
    if data.draw(st.booleans()):
        k = data.draw(st.integers(0, len(parts) - 1))
        inner = multipart(b"x", parts[k:], boundary=b"inner").partition(b"\n\n")[2]
        parts[k:] = [b"Content-Type: multipart/mixed; boundary=inner\n\n" + inner]
    if data.draw(st.booleans()):
        parts.append(part(b"<html><pre>" + _DIFF + b"</pre></html>\n", b"text/html"))
    mbox = multipart(_SUBJECT, parts, boundary=data.draw(st.sampled_from([b"b", b"=_x", b"------=_Part_1"])))
    ours = qlint_tree(TREE, mbox)
    theirs = git_am(repo, mbox)
    event("git am applies it" if theirs is not None else "git am refuses it")
    assert (None if isinstance(ours, InputError) else ours) == theirs, (mbox, ours)


_AM_REPO: list[Path] = []


def _am_repo(tmp_path_factory) -> Path:
    if not _AM_REPO:
        _AM_REPO.append(make_repo(tmp_path_factory.mktemp("fuzzam") / "repo", TREE))
    return _AM_REPO[0]


_WORDS = [b"=?utf-8?q?hw/pci:_fix?=", b"=?iso-8859-1?b?RnJhbudvaXM=?=", b"[PATCH v2 3/7]", b"Re:", b"[RFC]", b"x",
          b"=?utf-8?q?broken", b"=?x?y?z?=", b"\xe7a", b"  "]


def _mailinfo_case(draw) -> bytes:
    """A mail with the headers, parts and encodings git mailinfo knows, shuffled and broken a little."""
    subject = b" ".join(draw(st.lists(st.sampled_from(_WORDS), min_size=1, max_size=4)))
    if draw(st.booleans()):
        subject = subject.replace(b" ", b"\n ", 1)  # folded
    text = draw(st.sampled_from([_MSG + b"---\n" + _DIFF, _MSG + _DIFF, b"From: Bob <b@c>\n\n" + _MSG + _DIFF,
                                 b"Subject: in-body\n\n" + _MSG + _DIFF, _DIFF, _MSG]))
    if draw(st.booleans()):
        text = text.replace(b"\n", b"\n" + draw(st.sampled_from([b"-- \n", b" \n", b"=\n", b"\r\n"])), 1)

    def encoded(payload: bytes) -> tuple[bytes, bytes]:
        cte = draw(st.sampled_from([b"7bit", b"base64", b"quoted-printable", b"BASE64", b"x-unknown"]))
        if cte.lower() == b"base64":
            payload = base64.encodebytes(payload)
        elif cte == b"quoted-printable":
            payload = quopri.encodestring(payload)
        return cte, payload

    ctype = draw(st.sampled_from([b"text/plain; charset=utf-8", b"text/plain; format=flowed", b"text/x-patch",
                                  b"text/plain; format=flowed; delsp=yes", b"multipart/mixed"]))
    if ctype != b"multipart/mixed":
        cte, body = encoded(text)
        return mail(subject, body, b"Content-Type: " + ctype + b"\nContent-Transfer-Encoding: " + cte + b"\n")
    boundary = draw(st.sampled_from([b"b", b"=_x y", b"--", b"Apple-Mail=_1"]))
    cut = draw(st.integers(0, len(text)))
    body = draw(st.sampled_from([b"", b"preamble\n"]))
    for piece in (text[:cut], text[cut:]):
        cte, payload = encoded(piece)
        sub = draw(st.sampled_from([b"text/plain", b"text/x-diff; name=p.diff", b"application/octet-stream"]))
        body += b"--" + boundary + b"\nContent-Type: " + sub + b"\nContent-Transfer-Encoding: " + cte + b"\n\n" + payload
        body += b"" if payload.endswith(b"\n") else b"\n"
    body += draw(st.sampled_from([b"--" + boundary + b"--\n", b"--" + boundary + b"--\nepilogue\n", b""]))
    quoted = draw(st.booleans())
    head = b"Content-Type: multipart/mixed; boundary=" + (b'"' + boundary + b'"' if quoted else boundary) + b"\n"
    return mail(subject, body, head)


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mails_are_split_as_git_mailinfo_splits_them(tmp_path_factory, data):
    """The patch text and the subject of a mail, as git mailinfo gives them."""
    from qlint.analyzer.sources.mbox import _MailInfo, cleanup_subject

    from patchref import git_mailinfo

    raw = _mailinfo_case(data.draw).replace(b"\r\n", b"\n")  # as git mailsplit leaves it
    ours = _MailInfo(raw)
    refused, subject, patch = git_mailinfo(tmp_path_factory.getbasetemp(), raw)
    event("git mailinfo refuses it" if refused else "git mailinfo reads it")
    if refused:
        with pytest.raises(InputError, match="git am refuses the mail too"):
            ours.read()
        return
    ours.read()
    assert b"".join(ours.patch) == patch
    header = re.sub(rb"[ \t\n\v\f\r]+", b" ", ours.main.get("Subject", b"")).strip()
    title = ours.inbody["Subject"] if ours.patch and "Subject" in ours.inbody else header
    if subject.isascii():  # git re-encodes the rest to UTF-8 its own way
        assert cleanup_subject(title) == subject
