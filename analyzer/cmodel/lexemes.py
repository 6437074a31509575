"""Strings, character literals and comments of C text, found in linear time.

The obvious regular expression, ``"(?:[^"\\\\\\n]|\\\\.)*"|'...'|//[^\\n]*|/\\*.*?\\*/``, is
quadratic on text a patch can hold: every ``/*`` with no ``*/`` after it scans to the end of
the text and fails, and so does every ``"`` of a line like ``"\\"\\"\\"...`` with no closing
quote.  This module gives the spans that expression's ``finditer`` gives, exactly, in one pass:

- a ``/*`` with no ``*/`` after it is no comment, and neither is any later one: after the
  first such failure no later ``/*`` is tried;
- a quote whose literal does not close on its line is no literal; the scan that failed
  stopped at the end of the line (or at a backslash ending the text), and every quote of the
  same kind before that point, which the failed scan passed as an escaped character, fails
  in the same place, so it is not scanned again.  A quote of the other kind inside the failed
  run is scanned (``"it's"`` is a string holding an apostrophe; ``'"'`` is a character).

Works on ``str`` and ``bytes`` alike.
"""

from __future__ import annotations

import re
from typing import Callable, Iterator, TypeVar

T = TypeVar("T", str, bytes)

_STARTS = {str: re.compile(r"[\"'/]"), bytes: re.compile(rb"[\"'/]")}
_COMMENT_STARTS = {str: re.compile(r"/"), bytes: re.compile(rb"/")}
# a literal's opening quote and the longest run of its body; it is closed when the next
# character is the same quote.  ``dotall``: a backslash escapes a newline too (re.S)
_BODIES = {
    (str, False): {'"': re.compile(r'"(?:[^"\\\n]|\\.)*'), "'": re.compile(r"'(?:[^'\\\n]|\\.)*")},
    (str, True): {'"': re.compile(r'"(?:[^"\\\n]|\\.)*', re.S), "'": re.compile(r"'(?:[^'\\\n]|\\.)*", re.S)},
    (bytes, False): {b'"': re.compile(rb'"(?:[^"\\\n]|\\.)*'), b"'": re.compile(rb"'(?:[^'\\\n]|\\.)*")},
    (bytes, True): {b'"': re.compile(rb'"(?:[^"\\\n]|\\.)*', re.S), b"'": re.compile(rb"'(?:[^'\\\n]|\\.)*", re.S)},
}


def unclosed_comment(text: T) -> int | None:
    """Where the first ``/*`` outside strings, characters and comments that has no ``*/`` after
    it starts: a comment that runs to the end of the text (for the C preprocessor)."""
    last = text.rfind(b"*/" if isinstance(text, bytes) else "*/")
    opener = b"/*" if isinstance(text, bytes) else "/*"
    at = text.find(opener, max(last - 1, 0))
    if at < 0:
        return None  # every /* has a */ after it
    found: list[int] = []
    for _ in spans(text, unclosed=found):
        if found:
            break
    return found[0] if found else None


def spans(text: T, dotall: bool = False, literals: bool = True,
          unclosed: list[int] | None = None) -> Iterator[tuple[int, int]]:
    """(start, end) of every string, character literal and comment of ``text``, in order: the
    matches of ``re.finditer`` of the expression above (``dotall``: compiled with re.S, so that
    a backslash-newline continues a literal; ``literals=False``: comments only, as
    ``/\\*.*?\\*/|//[^\\n]*`` with re.S finds them, quotes being ordinary characters).
    ``unclosed``: told where the first ``/*`` with no ``*/`` after it is (appended to it)."""
    kind = type(text)
    slash, star, nl = (b"/", b"*", b"\n") if kind is bytes else ("/", "*", "\n")
    close = b"*/" if kind is bytes else "*/"
    starts = (_STARTS if literals else _COMMENT_STARTS)[kind]
    bodies = _BODIES[(kind, dotall)]
    failed = dict.fromkeys(bodies, -1)  # quote -> where its last failed scan stopped
    no_close = False  # a /* had no */ after it: none after it has
    unclosed_at = unclosed
    n = len(text)
    pos = 0
    while True:
        m = starts.search(text, pos)
        if m is None:
            return
        i = m.start()
        c = text[i:i + 1]
        if c == slash:
            nxt = text[i + 1:i + 2]
            if nxt == slash:
                j = text.find(nl, i)
                j = n if j < 0 else j
                yield i, j
                pos = j
                continue
            if nxt == star and not no_close:
                j = text.find(close, i + 2)
                if j >= 0:
                    yield i, j + 2
                    pos = j + 2
                    continue
                if unclosed_at is not None:
                    unclosed_at.append(i)
                no_close = True
            pos = i + 1
            continue
        if i < failed[c]:
            pos = i + 1
            continue
        e = bodies[c].match(text, i).end()
        if e < n and text[e:e + 1] == c:
            yield i, e + 1
            pos = e + 1
            continue
        failed[c] = e
        pos = i + 1


def substitute(text: T, repl: Callable[[T], T], dotall: bool = False, literals: bool = True) -> T:
    """``text`` with every span of :func:`spans` replaced by ``repl(span text)``: what
    ``re.sub`` of the expression with a function does."""
    out: list[T] = []
    pos = 0
    for a, b in spans(text, dotall, literals):
        out.append(text[pos:a])
        out.append(repl(text[a:b]))
        pos = b
    out.append(text[pos:])
    return text[:0].join(out)


class Lines:
    """Line numbers of offsets in one text, each in O(log lines) after one pass (``text.count("\\n",
    0, offset)`` for each of N matches is quadratic)."""

    __slots__ = ("_starts",)

    def __init__(self, text: str | bytes):
        nl = b"\n" if isinstance(text, bytes) else "\n"
        starts = [0]
        find = text.find
        i = find(nl)
        while i >= 0:
            starts.append(i + 1)
            i = find(nl, i + 1)
        self._starts = starts

    def row(self, offset: int) -> int:
        """The 0-based line of ``offset``: the newlines before it."""
        from bisect import bisect_right

        return bisect_right(self._starts, offset) - 1


_QUOTED = {False: re.compile(rb'"(?:[^"\\\n]|\\.)*'), True: re.compile(rb'"(?:[^"\\]|\\.)*')}
_QUOTED_STR = {False: re.compile(r'"(?:[^"\\\n]|\\.)*'), True: re.compile(r'"(?:[^"\\]|\\.)*')}
_QUOTE_OR_WORD = re.compile(r'["\w]')
_WORD = re.compile(r"\w+")


def quoted(text: T, newline: bool = False) -> Iterator[tuple[int, int]]:
    """(start, end) of every ``"..."`` of ``text`` as ``re.finditer`` of ``"(?:[^"\\\\\\n]|\\\\.)*"``
    finds them (``newline``: ``"(?:[^"\\\\]|\\\\.)*"``, a literal may hold a newline), comments and
    character literals being ordinary text; linear (see spans)."""
    body = (_QUOTED if isinstance(text, bytes) else _QUOTED_STR)[newline]
    q = b'"' if isinstance(text, bytes) else '"'
    failed, n = -1, len(text)
    i = text.find(q)
    while i >= 0:
        if i >= failed:
            e = body.match(text, i).end()
            if e < n and text[e:e + 1] == q:
                yield i, e + 1
                i = text.find(q, e + 1)
                continue
            failed = e
        i = text.find(q, i + 1)


def strings_and_words(text: str) -> list[tuple[str, str]]:
    """``re.findall(r'"((?:[^"\\\\]|\\\\.)*)"|(\\w+)', text)``, in linear time: (body, "") for a
    string literal, ("", word) for a word."""
    out: list[tuple[str, str]] = []
    failed, n, pos = -1, len(text), 0
    body = _QUOTED_STR[True]
    while True:
        m = _QUOTE_OR_WORD.search(text, pos)
        if m is None:
            return out
        i = m.start()
        if text[i] == '"':
            if i >= failed:
                e = body.match(text, i).end()
                if e < n and text[e] == '"':
                    out.append((text[i + 1:e], ""))
                    pos = e + 1
                    continue
                failed = e
            pos = i + 1
            continue
        w = _WORD.match(text, i)
        out.append(("", w.group(0)))
        pos = w.end()
