"""What a compat property switches: the code that runs only at its default.

A post-release fix guards code that a release already shipped unguarded.
Whether a release had the behaviour is answered by looking for that code,
squashed of whitespace, in the release's version of the file (following the
function when the file moved).  Shared by compat-entry-wrong-version and the
migration matrix.
"""

from __future__ import annotations

import re

from qlint.analyzer.tree.index import TreeIndex
from qlint.analyzer.cmodel.model import PropertyDef
from qlint.analyzer.diff.guards import guard_uses_prop, runs_at_default

Statement = tuple[str, str, str]  # (path, function, statement squashed of whitespace)


def guarded_behaviour(idx: TreeIndex, prop: PropertyDef, paths=()) -> list[Statement]:
    """Statements that run only as ``prop`` allows, at its default, in ``idx``'s tree.

    ``paths`` are files to look in besides the property's own file and the
    files that use its field (when few enough to read).
    """
    paths = set(paths) | {prop.path}
    field = prop.field.split(".")[-1]
    stem = prop.bit.removesuffix("_BITNR").removesuffix("_BIT") if prop.bit else None
    near = set(idx.grep(field.encode()))
    if stem:
        near &= set(idx.grep(stem.encode()))
    else:
        near &= set(idx.grep(b"->" + field.encode())) | set(idx.grep(b"." + field.encode()))
    if len(near) <= 40:
        paths |= near
    out = []
    for path in sorted(p for p in paths if p):
        m = idx.model(path)
        if m is None:
            continue
        for fn in m.functions.values():
            for guards, stmt, _line in fn.guarded:
                using = [g for g in guards if guard_uses_prop(g, m, idx, prop)]
                # only what runs with the property at its default is the new behaviour; code that
                # runs when compat switches it off emulates the old one
                if using and all(runs_at_default(g, m, idx, prop) is not False for g in using):
                    out.append((path, fn.name, stmt))
    return out


def replaced_lines(path: str, old_model, old_data: bytes, removed, kept: bytes | None = None) -> list[Statement]:
    """(path, function, squashed line) of the code lines ``removed`` (old-side line numbers) takes out
    of functions of ``old_model``; with ``kept`` (the new file squashed), only lines it no longer has.

    If a release had them, the change touches shipped behaviour: the mark of a post-release fix.
    """
    lines = old_data.decode("utf-8", "replace").splitlines()
    out = []
    for n in sorted(removed):
        fn = old_model.function_at(n)
        if fn is None or n > len(lines):
            continue
        sq = "".join(lines[n - 1].split())
        if len(sq) < 12 or sq.startswith(("/*", "*", "//")):
            continue
        if kept is None or sq.encode() not in kept:
            out.append((path, fn, sq))
    return out


def file_at(rel: TreeIndex, path: str, fn: str) -> bytes | None:
    """A file at a release, following renames: same path, else the file that defines ``fn``."""
    data = rel.read(path)
    if data is not None:
        return data
    rx = re.compile(rb"^\w[^;\n]*\b" + re.escape(fn.encode()) + rb"\s*\(", re.M)
    for p in rel.grep(fn.encode()):
        d = rel.read(p)
        if d is not None and p.endswith(".c") and rx.search(d):
            return d
    return None


def has_statements(rel: TreeIndex, statements: list[Statement]) -> bool:
    """Does the release's tree contain any of ``statements`` (whitespace-insensitive)?"""
    squashed: dict[str, bytes] = {}
    for path, fn, sq in statements:
        key = path + "\0" + fn
        if key not in squashed:
            data = file_at(rel, path, fn)
            squashed[key] = b"".join(data.split()) if data is not None else b""
        if sq.encode() in squashed[key]:
            return True
    return False


def defines_property(rel: TreeIndex, prop: PropertyDef) -> bool:
    m = rel.model(prop.path)
    return m is not None and any(q.name == prop.name and q.array == prop.array for q in m.props)
