"""The semantic diff: what a patch changes in migration-visible state.

It compares the C models of every touched file before and after a patch, so
that re-wrapped, re-commented or moved code is no change, and answers the
questions rules ask: which config writes appear, vanish or change outside any
compat-property guard; which guards on which properties are new; which compat
entries the patch adds.
"""

from __future__ import annotations

import dataclasses
import re
from collections import Counter, OrderedDict
from dataclasses import dataclass, field
from functools import cached_property

from qlint.analyzer.change import FileChange, Patch, Series
from qlint.analyzer.diff import prefilter
from qlint.analyzer.tree.index import NOT_MIGRATION_CODE, TreeIndex, _variable_offset, parse_cached
from qlint.analyzer.limits import QUOTE_LINE_CHARS
from qlint.analyzer.cmodel.model import (
    CompatArray,
    CompatEntry,
    ConfigWrite,
    FileModel,
    Guard,
    PropertyDef,
)

C_SUFFIXES = (".c", ".h")

_ZERO_RE = re.compile(r"^\(*(?:0|0x0+|0[uUlL]+|false)\)*(?:,.*)?$")

# Functions that build a device's initial state.  Writes in other functions
# (config-space write handlers, interrupt updates, error injection) happen at
# run time, in response to the guest, and their result is migrated as is.
_INIT_RE = re.compile(r"(realize|_init$|_init_|^init_|_initfn|instance_init|class_init|reset|_setup|_add_cap|_cap_)")
_RUNTIME_RE = re.compile(r"(write_config|read_config|config_write|config_read|_update|inject|_irq|_notify|"
                         r"_handle|_post_load|_pre_save|_load|_save|_exit|unrealize|uninit|_del$|_event|_read$|_write$)")


def is_init_function(model: FileModel, name: str) -> bool:
    if _RUNTIME_RE.search(name):
        return False
    if _INIT_RE.search(name):
        return True
    # a static helper reached only from init functions of the same file
    callers = [f for f in model.functions.values() if name in f.calls or name in f.assigned_fns]
    return bool(callers) and all(
        _INIT_RE.search(c.name) and not _RUNTIME_RE.search(c.name) for c in callers
    )


@dataclass(frozen=True)
class GuardProp:
    prop: PropertyDef
    guard: Guard | None  # None: the written value itself comes from the property
    at_default: bool | None  # does the guarded code run when the property has its default?


def _at_defaults(w: ConfigWrite, gps: list[GuardProp]) -> ConfigWrite:
    """``w`` with each property field it writes replaced by the property's default."""
    value = w.value
    for gp in gps:
        if gp.guard is None and gp.prop.default:
            field = re.escape(gp.prop.field.split(".")[-1].split("->")[-1])
            value = re.sub(r"(?:\b\w+(?:->|\.))*\b" + field + r"\b", gp.prop.default, value)
    if value == w.value:
        return w
    return dataclasses.replace(w, value=value, value_fields=())


@dataclass
class WriteChange:
    kind: str  # "added", "removed", "changed"
    path: str
    function: str
    new: list[ConfigWrite] = field(default_factory=list)
    old: list[ConfigWrite] = field(default_factory=list)
    line: int = 1  # new-side line to report at
    end_line: int = 1


@dataclass
class GuardedChange:
    """Writes whose behaviour now depends on a property: the fix pattern."""

    path: str
    function: str
    prop: PropertyDef
    writes: list[ConfigWrite]
    why: str  # "new-write", "newly-guarded", "new-property"
    line: int
    end_line: int
    alternatives: list[PropertyDef] = field(default_factory=list)  # any of these switched off will do


def _truthy_default(prop: PropertyDef) -> bool | None:
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


def _eval(cond, prop: PropertyDef, matches) -> bool | None:
    kind = cond[0]
    if kind == "not":
        v = _eval(cond[1], prop, matches)
        return None if v is None else not v
    if kind == "and":
        a, b = _eval(cond[1], prop, matches), _eval(cond[2], prop, matches)
        if a is False or b is False:
            return False
        return True if a and b else None
    if kind == "or":
        a, b = _eval(cond[1], prop, matches), _eval(cond[2], prop, matches)
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
        return _truthy_default(prop)
    return None


class PatchReview:
    """Everything rules may ask about one patch of a series."""

    def __init__(self, patch: Patch, series: Series, indexes: "IndexPool"):
        self.patch = patch
        self.series = series
        self.pool = indexes
        self.old_index = indexes.get(patch.old)
        self.new_index = indexes.get(patch.new)
        self.tip_index = indexes.get(series.tip)
        self._quoted_lines: dict[tuple[str, str], tuple[bytes, list[str]]] = {}

    # -- models of touched files -------------------------------------------------

    @cached_property
    def c_files(self) -> list[FileChange]:
        return [
            f for f in self.patch.files
            if not f.binary and (f.path or f.old_path).endswith(C_SUFFIXES)
            and not (f.path or f.old_path).startswith(NOT_MIGRATION_CODE)
        ]

    def old_model(self, f: FileChange) -> FileModel | None:
        if f.old_data is None:
            return None
        return parse_cached(f.old_path, self.patch.old.blob_id(f.old_path), f.old_data)

    def new_model(self, f: FileChange) -> FileModel | None:
        if f.new_data is None:
            return None
        return parse_cached(f.path, self.patch.new.blob_id(f.path), f.new_data)

    def modified_pairs(self):
        """(file, old model, new model) of touched C files that existed before and after the patch.

        A new file is a new device and a deleted one takes its state with it: neither is a change.
        """
        for f in self.c_files:
            if f.status in ("A", "D"):
                continue
            om, nm = self.old_model(f), self.new_model(f)
            if om is not None and nm is not None:
                yield f, om, nm

    @cached_property
    def current_version(self) -> tuple[int, int] | None:
        return self.new_index.current_compat_version()

    # -- property guards ------------------------------------------------------------

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
            for atom in _atoms(g.cond):
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
                    res = _eval(g.cond, p, matches)
                    at_default = None if res is None else (res == g.taken)
                    if atom[0] == "cmp" and _eval(atom, p, matches) is None:
                        continue  # a comparison qlint cannot evaluate: a limit check, not a switch
                    out.append(GuardProp(p, g, at_default))
        return out

    # -- config writes --------------------------------------------------------------

    def _is_new_device_code(self, f: FileChange, fn: str) -> bool:
        if f.status == "A":
            return True
        new = self.new_model(f)
        old = self.old_model(f)
        if new is None:
            return False
        if old is not None and fn in old.functions:
            return False
        old_types = {t.name for t in old.typeinfos} if old is not None else set()
        reaching = [t for t in new.typeinfos if fn in new.reachable(t.class_init)]
        return bool(reaching) and all(t.name not in old_types for t in reaching)

    def _migrated(self, w: ConfigWrite, index: TreeIndex) -> bool:
        """Does the write change bytes that the destination compares on load?

        Config space is loaded wholesale; only bytes under cmask (the standard
        ID registers the PCI core marks, and every capability, which
        pci_add_capability() covers) must match.  Clearing config bits, or
        writing zero, leaves a freshly allocated (zeroed) config space as it was.
        """
        if w.target in ("config", "cmask"):
            # zeroing config leaves fresh (zeroed) state as it was; clearing cmask only relaxes the check
            if _ZERO_RE.match(w.value) or w.how.endswith("clear_mask") or w.how == "[]&=":
                return False
        if w.target in ("cap", "cmask"):
            return True
        if _variable_offset(w.offset):
            return True
        return bool(set(w.offset.split("+")) & index.cmask_registers())

    def _call_sites(self, fn: str) -> list[tuple[FileModel, tuple]]:
        out = []
        for f in self.c_files:
            nm = self.new_model(f)
            if nm is None:
                continue
            for caller in nm.functions.values():
                for callee, guards, _line in caller.call_sites:
                    if callee == fn:
                        out.append((nm, guards))
        return out

    def _new_function(self, f: FileChange, fn: str) -> bool:
        om = self.old_model(f)
        return om is not None and fn not in om.functions

    @cached_property
    def _writes(self) -> tuple[list, list]:
        """(old, new) lists of (FileChange, model, write, covered-props) for init writes."""
        olds, news = [], []
        for f in self.c_files:
            om, nm = self.old_model(f), self.new_model(f)
            if om is not None and f.status != "D":
                for w in om.writes:
                    if is_init_function(om, w.function) and self._migrated(w, self.old_index):
                        gps = self.guard_props(w, om, self.old_index)
                        folded = self._fold_dropped(gps)
                        if folded is False:
                            continue  # only a removed machine type ran it
                        if folded:
                            w, gps = _at_defaults(w, gps), []
                        olds.append((f, om, w, gps))
            if nm is not None:
                for w in nm.writes:
                    if is_init_function(nm, w.function) and self._migrated(w, self.new_index):
                        gps = self.guard_props(w, nm, self.new_index)
                        if not gps and self._new_function(f, w.function):
                            # a new helper: what matters is whether its callers are guarded
                            sites = self._call_sites(w.function)
                            site_props = [self.guards_props(g, m, self.new_index) for m, g in sites]
                            if sites and all(site_props):
                                gps = [gp for sp in site_props for gp in sp]
                        news.append((f, nm, w, gps))
        return olds, news

    def _fold_dropped(self, gps: list[GuardProp]) -> bool | None:
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
                if not gp.prop.default or not self._dropped_unset(gp.prop):
                    return None
                continue
            if gp.at_default is None or not self._dropped_unset(gp.prop):
                return None
            runs = runs and gp.at_default
        return runs

    def _dropped_unset(self, prop: PropertyDef) -> bool:
        key = (prop.path, prop.array, prop.name)
        memo = self.__dict__.setdefault("_dropped_memo", {})
        if key not in memo:
            memo[key] = self._dropped_unset_uncached(prop)
        return memo[key]

    def _dropped_unset_uncached(self, prop: PropertyDef) -> bool:
        from qlint.analyzer.tree import machines

        new = self.new_index.model(prop.path)
        if new is not None and any(p.name == prop.name for p in new.props):
            return False  # still there: users and later compat entries can set it
        v = self.current_version
        if v is None:
            return False
        # the machine types that remain after this patch: one it removes sets nothing any more
        mm = machines.analyze(self.new_index)
        if not mm.types:
            return False  # cannot tell which machine types remain
        for arr, _e in self.old_index.entries_for(prop.name, v):
            if mm.reached_by(arr.name) or mm.unresolved_with(arr.name):
                return False
        needle = b'"' + prop.name.encode("utf-8", "surrogateescape") + b'"'
        compat_files = {a.path for a in self.old_index.compat_arrays()}
        for p in self.old_index.grep(needle):
            if p == prop.path or p in compat_files:
                continue
            m = self.old_index.model(p)
            if m is None or not any(q.name == prop.name for q in m.props):
                return False  # a file that sets it (a board, a helper), or one qlint cannot read
        return True

    @cached_property
    def write_changes(self) -> list[WriteChange]:
        olds, news = self._writes
        old_eff = Counter(w.key for _, _, w, gp in olds if not gp)
        new_eff = Counter(w.key for _, _, w, gp in news if not gp)
        new_all = Counter(w.key for _, _, w, _ in news)
        added_keys = new_eff - old_eff
        removed_keys = old_eff - new_eff
        # a write that merely moved under a property guard is the fix pattern, not a loss
        removed_keys = Counter({k: n for k, n in removed_keys.items() if new_all[k] < old_eff[k]})

        added = []
        budget = Counter(added_keys)
        for f, _, w, gp in news:
            if not gp and budget[w.key] > 0:
                budget[w.key] -= 1
                if self._is_new_device_code(f, w.function):
                    continue
                if not (set(range(w.line, w.end_line + 1)) & f.added):
                    continue  # the write did not change here: it matched nothing because of moves elsewhere
                added.append((f, w))
        removed = []
        budget = Counter(removed_keys)
        for f, _, w, gp in olds:
            if not gp and budget[w.key] > 0:
                budget[w.key] -= 1
                if not (set(range(w.line, w.end_line + 1)) & f.removed):
                    continue
                removed.append((f, w))

        # the fix pattern: an unguarded value split into a base and a property-guarded part
        # a register whose value a property sets (pci_config_set_class(conf, proxy->class_code))
        # overrides whatever default the code writes there
        value_slots = {(f.display_path, w.target, w.key[1]) for f, _, w, gp in news
                       if any(g.guard is None for g in gp)}
        added = [(f, w) for f, w in added if (f.display_path, w.target, w.key[1]) not in value_slots]
        removed = [(f, w) for f, w in removed if (f.display_path, w.target, w.key[1]) not in value_slots]
        old_guarded = {w.key for _, _, w, gp in olds if gp}
        guarded_slots = {(f.display_path, w.target, w.key[1]) for f, _, w, gp in news if gp and w.key not in old_guarded}
        added = [(f, w) for f, w in added if (f.display_path, w.target, w.key[1]) not in guarded_slots]
        removed = [(f, w) for f, w in removed if (f.display_path, w.target, w.key[1]) not in guarded_slots]

        changes: dict[tuple[str, str, str], WriteChange] = {}
        order: list[tuple[str, str, str]] = []
        removed_by_slot = {}
        for f, w in removed:
            removed_by_slot.setdefault((f.display_path, w.target, w.key[1]), []).append(w)
        for f, w in added:
            slot = (f.display_path, w.target, w.key[1])
            kind = "changed" if removed_by_slot.get(slot) else "added"
            key = (f.display_path, w.function, "change")
            if key not in changes:
                changes[key] = WriteChange(kind, f.display_path, w.function, line=w.line, end_line=w.end_line)
                order.append(key)
            ch = changes[key]
            ch.new.append(w)
            if kind == "changed":
                ch.old.extend(removed_by_slot.pop(slot))
                ch.kind = "changed" if ch.kind != "added" or len(ch.new) == 1 else ch.kind
            ch.line = min(ch.line, w.line)
            ch.end_line = max(ch.end_line, w.end_line)
        for slot, ws in removed_by_slot.items():
            f = next(fc for fc in self.c_files if fc.display_path == slot[0])
            for w in ws:
                key = (slot[0], w.function, "remove")
                if key not in changes:
                    line = self._new_line_for_removal(f, w)
                    changes[key] = WriteChange("removed", slot[0], w.function, line=line, end_line=line)
                    order.append(key)
                changes[key].old.append(w)
        return [changes[k] for k in order]

    def _new_line_for_removal(self, f: FileChange, w: ConfigWrite) -> int:
        nm = self.new_model(f)
        if nm is not None and w.function in nm.functions:
            fn = nm.functions[w.function]
            # the first added line inside the function, else its first line
            inside = sorted(n for n in f.added if fn.line <= n <= fn.end_line)
            return inside[0] if inside else fn.line
        return 1

    @cached_property
    def guarded_changes(self) -> list[GuardedChange]:
        """Writes that now run only when a property allows it, or that a new guard covers.

        A write under several property guards is one obligation: met when any
        of them is switched off for old machine types.  Properties new in this
        patch carry it when there are any (an outer, older guard is not what
        keeps the new write away from old machine types).
        """
        olds, news = self._writes
        old_any = Counter(w.key for _, _, w, _ in olds)
        # per function: the same write may be guarded in one realize and not in another
        old_unguarded = Counter((w.function, w.key) for _, _, w, gp in olds if not gp)
        old_fns = {w.function for _, _, w, _ in olds}
        old_props = {p.name for _, _, _, gps in olds for p in (g.prop for g in gps)}
        out: dict[tuple, GuardedChange] = {}
        for f, _, w, gps in news:
            gps = [gp for gp in gps if gp.at_default is not False]
            if not gps or self._is_new_device_code(f, w.function):
                continue
            fresh = [gp for gp in gps if gp.prop.name not in old_props and self.prop_is_new(gp.prop)]
            if old_any[w.key] == 0:
                why = "new-write"
            elif old_unguarded[(w.function, w.key)] > 0 or (
                w.function not in old_fns and any(k == w.key for (_, k) in old_unguarded)
            ):
                why = "newly-guarded"
            elif fresh:
                why = "new-property"
            else:
                continue
            chosen = fresh or gps
            names = tuple(sorted({gp.prop.name for gp in chosen}))
            key = (f.display_path, w.function, names)
            if key not in out:
                out[key] = GuardedChange(f.display_path, w.function, chosen[-1].prop, [], why, w.line, w.end_line,
                                         alternatives=list({gp.prop.name: gp.prop for gp in chosen}.values()))
            gc = out[key]
            gc.writes.append(w)
            gc.line = min(gc.line, w.line)
            gc.end_line = max(gc.end_line, w.end_line)
        return list(out.values())

    @cached_property
    def vmstate(self):
        from qlint.analyzer.diff.vmdiff import VMStateDiff

        return VMStateDiff(self)

    def prop_is_new(self, prop: PropertyDef) -> bool:
        """The property did not exist before this patch."""
        old = self.old_index.model(prop.path)
        if old is None:
            return True
        return not any(p.name == prop.name and p.array == prop.array for p in old.props)

    # -- compat entries -------------------------------------------------------------

    @cached_property
    def compat_added(self) -> list[CompatEntry]:
        """Entries the patch adds: not in the same array anywhere in the old tree."""
        if not prefilter.entries_added(self.patch):
            return []  # no touched file gains an entry (cheap: no model is read)
        old_tree = Counter()
        for a in self.old_index.compat_arrays():
            for e in a.entries:
                old_tree[(a.name, e.driver, e.property, e.value)] += 1
        out = []
        for f in self.c_files:
            om, nm = self.old_model(f), self.new_model(f)
            if nm is None:
                continue
            before = Counter()
            if om is not None:
                for a in om.compat_arrays:
                    for e in a.entries:
                        before[(a.name, e.driver, e.property, e.value)] += 1
            for a in nm.compat_arrays:
                for e in a.entries:
                    k = (a.name, e.driver, e.property, e.value)
                    if before[k] > 0:
                        before[k] -= 1
                    elif old_tree[k] > 0:
                        old_tree[k] -= 1  # moved from another file
                    else:
                        out.append(e)
        return out

    def resolved_added_entries(self):
        """(entry, driver type name) for each added compat entry whose driver qlint can resolve."""
        idx = self.new_index
        for e in self.compat_added:
            drv = idx.type_name(e.driver, e.driver_is_macro)
            if drv is not None and drv in idx.qom_types():
                yield e, drv

    def array_named(self, index: TreeIndex, name: str) -> CompatArray | None:
        for a in index.compat_arrays():
            if a.name == name:
                return a
        return None

    def quote(self, path: str, line: int, end_line: int, side: str = "new") -> list[str]:
        f = self.patch.changed(path)
        if f is None:
            return []
        data = f.new_data if side == "new" else f.old_data
        if data is None:
            return []
        key = (path, side)
        lines = self._quoted_lines.get(key)
        if lines is None or lines[0] is not data:  # one split per file, whatever the findings in it
            lines = self._quoted_lines[key] = (data, data.decode("utf-8", "replace").splitlines())
        lines = lines[1]
        marks = f.added if side == "new" else f.removed
        sign = "+" if side == "new" else "-"
        return [
            (sign if n in marks else " ") + _cut(lines[n - 1])
            for n in range(max(1, line), min(len(lines), end_line) + 1)
        ]


def _cut(line: str) -> str:
    """A quoted line, at most limits.QUOTE_LINE_CHARS long (a finding on a 12 MB line quotes it)."""
    return line if len(line) <= QUOTE_LINE_CHARS else line[:QUOTE_LINE_CHARS] + "..."


def guard_uses_prop(g: Guard, model: FileModel, index: TreeIndex, prop: PropertyDef) -> bool:
    """Does condition ``g`` read property ``prop``?"""
    for atom in _atoms(g.cond):
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

    res = _eval(probe.cond, prop, matches)
    return None if res is None else res == g.taken


def _atoms(cond):
    kind = cond[0]
    if kind in ("not",):
        yield from _atoms(cond[1])
    elif kind in ("and", "or"):
        yield from _atoms(cond[1])
        yield from _atoms(cond[2])
    elif kind in ("bit", "bitnr", "field", "cmp"):
        yield cond


class IndexPool:
    """One TreeIndex per snapshot, shared by the patches of a series that are reviewed near each other.

    The most recently used indexes are kept (the series' base and tip, used by every patch, stay
    among them); an index dropped here is rebuilt when asked again, from the per-file caches.
    A long range would otherwise keep a whole-tree index for every commit it reviews.
    """

    SIZE = 12

    def __init__(self):
        self._by_id: OrderedDict[str, TreeIndex] = OrderedDict()

    def get(self, snap) -> TreeIndex:
        idx = self._by_id.get(snap.label)
        if idx is None:
            idx = TreeIndex(snap)
            self._by_id[snap.label] = idx
            if len(self._by_id) > self.SIZE:
                self._by_id.popitem(last=False)
        else:
            self._by_id.move_to_end(snap.label)
        return idx
