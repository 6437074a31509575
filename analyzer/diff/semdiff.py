"""The semantic diff: what a patch changes in migration-visible state.

:class:`PatchReview` compares the C models of every touched file before and after a patch, so
that re-wrapped, re-commented or moved code is no change.  It holds the models and tree indexes
and the compat entries the patch adds; the config-write diff (``config_diff``, see
:mod:`configdiff`), the property guards (``guards``, see :mod:`guards`) and the VMState diff
(``vmstate``, see :mod:`vmdiff`) are parts of their own that it builds on first use.
"""

from __future__ import annotations

from collections import Counter, OrderedDict
from functools import cached_property

from qlint.analyzer.change import FileChange, Patch, Series
from qlint.analyzer.diff import prefilter
from qlint.analyzer.diff.configdiff import ConfigDiff
from qlint.analyzer.diff.guards import GuardReader
from qlint.analyzer.tree.index import NOT_MIGRATION_CODE, TreeIndex, parse_cached
from qlint.analyzer.limits import QUOTE_LINE_CHARS
from qlint.analyzer.cmodel.model import CompatArray, CompatEntry, FileModel, PropertyDef

C_SUFFIXES = (".c", ".h")


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

    # -- parts of the diff ----------------------------------------------------------

    @cached_property
    def guards(self) -> GuardReader:
        return GuardReader(self)

    @cached_property
    def config_diff(self) -> ConfigDiff:
        return ConfigDiff(self)

    # -- VMState and properties -----------------------------------------------------

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
