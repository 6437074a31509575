"""The VMState half of the semantic diff: what a patch changes on the migration wire.

Descriptions are matched by their ``.name`` (the wire identity), so renaming
the C variable or const-ifying the field array is no change; fields are
compared after expanding VMSTATE_* macros defined in the tree, so a field
added inside such a macro shows up in every description that uses it.
"""

from __future__ import annotations

import bisect
import re
import weakref
from collections import Counter
from dataclasses import dataclass, field
from difflib import SequenceMatcher

from qlint.analyzer.change import FileChange
from qlint.analyzer.diff.configdiff import GuardedChange
from qlint.analyzer.tree.index import TreeIndex
from qlint.analyzer.cmodel.model import FileModel, PropertyDef, VMField, VMStateDesc
from qlint.analyzer.limits import VMSTATE_EXPANSION_DEPTH, VMSTATE_FIELDS, over
from qlint.analyzer.diff.propdiff import truthy

_MAX_EXPANSION = VMSTATE_EXPANSION_DEPTH


@dataclass
class FieldChange:
    kind: str  # "added", "removed", "changed"
    path: str
    desc: VMStateDesc  # new side (old side for a removed description's field)
    old: VMField | None
    new: VMField | None
    line: int


@dataclass
class VersionChange:
    path: str
    old: VMStateDesc
    new: VMStateDesc
    nested_in: list[str]


@dataclass
class NewSubsection:
    path: str
    parent: VMStateDesc
    sub: VMStateDesc | None  # None when qlint cannot find the subsection's description
    var: str
    line: int


@dataclass
class FieldMove:
    """A field both sides send, at another place in the stream (the fields around it stay)."""

    path: str
    desc: VMStateDesc
    field: VMField  # new side
    before: VMField | None  # the field it used to come after (old side); None: it came first
    line: int


@dataclass
class NameChange:
    """A description whose ``.name`` is on the wire (a section or a subsection) changes it."""

    path: str
    old: VMStateDesc
    new: VMStateDesc
    old_name: str  # as each tree resolves it
    new_name: str
    role: str  # "section" or "subsection"
    line: int


@dataclass
class DroppedSubsection:
    """A subsection an older QEMU sends that the description no longer lists."""

    path: str
    parent: VMStateDesc  # new side
    sub: VMStateDesc  # old side
    line: int


@dataclass
class UngatedSubsection:
    """A subsection whose ``.needed`` read compat properties and now reads none, or that is now
    always sent."""

    path: str
    parent: VMStateDesc  # new side
    sub: VMStateDesc  # new side
    props: list[PropertyDef]  # what the old .needed read, that compat entries set (may be none when always)
    always: bool  # the new .needed is always true
    line: int


@dataclass
class Gate:
    """What a .needed or _TEST function depends on."""

    function: str | None
    props: list[PropertyDef] = field(default_factory=list)
    always: bool = False  # no function, or `return true;`
    found: bool = True
    version: bool = False  # it tests the stream's version: a version gate


def expand(fields: tuple[VMField, ...], index: TreeIndex, depth: int = 0) -> list[VMField]:
    """Replace calls of VMSTATE_* macros defined in the tree by the fields they expand to."""
    out: list[VMField] = []
    for f in fields:
        tmp_arg = {"VMSTATE_WITH_TMP": 3, "VMSTATE_WITH_TMP_TEST": 4}.get(f.macro)
        if tmp_arg == len(f.args) and depth < _MAX_EXPANSION:
            # the wire holds the temporary's description's fields, in place of this one
            tmp = _find_desc(index, f.args[-1].lstrip("&"))
            if tmp is not None and tmp.fields:
                test = f.args[1] if f.macro.endswith("_TEST") else None
                inner = tuple(VMField(x.macro if test is None or x.test else x.macro + "_TEST",
                                      x.args if test is None or x.test else x.args + (test,), f.line, f.text)
                              for x in tmp.fields)
                out.extend(expand(inner, index, depth + 1))
                _check_size(out)
                continue
        vm = index.vmstate_macro(f.macro) if depth < _MAX_EXPANSION and not _is_core(f.macro) else None
        if vm is None or len(vm.params) != len(f.args):
            out.append(f)
            continue
        subst = dict(zip(vm.params, f.args))
        inner = []
        for macro, args in vm.fields:
            new_args = tuple(_substitute(a, subst) for a in args)
            inner.append(VMField(macro, new_args, f.line, f.text))
        out.extend(expand(tuple(inner), index, depth + 1))
        _check_size(out)
    return out


def _check_size(fields: list) -> None:
    if len(fields) > VMSTATE_FIELDS:
        raise over(f"a VMState description's fields expand, through the tree's VMSTATE_* macros, to more than "
                   f"{VMSTATE_FIELDS:,} fields", "VMSTATE_FIELDS")


def _is_core(macro: str) -> bool:
    # the generic VMSTATE_UINT32/STRUCT/... family lives in migration/vmstate.h: keep them whole
    return bool(re.match(r"VMSTATE_(U?INT\d+|BOOL|STRUCT|ARRAY|BUFFER|UNUSED|TIMER|PTIMER|CLOCK|END_OF_LIST|"
                         r"SINGLE|POINTER|VARRAY|VBUFFER|PARTIAL|STATIC|INT|UINT|FLOAT|U64|I64|TIME|QTAILQ|GTREE|QLIST|"
                         r"VALIDATE|WITH_TMP|ARRAY_OF_POINTER|MACADDR|BITMAP|FIFO|UNUSED)", macro))


def _substitute(text: str, subst: dict[str, str]) -> str:
    return re.sub(r"\b\w+\b", lambda m: subst.get(m.group(0), m.group(0)), text)


_MACRO_RE = re.compile(r"[A-Z_][A-Z0-9_]*")


def _match(olds: list[VMStateDesc], news: list[VMStateDesc]) -> list[tuple[VMStateDesc, VMStateDesc]]:
    """Pair descriptions: by C name first, then by a wire name that only one description uses."""
    by_var = {d.var: d for d in olds}
    names: dict[str, list[VMStateDesc]] = {}
    for d in olds:
        names.setdefault(d.name, []).append(d)
    new_vars = {d.var for d in news}
    out = []
    for n in news:
        o = by_var.get(n.var)
        if o is None:
            cands = [d for d in names.get(n.name, []) if d.var not in new_vars]
            o = cands[0] if len(cands) == 1 else None
        if o is not None and not o.unmigratable:
            out.append((o, n))
    return out


_SCALAR_ARRAY_RE = re.compile(r"VMSTATE_((?:U?INT(?:8|16|32|64))|BOOL)_ARRAY")


def _canonical(f: VMField) -> VMField:
    """``f`` in the one spelling of its wire form: an array from element 0 is the sub-array
    from 0 of the same length (VMSTATE_UINT32_ARRAY(f, s, n) and VMSTATE_UINT32_SUB_ARRAY(f, s,
    0, n) send the same n words), and a buffer sends its bytes whether the state holds them or
    points to them (VMSTATE_BUFFER_POINTER_UNSAFE and VMSTATE_BUFFER_UNSAFE)."""
    m = _SCALAR_ARRAY_RE.fullmatch(f.macro)
    if m is not None and len(f.args) == 3:
        return VMField(f"VMSTATE_{m.group(1)}_SUB_ARRAY", (f.args[0], f.args[1], "0", f.args[2]), f.line, f.text)
    if f.macro == "VMSTATE_BUFFER_POINTER_UNSAFE":
        return VMField("VMSTATE_BUFFER_UNSAFE", f.args, f.line, f.text)
    return f


def _shape(f: VMField) -> tuple[str, tuple[str, ...]]:
    """The field's wire type and size: the macro family and its size-like arguments.

    The state struct (2nd argument), C type and description names, the test
    function and the version are not on the wire; array lengths are.
    """
    macro = f.macro
    for suffix in ("_TEST", "_V"):
        macro = macro.removesuffix(suffix)
    sizes = tuple(a for a in f.args[2:] if a != f.test and re.fullmatch(r"(?:0x[0-9a-fA-F]+|\d+|[A-Z][A-Z0-9_]+)", a)
                  and not (f.version and a == str(f.version)))
    if not ("ARRAY" in macro or "BUFFER" in macro or "UNUSED" in macro):
        sizes = ()
    elif macro == "VMSTATE_BUFFER_UNSAFE" and len(f.args) == 4:
        # its size is any expression, and all of it goes on the wire: compare it as written
        sizes = (f.args[2], re.sub(r"\s+", "", f.args[3]))
    return macro, sizes


def _renamed(old: list[VMField], new: list[VMField]) -> list[VMField]:
    """``old`` with each field that ``new`` only renames replaced by its new self.

    Fields the same in both (name and wire) anchor the two lists; between two anchors, old and
    new fields with the same wire form, aligned in order, are renames.
    """
    def full(f: VMField) -> tuple:
        return (f.field, *_wire(f))

    out = list(old)
    anchors = SequenceMatcher(None, [full(f) for f in old], [full(f) for f in new], autojunk=False)
    i0 = j0 = 0
    for i, j, size in anchors.get_matching_blocks():  # the last block is (len, len, 0)
        gap_old, gap_new = old[i0:i], new[j0:j]
        if gap_old and gap_new:
            inner = SequenceMatcher(None, [_wire(f) for f in gap_old], [_wire(f) for f in gap_new], autojunk=False)
            for a, b, n in inner.get_matching_blocks():
                for k in range(n):
                    out[i0 + a + k] = gap_new[b + k]
        i0, j0 = i + size, j + size
    return out


def _wire(f: VMField) -> tuple:
    """Everything of a field that the stream depends on, its C name (1st argument) and state
    struct (2nd) aside: the macro, with its test and version, and the other arguments."""
    return (f.macro, f.args[2:])


class VMStateDiff:
    def __init__(self, review):
        # the review caches this diff: a strong reference back would make a cycle, and a cycle
        # holding the review's tree indexes lives until a full garbage collection
        self.r = weakref.proxy(review)
        self.fields: list[FieldChange] = []
        self.versions: list[VersionChange] = []
        self.subsections: list[NewSubsection] = []
        self.moves: list[FieldMove] = []
        self.names: list[NameChange] = []
        self.dropped: list[DroppedSubsection] = []
        self.ungated: list[UngatedSubsection] = []
        self._run()

    def _run(self) -> None:
        r = self.r
        for f, om, nm in r.modified_pairs():
            if not (om.vmstates or nm.vmstates):
                continue
            for o, n in _match(om.vmstates, nm.vmstates):
                self._compare(f, om, nm, o, n)
                self._compare_name(f, nm, o, n)

    def _compare_name(self, f: FileChange, nm: FileModel, o: VMStateDesc, n: VMStateDesc) -> None:
        """A section's or subsection's ``.name`` is how the destination finds its state."""
        if o.name == n.name:
            return
        old_name = self.r.old_index.string_name(o.name)
        new_name = self.r.new_index.string_name(n.name)
        if old_name == new_name or _MACRO_RE.fullmatch(old_name) or _MACRO_RE.fullmatch(new_name):
            return  # the same string, or one qlint cannot resolve
        if any(n.var in d.subsections for d in nm.vmstates):
            role = "subsection"
        elif any(n.var in fn.vmsds for fn in nm.functions.values()) or not self.r.new_index.nests(n.var):
            role = "section"
        else:
            return  # only nested in other descriptions: a VMSTATE_STRUCT sends no name
        self.names.append(NameChange(f.path, o, n, old_name, new_name, role, _line_near(f, n)))

    def _compare(self, f: FileChange, om: FileModel, nm: FileModel, o: VMStateDesc, n: VMStateDesc) -> None:
        r = self.r
        of = [_canonical(x) for x in expand(o.fields, r.old_index)]
        nf = [_canonical(x) for x in expand(n.fields, r.new_index)]
        of = _renamed(of, nf)  # a stream carries no field names: a renamed field is the same field
        # the same field may appear several times (sub-arrays): pair occurrences in order
        old_by: dict[str, list[VMField]] = {}
        for x in of:
            old_by.setdefault(x.identity, []).append(x)
        new_by: dict[str, list[VMField]] = {}
        for x in nf:
            new_by.setdefault(x.identity, []).append(x)
        unused_added = len([x for x in nf if x.is_unused]) > len([x for x in of if x.is_unused])
        for ident, xs in new_by.items():
            prevs = old_by.get(ident, [])
            old_shapes = [_shape(p) for p in prevs]
            for i, x in enumerate(xs):
                if x.is_unused:
                    continue
                if i >= len(prevs):
                    self.fields.append(FieldChange("added", f.path, n, None, x, x.line))
                elif _shape(x) not in old_shapes:
                    self.fields.append(FieldChange("changed", f.path, n, prevs[i], x, x.line))
        for ident, xs in old_by.items():
            for x in xs[len(new_by.get(ident, [])):]:
                if x.is_unused or unused_added:
                    continue  # a VMSTATE_UNUSED placeholder keeps its bytes
                # the same field under another macro: a type change, not a removal plus an addition
                twin = next((c for c in self.fields if c.kind == "added" and c.desc is n and c.new is not None
                             and c.new.field == x.field), None)
                if twin is not None:
                    twin.kind, twin.old = "changed", x
                    continue
                self.fields.append(FieldChange("removed", f.path, n, x, None, _line_near(f, n)))
        self._compare_order(f, n, of, nf)
        if (o.version, o.minimum) != (n.version, n.minimum):
            self.versions.append(VersionChange(f.path, o, n, r.new_index.nests(n.var)))
        by_var = {d.var: d for d in nm.vmstates}
        old_subs = set(o.subsections)
        old_sub_names = {d.name for d in om.vmstates if d.var in old_subs}
        for s in n.subsections:
            if s in old_subs:
                continue
            sub = by_var.get(s)
            if sub is None:
                found = _find_desc(r.new_index, s)
                sub = found
            if sub is not None and sub.name in old_sub_names:
                continue  # the same subsection under a new C name
            line = sub.line if sub is not None and sub.path == f.path else n.line
            self.subsections.append(NewSubsection(f.path, n, sub, s, line))
        new_sub_names = set()
        for s in n.subsections:
            sub = by_var.get(s) or _find_desc(r.new_index, s)
            if sub is not None:
                new_sub_names.add(r.new_index.string_name(sub.name))
        old_by_var = {d.var: d for d in om.vmstates}
        for s in o.subsections:
            if s in n.subsections:
                continue
            sub = old_by_var.get(s) or _find_desc(r.old_index, s)
            if sub is None or r.old_index.string_name(sub.name) in new_sub_names:
                continue  # unknown, or the same subsection under a new C name
            self.dropped.append(DroppedSubsection(f.path, n, sub, _line_near(f, n)))
        for s in n.subsections:
            if s in old_subs:
                self._compare_needed(f, nm, n, old_by_var.get(s) or _find_desc(r.old_index, s),
                                     by_var.get(s) or _find_desc(r.new_index, s))

    def _compare_needed(self, f: FileChange, nm: FileModel, parent: VMStateDesc, old: VMStateDesc | None,
                        new: VMStateDesc | None) -> None:
        """A subsection kept away from old machine types by a compat property, and no longer."""
        if old is None or new is None or (new.path or f.path) != f.path:
            return
        fn = nm.functions.get(new.needed or "")
        touched = old.needed != new.needed or (
            fn is not None and any(fn.line <= k <= fn.end_line for k in f.added))
        if not touched:
            return
        r = self.r
        was = self.gate(old.needed, old.path or f.path, old=True, model=r.old_model(f))
        if was.always:
            return
        v = r.current_version
        props = [p for p in was.props if v is not None and r.old_index.entries_for(p.name, v)
                 and not r.guards.dropped_unset(p)]
        now = self.gate(new.needed, new.path or f.path, model=nm)
        if not props and not now.always:
            return  # it read no property that a compat array sets for a live machine type
        if now.always or (now.found and not now.version and not any(
                p.name in {q.name for q in props} for p in now.props)):
            self.ungated.append(UngatedSubsection(f.path, parent, new, props, now.always,
                                                  _line_near(f, new if fn is None else fn)))

    def _compare_order(self, f: FileChange, n: VMStateDesc, of: list[VMField], nf: list[VMField]) -> None:
        """Fields both sides send once each, in another order: the values land in other fields."""
        co, cn = Counter(x.identity for x in of), Counter(x.identity for x in nf)
        once = {i for i in co if co[i] == 1 and cn[i] == 1}
        olds = [x for x in of if x.identity in once and not x.is_unused]
        news = [x for x in nf if x.identity in once and not x.is_unused]
        sm = SequenceMatcher(None, [x.identity for x in olds], [x.identity for x in news], autojunk=False)
        kept = {news[b + k].identity for a, b, size in sm.get_matching_blocks() for k in range(size)}
        for x in news:
            if x.identity not in kept:
                k = next(i for i, y in enumerate(olds) if y.identity == x.identity)
                self.moves.append(FieldMove(f.path, n, x, olds[k - 1] if k else None, x.line))

    def gate(self, function: str | None, path: str, old: bool = False, model: FileModel | None = None) -> Gate:
        """What ``function`` (a .needed or _TEST function) reads that properties set, in the tree
        after the patch (before it with ``old``); ``model``: the file's full model, when the
        patch touches it (the tree's facts of a file hold no function bodies)."""
        r = self.r
        index = r.old_index if old else r.new_index
        if not function or function == "NULL":
            return Gate(None, always=True)
        if model is not None and function in model.functions:
            found = (model, model.functions[function])
        else:
            found = index.function_anywhere(function, prefer=path)
        if found is None:
            return Gate(function, found=False)
        model, fn = found
        if fn.always_true:
            return Gate(function, always=True)
        props: dict[str, PropertyDef] = {}
        fns = [fn] + [model.functions[c] for c in sorted(fn.calls) if c in model.functions]
        versioned = any("version" in g.text for f in fns for g in f.conds)
        for f in fns:  # the function and one level of helpers in the same file
            for gp in r.guards.guards_props(f.conds, model, index):
                props.setdefault(gp.prop.name, gp.prop)
        return Gate(function, list(props.values()), version=versioned)


def _find_desc(index: TreeIndex, var: str) -> VMStateDesc | None:
    for p in index.grep(var.encode()):
        m = index.model(p)
        if m is None:
            continue
        for d in m.vmstates:
            if d.var == var:
                return d
    return None


def _line_near(f: FileChange, d) -> int:
    """The first changed line inside ``d`` (a description or a function), else its first line."""
    inside = sorted(n for n in f.added if d.line <= n <= d.end_line)
    return inside[0] if inside else d.line


def obligations(diff: "VMStateDiff"):
    """Properties that gate new wire data: each needs a compat entry switching it off."""

    out = []
    for fc in diff.fields:
        if fc.kind == "added" and fc.new is not None and fc.new.test:
            g = diff.gate(fc.new.test, fc.path)
            if g.props:
                out.append(GuardedChange(fc.path, fc.desc.var, g.props[0], [], "vmstate-test", fc.line, fc.line,
                                         alternatives=g.props))
    for ns in diff.subsections:
        if ns.sub is None:
            continue
        g = diff.gate(ns.sub.needed, ns.sub.path or ns.path)
        if not g.props:
            continue
        on = [p for p in g.props if truthy(p)]
        forced = [p for p in g.props if not truthy(p) and _set_by_code(diff.r, p)]
        if on:
            out.append(GuardedChange(ns.path, ns.sub.var, on[0], [], "vmstate-needed", ns.line, ns.line,
                                     alternatives=on))
        elif forced:
            # off by default, but board code switches it on: compat properties cannot undo that
            out.append(GuardedChange(ns.path, ns.sub.var, forced[0], [], "vmstate-needed-forced", ns.line,
                                     ns.line, alternatives=[]))
    return out


_WORD_CALL = re.compile(r"(?<!\w)\w++\(")


def _sets_prop(text: str, name: str) -> bool:
    """Does ``text`` match ``qdev_prop_set_\\w+\\([^;]*"NAME"``?  In linear time: that pattern
    scans to the next ";" from every "qdev_prop_set_" of a long word or a long stretch.  A match
    is a word holding "qdev_prop_set_" and a word character after it, then "(", then "NAME" in
    quotes with no ";" in between."""
    quoted = '"' + name + '"'
    if quoted not in text or "qdev_prop_set_" not in text:
        return False
    opens = [m.end() for m in _WORD_CALL.finditer(text) if "qdev_prop_set_" in m.group(0)[:-2]]
    if not opens:
        return False
    semis = [m.start() for m in re.finditer(";", text)]
    at = text.find(quoted)
    while at >= 0:
        k = bisect.bisect_right(opens, at) - 1  # the last "(" before it
        if k >= 0:
            s = bisect.bisect_left(semis, opens[k])
            if s == len(semis) or semis[s] >= at:
                return True
        at = text.find(quoted, at + 1)
    return False


def _set_by_code(review, prop: PropertyDef) -> bool:
    """Does the new code set ``prop`` itself (qdev_prop_set_bit(dev, "name", ...))?"""
    for f in review.c_files:
        if f.new_data is not None and _sets_prop(f.new_data.decode("utf-8", "replace"), prop.name):
            return True
    return False
