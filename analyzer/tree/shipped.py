"""What a release shipped, and what code runs at all.

A migration break needs two trees that disagree: a release that a VM was
started with, and the tree under review.  State that no release has had (a
VMStateDescription added earlier in the same series or since the last
release, or one the release marked ``.unmigratable``) may change freely, and so
may code nothing calls.  The engine asks these questions of a finding's
subject, the C name it is about: the description variable of a VMState finding,
the function of a config-space or guard finding.

Every answer is ``None`` when qlint cannot tell (no release below the tree, an
mbox reviewed on a tree without history): the finding then stays.
"""

from __future__ import annotations

import re

from qlint.analyzer.change import Snapshot
from qlint.analyzer.tree.index import TreeIndex

def release_index(review) -> TreeIndex | None:
    """The index of the last release below the reviewed tree (X.Y.0 for VERSION X.Y.50)."""
    v = review.current_version
    return release_index_at(review, v) if v is not None else None


def release_index_at(review, v: tuple[int, int]) -> TreeIndex | None:
    """The index of release ``v`` (X.Y.0) of the reviewed history, or None."""
    series = review.series
    if series.release_lookup is None:
        return None
    # kept on the series: a module-level memo keyed by id(series) could hand a later series, at
    # the same address, another repository's release
    memo = series.__dict__.setdefault("_release_indexes", {})
    if v not in memo:
        try:
            snap: Snapshot | None = series.release_lookup(review.patch.new, v)
        except (KeyError, ValueError):
            snap = None
        memo[v] = TreeIndex(snap) if snap is not None else None
    return memo[v]


def vmstate_shipped(release: TreeIndex, path: str, var: str, name: str | None) -> bool:
    """The release has VMStateDescription ``var`` (or one of the same ``.name``) and sends it.

    A description the release marks ``.unmigratable`` sends nothing: it did not ship a stream.
    """
    for p in _candidates(release, path, var):
        model = release.model(p)
        if model is None:
            continue
        for d in model.vmstates:
            if d.var == var or (name is not None and d.name == name):
                return not d.unmigratable
    return False


def vmstate_version(release: TreeIndex, path: str, var: str, name: str | None) -> int | None:
    """The ``version_id`` the release sends description ``var`` (or ``.name``) at; None if absent."""
    for p in _candidates(release, path, var):
        model = release.model(p)
        for d in model.vmstates if model is not None else ():
            if d.var == var or (name is not None and d.name == name):
                return d.version
    return None


def _candidates(index: TreeIndex, path: str, name: str) -> list[str]:
    """The file itself first, then the files that mention ``name`` (it may have moved)."""
    out = [path] if index.read(path) is not None else []
    return out + [p for p in index.grep(name.encode()) if p != path]


# (leading white space without newlines: ^\s* from every line of a run of blank lines is quadratic
# in the run, and the macro's line gives the same match)
_DEFINE_LINE_RE = re.compile(rb"^[^\S\n]*+(?:[A-Z][A-Z0-9_]*DEFINE[A-Z0-9_]*|DEFINE_[A-Z0-9_]+)\s*\((.*)$", re.M)
_WORD_RE = re.compile(rb"[A-Za-z_]\w*")


def has_callers(index: TreeIndex, path: str, fn: str) -> bool:
    """Something in the tree calls, installs or names function ``fn`` of ``path``.

    Its definition and prototypes do not count.  Anything else does: a call, an
    assignment to a function pointer, a table entry, a macro argument.  So does
    a type-defining macro whose prefix the name extends (``OBJECT_DEFINE_TYPE(Foo,
    foo, ...)`` makes ``foo_class_init`` a callback without naming it).
    """
    word = re.compile(rb"(?<![\w])" + re.escape(fn.encode()) + rb"(?![\w])")
    data = index.read(path)
    if data is None:
        return True  # cannot tell
    if _pasted_prefix(data, fn):
        return True
    static = False
    for m in word.finditer(data):
        if not _declares(data, m.start(), m.end()):
            return True
        static = static or _is_static(data, m.start())
    if static:
        return False  # no other file can name it
    for p in index.grep(fn.encode()):
        other = index.read(p) if p != path else None
        if other is None:
            continue
        if any(not _declares(other, m.start(), m.end()) for m in word.finditer(other)):
            return True
    return False


def _is_static(data: bytes, start: int) -> bool:
    bol = data.rfind(b"\n", 0, start) + 1
    line = data[bol:start]
    if not line.strip():  # `static void\nfoo(`
        prev_bol = data.rfind(b"\n", 0, max(bol - 1, 0)) + 1
        line = data[prev_bol:bol]
    return line.lstrip().startswith(b"static")


def _pasted_prefix(data: bytes, fn: str) -> bool:
    name = fn.encode()
    for m in _DEFINE_LINE_RE.finditer(data):
        args = m.group(1)[:400]
        for w in _WORD_RE.findall(args):
            if len(w) > 2 and name.startswith(w + b"_"):
                return True
    return False


def _declares(data: bytes, start: int, end: int) -> bool:
    """The name at ``start`` is a function's definition or prototype: a declarator at line start."""
    bol = data.rfind(b"\n", 0, start) + 1
    before = data[bol:start]
    after = data[end:end + 1]
    if after != b"(" and not data[end:end + 2].lstrip().startswith(b"("):
        return False
    if not before or before[:1] in b" \t":
        # `void\nfoo(...)` (the name starts the line) is a declarator; an indented name is a use
        return not before and _type_line_before(data, bol)
    # `static void foo(`, `int *foo(`, `void QEMU_WARN foo(`: only type words and stars before it
    return all(tok.isidentifier() or tok == "*" for tok in before.replace(b"*", b" * ").decode("latin-1").split())


def _type_line_before(data: bytes, bol: int) -> bool:
    """The previous line ends a return type (``static void`` alone on its line)."""
    prev_end = bol - 1
    prev_bol = data.rfind(b"\n", 0, max(prev_end, 0)) + 1
    prev = data[prev_bol:prev_end].strip()
    return bool(prev) and not prev.endswith((b";", b"{", b"}", b",", b")")) and \
        all(tok.isidentifier() or tok == "*" for tok in prev.replace(b"*", b" * ").decode("latin-1").split())
