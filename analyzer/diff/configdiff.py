"""The config-write diff: initial PCI config state a patch changes outside any compat guard.

Writes of init code (realize, reset, capability helpers: :func:`is_init_function`) to config space,
``wmask``/``w1cmask``/``cmask`` and capabilities are compared before and after the patch by what
they write (``ConfigWrite.key``), so moved or re-spelt writes are no change.  What is left is a
write that appears, vanishes or changes value with no property guarding it (``changes``), or a
write that now runs only as a property allows (``guarded``: the fix pattern, whose property needs
a compat entry).
"""

from __future__ import annotations

import dataclasses
import re
import weakref
from collections import Counter
from dataclasses import dataclass, field
from functools import cached_property

from qlint.analyzer.change import FileChange
from qlint.analyzer.cmodel.model import ConfigWrite, FileModel, PropertyDef
from qlint.analyzer.diff.guards import GuardProp
from qlint.analyzer.tree.index import TreeIndex, _variable_offset

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


class ConfigDiff:
    """The config-write diff of one patch (``review``: the patch's review)."""

    def __init__(self, review):
        self._r = weakref.proxy(review)  # the review keeps this diff: no cycle back to it

    def _is_new_device_code(self, f: FileChange, fn: str) -> bool:
        if f.status == "A":
            return True
        new = self._r.new_model(f)
        old = self._r.old_model(f)
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
        for f in self._r.c_files:
            nm = self._r.new_model(f)
            if nm is None:
                continue
            for caller in nm.functions.values():
                for callee, guards, _line in caller.call_sites:
                    if callee == fn:
                        out.append((nm, guards))
        return out

    def _new_function(self, f: FileChange, fn: str) -> bool:
        om = self._r.old_model(f)
        return om is not None and fn not in om.functions

    @cached_property
    def writes(self) -> tuple[list, list]:
        """(old, new) lists of (FileChange, model, write, covered-props) for init writes."""
        olds, news = [], []
        for f in self._r.c_files:
            om, nm = self._r.old_model(f), self._r.new_model(f)
            if om is not None and f.status != "D":
                for w in om.writes:
                    if is_init_function(om, w.function) and self._migrated(w, self._r.old_index):
                        gps = self._r.guards.guard_props(w, om, self._r.old_index)
                        folded = self._r.guards.fold_dropped(gps)
                        if folded is False:
                            continue  # only a removed machine type ran it
                        if folded:
                            w, gps = _at_defaults(w, gps), []
                        olds.append((f, om, w, gps))
            if nm is not None:
                for w in nm.writes:
                    if is_init_function(nm, w.function) and self._migrated(w, self._r.new_index):
                        gps = self._r.guards.guard_props(w, nm, self._r.new_index)
                        if not gps and self._new_function(f, w.function):
                            # a new helper: what matters is whether its callers are guarded
                            sites = self._call_sites(w.function)
                            site_props = [self._r.guards.guards_props(g, m, self._r.new_index) for m, g in sites]
                            if sites and all(site_props):
                                gps = [gp for sp in site_props for gp in sp]
                        news.append((f, nm, w, gps))
        return olds, news

    @cached_property
    def changes(self) -> list[WriteChange]:
        olds, news = self.writes
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
            f = next(fc for fc in self._r.c_files if fc.display_path == slot[0])
            for w in ws:
                key = (slot[0], w.function, "remove")
                if key not in changes:
                    line = self._new_line_for_removal(f, w)
                    changes[key] = WriteChange("removed", slot[0], w.function, line=line, end_line=line)
                    order.append(key)
                changes[key].old.append(w)
        return [changes[k] for k in order]

    def _new_line_for_removal(self, f: FileChange, w: ConfigWrite) -> int:
        nm = self._r.new_model(f)
        if nm is not None and w.function in nm.functions:
            fn = nm.functions[w.function]
            # the first added line inside the function, else its first line
            inside = sorted(n for n in f.added if fn.line <= n <= fn.end_line)
            return inside[0] if inside else fn.line
        return 1

    @cached_property
    def guarded(self) -> list[GuardedChange]:
        """Writes that now run only when a property allows it, or that a new guard covers.

        A write under several property guards is one obligation: met when any
        of them is switched off for old machine types.  Properties new in this
        patch carry it when there are any (an outer, older guard is not what
        keeps the new write away from old machine types).
        """
        olds, news = self.writes
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
            fresh = [gp for gp in gps if gp.prop.name not in old_props and self._r.prop_is_new(gp.prop)]
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
