"""Decide cheaply whether a patch can matter to any rule, before the semantic diff runs.

Every rule starts from something a patch changes in the model of a file it touches: config
writes of init functions (and their guards), ``DEFINE_PROP_*`` entries and property macros,
VMState descriptions and ``VMSTATE_*`` macros, compat arrays, and feature bits set by
``*features`` functions.  Everything else a rule reads (the tree index: QOM types, other
files' properties, compat tables) is looked up only from such a change.  So a patch in which
every touched C file has the same *relevant facts* before and after (compared without line
numbers, which moving code changes) cannot produce a finding, and cannot create or meet an
obligation of a series: the review skips it.

The relevant facts of one version of a file are reduced to a digest, cached on disk by blob
id (see ``cache``), so a second run over the same history needs neither the file's text nor
its model to skip a patch.  A first run parses each version it must in a facts-only mode
(``cparse.parse_facts``), and does not parse a version whole when the items of the previous
version that the change touches cannot hold a fact, or give the same facts parsed alone before
and after (``_carry``).
"""

from __future__ import annotations

import bisect
import hashlib
import itertools
import re
from collections import Counter, OrderedDict

import pygit2

from qlint.analyzer.tree import cache
from qlint.analyzer.cmodel import cparse, lexemes
from qlint.analyzer.change import FileChange, Patch
from qlint.analyzer.limits import LimitError
from qlint.analyzer.cmodel.cparse import MAY_WRITE, TOPLEVEL_FACTS, Shape
from qlint.analyzer.tree.index import MACRO_NAME_RE, changes_tree_facts
from qlint.analyzer.tree.index import NOT_MIGRATION_CODE as IGNORED_DIRS
from qlint.analyzer.cmodel.model import FileModel

C_SUFFIXES = (".c", ".h")
EMPTY = ""  # the digest of a file with no relevant facts (or no file)


def c_file(f: FileChange) -> bool:
    """A touched file the semantic diff may read (PatchReview.c_files, binary files included).

    Decided from the path alone, so that a patch skipped here never had its texts read.
    """
    p = f.path or f.old_path
    return p.endswith(C_SUFFIXES) and not p.startswith(IGNORED_DIRS)


def digest(model: FileModel) -> str:
    """A hash of everything in ``model`` from which a rule can start, without line numbers."""
    from qlint.analyzer.diff.configdiff import is_init_function

    init: dict[str, bool] = {}
    parts: list[str] = []
    for w in model.writes:
        if w.function not in init:
            init[w.function] = is_init_function(model, w.function)
        parts.append(repr(("w", w.target, w.offset, w.value, w.how, w.function, w.guards, w.value_fields,
                           w.base_var, w.base_type, init[w.function])))
    for p in model.props:
        parts.append(repr(("p", p.name, p.macro, p.struct, p.field, p.bit, p.default, p.array)))
    parts += [repr(("o", a)) for a in model.open_prop_arrays]
    parts += [repr(("pm", k, tuple(v))) for k, v in model.prop_array_macros.items()]
    parts += [repr(("pd", k, v[0], tuple(v[1]))) for k, v in model.prop_macros.items()]
    parts += [repr(("m", k, v)) for k, v in model.masks.items()]
    for d in model.vmstates:
        parts.append(repr(("v", d.var, d.name, d.version_id, d.minimum_version_id,
                           tuple((x.macro, x.args) for x in d.fields), d.subsections, d.needed, d.unmigratable)))
    for vm in model.vmstate_macros:
        parts.append(repr(("vm", vm.name, vm.params, vm.fields)))
    for a in model.compat_arrays:
        parts.append(repr(("c", a.name, a.family, a.version, a.style,
                           tuple((e.driver, e.driver_is_macro, e.property, e.value) for e in a.entries))))
    for fn in model.functions.values():
        if fn.feature_calls and "features" in fn.name:
            parts.append(repr(("f", fn.name, tuple(sorted((c, feat, g) for c, feat, g, _ in fn.feature_calls)))))
    if not parts:
        return EMPTY
    h = hashlib.sha1()
    for p in sorted(parts):
        h.update(p.encode("utf-8", "replace"))
        h.update(b"\0")
    return h.hexdigest()


def entries(model: FileModel) -> tuple:
    """(array, version, driver, property, value) of every compat entry in ``model``, once per
    occurrence, in a stable order."""
    return tuple(sorted(((a.name, a.version, e.driver, e.property, e.value)
                         for a in model.compat_arrays for e in a.entries), key=repr))


def file_facts(path: str, blob_id: str | None, read, before: tuple | None = None) -> tuple[str, tuple]:
    """(digest, compat entries) of one version of a file; ``read()`` gives its bytes (called only
    on a cache miss).  Both come from one parse and are cached together by blob id.

    ``before``: (path, blob id, read) of the version the patch changed into this one.  When this
    process parsed that version and the change touches only items that cannot hold a fact (see
    ``_carry``), the facts are that version's and this one is not parsed.
    """
    from qlint.analyzer.tree.index import facts_model

    if not path:
        return _NONE
    key = f"{blob_id}:{path}" if blob_id else None
    st = cache.store()
    if key is not None:
        got = _MEMO.get(key)
        if got is None:
            got = st.get("facts", key)
        if got is not None:
            _MEMO[key] = got
            return got
    data = read()
    if data is None:
        return _NONE
    cparse.check_size(path, data)  # before anything reads it
    got = None
    if key is not None and before is not None and before[0] == path and before[1]:
        got = _carry(f"{before[1]}:{path}", key, before[2], data)
    if got is None:
        m, shape = facts_model(path, blob_id, data)
        got = (digest(m), entries(m))
        if key is not None and shape is not None:
            _remember_shape(key, shape, got)
    if key is not None:
        _MEMO[key] = got
        st.put("facts", key, got)
    return got


# Shapes (and facts) of the versions this process parsed, for _carry: a range changes the same
# files again and again.
_SHAPES: OrderedDict[str, tuple[Shape, tuple[str, tuple]]] = OrderedDict()
_SHAPES_LIMIT = 4096


def _remember_shape(key: str, shape: Shape, facts: tuple[str, tuple]) -> None:
    _SHAPES[key] = (shape, facts)
    _SHAPES.move_to_end(key)
    if len(_SHAPES) > _SHAPES_LIMIT:
        _SHAPES.popitem(last=False)


_INCLUDES = re.compile(rb'^[ \t]*#[ \t]*include[ \t]*(?:"[^"\n]*"|<[^>\n]*>)[ \t]*$', re.MULTILINE)
_DEFINE = re.compile(rb"[ \t]*#[ \t]*define[ \t]")
_BRACKETS = re.compile(rb"[{}()\[\]]")
_PAIRS = {b"{}", b"()", b"[]"}


def _SPACE(_lexeme: bytes) -> bytes:
    return b" "


def _open_brackets(code: bytes) -> list[bytes]:
    """The brackets of ``code`` that it does not close itself (or opens for an outer one to close)."""
    out: list[bytes] = []
    for c in _BRACKETS.findall(code):
        if out and out[-1] + c in _PAIRS:
            out.pop()
        else:
            out.append(c)
    return out


def _carry(old_key: str, new_key: str, read_old, new: bytes) -> tuple[str, tuple] | None:
    """The facts of ``new`` if they must be those of the old version, else None (parse it).

    They must when the old version's Shape is known and every hunk of the change adds and
    removes no directive but ``#include`` and ``#define``, opens or closes no string,
    character or comment, and leaves the brackets around it as they were; and when the items
    it touches or borders, grown to whole items into regions (without a directive that only
    borders them; nothing above may run on into them), are either
    - inert, the change adds no word that could make a write, a feature call or a top-level
      fact nor a writer's name, and the new text of the region parses cleanly on its own into
      inert items that nothing after them can run on into (ending with ';', '}', or a line of
      their own); or
    - of any kind but conditionals and directives other than #include and #define, and the old
      and the new text of the region, each parsed on its own (``cparse.region_model``), give
      the same syntax errors, the same facts, and the same calls to the file's writers (which
      decide whether a writer is init code), and nothing can run on into the new items;
    and the regions define no function whose name the file also defines outside them.
    Only the regions are parsed: a function or a few, not the file.  The rest of the file
    parses as before, only its line numbers move (facts have none), and the new version's
    Shape is the old one with the regions' items replaced.
    """
    known = _SHAPES.get(old_key)
    if known is None:
        return None
    shape, facts = known
    old = read_old()
    if old is None:
        return None
    try:
        diff = pygit2.Patch.create_from(old, new, context_lines=0)
        if diff.delta.is_binary:
            return None
        hunks = [(h.old_start, h.old_lines, h.new_lines,
                  b"".join(ln.raw_content for ln in h.lines if ln.origin == "-"),
                  b"".join(ln.raw_content for ln in h.lines if ln.origin == "+")) for h in diff.hunks]
    except (ValueError, pygit2.GitError):
        return None
    if not hunks:
        return None
    items = shape.items
    old_rows = old.split(b"\n")
    last_row = len(old_rows) - 1 - (1 if old.endswith(b"\n") else 0)
    regions = _regions(shape, old_rows, last_row, hunks)
    if regions is None:
        return None
    if 3 * sum(hi - lo + 1 for lo, hi, _d, _c in regions) > last_row + 1 > 200:
        return None  # parsing the regions (twice, to compare) would cost more than the file
    ends = [hi for _lo, hi, _d, _c in regions]
    moved = [0, *itertools.accumulate(delta for _lo, _hi, delta, _c in regions)]

    def shift(row: int) -> int:
        """Where old row ``row``, outside every region, is in the new text (a region can be
        empty, hi = lo - 1: lines inserted between two directives)."""
        return row + moved[bisect.bisect_left(ends, row)]

    def in_region(row: int) -> bool:
        k = bisect.bisect_left(ends, row)
        return k < len(regions) and regions[k][0] <= row

    lines = new.split(b"\n")
    new_items: list[tuple[int, int, bool, bool]] = []
    new_fns: list[tuple[int, str]] = []  # the functions the regions define
    offset = 0  # the deltas of the regions before this one
    for lo, hi, delta, compare in regions:
        a = lo + offset
        b = a + (hi - lo) + delta
        offset += delta
        text = b"\n".join(lines[a:b + 1]) + b"\n" if b >= a else b"\n"
        if text.rstrip().endswith(b"\\"):
            return None  # its last line goes on into the next one (what is left of a #define)
        if not compare:
            got = cparse.shape_items(text, shape.writers)
            if got is None or not all(inert and closed for _, _, inert, closed in got[0]):
                return None
            items_here, fns = got
        else:
            now = _region_model(text, shape.writers)
            if now is None or not all(closed for _, _, _, closed in now[1]):
                return None  # an item that the next may run on into (see above)
            was = _region_model(b"\n".join(old_rows[lo:hi + 1]) + b"\n" if hi >= lo else b"\n", shape.writers)
            if was is None:
                return None
            if ([(x + lo, y + lo, i, c) for x, y, i, c in was[1]] != [it for it in items if lo <= it[0] and it[1] <= hi]
                    or [(r + lo, n) for r, n in was[3]] != [f for f in shape.functions if lo <= f[0] <= hi]):
                return None  # cut differently on its own than in the file
            if was[2] != now[2] or _region_key(was[0], shape.writers) != _region_key(now[0], shape.writers):
                return None  # a new syntax error (in the file, the parse may not recover where it does here)
            items_here, fns = now[1], now[3]
        new_items += [(x + a, y + a, inert, closed) for x, y, inert, closed in items_here]
        new_fns += [(r + a, n) for r, n in fns]
    outside = [(r, n) for r, n in shape.functions if not in_region(r)]
    # a name the regions define, or defined before them, that is also defined outside them: which
    # definition the model keeps (the last) may change
    names = {n for _, n in outside}
    if any(n in names for _, n in new_fns) or any(n in names for r, n in shape.functions if in_region(r)):
        return None
    for a, b, inert, closed in items:
        if not in_region(a):
            new_items.append((shift(a), shift(b), inert, closed))
    functions = tuple(sorted([(shift(r), n) for r, n in outside] + new_fns))
    _remember_shape(new_key, Shape(shape.writers, tuple(sorted(new_items)), functions), facts)
    return facts


def _regions(shape: Shape, old_rows: list[bytes], last_row: int, hunks: list[tuple]) -> list[list] | None:
    """The regions of the old text to parse again, in order, as [first row, last row, rows the
    change adds, compare facts (else: all inert)]; None when a hunk rules carrying out (see
    ``_carry``).  A region can be empty (last row = first row - 1: lines inserted between two
    directives)."""
    items = shape.items
    starts = [it[0] for it in items]
    reach = list(itertools.accumulate((it[1] for it in items), max))  # the last row of items[:k + 1]
    regions: list[list] = []
    for start, n_old, n_new, removed, added in hunks:
        if any(b"#" in line and not _DEFINE.match(line)
               for text in (removed, added) for line in _INCLUDES.sub(b"", text).split(b"\n")):
            return None  # a directive but #include and #define, or a '#' a raw-text scan of #defines could read
        # strings, characters and comments, which a changed line may hold (C has no other multi-line token)
        code_old, code_new = (lexemes.substitute(t, _SPACE) for t in (removed, added))
        if any(t in code for code in (code_old, code_new) for t in (b'"', b"'", b"/*", b"*/", b"\\")):
            return None
        if _open_brackets(code_old) != _open_brackets(code_new):
            return None
        compare = any(MAY_WRITE.search(text) or TOPLEVEL_FACTS.search(text) or b"DEFINE_PROP" in text
                      or any(w in text for w in shape.writers) for text in (removed, added))
        # the changed rows and one more each side, or the two rows an insertion goes between
        above, below = (start - 2, start - 1 + n_old) if n_old else (start - 1, start)
        # a directive that ends on the row above or starts on the row below stays out: a change
        # next to a line-based construct cannot join it
        lo = above + 1 if above >= 0 and _directive_at(items, starts, reach, old_rows, above, last=True) else max(above, 0)
        hi = below - 1 if below <= last_row and _directive_at(items, starts, reach, old_rows, below, last=False) else min(below, last_row)
        while lo <= hi:  # every item meeting the region is in it
            k = bisect.bisect_right(starts, hi) - 1
            grown = (lo, hi)
            while k >= 0 and reach[k] >= lo:
                a, b, inert, _closed = items[k]
                if b >= lo:
                    compare = compare or not inert
                    lo, hi = min(lo, a), max(hi, b)
                k -= 1
            if (lo, hi) == grown:
                break
        k = bisect.bisect_right(starts, lo) - 1
        while k >= 0 and reach[k] >= lo:
            k -= 1
        if k >= 0 and not items[k][3]:
            # the item above may run on into the region (a macro call with no ';'), and whether
            # it does depends on more than the two: tree-sitter may join them in the file and
            # not on their own
            return None
        if regions and lo <= regions[-1][1] + 1:
            regions[-1][1] = max(regions[-1][1], hi)
            regions[-1][2] += n_new - n_old
            regions[-1][3] = regions[-1][3] or compare
        else:
            regions.append([lo, hi, n_new - n_old, compare])
    return regions


# region_model of the regions parsed last: the text a change leaves is often the one the next
# change to the file starts from
_REGIONS: OrderedDict[tuple[bytes, frozenset[bytes]], tuple | None] = OrderedDict()


def _region_model(text: bytes, writers: frozenset[bytes]):
    key = (text, writers)
    if key in _REGIONS:
        _REGIONS.move_to_end(key)
        return _REGIONS[key]
    try:
        got = cparse.region_model(text, writers)
    except LimitError:
        got = None  # over a limit: the whole file is parsed, and says which
    _REGIONS[key] = got
    if len(_REGIONS) > 64:
        _REGIONS.popitem(last=False)
    return got


def _directive_at(items, starts, reach, rows, row: int, last: bool) -> bool:
    """Does a directive end (``last``) or start on ``row``?"""
    k = bisect.bisect_right(starts, row) - 1
    while k >= 0 and reach[k] >= row:
        a, b = items[k][0], items[k][1]
        if (b if last else a) == row and rows[a].lstrip().startswith(b"#"):
            return True
        k -= 1
    return False


def _region_key(model: FileModel, writers: frozenset[bytes]) -> tuple:
    """What the items of a region give to a file's facts: their own, and which of the file's
    functions that write each of their functions calls or installs (a writer is init code
    when all its callers are: ``configdiff.is_init_function``)."""
    names = {w.decode() for w in writers}
    calls = ((f.name, sorted(f.calls & names), sorted(f.assigned_fns & names)) for f in model.functions.values())
    return digest(model), entries(model), sorted(c for c in calls if c[1] or c[2])


def file_digest(path: str, blob_id: str | None, read) -> str:
    """The digest of one version of a file (see ``file_facts``)."""
    return file_facts(path, blob_id, read)[0]


_NONE: tuple[str, tuple] = (EMPTY, ())

_MEMO: dict[str, tuple[str, tuple]] = {}


def can_matter(patch: Patch) -> bool:
    """False when no touched C file changes a relevant fact: no rule can say anything about the patch."""
    # a new or deleted file matters when it has relevant facts, a renamed one when they changed
    return any(file_digest(*old) != file_facts(*new, before=old)[0] for old, new in _touched(patch))


def _touched(patch: Patch) -> list[tuple[tuple, tuple]]:
    """((path, blob id, read), same for the new side) of every touched C file the semantic diff
    may read; a side that does not exist has path '' (an added or deleted file)."""
    out = []
    if patch.touched is not None:
        for _status, path, old_oid, new_oid in patch.touched:
            if path.endswith(C_SUFFIXES) and not path.startswith(IGNORED_DIRS):
                out.append(((path if old_oid else "", old_oid, lambda o=old_oid: patch.old.read_oid(o)),
                            (path if new_oid else "", new_oid, lambda o=new_oid: patch.new.read_oid(o))))
        return out
    for f in patch.files:
        if c_file(f):
            out.append(((f.old_path, patch.old.blob_id(f.old_path) if f.old_path else None, lambda f=f: f.old_data),
                        (f.path, patch.new.blob_id(f.path) if f.path else None, lambda f=f: f.new_data)))
    return out


def entries_added(patch: Patch) -> set[tuple]:
    """Compat entries in a touched file after the patch that the same file lacked before it (or
    had fewer copies of).

    A superset of what the patch adds to the tree (an entry moved between files is listed):
    a patch with none adds no entry anywhere, so a search for the patch that adds an entry
    can pass it by without building its tree index.
    """
    out: set[tuple] = set()
    for old, new in _touched(patch):
        before = file_facts(*old)[1]  # first: the new side may be carried from it
        got = file_facts(*new, before=old)[1]
        if got:
            out.update(Counter(got) - Counter(before))
    return out


def could_add_entry(patch: Patch, names: set[str], types_matter: bool = True) -> bool:
    """Can ``patch`` make the tree have a compat entry for a property called one of ``names`` that
    the tree before it lacked, or make an existing one apply to other types?

    True when it adds an entry whose property is one of ``names`` or a macro (resolved through
    the tree's type macros), or, with ``types_matter``, when it changes type macros or QOM types
    (the caller knows whether the tree holds an entry for the property that a type change
    could make apply, or a name that is a macro).
    """
    if any(e[3] in names or MACRO_NAME_RE.fullmatch(e[3]) for e in entries_added(patch)):
        return True
    return types_matter and changes_tree_facts(patch, compat=False)

