"""Mailing-list input: a format-patch file, an mbox holding a series, or a plain unified diff.

The mails are read the way ``git am`` reads them (git mailsplit, then git mailinfo: MIME parts,
base64 and quoted-printable, format=flowed, in-body headers; the diff starts at the first line
that starts a patch), and each diff is applied in memory the way ``git apply`` applies it
(:mod:`gitapply`), one mail after the other, on a base snapshot: nothing is written anywhere.
Input comes from a public mailing list, so every way it can be wrong ends in an InputError (one
line, exit 2), never a traceback: garbage, a patch git would refuse, unsafe paths, an incomplete
series, something too large to review, a binary change to a source file.
"""

from __future__ import annotations

import binascii
import codecs
import re
import sys
from dataclasses import dataclass, field

from qlint.analyzer.change import FileChange, InputError, Patch, Series, SeriesTrees, Snapshot
from qlint.analyzer.sources.gitapply import (
    FilePatch,
    PatchError,
    Search,
    Text,
    apply_hunks,
    parse,
    show,
)
from qlint.analyzer.sources.gitsrc import wanted

MAX_INPUT = 32 * 1024 * 1024
MAX_MAILS = 5000  # a thread with its replies; more is not a series to review in one run
MAX_PATCHES = 1000
_SPACE = b" \t\n\v\f\r"
_MAX_BOUNDARIES = 4  # git mailinfo's stack: deeper MIME nesting is an error there too
_HEADERS = ("From", "Subject", "Date")


def read_input(name: str) -> bytes:
    """The bytes of ``--patch NAME`` ('-': standard input), read up to one byte over the limit."""
    try:
        if name == "-":
            return sys.stdin.buffer.read(MAX_INPUT + 1)
        with open(name, "rb") as f:
            return f.read(MAX_INPUT + 1)
    except OSError as exc:
        raise InputError(f"cannot read {name}: {exc.strerror}") from None


@dataclass
class Mail:
    subject: str  # what git am would commit as the subject ("" when the input has none)
    index: int
    total: int
    message_id: str | None
    based_on: str | None
    files: list[FilePatch] = field(default_factory=list)
    numbered: bool = False  # the subject says [PATCH n/m]
    reply: bool = False  # the subject starts with "Re:"
    error: str | None = None  # why git would refuse its diff


# --- git mailsplit ---------------------------------------------------------------------------

def _is_from_line(line: bytes) -> bool:
    """An mbox separator as git mailsplit sees one: "From " ... hh:mm:ss year, not any "From " line."""
    n = len(line)
    if n < 20 or not line.startswith(b"From "):
        return False
    k = line.rfind(b":", 5, n - 2)
    if k < 5 or not all(line[i:i + 1].isdigit() for i in (k - 4, k - 2, k - 1, k + 1, k + 2)):
        return False
    year = re.match(rb"[ \t\n\v\f\r]*([+-]?)(\d+)", line[k + 3:])
    return bool(year) and not year.group(1) == b"-" and (len(year.group(2)) > 18 or int(year.group(2)) > 90)


def _split_mbox(data: bytes) -> list[bytes]:
    """The mails of an mbox; an input that does not start with a separator is one mail."""
    data = data.lstrip(_SPACE)
    first = data.split(b"\n", 1)[0] + b"\n"
    if not _is_from_line(first):
        return [data]
    starts = [0]
    pos = data.find(b"\n") + 1
    while 0 < pos < len(data):
        if data.startswith(b"From ", pos):
            end = data.find(b"\n", pos)
            if _is_from_line(data[pos:end + 1 if end >= 0 else len(data)]):
                starts.append(pos)
                if len(starts) > MAX_MAILS:
                    raise InputError(f"the input holds more than {MAX_MAILS} mails; qlint reads at most "
                                     f"{MAX_MAILS} at once")
        nxt = data.find(b"\nFrom ", pos)
        pos = nxt + 1 if nxt >= 0 else 0
    return [data[a:b] for a, b in zip(starts, starts[1:] + [len(data)])]


# --- git mailinfo ----------------------------------------------------------------------------

_HEADER_NAME = re.compile(rb"[\x21-\x39\x3b-\x7e]*:")
_NOT_B64 = bytes(set(range(256)) - set(b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"))
_QP_BYTE = re.compile(rb"=(?:([0-9A-Fa-f]{2})|\n|\Z)")
_FORMAT_PATCH_FROM = re.compile(rb"From [0-9a-f]{40} Mon Sep 17 00:00:00 2001\n\Z")


def _cmp_header(line: bytes, name: str) -> bool:
    n = len(name)
    return (line[:n].lower() == name.lower().encode() and line[n:n + 1] == b":"
            and line[n + 1:n + 2] != b"" and line[n + 1] in _SPACE)


def _b64(seg: bytes) -> bytes:
    """git's decode_b_segment: non-alphabet bytes skipped, a partial group gives what it holds."""
    s = seg.translate(None, _NOT_B64)
    r = len(s) % 4
    if r == 1:
        s = s[:-1]
    elif r:
        s += b"=" * (4 - r)
    return binascii.a2b_base64(s)


def _qp(seg: bytes, rfc2047: bool) -> bytes:
    """git's decode_q_segment on each line: "=XX" is a byte, "=" at the end of a line joins it
    to the next (in one pass, so that a decoded "=" is never taken for one)."""
    if rfc2047:
        seg = seg.replace(b"_", b" ")
    return _QP_BYTE.sub(lambda x: bytes([int(x.group(1), 16)]) if x.group(1) else b"", seg)


def _decode_part(text: bytes, te: str) -> bytes:
    """A part's lines decoded as git mailinfo decodes them, each line on its own."""
    if te == "qp":
        return _qp(text, False)
    return b"".join(_b64(line) for line in text.split(b"\n"))


def _refused(header: bytes, why: str) -> InputError:
    return InputError(f'a mail header has {why} ("{show(header.strip(_SPACE))}"): git am refuses the mail too')


def _to_utf8(text: bytes, charset: bytes, header: bytes) -> bytes:
    name = charset.split(b"*", 1)[0].decode("ascii", "replace").strip().lower()
    if not name:
        return text
    try:
        info = codecs.lookup(name)
    except (LookupError, ValueError):
        raise _refused(header, f"an encoded word in an unknown charset {show(charset)}") from None
    if not info._is_text_encoding or info.name in ("utf-8", "idna", "punycode"):
        return text  # punycode and idna cost more than linear time on long words
    try:
        return text.decode(info.name, "surrogateescape").encode("utf-8", "surrogateescape")
    except (UnicodeError, ValueError, TypeError):
        return text


def _decode_header(it: bytes) -> bytes:
    """RFC 2047 encoded words decoded as git's decode_header does; an "=?" that starts no
    well-formed word makes git mailinfo fail, and so the mail is refused here too."""
    out: list[bytes] = []
    pos = 0
    while (ep := it.find(b"=?", pos)) >= 0:
        if ep != pos and (it[pos:ep].strip(_SPACE) or pos == 0):
            out.append(it[pos:ep])  # blanks between two encoded words are dropped
        q = it.find(b"?", ep + 2)
        end = it.find(b"?=", q + 3) if q >= 0 else -1
        kind = it[q + 1:q + 2].lower()
        if q < 0 or q + 3 > len(it) or it[q + 2:q + 3] != b"?" or end < 0 or kind not in (b"b", b"q"):
            raise _refused(it, "a malformed encoded word")
        word = it[q + 3:end]
        out.append(_to_utf8(_b64(word) if kind == b"b" else _qp(word, True), it[ep + 2:q], it))
        pos = end + 2
    out.append(it[pos:])
    return b"".join(out)


def _slurp_attr(line: bytes, name: bytes) -> bytes | None:
    at = line.lower().find(name)
    if at < 0:
        return None
    value = line[at + len(name):]
    if value.startswith(b'"'):
        return value[1:].split(b'"', 1)[0]
    return re.match(rb"[^; \t]*", value).group(0)


def _patchbreak(line: bytes) -> bool:
    """Where git mailinfo ends the message and starts the patch."""
    if line.startswith((b"diff -", b"Index: ")):
        return True
    if len(line) < 4 or not line.startswith(b"---"):
        return False
    if line[3] == 0x20 and (line[4:5] or b"\0")[0] not in _SPACE:
        return True
    rest = line[3:]
    blank = len(rest) - len(rest.lstrip(_SPACE))
    return b"\n" in rest[:blank]


def cleanup_subject(subject: bytes) -> bytes:
    """git mailinfo's subject: leading "Re:", blanks, colons and [...] groups removed, blanks squeezed."""
    i, n = 0, len(subject)
    while i < n:
        c = subject[i:i + 1]
        if c in (b"r", b"R"):
            if n <= i + 3 or subject[i + 1:i + 2] not in (b"e", b"E") or subject[i + 2:i + 3] != b":":
                break
            i += 3
        elif c in (b" ", b"\t", b":"):
            i += 1
        elif c == b"[":
            k = subject.find(b"]", i)
            if k < 0:
                break
            i = k + 1
        else:
            break
    return re.sub(rb"[ \t\n\v\f\r]+", b" ", subject[i:].strip(_SPACE))


class _MailInfo:
    """One mail read the way git mailinfo reads it: its headers, its message, its patch text.

    A port of mailinfo.c's line handling (headers with folding, MIME boundaries, transfer
    encodings decoded line by line, format=flowed, in-body From/Subject/Date), with one
    shortcut: once the patch has started, unencoded text is copied up to the next boundary
    in one piece.
    """

    def __init__(self, raw: bytes):
        self.raw = raw
        self.pos = len(raw) - len(raw.lstrip(_SPACE))
        self.main: dict[str, bytes] = {}
        self.inbody: dict[str, bytes] = {}
        self.message_id: bytes | None = None
        self.boundaries: list[bytes] = []
        self.te: str | None = None
        self.flowed = self.delsp = False
        self.in_patch = False
        self.header_stage = True
        self.accum: list[bytes] = []  # an in-body header and its continuation lines
        self.prev = bytearray()  # a partial line: decoded without its end yet, or flowed
        self.log: list[bytes] = []
        self.patch: list[bytes] = []

    def read(self) -> None:
        if self.pos >= len(self.raw):
            return
        while True:
            is_header, line = self._header_line()
            if not is_header:
                break
            self._check_header(line, main=True)
        if line is not None:
            self._body(line)

    # lines and headers

    def _getline(self) -> bytes | None:
        if self.pos >= len(self.raw):
            return None
        k = self.raw.find(b"\n", self.pos)
        end = len(self.raw) if k < 0 else k + 1
        line, self.pos = self.raw[self.pos:end], end
        return line

    def _header_line(self) -> tuple[bool, bytes | None]:
        line = self._getline()
        if line is None:
            return False, None
        line = line.rstrip(_SPACE)
        if not line or not (line.startswith((b"From ", b">From ")) or _HEADER_NAME.match(line)):
            return False, line + b"\n"
        parts = [line]
        while self.pos < len(self.raw) and self.raw[self.pos] in (0x20, 0x09):
            cont = self._getline()
            cont = cont[:-1] if cont.endswith(b"\n") else cont
            parts.append((b" " + cont[1:]).rstrip(_SPACE))
        return True, b"".join(parts)

    def _check_header(self, line: bytes, main: bool) -> bool:
        for name in _HEADERS:
            if (main or name not in self.main) and _cmp_header(line, name):
                self.main[name] = _decode_header(line[len(name) + 2:])
                return True
        if _cmp_header(line, "Content-Type"):
            self._content_type(b"Content-Type: " + _decode_header(line[14:]))
        elif _cmp_header(line, "Content-Transfer-Encoding"):
            value = _decode_header(line[27:]).lower()
            self.te = "base64" if b"base64" in value else "qp" if b"quoted-printable" in value else None
        elif _cmp_header(line, "Message-Id"):
            if main:
                self.message_id = _decode_header(line[12:]).strip(_SPACE)
        else:
            return False
        return True

    def _content_type(self, line: bytes) -> None:
        self.flowed = (_slurp_attr(line, b"format=") or b"").lower() == b"flowed"
        self.delsp = (_slurp_attr(line, b"delsp=") or b"").lower() == b"yes"
        boundary = _slurp_attr(line, b"boundary=")
        if boundary is not None:
            if len(self.boundaries) >= _MAX_BOUNDARIES:
                raise InputError(f"a mail nests MIME parts more than {_MAX_BOUNDARIES} deep (git am refuses it too)")
            self.boundaries.append(b"--" + boundary)

    # the body

    def _find_boundary(self) -> bytes | None:
        """Skip to the next line that starts with the innermost boundary; that line, without its newline."""
        if not self.boundaries:
            self.pos = len(self.raw)
            return None
        top = self.boundaries[-1]
        if not self.raw.startswith(top, self.pos):
            k = self.raw.find(b"\n" + top, self.pos)
            if k < 0:
                self.pos = len(self.raw)
                return None
            self.pos = k + 1
        line = self._getline()
        return line[:-1] if line.endswith(b"\n") else line

    def _boundary(self, line: bytes) -> bytes | None:
        """At a boundary line: the first line of the next part, or None when the mail is over."""
        while True:
            top = self.boundaries[-1]
            if line[len(top):len(top) + 2] != b"--":
                break
            self.boundaries.pop()
            self._filter(b"\n")
            line = self._find_boundary()
            if line is None:
                return None
        self.te = None
        while True:
            is_header, header = self._header_line()
            if not is_header:
                break
            self._check_header(header, main=False)
        nxt = self._getline()
        if nxt is None:
            return None
        return (nxt[:-1] if nxt.endswith(b"\n") else nxt) + b"\n"

    def _body(self, line: bytes) -> None:
        if self.boundaries:
            line = self._find_boundary()
            if line is None:
                return
        while True:
            if self.boundaries and line.startswith(self.boundaries[-1]):
                self._flush_prev()
                line = self._boundary(line)
                if line is None:
                    return
            if self.in_patch and not (self.te or self.flowed or self.prev):
                self.patch.append(line + self._to_boundary())
            elif self.te:
                # the part's lines up to its end, decoded at once: as git decodes them line by line
                self._decoded(_decode_part(line + self._to_boundary(), self.te))
            else:
                self._flowed(line)
            line = self._getline()
            if line is None:
                break
        self._flush_prev()
        self._flush_inbody()

    def _flush_prev(self) -> None:
        if self.prev:
            line, self.prev = bytes(self.prev), bytearray()
            self._filter(line)

    def _to_boundary(self) -> bytes:
        """The raw text from here to the next boundary line (or the end), consumed."""
        end = len(self.raw)
        if self.boundaries:
            k = self.raw.find(b"\n" + self.boundaries[-1], self.pos - 1)
            end = k + 1 if k >= 0 else end
        text = self.raw[self.pos:end]
        self.pos = max(end, self.pos)
        return text

    def _decoded(self, text: bytes) -> None:
        if b"\n" not in text:
            self.prev += text  # a partial line waits for the rest
            return
        text, self.prev = bytes(self.prev) + text, bytearray()
        end = text.rfind(b"\n") + 1
        pos = 0
        while pos < end:
            if self.in_patch and not self.flowed:
                self.patch.append(text[pos:end])
                break
            k = text.index(b"\n", pos) + 1
            self._flowed(text[pos:k])
            pos = k
        self.prev += text[end:]

    def _flowed(self, line: bytes) -> None:
        if not self.flowed:
            self._filter(line)
            return
        n = len(line)
        if line.endswith(b"\n"):
            n -= 1
            if n and line[n - 1] == 0x0D:
                n -= 1
        if line.startswith(b"-- ") and n == 3:  # a signature separator stays as it is
            self._flush_prev()
            self._filter(line)
            return
        if n and line[0] == 0x20:  # space-stuffed
            line = line[1:]
            n -= 1
        if n and line[n - 1] == 0x20:  # a soft line break: joined with the next line
            self.prev += line[:n - self.delsp]
            return
        line, self.prev = bytes(self.prev) + line, bytearray()
        self._filter(line)

    def _filter(self, line: bytes) -> None:
        if not self.in_patch:
            if not self._commit_msg(line):
                return
            self.in_patch = True
        self.patch.append(line)

    def _commit_msg(self, line: bytes) -> bool:
        if self.header_stage:
            if line in (b"", b"\n"):
                if self.accum:
                    self._flush_inbody()
                    self.header_stage = False
                return False
            self.header_stage = self._inbody_header(line)
            if self.header_stage:
                return False
        if _patchbreak(line):
            return True
        self.log.append(line)
        return False

    def _inbody_header(self, line: bytes) -> bool:
        if self.accum and line[:1] in (b" ", b"\t"):
            self.accum[-1] = self.accum[-1].removesuffix(b"\n")
            self.accum.append(line)
            return True
        self._flush_inbody()
        if line.startswith(b">From") and line[5:6] != b"" and line[5] in _SPACE:
            return bool(_FORMAT_PATCH_FROM.match(line[1:]))
        if line.startswith(b"[PATCH]") and line[7:8] != b"" and line[7] in _SPACE:
            self.inbody["Subject"] = line
            return True
        if any(name not in self.inbody and _cmp_header(line, name) for name in _HEADERS):
            self.accum.append(line)
            return True
        return False

    def _flush_inbody(self) -> None:
        if self.accum:
            header, self.accum = b"".join(self.accum), []
            name = next(n for n in _HEADERS if _cmp_header(header, n))
            self.inbody.setdefault(name, _decode_header(header[len(name) + 2:]))


# --- the series ------------------------------------------------------------------------------

def _numbering(subject: bytes) -> tuple[int, int] | None:
    """(n, m) of the first [... n/m] group of a subject."""
    for group in re.findall(rb"\[([^\[\]]*)\]", subject):
        words = group.split()
        m = re.fullmatch(rb"0*(\d{1,6})/0*(\d{1,6})", words[-1]) if words else None
        if m:
            return int(m.group(1)), int(m.group(2))
    return None


def _text(b: bytes) -> str:
    # surrogateescape keeps every byte, so a latin-1 subject or path survives the round trip
    return b.decode("utf-8", "surrogateescape")


def _read_mail(raw: bytes, diffs: bool = True) -> Mail:
    info = _MailInfo(raw)
    info.read()
    header = re.sub(rb"[ \t\n\v\f\r]+", b" ", info.main.get("Subject", b"")).strip()
    has_patch = bool(info.patch)
    title = info.inbody.get("Subject") if has_patch and "Subject" in info.inbody else header
    num = _numbering(header)
    patch = b"".join(info.patch)
    based = re.search(rb"^Based-on:[ \t]*(\S+)", b"".join(info.log) + b"\n" + patch[:65536], re.M)
    mail = Mail(_text(cleanup_subject(title)), num[0] if num else 1, num[1] if num else 1,
                _text(info.message_id) if info.message_id else None,
                _text(based.group(1)) if based else None,
                numbered=num is not None, reply=header[:3].lower() == b"re:")
    if has_patch and diffs:
        try:
            mail.files = parse(patch)
        except PatchError as exc:
            mail.error = str(exc)
    return mail


def _read_mails(data: bytes, diffs: bool = True) -> list[Mail]:
    if len(data) > MAX_INPUT:
        raise InputError(f"input is over {MAX_INPUT // (1024 * 1024)} MiB; qlint reviews at most "
                         f"{MAX_INPUT // (1024 * 1024)} MiB of patches at once")
    data = data.replace(b"\r\n", b"\n")  # as git mailsplit does without --keep-cr
    if not data.strip(_SPACE):
        raise InputError("no patches in the input (it is empty)")
    return [_read_mail(chunk, diffs) for chunk in _split_mbox(data)]


def _label(m: Mail) -> str:
    subject = f' "{show(m.subject.encode("utf-8", "surrogateescape"))}"' if m.subject else ""
    return f"patch {m.index}/{m.total}{subject}"


def _order(mails: list[Mail], notes: list[str]) -> list[Mail]:
    """The patches in [PATCH n/m] order: a CI bot must not review a series with a hole as if it
    were whole, nor see the rest renumbered.  The first k patches of a series (``0001-*.patch``
    given alone, say) are reviewable as they are: each applies on what precedes it.  The review
    says, in ``notes``, that the rest was not in the input."""
    if not any(m.numbered for m in mails):
        for i, m in enumerate(mails, 1):
            m.index, m.total = i, len(mails)
        return mails
    loose = next((m for m in mails if not m.numbered), None)
    if loose is not None:
        subject = show(loose.subject.encode("utf-8", "surrogateescape"))
        raise InputError(f'the series mixes [PATCH n/m] mails with "{subject}", which has no number')
    totals = sorted({m.total for m in mails})
    if len(totals) > 1:
        raise InputError(f"the mails belong to different series (some say n/{totals[0]}, some n/{totals[1]})")
    total = totals[0]
    seen: dict[int, Mail] = {}
    for m in mails:
        if m.index > total:
            raise InputError(f"{_label(m)}: numbered beyond the series")
        if m.index in seen:
            raise InputError(f"two mails are patch {m.index}/{total}: {_label(seen[m.index])} and {_label(m)}")
        seen[m.index] = m
    missing = [i for i in range(1, total + 1) if i not in seen]
    if missing and missing[0] > max(seen):
        k = missing[0] - 1
        absent = f"patch {total}/{total} is" if k + 1 == total else f"patches {k + 1}/{total} to {total}/{total} are"
        notes.append(f"{absent} not in the input: {k} of {total} reviewed, and an obligation that a "
                     "later patch meets is reported as unmet")
    elif missing:
        names = ", ".join(f"{i}/{total}" for i in missing[:5]) + (", ..." if len(missing) > 5 else "")
        raise InputError(f"the series is incomplete: patch {names} missing from the input "
                         f"({len(seen)} of {total} patches carry a diff)")
    return sorted(mails, key=lambda m: m.index)


def split_mails(data: bytes, notes: list[str] | None = None) -> list[Mail]:
    """The mails that carry a diff, in series order; InputError for an input git am would not take
    as a series or its first patches (what the review leaves out goes to ``notes``)."""
    mails = _read_mails(data)
    for m in mails:
        if not m.files and not m.error and m.numbered and m.index >= 1 and not m.reply:
            raise InputError(f"{_label(m)}: no diff in it (git am stops there: the patch is empty)")
    patches = [m for m in mails if m.files or m.error]
    if not patches:
        raise InputError("no patches in the input (no message carries a diff)")
    if len(patches) > MAX_PATCHES:
        raise InputError(f"the input holds {len(patches)} patches; qlint reviews at most {MAX_PATCHES} at once")
    return _order(patches, [] if notes is None else notes)


_UNSAFE_PART = re.compile(r"\A(?:|\.|\.\.|\.git[. ]*)\Z", re.I)


def _safe(name: bytes | None) -> str:
    path = _text(name or b"")
    if not path or path.startswith("/") or "\0" in path or any(_UNSAFE_PART.match(p) for p in path.split("/")):
        raise PatchError(f"unsafe path {show(name or b'')!r} in the patch")
    return path


def _line_count(data: bytes | None) -> int:
    return data.count(b"\n") + (not data.endswith(b"\n")) if data else 0


_DELETED = object()
_TO_DELETE = object()


@dataclass
class _Origin:
    """Where a path of the tree after a mail came from in the tree before it (None: new)."""

    old: str | None
    seq: int


class _MailApply:
    """One mail's file patches applied on a snapshot as git apply applies them: in order, a path
    patched twice applies to its first result, a renamed or deleted path is gone for the rest."""

    def __init__(self, prev: Snapshot, label: str, notes: list[str], search: Search):
        self.prev, self.label, self.notes, self.search = prev, label, notes, search
        self.table: dict[str, object] = {}
        self.origins: dict[str, _Origin] = {}
        self.deleted: dict[str, int] = {}
        self.binary: list[tuple[int, FileChange]] = []
        self.seq = 0
        self._read: dict[str, bytes | None] = {}

    def read(self, path: str) -> bytes | None:
        if path not in self._read:
            self._read[path] = self.prev.read(path)
        return self._read[path]

    def run(self, fps: list[FilePatch]) -> tuple[list[FileChange], dict[str, bytes | None]]:
        for fp in fps:
            if fp.new_name is None or fp.is_rename:
                self.table[_text(fp.old_name or b"")] = _TO_DELETE
        for fp in fps:
            self.seq += 1
            if fp.gitlink:
                self.notes.append(f"{self.label}: {show(fp.name)} is a submodule; its update is not reviewed")
            elif fp.binary:
                self._binary(fp)
            else:
                self._apply(fp)
        return self._files(), {p: (v.data() if isinstance(v, Text) else None) for p, v in self.table.items()
                               if v is not _TO_DELETE}

    @staticmethod
    def _paths(fp: FilePatch) -> tuple[str | None, str | None]:
        return (_safe(fp.old_name) if fp.old_name is not None else None,
                _safe(fp.new_name) if fp.new_name is not None else None)

    def _binary(self, fp: FilePatch) -> None:
        old, new = self._paths(fp)
        path = new or old or ""
        if wanted(path) or (old and wanted(old)):
            raise PatchError(f"{show(fp.name)} has a binary patch: qlint cannot review a binary change "
                             "to a source file")
        status = "D" if fp.is_delete > 0 else "A" if fp.is_new > 0 or fp.is_copy else "R" if fp.is_rename else "M"
        fc = FileChange(path="" if status == "D" else new or "", old_path="" if status == "A" else old or "",
                        status=status, old_data=None, new_data=None, binary=True)
        self.binary.append((self.seq, fc))
        if old is not None and status in "DR":
            self.table[old] = _DELETED  # its new text is not known: the path is just gone
            self.origins.pop(old, None)

    def _preimage(self, fp: FilePatch, old: str | None) -> Text:
        if old is None:
            return Text([], [])
        previous = None if fp.is_copy or fp.is_rename else self.table.get(old)
        if previous is _DELETED:
            raise PatchError(f"does not apply: {show(fp.old_name)} has been renamed or deleted by this patch")
        if isinstance(previous, Text):
            return previous
        data = self.read(old)
        if data is None:
            if fp.is_new < 0:  # a traditional diff of a file that is not there: a creation
                fp.is_new, fp.is_delete, fp.old_name = 1, 0, None
                return Text([], [])
            raise PatchError(f"does not apply: {show(fp.old_name)} is not in the base tree")
        return Text.of(data, numbered=not fp.is_copy)

    def _apply(self, fp: FilePatch) -> None:
        old, new = self._paths(fp)
        text = self._preimage(fp, old)
        if fp.old_name is None:
            old = None
        creates = new is not None and (fp.is_new > 0 or fp.is_rename or fp.is_copy)
        gone = self.table.get(new) is _DELETED or self.table.get(new) is _TO_DELETE
        if creates and not gone and self.prev.blob_id(new) is not None:
            raise PatchError(f"does not apply: {show(fp.new_name)} already exists")
        result = apply_hunks(text, fp, self.search)
        if fp.is_delete > 0 and result.lines:
            raise PatchError(f"does not apply: the deletion of {show(fp.old_name)} leaves file contents")
        origin = self._origin(fp, old)
        if new is not None:
            self.table[new] = result
            self.origins[new] = origin
        if old is not None and (new is None or (old != new and not fp.is_copy)):
            self.table[old] = _DELETED  # git writes a patch from one name to another as a rename
            if new is None and origin.old is not None:
                self.deleted[origin.old] = self.seq

    def _origin(self, fp: FilePatch, old: str | None) -> _Origin:
        if old is None or fp.is_copy:
            new = _text(fp.new_name or b"")
            back = self.deleted.pop(new, None)  # deleted, then created again: a change of that file
            return _Origin(new if back is not None else None, self.seq)
        if old in self.origins:
            return self.origins.pop(old)
        return _Origin(old, self.seq)

    def _files(self) -> list[FileChange]:
        out: list[tuple[int, FileChange]] = list(self.binary)
        for path, origin in self.origins.items():
            text = self.table[path]
            out.append((origin.seq, self._change(path, origin.old, text)))
        for old, seq in self.deleted.items():
            data = self.read(old)
            fc = FileChange(path="", old_path=old, status="D", old_data=data if wanted(old) else None, new_data=None)
            fc.removed = set(range(1, _line_count(data) + 1))
            out.append((seq, fc))
        return [fc for _, fc in sorted(out, key=lambda x: x[0])]

    def _change(self, path: str, old: str | None, text: Text) -> FileChange:
        status = "A" if old is None else "R" if old != path else "M"
        fc = FileChange(path=path, old_path=old or "", status=status, old_data=None, new_data=None)
        fc.added = {i for i, o in enumerate(text.origin, 1) if not o}
        if old is not None:
            n_old = _line_count(self.read(old))
            fc.removed = set(range(1, n_old + 1)) - set(text.origin)
        if wanted(path) or (old is not None and wanted(old)):
            fc.old_data = self.read(old) if old is not None else None
            fc.new_data = text.data()
        return fc


def apply_series(mails: list[Mail], base: Snapshot, description: str, notes: list[str] | None = None) -> list[Patch]:
    """Each mail's diff applied on the tree the mails before it leave; InputError naming the patch,
    file and hunk git would stop at."""
    notes = [] if notes is None else notes
    search = Search()
    trees = SeriesTrees(base)
    patches: list[Patch] = []
    prev: Snapshot = base
    for mail in mails:
        label = _label(mail)
        try:
            if mail.error:
                raise PatchError(mail.error)
            files, changes = _MailApply(prev, label, notes, search).run(mail.files)
        except PatchError as exc:
            raise InputError(f"{label}: {exc}") from None
        new = trees.add(changes, f"{description}#{mail.index}")
        ident = mail.message_id or f"{description}#{mail.index}"
        patches.append(Patch(ident=ident, short="", subject=mail.subject or "patch", files=files, old=prev,
                             new=new, index=mail.index, total=mail.total, message_id=mail.message_id))
        prev = new
    return patches


def review_patch(repo_path: str, data: bytes, base_rev: str, name: str) -> Series:
    from qlint.analyzer.sources.gitsrc import (
        GitSnapshot,
        ReleaseFinder,
        _resolve,
        open_repo,
        point_releases,
    )

    repo = open_repo(repo_path)
    commit = _resolve(repo, base_rev)
    base = GitSnapshot(repo, commit.tree, str(commit.id))
    notes: list[str] = []
    patches = apply_series(split_mails(data, notes), base, name, notes)
    finder = ReleaseFinder(repo)
    return Series(
        patches=patches,
        base=base,
        tip=patches[-1].new,
        description=name,
        release_lookup=lambda _s, v: (GitSnapshot(repo, finder.releases(commit)[v].tree, f"v{v[0]}.{v[1]}.0")
                                      if v in finder.releases(commit) else None),
        release_versions=lambda: sorted(finder.releases(commit)),
        point_releases=point_releases(repo, commit),
        notes=notes,
    )


def based_on(data: bytes) -> list[str]:
    """The Based-on: trailers of the mails (a cover letter's too)."""
    try:
        return [m.based_on for m in _read_mails(data, diffs=False) if m.based_on]
    except InputError:
        return []
