"""The review of one patch as rules see it: the typed diff, and services over the series.

:class:`Review` is what the engine hands every rule.  Besides the patch, its trees (``old_index``,
``new_index``, ``tip_index``: the tree index before and after the patch, and at the series' tip)
and ``quote``, it offers
- the typed diff (see ``diff``): ``config_writes``, ``vmstate``, ``properties``, ``compat``;
- series services: :meth:`Review.first_patch_with_entry` (the first patch from this one on that
  gives the tree a compat entry for a property) and :meth:`Review.series_adds_entry_for` (does
  the series add a compat entry for a device);
- ``releases`` (:class:`Releases`): the releases below the patch, which of them shipped a
  behaviour, and the migration matrix between them.

Rules ask; the engine walks the series, builds tree indexes and reads the releases, with the
prefilter's shortcuts (a patch that gains no compat entry is passed by unread).
"""

from __future__ import annotations

import weakref
from dataclasses import dataclass
from functools import cached_property

from qlint.analyzer.fix import fixplan, wording
from qlint.analyzer.diff import matrix, matrix_text
from qlint.analyzer.diff import behaviour as beh
from qlint.analyzer.change import InputError, Patch
from qlint.analyzer.diff.api import CompatChanges, ConfigWriteDiff, PropertyChanges, VMStateChanges
from qlint.analyzer.tree.index import MACRO_NAME_RE, TreeIndex
from qlint.analyzer.cmodel.model import CompatEntry, PropertyDef
from qlint.analyzer.diff.prefilter import could_add_entry, entries_added
from qlint.analyzer.diff.semdiff import PatchReview

Version = tuple[int, int]


class Review(PatchReview):
    """Everything rules may ask about one patch of a series."""

    # -- the typed diff ------------------------------------------------------------------

    @cached_property
    def config_writes(self) -> ConfigWriteDiff:
        return ConfigWriteDiff(self)

    @cached_property
    def vmstate(self) -> VMStateChanges:
        return VMStateChanges(self)

    @cached_property
    def properties(self) -> PropertyChanges:
        return PropertyChanges(self)

    @cached_property
    def compat(self) -> CompatChanges:
        return CompatChanges(self)

    @cached_property
    def releases(self) -> Releases:
        return Releases(self)

    # -- the series ----------------------------------------------------------------------

    def first_patch_with_entry(self, props: list[PropertyDef], version: Version) -> Patch | None:
        """The first patch of the series, from this one on, after which the tree has an entry for
        one of ``props`` (any one of them switched off will do) in the array of ``version`` or an
        older one, on a type that covers the property's owners; None if no patch does.

        Whether an older array is the right one (a post-release fix) is for the caller to judge.
        A later patch that adds no entry for the property and changes no type macro or QOM type
        is passed by without building its tree index.
        """
        names = {p.name for p in props} | {self.new_index.string_name(p.name) for p in props}
        # type changes matter only to entries that exist but miss the owners, and to names that
        # are macros
        types_matter = any(MACRO_NAME_RE.fullmatch(p.name) for p in props)
        for k, p in enumerate(self.series.patches[self.patch.index - 1:]):
            if k and not could_add_entry(p, names, types_matter):
                continue  # no new entry for the property, same types: no entry there either
            idx = self.pool.get(p.new)
            names |= {idx.string_name(alt.name) for alt in props}
            if any(_has_entry(idx, version, idx.string_name(alt.name), fixplan.owner_types(self.new_index, alt))
                   for alt in props):
                return p
            types_matter = types_matter or any(idx.entries_for(idx.string_name(alt.name), version) for alt in props)
        return None

    def series_adds_entry_for(self, owners: list[str]) -> bool:
        """Does a patch of the series add a compat entry (for any property) whose driver covers
        one of ``owners`` or is covered by one, as the tip's tree names types?"""
        idx = self.tip_index
        for p in self.series.patches:
            if p is not self.patch and not entries_added(p):
                continue  # no touched file gains a compat entry: the patch adds none
            pr = self if p is self.patch else PatchReview(p, self.series, self.pool)
            for e in pr.compat_added:
                d = idx.type_name(e.driver, e.driver_is_macro)
                if d is not None and any(idx.covers(d, o) or idx.covers(o, d) for o in owners):
                    return True
        return False


def _has_entry(index: TreeIndex, version: Version, prop_name: str, owners: list[str]) -> bool:
    """An entry for the property in the array of ``version`` or an older one, on a type that
    covers one of ``owners`` or that one of them covers (any type when there are none)."""
    for _, e in index.entries_for(prop_name, version):
        drv = index.type_name(e.driver, e.driver_is_macro)
        if not owners or drv is None or any(index.covers(drv, o) or index.covers(o, drv) for o in owners):
            return True
    return False


# -- releases ------------------------------------------------------------------------------


@dataclass(frozen=True)
class FirstRelease:
    """The first release that shipped a behaviour: ``version`` None when none did; ``known``
    False when qlint cannot tell (no releases to look at, or no code the property guards)."""

    known: bool
    version: Version | None = None


class Releases:
    """The releases below the reviewed patch, as far as the series' source can find them."""

    def __init__(self, review: Review):
        self._r = weakref.proxy(review)  # the review caches this: no cycle back to it

    @property
    def found(self) -> bool:
        """The source can find releases (a git history can; an mbox on a plain tree cannot)."""
        s = self._r.series
        return s.release_lookup is not None and s.release_versions is not None

    @property
    def versions(self) -> list[Version]:
        """Every release version, oldest first ([] when the source cannot find releases)."""
        s = self._r.series
        return s.release_versions() if s.release_versions else []

    def before(self, v: Version) -> Version | None:
        """The newest release before ``v``."""
        vs = [r for r in self.versions if r < v]
        return max(vs) if vs else None

    def shipped(self, first: Version | None, current: Version) -> list[str]:
        """The releases from ``first`` to ``current``, as "X.Y.0" ([] when ``first`` is None)."""
        if first is None or self._r.series.release_versions is None:
            return []
        return [wording.vstr(v) + ".0" for v in self.versions if first <= v <= current]

    def first_shipped(self, props: list[PropertyDef], after: Version, current: Version) -> FirstRelease:
        """The first release after ``after`` (up to ``current``) that had the behaviour ``props``
        guard: the code that runs only as one of them allows, in the new tree, or a line of code
        the patch removes; for a new feature bit switched on by default, the property itself."""
        r = self._r
        if not self.found:
            return FirstRelease(False)
        paths = {f.path for f in r.c_files if f.path}
        behaviour = []
        for p in props:
            behaviour.extend(beh.guarded_behaviour(r.new_index, p, paths))
        if not behaviour:
            # the property itself is the behaviour only for feature bits it switches on by default
            if not any(r.prop_is_new(p) and "feature" in p.field for p in props):
                return FirstRelease(False)
        replaced = self._replaced()
        for v in r.series.release_versions():
            if not (after < v <= current):
                continue
            snap = r.series.release_lookup(r.patch.new, v)
            if snap is None:
                continue
            rel = r.pool.get(snap)
            if behaviour:
                if beh.has_statements(rel, behaviour + replaced):
                    return FirstRelease(True, v)
            elif any(beh.defines_property(rel, p) for p in props):
                return FirstRelease(True, v)
        return FirstRelease(True, None)

    def _replaced(self) -> list[beh.Statement]:
        """(path, function, squashed line) of code lines the patch removes.

        If a release already had them, the patch changes shipped behaviour: the mark of a
        post-release fix.
        """
        r = self._r
        out = []
        for f in r.c_files:
            om = r.old_model(f)
            if om is not None and f.removed and f.old_data is not None:
                out += beh.replaced_lines(f.old_path, om, f.old_data, f.removed)
        return out

    def migration_matrix(self, e: CompatEntry, since: Version | None) -> dict:
        """The migration matrix of the property ``e`` switches, over the releases since ``since``
        (all when None) and this tree, as Finding fields (``matrix``, ``matrix_text``); {} when
        there is nothing to show."""
        r = self._r
        series = r.series
        if series.release_versions is None or series.release_lookup is None:
            return {}
        idx = r.new_index
        try:
            drv = idx.type_name(e.driver, e.driver_is_macro)
            subj = matrix.resolve_subject(idx, f"{drv}.{e.property}" if drv else e.property)
        except InputError:
            return {}
        current = r.current_version
        cols = []
        for v in series.release_versions():
            if (since is None or v >= since) and v <= current:
                snap = series.release_lookup(r.patch.new, v)
                if snap is not None:
                    cols.append(matrix.Column(f"{v[0]}.{v[1]}.0", (v[0], v[1], 0), "main line", r.pool.get(snap)))
        for v, source, snap in series.point_releases() if series.point_releases else ():
            if (since is None or v[:2] >= since) and v[:2] <= current:
                cols.append(matrix.Column(".".join(map(str, v)), v, source, r.pool.get(snap)))
        cols.sort(key=lambda c: c.version)
        tree_v = idx.version() or (current[0], current[1], 50)
        cols.append(matrix.Column(f"{'.'.join(map(str, tree_v))} (this patch)", tree_v, "tree", idx, tip=True))
        m = matrix.build(cols, subj)
        if not m.groups:
            return {}
        text = []
        for g in m.groups:
            text += matrix_text.render_group(m, g)
        if m.point_release_note or not series.point_releases or not series.point_releases():
            text += ["", "  (No stable branch or point-release tag in this repository: point releases are not shown.)"]
        return {"matrix": m.to_dict(), "matrix_text": "\n".join(text)}
