"""Patch text read and applied the way ``git apply`` (and so ``git am``) does it, in memory.

A port of the parts of git's apply.c that decide what a patch changes, with git am's defaults
(``-p1``, no fuzz, no whitespace fixing):

- a file's patch starts at a ``diff --git`` header, or at ``--- ``/``+++ `` lines followed by a
  hunk (a traditional diff); anything else between patches is ignored, as git ignores it;
- a hunk ends when its line counts are used up, so a ``-- `` line inside a hunk is a removed
  line and a mail signature after the last hunk is text between patches;
- names, creation, deletion, rename, copy and mode headers are read as git reads them;
- a hunk is searched at its stated line, then one line further, one line back, two further...
  over the whole file, and must match at the start or at the end of the file when it says so
  (a hunk at line 1 or 0; a hunk without trailing context).

What git refuses is refused here with git's reason: a :class:`PatchError`, one line.
"""

from __future__ import annotations

import bisect
import re
from dataclasses import dataclass, field

GITLINK = 0o160000
_S_IFMT = 0o170000
_ULONG_MAX = 2**64 - 1
_SPACE = b" \t\n\v\f\r"
_B85 = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz!#$%&()*+-;<=>?@^_`{|}~"
# Lines looked through to place the hunks of one run before qlint gives up (see Search).
MAX_SEARCH = 200_000_000


class PatchError(Exception):
    """A patch git would refuse; the message (one line) says why, in git's words where git has some."""


def show(b: bytes, limit: int = 80) -> str:
    """A path or a line of a patch for a one-line message: control bytes escaped, kept short."""
    text = b[:limit].decode("utf-8", "backslashreplace")
    text = "".join(c if c.isprintable() else repr(c)[1:-1] for c in text)
    return text + ("..." if len(b) > limit else "")


@dataclass
class Hunk:
    old_pos: int
    old_lines: int
    new_pos: int
    new_lines: int
    text: list[bytes]  # the lines after the @@ header, as in the patch
    leading: int
    trailing: int


@dataclass
class FilePatch:
    """One file's patch: names as bytes after ``-p1``, git's tri-state is_new/is_delete (-1: unknown)."""

    line: int  # where its header is in the patch text, from 1
    old_name: bytes | None = None
    new_name: bytes | None = None
    def_name: bytes | None = None
    is_new: int = -1
    is_delete: int = -1
    is_rename: bool = False
    is_copy: bool = False
    old_mode: int = 0
    new_mode: int = 0
    hunks: list[Hunk] = field(default_factory=list)
    binary: bool = False

    @property
    def name(self) -> bytes:
        return self.new_name or self.old_name or b""

    @property
    def gitlink(self) -> bool:
        return GITLINK in (self.old_mode & _S_IFMT, self.new_mode & _S_IFMT)

    def metadata_changes(self) -> bool:
        return bool(self.is_rename or self.is_copy or self.is_new > 0 or self.is_delete
                    or (self.old_mode and self.new_mode and self.old_mode != self.new_mode))


def split_lines(text: bytes) -> list[bytes]:
    """Lines split at LF only, each keeping it (the last one may have none)."""
    lines = text.split(b"\n")
    last = lines.pop()
    out = [ln + b"\n" for ln in lines]
    if last:
        out.append(last)
    return out


# --- names -----------------------------------------------------------------------------------

_QUOTED = re.compile(rb'"((?:[^"\\\n\0]|\\.)*)"')
_ESCAPE = re.compile(rb'(\\(?:[abfnrtv\\"]|[0-3][0-7]{2}))')
_ESCAPES = {b"a": b"\a", b"b": b"\b", b"f": b"\f", b"n": b"\n", b"r": b"\r", b"t": b"\t", b"v": b"\v",
            b"\\": b"\\", b'"': b'"'}


def _unquote(buf: bytes, i: int) -> tuple[bytes, int] | None:
    """A C-quoted name starting at buf[i] ('"'): (bytes, index after the closing quote), as git's
    unquote_c_style reads it (octal escapes carry the bytes of non-ASCII names)."""
    m = _QUOTED.match(buf, i)
    if not m:
        return None
    pieces = _ESCAPE.split(m.group(1))
    if any(b"\\" in plain for plain in pieces[::2]):
        return None  # a backslash git does not know
    for k in range(1, len(pieces), 2):
        e = pieces[k][1:]
        pieces[k] = _ESCAPES[e] if e in _ESCAPES else bytes([int(e, 8)])
    return b"".join(pieces), m.end()


def _squash(name: bytes) -> bytes:
    return re.sub(rb"//+", b"/", name)


def _name_gnu(line: bytes, p_value: int) -> bytes | None:
    q = _unquote(line, 0)
    if q is None:
        return None
    name = q[0]
    for _ in range(p_value):
        k = name.find(b"/")
        if k < 0:
            return None
        name = name[k + 1:]
    return _squash(name)


TERM_SPACE, TERM_TAB = 1, 2


_STOPS = {t: re.compile(b"[\n\r\v\f" + (b" " if t & TERM_SPACE else b"") + (b"\t" if t & TERM_TAB else b"") + b"]")
          for t in range(4)}


def _name_common(line: bytes, default: bytes | None, p_value: int, end: int | None, terminate: int) -> bytes | None:
    """A name up to ``end`` (or up to a blank git ends names at), less ``p_value`` leading components."""
    if end is None:
        m = _STOPS[terminate].search(line)
        end = m.start() if m else len(line)
    start: int | None = 0
    for _ in range(p_value):
        k = line.find(b"/", start, end)
        if k < 0:
            start = None
            break
        start = k + 1
    if start is None or start == end:
        return _squash(default) if default is not None else None
    name = line[start:end]
    # git prefers the shorter name when the other is that name with something tacked on ("x.c.orig")
    if default is not None and len(default) < len(name) and name.startswith(default):
        return _squash(default)
    return _squash(name)


def _find_name(line: bytes, default: bytes | None, p_value: int, terminate: int) -> bytes | None:
    if line.startswith(b'"'):
        name = _name_gnu(line, p_value)
        if name is not None:
            return name
    return _name_common(line, default, p_value, None, terminate)


def _timestamp_len(line: bytes) -> int:
    """Length of a diff timestamp ("\\t2010-07-05 19:41:17.62 -0500") ending the line; 0 if none."""
    end = len(line)
    if not end or not line[end - 1:end].isdigit():
        return 0
    if end >= 6 and re.fullmatch(rb" [+-]\d{4}", line[end - 6:end]):
        end -= 6
    elif end >= 7 and re.fullmatch(rb" [+-]\d\d:\d\d", line[end - 7:end]):
        end -= 7
    m = re.search(rb" \d\d:\d\d:\d\d(?:\.\d+)?\Z", line[max(0, end - 40):end])
    if m:
        end -= len(m.group(0))
    if not (end >= 8 and re.fullmatch(rb"\d\d-\d\d-\d\d", line[end - 8:end])):
        return 0
    end -= 8
    if end >= 2 and line[end - 2:end].isdigit():
        end -= 2
    if end == 0:
        return 0
    if line[end - 1] == 0x09:
        return len(line) - end + 1
    if line[end - 1] != 0x20:
        return 0
    return len(line) - len(line[:end].rstrip(b" "))


def _name_traditional(line: bytes, default: bytes | None, p_value: int) -> bytes | None:
    if line.startswith(b'"'):
        name = _name_gnu(line, p_value)
        if name is not None:
            return name
    text = line.split(b"\n", 1)[0]
    date = _timestamp_len(text)
    if not date:
        return _name_common(line, default, p_value, None, TERM_TAB)
    return _name_common(text, default, p_value, len(text) - date, 0)


_EPOCH = re.compile(rb"[0-2][0-9]:([0-5][0-9]):00(?:\.0+)? ([-+][0-2][0-9]:?[0-5][0-9])\n")


def _epoch_timestamp(line: bytes) -> bool:
    """GNU diff marks a creation or deletion with the epoch as the other side's timestamp."""
    text = line.split(b"\n", 1)[0] + b"\n"
    tab = text.rfind(b"\t")
    if tab < 0:
        return False
    stamp = text[tab + 1:]
    if stamp.startswith(b"1969-12-31 "):
        epoch_hour = 24
    elif stamp.startswith(b"1970-01-01 "):
        epoch_hour = 0
    else:
        return False
    m = _EPOCH.match(stamp, 11)
    if not m:
        return False
    hour, minute = int(stamp[11:13]), int(m.group(1))
    zone = m.group(2)
    z = int(zone[1:3]) * 60 + int(zone[-2:])
    z = -z if zone[:1] == b"-" else z
    return hour * 60 + minute - z == epoch_hour * 60


def _dev_null(line: bytes) -> bool:
    return line.startswith(b"/dev/null") and line[9:10] != b"" and line[9] in _SPACE


def _skip_prefix(p_value: int, name: bytes) -> int | None:
    """Index in ``name`` after ``p_value`` leading components; None for an absolute name."""
    if not p_value:
        return None if name.startswith(b"/") else 0
    for i, c in enumerate(name):
        if c == 0x2F:
            p_value -= 1
            if p_value <= 0:
                return None if i == 0 else i + 1
    return None


_SLASH, _BLANK = re.compile(rb"/"), re.compile(rb"[ \t]")


def _header_name(p_value: int, line: bytes) -> bytes | None:
    """The name a ``diff --git`` line gives when both sides carry the same one (git_header_name)."""
    line = line[len(b"diff --git "):]
    if line.startswith(b'"'):
        q = _unquote(line, 0)
        if q is None:
            return None
        first, after = q
        k = _skip_prefix(p_value, first)
        if k is None:
            return None
        first = first[k:]
        while after < len(line) and line[after] in _SPACE:
            after += 1
        if after >= len(line):
            return None
        if line[after] == 0x22:
            q2 = _unquote(line, after)
            if q2 is None:
                return None
            k = _skip_prefix(p_value, q2[0])
            return first if k is not None and q2[0][k:] == first else None
        k = _skip_prefix(p_value, line[after:])
        # git compares with the rest of the line, newline included: an unquoted second name never matches
        return first if k is not None and line[after + k:] == first else None
    k = _skip_prefix(p_value, line)
    if k is None:
        return None
    name = line[k:]
    quote = name.find(b'"')
    if quote >= 0:
        q = _unquote(name, quote)
        if q is None:
            return None
        np = _skip_prefix(p_value, q[0])
        if np is None:
            return None
        second = q[0][np:]
        if len(second) < quote and name.startswith(second) and name[len(second)] in _SPACE:
            return second
        return None
    nl = name.find(b"\n")
    if nl < 0:
        return None
    # git tries each blank as the separator; the second name, after its prefix, must then be the
    # first one again and end the line: where its prefix must end is fixed, and found by bisection
    slashes = [m.start() for m in _SLASH.finditer(name, 0, nl)]
    for m in _BLANK.finditer(name, 0, nl):
        ln = m.start()
        j = bisect.bisect_left(slashes, ln + 1) + p_value - 1
        if p_value == 0:
            after = None if name[ln + 1:ln + 2] == b"/" else ln + 1
        else:
            after = slashes[j] + 1 if j < len(slashes) and slashes[j] > ln + 1 else None
        if after == nl - ln and name[after:nl] == name[:ln]:
            return name[:ln]
    return None


# --- parsing ---------------------------------------------------------------------------------

_FRAG = re.compile(rb"@@ -(\d+)(?:,(\d+))? \+(\d+)(?:,(\d+))? @@")


def _num(b: bytes | None) -> int:
    if b is None:
        return 1
    # strtoul saturates; int() of thousands of digits is refused by Python
    return _ULONG_MAX if len(b) > 20 else min(int(b), _ULONG_MAX)


def fragment_header(line: bytes) -> tuple[int, int, int, int] | None:
    """(old start, old count, new start, new count) of a "@@ -a,b +c,d @@" line, or None."""
    if not line.endswith(b"\n"):
        return None
    m = _FRAG.match(line)
    if not m:
        return None
    return _num(m.group(1)), _num(m.group(2)), _num(m.group(3)), _num(m.group(4))


def _mode(value: bytes, where: int) -> int:
    m = re.match(rb"[ \t\n\v\f\r]*([+-]?)([0-7]+)", value)
    if not m or value[m.end():m.end() + 1] not in (b" ", b"\t", b"\n", b"\v", b"\f", b"\r"):
        raise PatchError(f"invalid mode on line {where}: {show(value.rstrip())}")
    digits = m.group(2)
    value = _ULONG_MAX if len(digits) > 22 else min(int(digits, 8), _ULONG_MAX)  # strtoul saturates
    return (-value if m.group(1) == b"-" else value) & 0xFFFFFFFF


class Parser:
    """The file patches of one patch text (a mail's diff part), in order."""

    def __init__(self, text: bytes):
        self.lines = split_lines(text)
        self.rest: list[int] = []
        left = len(text)
        for ln in self.lines:
            self.rest.append(left)
            left -= len(ln)
        self.rest.append(0)
        self.p_value = 1
        self.p_value_known = False

    def parse(self) -> list[FilePatch]:
        out: list[FilePatch] = []
        i = 0
        while i < len(self.lines):
            found = self._find_header(i)
            if found is None:
                break
            fp, hdr_end = found
            i = self._chunk(fp, hdr_end)
            out.append(fp)
        return out

    def _find_header(self, i: int) -> tuple[FilePatch, int] | None:
        lines, n = self.lines, len(self.lines)
        while i < n:
            line = lines[i]
            if len(line) < 6:
                i += 1
                continue
            if line.startswith(b"@@ -"):
                if fragment_header(line) is not None:
                    raise PatchError(f"patch fragment without header at line {i + 1}: {show(line.rstrip())}")
                i += 1
                continue
            if self.rest[i] < len(line) + 6:
                break
            if line.startswith(b"diff --git "):
                fp = FilePatch(line=i + 1)
                end = self._git_header(i, fp)
                if end > i + 1:
                    return fp, end
            elif (line.startswith(b"--- ") and i + 2 < n and lines[i + 1].startswith(b"+++ ")
                  and self.rest[i] >= len(lines[i + 1]) + 14 and lines[i + 2].startswith(b"@@ -")):
                fp = FilePatch(line=i + 1)
                self._traditional(line[4:], lines[i + 1][4:], fp, i + 1)
                return fp, i + 2
            i += 1
        return None

    def _traditional(self, first: bytes, second: bytes, fp: FilePatch, where: int) -> None:
        if not self.p_value_known:
            p, q = self._guess_p(first), self._guess_p(second)
            if p < 0:
                p = q
            if 0 <= p == q:
                self.p_value, self.p_value_known = p, True
        if _dev_null(first):
            fp.is_new, fp.is_delete = 1, 0
            fp.new_name = name = _name_traditional(second, None, self.p_value)
        elif _dev_null(second):
            fp.is_new, fp.is_delete = 0, 1
            fp.old_name = name = _name_traditional(first, None, self.p_value)
        else:
            first_name = _name_traditional(first, None, self.p_value)
            name = _name_traditional(second, first_name, self.p_value)
            if _epoch_timestamp(first):
                fp.is_new, fp.is_delete, fp.new_name = 1, 0, name
            elif _epoch_timestamp(second):
                fp.is_new, fp.is_delete, fp.old_name = 0, 1, name
            else:
                fp.old_name = fp.new_name = name
        if name is None:
            raise PatchError(f"unable to find filename in patch at line {where}")

    @staticmethod
    def _guess_p(nameline: bytes) -> int:
        if _dev_null(nameline):
            return -1
        name = _name_traditional(nameline, None, 0)
        if name is None:
            return -1
        return 0 if b"/" not in name else -1

    # the git header lines, in git's order: the first prefix that matches decides
    _OPS = (b"@@ -", b"--- ", b"+++ ", b"old mode ", b"new mode ", b"deleted file mode ", b"new file mode ",
            b"copy from ", b"copy to ", b"rename old ", b"rename new ", b"rename from ", b"rename to ",
            b"similarity index ", b"dissimilarity index ", b"index ")

    def _git_header(self, i: int, fp: FilePatch) -> int:
        """Read the header lines after a ``diff --git`` line; return the index of the first line after them."""
        fp.is_new = fp.is_delete = 0
        fp.def_name = _header_name(self.p_value, self.lines[i])
        j = i + 1
        while j < len(self.lines) and self.lines[j].endswith(b"\n"):
            line = self.lines[j]
            op = next((p for p in self._OPS if line.startswith(p)), None)
            if op is None or op == b"@@ -":
                break
            self._header_line(op, line[len(op):], fp, j + 1)
            extensions = (fp.is_delete == 1) + (fp.is_new == 1) + fp.is_rename + fp.is_copy
            if extensions > 1:
                raise PatchError(f"inconsistent header lines {fp.line + 1} and {j + 1}")
            j += 1
        if fp.old_name is None and fp.new_name is None:
            if fp.def_name is None:
                raise PatchError("git diff header lacks filename information when removing "
                                 f"{self.p_value} leading pathname component (line {j + 1})")
            fp.old_name = fp.new_name = fp.def_name
        if (fp.new_name is None and not fp.is_delete) or (fp.old_name is None and not fp.is_new):
            raise PatchError(f"git diff header lacks filename information (line {j + 1})")
        return j

    def _header_line(self, op: bytes, value: bytes, fp: FilePatch, where: int) -> None:
        p_sub = self.p_value - 1 if self.p_value else 0
        if op == b"--- ":
            fp.old_name = self._verify_name(value, fp.is_new, fp.old_name, "old", where)
        elif op == b"+++ ":
            fp.new_name = self._verify_name(value, fp.is_delete, fp.new_name, "new", where)
        elif op == b"old mode ":
            fp.old_mode = _mode(value, where)
        elif op == b"new mode ":
            fp.new_mode = _mode(value, where)
        elif op == b"deleted file mode ":
            fp.is_delete, fp.old_name, fp.old_mode = 1, fp.def_name, _mode(value, where)
        elif op == b"new file mode ":
            fp.is_new, fp.new_name, fp.new_mode = 1, fp.def_name, _mode(value, where)
        elif op in (b"copy from ", b"rename old ", b"rename from "):
            fp.old_name = _find_name(value, None, p_sub, 0)
            fp.is_copy |= op == b"copy from "
            fp.is_rename |= op != b"copy from "
        elif op in (b"copy to ", b"rename new ", b"rename to "):
            fp.new_name = _find_name(value, None, p_sub, 0)
            fp.is_copy |= op == b"copy to "
            fp.is_rename |= op != b"copy to "
        elif op == b"index ":
            m = re.match(rb"[^.\n]{0,40}\.\.[^ \n]{0,40}( ?)", value)
            if m and m.group(1):
                fp.old_mode = _mode(value[m.end():], where)

    def _verify_name(self, value: bytes, isnull: int, name: bytes | None, side: str, where: int) -> bytes | None:
        if name is None and not isnull:
            return _find_name(value, None, self.p_value, TERM_TAB)
        if name is not None:
            if isnull:
                raise PatchError(f"git apply: bad git-diff - expected /dev/null, got {show(name)} on line {where}")
            if _find_name(value, None, self.p_value, TERM_TAB) != name:
                raise PatchError(f"git apply: bad git-diff - inconsistent {side} filename on line {where}")
            return name
        if not _dev_null(value):
            raise PatchError(f"git apply: bad git-diff - expected /dev/null on line {where}")
        return None

    def _chunk(self, fp: FilePatch, hdr_end: int) -> int:
        """Read the hunks (or the binary data) after a header; return the index after them."""
        end = self._hunks(fp, hdr_end)
        if end > hdr_end:
            return end
        line = self.lines[end] if end < len(self.lines) else b""
        if line == b"GIT binary patch\n":
            end = self._binary(end + 1)
            fp.binary = True
        elif line.endswith(b" differ\n") and line.startswith((b"Binary files ", b"Files ")):
            fp.binary = True
            end += 1
        if not fp.binary and not fp.metadata_changes():
            raise PatchError(f"patch with only garbage at line {end + 1}")
        return end

    def _hunks(self, fp: FilePatch, i: int) -> int:
        old_total = new_total = 0
        while i < len(self.lines) and self.rest[i] > 4 and self.lines[i].startswith(b"@@ -"):
            hunk, i = self._fragment(i, fp, len(fp.hunks) + 1)
            fp.hunks.append(hunk)
            old_total += hunk.old_lines
            new_total += hunk.new_lines
        if fp.is_new < 0 and (old_total or len(fp.hunks) > 1):
            fp.is_new = 0
        if fp.is_delete < 0 and (new_total or len(fp.hunks) > 1):
            fp.is_delete = 0
        if fp.is_new > 0 and old_total:
            raise PatchError(f"new file {show(fp.name)} depends on old contents")
        if fp.is_delete > 0 and new_total:
            raise PatchError(f"deleted file {show(fp.name)} still has contents")
        return i

    def _fragment(self, i: int, fp: FilePatch, nth: int) -> tuple[Hunk, int]:
        lines = self.lines
        hdr = fragment_header(lines[i])

        def corrupt(at: int) -> PatchError:
            return PatchError(f"corrupt patch at line {at + 1} ({show(fp.name)} hunk {nth}: "
                              f"{show(lines[i].rstrip())})")

        if hdr is None:
            raise corrupt(i)
        old, new = hdr[1], hdr[3]
        leading = trailing = added = deleted = 0
        j = i + 1
        # Counts that went below zero never come back: git (unsigned) reads on to the end and fails
        while j < len(lines) and (old or new):
            line = lines[j]
            if not line.endswith(b"\n"):
                raise corrupt(j)
            c = line[0]
            if c in (0x20, 0x0A):
                old -= 1
                new -= 1
                leading += not (added or deleted)
                trailing += 1
            elif c == 0x2D:
                deleted += 1
                old -= 1
                trailing = 0
            elif c == 0x2B:
                added += 1
                new -= 1
                trailing = 0
            elif c != 0x5C or len(line) < 12 or not line.startswith(b"\\ "):
                raise corrupt(j)
            j += 1
        if old or new or not (added or deleted):
            raise corrupt(j)
        if self.rest[j] > 12 and lines[j].startswith(b"\\ "):
            j += 1  # "\ No newline at end of file" after the last counted line
        return Hunk(hdr[0], hdr[1], hdr[2], hdr[3], lines[i + 1:j], leading, trailing), j

    def _binary(self, i: int) -> int:
        """Check the shape of a "GIT binary patch" (a forward hunk, maybe a reverse one); return the index after."""
        i, found = self._binary_hunk(i)
        if not found:
            raise PatchError(f"unrecognized binary patch at line {i}")
        return self._binary_hunk(i)[0]

    def _binary_hunk(self, i: int) -> tuple[int, bool]:
        lines = self.lines
        head = lines[i] if i < len(lines) else b""
        if not head.startswith((b"delta ", b"literal ")):
            return i, False
        i += 1
        while True:
            line = lines[i] if i < len(lines) else b""
            i += 1
            if line == b"\n":
                return i, True
            n = len(line)
            c = line[:1]
            size = (c[0] - 64 if b"A" <= c <= b"Z" else c[0] - 70 if b"a" <= c <= b"z" else 0) if c else 0
            most = (n - 2) // 5 * 4
            if (n < 7 or (n - 2) % 5 or not size or most < size or size <= most - 4 or not line.endswith(b"\n")
                    or line[1:-1].translate(None, _B85)):
                raise PatchError(f"corrupt binary patch at line {i}: {show(line.rstrip())}")


def parse(text: bytes) -> list[FilePatch]:
    """The file patches in a patch text, as git apply reads them; PatchError when git refuses it."""
    return Parser(text).parse()


# --- applying --------------------------------------------------------------------------------

def _hash(line: bytes) -> int:
    h = 0
    for c in line:
        if c not in _SPACE:
            h = (h * 3 + c) & 0xFFFFFFFF
    return h & 0xFFFFFF


class Search:
    """The work of placing hunks in a run, in lines looked at, to stop a patch built to make the
    search slow (a real series needs a few lines per hunk; one based on an old tree, thousands)."""

    CHECK = 256  # comparing a preimage at one place costs about as much as scanning this many lines

    def __init__(self, limit: int = MAX_SEARCH):
        self.left = limit
        self.limit = limit

    def spend(self, n: int) -> None:
        self.left -= n
        if self.left < 0:
            raise PatchError(f"hunks too far from their stated lines: qlint looks through at most "
                             f"{self.limit:,} lines to place the hunks of a series")


@dataclass
class Text:
    """A file being patched: its lines, and for each the line number it had before the mail (0: added)."""

    lines: list[bytes]
    origin: list[int]

    @classmethod
    def of(cls, data: bytes | None, numbered: bool = True) -> Text:
        lines = split_lines(data or b"")
        return cls(lines, list(range(1, len(lines) + 1)) if numbered else [0] * len(lines))

    def data(self) -> bytes:
        return b"".join(self.lines)


def _images(h: Hunk) -> tuple[list[bytes], list[bytes], list[int]] | None:
    """(preimage, postimage, for each postimage line its preimage index or -1) of a hunk; None if
    a line starts with something git does not know."""
    pre: list[bytes] = []
    post: list[bytes] = []
    src: list[int] = []
    text = h.text
    for k, line in enumerate(text):
        first = line[:1]
        body = line[1:]
        if k + 1 < len(text) and text[k + 1].startswith(b"\\"):
            body = body[:-1]  # followed by "\ No newline at end of file"
        if first == b"\n":
            if k + 1 < len(text) and text[k + 1].startswith(b"\\"):
                continue
            body = b"\n"
        if first in (b" ", b"\n"):
            src.append(len(pre))
            pre.append(body)
            post.append(body)
        elif first == b"-":
            pre.append(body)
        elif first == b"+":
            src.append(-1)
            post.append(body)
        elif first not in (b"@", b"\\"):
            return None
    return pre, post, src


def _matches(lines: list[bytes], patched: list[bool], pre: list[bytes], at: int, match_end: bool) -> bool:
    k = len(pre)
    if at + k > len(lines) or (match_end and at + k != len(lines)):
        return False
    if not k:
        return True
    if any(patched[at:at + k]):
        return False
    if lines[at:at + k - 1] != pre[:-1] or not all(p.endswith(b"\n") for p in pre[:-1]):
        return _matches_bytes(lines, pre, at, match_end)
    last, mine = pre[-1], lines[at + k - 1]
    if last == mine:
        return True
    # git compares bytes up to the preimage's end: a last line without its newline matches a
    # line that has one (or trailing blanks), when the whitespace-blind line hashes agree
    if match_end or not mine.startswith(last):
        return False
    return not mine[len(last):].translate(None, _SPACE) or _hash(last) == _hash(mine)


def _matches_bytes(lines: list[bytes], pre: list[bytes], at: int, match_end: bool) -> bool:
    """The general comparison (a preimage line without newline in the middle of a hunk)."""
    k = len(pre)
    if any(_hash(p) != _hash(ln) for p, ln in zip(pre, lines[at:at + k])):
        return False
    want = b"".join(pre)
    if match_end:
        return b"".join(lines[at:]) == want
    end, size = at, 0
    while end < len(lines) and size < len(want):
        size += len(lines[end])
        end += 1
    return b"".join(lines[at:end]).startswith(want)


def find_pos(text: Text, patched: list[bool], pre: list[bytes], line: int, match_beginning: bool,
             match_end: bool, search: Search) -> int:
    """Where a preimage applies, looked for as git's find_pos looks: -1 if nowhere.

    git tries the stated line, then one line further, one line back, two further, two back...
    to both ends of the file; only the places that hold the preimage's first line can match,
    so those are found by C-speed scans and tried in that order.
    """
    lines = text.lines
    nr = len(lines)
    if match_beginning:
        return 0 if _matches(lines, patched, pre, 0, match_end) else -1
    if match_end:
        at = nr - len(pre)
        return at if at >= 0 and _matches(lines, patched, pre, at, True) else -1
    line = nr if line > nr or line < 0 else line
    if not pre:
        return line
    places = _places(lines, pre[0], line, search) if pre[0].endswith(b"\n") else _walk(nr, line, search)
    for at in places:
        search.spend(Search.CHECK)
        if _matches(lines, patched, pre, at, False):
            return at
    return -1


def _walk(nr: int, line: int, search: Search):
    """Every place from ``line`` outwards in git's order: a first line without newline may match a
    longer line, so no scan can filter the places."""
    yield line
    for d in range(1, max(line, nr - line) + 1):
        if line + d <= nr:
            yield line + d
        if line - d >= 0:
            yield line - d


def _places(lines: list[bytes], first: bytes, line: int, search: Search):
    """The places holding ``first``, by distance from ``line``, the one forward first at a tie."""
    fwd = _next(lines, first, line, search)
    low = line  # the places below it are not scanned yet
    while True:
        # a place back is tried first only when it is strictly nearer than the next one forward
        limit = 0 if fwd is None else max(0, 2 * line - fwd + 1)
        back = _last(lines, first, limit, low, search) if low > limit else None
        if back is not None:
            low = back
            yield back
        elif fwd is not None:
            low = min(low, limit)  # [limit, low) is scanned: nothing there
            yield fwd
            fwd = _next(lines, first, fwd + 1, search)
        else:
            return


def _next(lines: list[bytes], first: bytes, start: int, search: Search) -> int | None:
    try:
        at = lines.index(first, start)
    except ValueError:
        search.spend(len(lines) - start)
        return None
    search.spend(at - start)
    return at


def _last(lines: list[bytes], first: bytes, lo: int, hi: int, search: Search) -> int | None:
    """The last place in [lo, hi) holding ``first``, scanning back in growing windows."""
    width = 64
    while hi > lo:
        start = max(lo, hi - width)
        window = lines[start:hi]
        window.reverse()
        search.spend(len(window))
        try:
            return hi - 1 - window.index(first)
        except ValueError:
            hi, width = start, width * 2
    return None


def apply_hunks(text: Text, fp: FilePatch, search: Search) -> Text:
    """The text with the file patch's hunks applied in turn; PatchError naming the hunk that does not apply."""
    text = Text(list(text.lines), list(text.origin))
    patched = [False] * len(text.lines)
    for nth, h in enumerate(fp.hunks, 1):
        images = _images(h)
        at = -1
        if images is not None:
            pre, post, src = images
            pos = h.new_pos - 1 if h.new_pos else 0
            at = find_pos(text, patched, pre, pos, h.old_pos <= 1, not h.trailing, search)
        if at < 0:
            raise PatchError(f"does not apply: {show(fp.old_name or fp.new_name or b'')} hunk {nth}")
        k = len(pre)
        origin = text.origin[at:at + k]
        text.lines[at:at + k] = post
        text.origin[at:at + k] = [origin[s] if s >= 0 else 0 for s in src]
        patched[at:at + k] = [True] * len(post)
    return text
