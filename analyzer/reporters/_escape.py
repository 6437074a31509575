"""Text that reaches a terminal inert: what a subject, a path or a quoted line may hold is shown,
never obeyed (see docs/output-formats.md, "Escaping").

A commit subject, a file name or a patch from a mailing list may carry ESC and the other control
characters (a colour, a cursor move, a title change, a clear screen) and bytes that are not UTF-8
(read with ``surrogateescape``, so U+DC80..U+DCFF stand for the bytes 0x80..0xFF).  Here they
become visible escapes:

- a control character of C0 (but newline and tab) and DEL: ``\\x1b``, ``\\x0d``, ``\\x7f``;
- a control character of C1 (U+0080..U+009F, which some terminals obey as ESC sequences):
  ``\\u009b``;
- a byte that is not UTF-8: ``\\xff`` (it is a byte, not a character: the same notation as C0,
  where byte and character are one).

A backslash is left as it is: these formats are for people, who read C full of backslashes; the
JSON formats carry the exact text.
"""

from __future__ import annotations

import re

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\ud800-\udfff]")
_CONTROL_LINE = re.compile(r"[\x00-\x1f\x7f-\x9f\ud800-\udfff]")


def _escape(m: re.Match) -> str:
    c = ord(m.group(0))
    if 0xDC80 <= c <= 0xDCFF:
        return f"\\x{c - 0xDC00:02x}"  # the byte surrogateescape read
    return f"\\x{c:02x}" if c < 0x80 else f"\\u{c:04x}"  # C1, or a surrogate that is no byte


def inert(text: str) -> str:
    """``text`` with every control character but newline and tab, and every non-UTF-8 byte, escaped."""
    return _CONTROL.sub(_escape, text)


def one_line(text: str) -> str:
    """``text`` escaped to one line: newline and tab too (``\\x0a``, ``\\x09``)."""
    return _CONTROL_LINE.sub(_escape, text)
