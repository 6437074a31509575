"""Compat-property guards: which properties gate a statement, and whether it runs at their defaults.

A statement is guarded by the conditions around it (``Guard``, from the C model).  Each atom of a
condition that reads a property's field (a bit of a feature word, a bool, a comparison) names the
properties that can switch the statement; evaluating the condition with a property at its default
says whether the code runs for a machine type that sets nothing.  :class:`GuardReader` answers that
for one patch, with the tree indexes before and after it, and knows which guards fold to constants
because the patch removes a property no live machine type sets.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass

from qlint.analyzer.cmodel.model import ConfigWrite, FileModel, Guard, PropertyDef
from qlint.analyzer.tree.index import TreeIndex


@dataclass(frozen=True)
class GuardProp:
    prop: PropertyDef
    guard: Guard | None  # None: the written value itself comes from the property
    at_default: bool | None  # does the guarded code run when the property has its default?


def truthy_default(prop: PropertyDef) -> bool | None:
    d = (prop.default or "").strip().lower()
    if d in ("true", "on", "1", "on_off_auto_on", "on_off_auto_auto"):
        return True
    if d in ("false", "off", "0", "on_off_auto_off", ""):
        return False if d != "" or prop.macro.startswith(("DEFINE_PROP_BIT", "DEFINE_PROP_BOOL")) else None
    if re.fullmatch(r"0x0+|0+", d):
        return False
    if re.fullmatch(r"0x[0-9a-f]+|\d+", d):
        return True
    return None


def evaluate(cond, prop: PropertyDef, matches) -> bool | None:
    kind = cond[0]
    if kind == "not":
        v = evaluate(cond[1], prop, matches)
        return None if v is None else not v
    if kind == "and":
        a, b = evaluate(cond[1], prop, matches), evaluate(cond[2], prop, matches)
        if a is False or b is False:
            return False
        return True if a and b else None
    if kind == "or":
        a, b = evaluate(cond[1], prop, matches), evaluate(cond[2], prop, matches)
        if a or b:
            return True
        return False if a is False and b is False else None
    if matches(cond):
        if kind == "cmp":
            d = (prop.default or "").replace(" ", "")
            op, rhs = cond[1], cond[3]
            if op in ("==", "!="):
                eq = d == rhs
                return eq if op == "==" else not eq
            try:
                a, b = int(d, 0), int(rhs, 0)
            except ValueError:
                return None
            return {"<": a < b, ">": a > b, "<=": a <= b, ">=": a >= b}[op]
        return truthy_default(prop)
    return None


class GuardReader:
    """The property guards of one patch's code (``review``: the patch's review)."""

    def __init__(self, review):
        self._r = weakref.proxy(review)  # the review keeps this reader: no cycle back to it
        self._dropped_memo: dict[tuple, bool] = {}

    def props_for_field(self, model: FileModel, index: TreeIndex, fieldname: str, bit: str | None,
                        struct: str | None = None) -> list[PropertyDef]:
        """Properties backed by ``fieldname`` (of ``struct`` when qlint knows the variable's type)."""
        local = [p for p in model.props if p.field == fieldname or p.field.endswith("." + fieldname)]
        if bit is not None:
            local = [p for p in local if p.bit == bit]
        found = local or index.props_by_field(fieldname, hint=bit)
        if bit is not None:
            found = [p for p in found if p.bit == bit]
        elif not local and not struct and found:
            # a bare field name (`nr`, `len`) of an unknown variable: only properties of a struct
            # this file names can be meant, not every device's field of that name
            text = index.read(model.path) or b""
            found = [p for p in found if p.struct and p.struct.encode() in text]
        if struct:
            # the property may sit on an outer struct that embeds this one (parent_obj.field)
            found = [p for p in found if p.struct == struct or "." in p.field]
        return found

    def guard_props(self, w: ConfigWrite, model: FileModel, index: TreeIndex) -> list[GuardProp]:
        out = self.guards_props(w.guards, model, index)
        for f in w.value_fields:
            if w.target != "cap":
                for p in self.props_for_field(model, index, f, None):
                    if p.bit is None:
                        out.append(GuardProp(p, None, True))
        return out

    def guards_props(self, guards, model: FileModel, index: TreeIndex) -> list[GuardProp]:
        out: list[GuardProp] = []
        for g in guards:
            if g.validation:
                continue
            for atom in atoms(g.cond):
                props: list[PropertyDef] = []
                st = atom[-1]
                if atom[0] == "bit":
                    bit = model.masks.get(atom[2]) or index.mask_bit(atom[2])
                    props = self.props_for_field(model, index, atom[1], bit, st) if bit else []
                    if not props:
                        props = self.props_for_field(model, index, atom[1], atom[2], st)
                elif atom[0] == "bitnr":
                    props = self.props_for_field(model, index, atom[1], atom[2], st)
                elif atom[0] == "field":
                    props = [p for p in self.props_for_field(model, index, atom[1], None, st) if p.bit is None]
                elif atom[0] == "cmp":
                    props = [p for p in self.props_for_field(model, index, atom[2], None, st) if p.bit is None]
                for p in props:
                    def matches(c, a=atom):
                        return c == a
                    res = evaluate(g.cond, p, matches)
                    at_default = None if res is None else (res == g.taken)
                    if atom[0] == "cmp" and evaluate(atom, p, matches) is None:
                        continue  # a comparison qlint cannot evaluate: a limit check, not a switch
                    out.append(GuardProp(p, g, at_default))
        return out

    def fold_dropped(self, gps: list[GuardProp]) -> bool | None:
        """How old code guarded by properties this patch removes ran on every live machine type.

        A property the patch drops whose non-default value no compat array of a machine type the
        tree still defines sets (and no other file names) had its default on every VM that can
        migrate to this tree: its guards were constants.  True: the statement ran everywhere;
        False: nowhere; None: some guard is not such a property (or qlint cannot tell).
        """
        if not gps:
            return None
        runs = True
        for gp in gps:
            if gp.guard is None:  # the written value is the property's
                if not gp.prop.default or not self.dropped_unset(gp.prop):
                    return None
                continue
            if gp.at_default is None or not self.dropped_unset(gp.prop):
                return None
            runs = runs and gp.at_default
        return runs

    def dropped_unset(self, prop: PropertyDef) -> bool:
        key = (prop.path, prop.array, prop.name)
        memo = self._dropped_memo
        if key not in memo:
            memo[key] = self._dropped_unset_uncached(prop)
        return memo[key]

    def _dropped_unset_uncached(self, prop: PropertyDef) -> bool:
        from qlint.analyzer.tree import machines

        new = self._r.new_index.model(prop.path)
        if new is not None and any(p.name == prop.name for p in new.props):
            return False  # still there: users and later compat entries can set it
        v = self._r.current_version
        if v is None:
            return False
        # the machine types that remain after this patch: one it removes sets nothing any more
        mm = machines.analyze(self._r.new_index)
        if not mm.types:
            return False  # cannot tell which machine types remain
        for arr, _e in self._r.old_index.entries_for(prop.name, v):
            if mm.reached_by(arr.name) or mm.unresolved_with(arr.name):
                return False
        needle = b'"' + prop.name.encode("utf-8", "surrogateescape") + b'"'
        compat_files = {a.path for a in self._r.old_index.compat_arrays()}
        for p in self._r.old_index.grep(needle):
            if p == prop.path or p in compat_files:
                continue
            m = self._r.old_index.model(p)
            if m is None or not any(q.name == prop.name for q in m.props):
                return False  # a file that sets it (a board, a helper), or one qlint cannot read
        return True


def guard_uses_prop(g: Guard, model: FileModel, index: TreeIndex, prop: PropertyDef) -> bool:
    """Does condition ``g`` read property ``prop``?"""
    for atom in atoms(g.cond):
        f = atom[1] if atom[0] != "cmp" else atom[2]
        if not (prop.field == f or prop.field.endswith("." + f)):
            continue
        if atom[-1] and atom[-1] != prop.struct and "." not in prop.field:
            continue
        if prop.bit:
            if atom[0] == "bitnr" and atom[2] == prop.bit:
                return True
            if atom[0] == "bit" and (atom[2] == prop.bit or (model.masks.get(atom[2]) or index.mask_bit(atom[2])) == prop.bit):
                return True
        elif atom[0] in ("field", "cmp"):
            return True
    return False


def runs_at_default(g: Guard, model: FileModel, index: TreeIndex, prop: PropertyDef) -> bool | None:
    """Does code under guard ``g`` run when ``prop`` has its default value?  None: cannot tell."""
    probe = Guard(g.cond, g.text, g.taken)

    def matches(c):
        return c[0] in ("bit", "bitnr", "field", "cmp") and guard_uses_prop(Guard(c, ""), model, index, prop)

    res = evaluate(probe.cond, prop, matches)
    return None if res is None else res == g.taken


def atoms(cond):
    kind = cond[0]
    if kind in ("not",):
        yield from atoms(cond[1])
    elif kind in ("and", "or"):
        yield from atoms(cond[1])
        yield from atoms(cond[2])
    elif kind in ("bit", "bitnr", "field", "cmp"):
        yield cond
