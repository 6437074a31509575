"""The typed diff of one patch: what rules read.

A rule gets one review per patch (``review.Review``) and reads the patch's changes from four
typed diffs on it, each computed the first time a rule asks, with the engine's shortcuts inside:

- ``review.config_writes`` (:class:`ConfigWriteDiff`): the PCI config writes of init code on
  both sides, the ones that appear, vanish or change with no compat property around them, and
  the ones that a property now guards;
- ``review.vmstate`` (:class:`VMStateChanges`): fields, versions and subsections of existing
  VMState descriptions, what their ``.needed``/``_TEST`` functions read, and the properties
  that gate new wire data;
- ``review.properties`` (:class:`PropertyChanges`): new properties and changed defaults of
  existing types, new implicit defaults, feature bits now set for every machine type;
- ``review.compat`` (:class:`CompatChanges`): the compat entries the patch adds, and the
  arrays they go in.

The records they hold are plain data of the model (``model``) and of the semantic diff.  Facts
a rule needs that the model does not hold are named here (or in ``model``) and tested on C
snippets, so that no rule reads a file's bytes.  What a compat value means (``norm_value``,
``value_error``...) is here too, for rules and for the engine alike.
"""

from __future__ import annotations

import re
import weakref
from dataclasses import dataclass
from functools import cached_property

from qlint.analyzer.diff.matrix import display
from qlint.analyzer.cmodel.model import (
    CompatArray,
    CompatEntry,
    ConfigWrite,
    PropertyDef,
    VMStateDesc,
)
from qlint.analyzer.diff.propdiff import (
    FeatureAdd,
    ImplicitDefault,
    PropChange,
    feature_additions,
    implicit_default_changes,
    is_feature_switch,
    macro_prop_changes,
    norm_value,
    owners_cover,
    prop_changes,
    truthy,
    value_error,
)
from qlint.analyzer.diff.configdiff import GuardedChange, WriteChange
from qlint.analyzer.diff.guards import GuardProp
from qlint.analyzer.diff.vmdiff import (
    DroppedSubsection,
    FieldChange,
    FieldMove,
    Gate,
    NameChange,
    NewSubsection,
    UngatedSubsection,
    VMStateDiff,
    obligations,
)

__all__ = [
    "CompatChanges", "ConfigWriteDiff", "DroppedSubsection", "FeatureAdd", "FieldChange", "FieldMove", "Gate", "GuardedChange", "GuardProp",
    "ImplicitDefault", "InitWrite", "NameChange", "NewSubsection", "UngatedSubsection", "PropChange", "PropertyChanges", "VMStateChanges",
    "VersionChange", "WriteChange", "is_feature_switch", "is_integer", "norm_value", "owners_cover",
    "shown_value", "spells_string", "truthy", "value_error", "version_line",
]


# -- what values mean ----------------------------------------------------------------------


def is_integer(value: str) -> bool:
    """``value`` is a decimal integer as written (``norm_value`` gives one for 0x10, 4u, "1")."""
    return re.fullmatch(r"-?\d+", value) is not None


def shown_value(value: str | None) -> str:
    """A property value as people and ``-global`` write it: on/off for booleans, else as normalised."""
    return display(norm_value(value))


def spells_string(data: bytes | None, text: str) -> bool:
    """Does C source ``data`` hold the string literal ``"text"``?"""
    return data is not None and f'"{text}"'.encode() in data


def version_line(data: bytes | None, added: set[int], desc: VMStateDesc) -> int:
    """The line the patch changes ``.version_id`` or ``.minimum_version_id`` of ``desc`` on (an
    added line inside it, ``data`` being the new file), else the description's first line."""
    if data is None:
        return desc.line
    lines = data.decode("utf-8", "replace").splitlines()
    for n in range(desc.line, min(desc.end_line, len(lines)) + 1):
        if any(("." + k) in lines[n - 1] for k in ("version_id", "minimum_version_id")) and n in added:
            return n
    return desc.line


# -- config writes -------------------------------------------------------------------------


@dataclass(frozen=True)
class InitWrite:
    """A config write of init code on one side of the patch, with the compat properties whose
    guards it runs under (none: it runs for every machine type)."""

    path: str
    write: ConfigWrite
    props: tuple[GuardProp, ...]


class ConfigWriteDiff:
    """Initial PCI config state: writes of init code before and after the patch, and their changes."""

    def __init__(self, review):
        self._r = weakref.proxy(review)  # the review caches this diff: no cycle back to it

    @cached_property
    def old(self) -> list[InitWrite]:
        return [InitWrite(f.display_path, w, tuple(gps)) for f, _m, w, gps in self._r.config_diff.writes[0]]

    @cached_property
    def new(self) -> list[InitWrite]:
        return [InitWrite(f.display_path, w, tuple(gps)) for f, _m, w, gps in self._r.config_diff.writes[1]]

    @property
    def changes(self) -> list[WriteChange]:
        """Writes that appear, vanish or change value with no compat property around them."""
        return self._r.config_diff.changes

    @property
    def guarded(self) -> list[GuardedChange]:
        """Writes that now run only when a property allows it, or that a new guard covers."""
        return self._r.config_diff.guarded


# -- VMState -------------------------------------------------------------------------------


@dataclass(frozen=True)
class VersionChange:
    """A description whose ``version_id`` or ``minimum_version_id`` changes."""

    path: str
    old: VMStateDesc
    new: VMStateDesc
    nested_in: tuple[str, ...]  # descriptions that nest it with VMSTATE_STRUCT
    line: int  # the changed line that sets a version, else the description's first line


class VMStateChanges:
    """What the patch changes on the migration wire: descriptions matched by their ``.name``,
    fields compared after expanding the tree's VMSTATE_* macros (see ``vmdiff``)."""

    def __init__(self, review):
        self._diff = VMStateDiff(review)
        self._r = weakref.proxy(review)

    @property
    def fields(self) -> list[FieldChange]:
        return self._diff.fields

    @property
    def subsections(self) -> list[NewSubsection]:
        return self._diff.subsections

    @property
    def moves(self) -> list[FieldMove]:
        """Fields sent on both sides at another place in the stream."""
        return self._diff.moves

    @property
    def names(self) -> list[NameChange]:
        """Sections and subsections whose ``.name`` (what the destination looks up) changes."""
        return self._diff.names

    @property
    def dropped_subsections(self) -> list[DroppedSubsection]:
        """Subsections an older QEMU sends that the description no longer lists."""
        return self._diff.dropped

    @property
    def ungated_subsections(self) -> list[UngatedSubsection]:
        """Existing subsections whose ``.needed`` read compat properties and reads none now."""
        return self._diff.ungated

    @cached_property
    def versions(self) -> list[VersionChange]:
        out = []
        for vc in self._diff.versions:
            f = self._r.patch.changed(vc.path)
            line = version_line(f.new_data, f.added, vc.new) if f is not None else vc.new.line
            out.append(VersionChange(vc.path, vc.old, vc.new, tuple(vc.nested_in), line))
        return out

    def gate(self, function: str | None, path: str) -> Gate:
        """What ``function`` (a .needed or _TEST function) reads that properties set."""
        return self._diff.gate(function, path)

    @cached_property
    def obligations(self) -> list[GuardedChange]:
        """Properties that gate new wire data: each needs a compat entry switching it off."""
        return obligations(self._diff)

    def sent_below(self, vc: VersionChange, minimum: int) -> bool | None:
        """Can a VM of a machine type the tree still defines send ``vc``'s description below ``minimum``?

        The oldest release such a VM can come from is that of the oldest machine type of the
        boards that hold the file (every versioned board when the build cannot tell); if that
        release already sent at least ``minimum``, every later one did too (versions only grow).
        None when qlint cannot tell (no machine types, no such release in the history).
        """
        from qlint.analyzer.tree import shipped

        release = self._oldest_release(vc.path)
        if release is None:
            return None
        sent = shipped.vmstate_version(release, vc.path, vc.new.var, vc.new.name)
        if sent is None:
            return None  # not in that release: its machine types never sent it
        return sent < minimum

    def _oldest_release(self, path: str):
        """The tree of the release of the oldest machine type that can hold ``path`` (that of
        every versioned board when the build cannot tell), or None."""
        from qlint.analyzer.tree import kbuild, machines, shipped

        r = self._r
        mm = machines.analyze(r.new_index)
        reach = kbuild.holders(r.new_index, path)
        versioned = kbuild.versioned_boards(r.new_index) or {}
        boards = set(versioned) if reach is None else set(reach.boards)
        paths = {versioned.get(b) for b in boards}
        types = [t for t in mm.types if t.path in paths] or mm.types
        if not types:
            return None
        return shipped.release_index_at(r, min(t.version for t in types))

    def known_to_every_release(self, path: str, desc: VMStateDesc) -> bool | None:
        """Did the release of the oldest machine type that can hold ``path`` already have
        ``desc``?  Then every later release knows it too.  None when qlint cannot tell."""
        from qlint.analyzer.tree import shipped

        release = self._oldest_release(path)
        if release is None:
            return None
        return shipped.vmstate_version(release, path, desc.var, desc.name) is not None

    def never_sent(self, fc: FieldChange) -> bool:
        """A removed ``_TEST`` field that no VM of a remaining machine type sent.

        Its test returned properties this patch removes, which no compat array of a machine
        type left after the patch sets, and at their defaults the test is false.
        """
        if fc.old is None or not fc.old.test:
            return False
        return self.false_on_live_machines(fc.path, fc.old.test)

    def false_on_live_machines(self, path: str, function: str | None) -> bool:
        """Old ``function`` of ``path`` (a ``_TEST`` or ``.needed``) returned true only for
        properties this patch removes, which no compat array of a machine type left after the
        patch sets: no VM of a remaining machine type sent what it gated."""
        r = self._r
        f = r.patch.changed(path)
        model = r.old_model(f) if f is not None and function else None
        fn = model.functions.get(function) if model is not None else None
        if fn is None or not fn.conds:
            return False
        gps = r.guards.guards_props(fn.conds, model, r.old_index)
        return bool(gps) and all(gp.at_default is False and r.guards.dropped_unset(gp.prop) for gp in gps)

    def old_desc(self, fc: FieldChange) -> VMStateDesc | None:
        """The description of ``fc`` before the patch (same C name, else same ``.name``)."""
        f = self._r.patch.changed(fc.path)
        model = self._r.old_model(f) if f is not None else None
        return next((d for d in (model.vmstates if model else []) if d.var == fc.desc.var
                     or d.name == fc.desc.name), None)


# -- properties ----------------------------------------------------------------------------


class PropertyChanges:
    """Properties of existing QOM types: new ones, changed defaults, and new feature bits."""

    def __init__(self, review):
        self._r = weakref.proxy(review)

    @cached_property
    def changes(self) -> list[PropChange]:
        """Properties added to, or whose default changes in, an array existing types install.

        A default re-spelled as another name of the same constant is no change.
        """
        return [pc for pc in prop_changes(self._r)
                if pc.kind != "default" or not same_constant(self._r, pc.old.default, pc.new.default)]

    @cached_property
    def macro_changes(self) -> list[PropChange]:
        """Defaults changed inside a DEFINE_PROP macro of a header, per array that uses it."""
        return macro_prop_changes(self._r)

    @cached_property
    def implicit_defaults(self) -> list[ImplicitDefault]:
        """New number properties over fields that existing types used at their implicit zero."""
        return implicit_default_changes(self._r)

    @cached_property
    def features_added(self) -> list[FeatureAdd]:
        """Feature bits a get_features-style function now sets for every machine type."""
        return feature_additions(self._r)

    def is_new(self, prop: PropertyDef) -> bool:
        """The property did not exist before this patch."""
        return self._r.prop_is_new(prop)

    def named(self, name: str) -> list[PropertyDef]:
        """Properties called ``name`` in the files the patch touches, after it."""
        out = []
        for f in self._r.c_files:
            m = self._r.new_model(f)
            if m is not None:
                out.extend(p for p in m.props if p.name == name)
        return out


# -- compat entries ------------------------------------------------------------------------


class CompatChanges:
    """The compat entries the patch adds to the tree, and the arrays they go in."""

    def __init__(self, review):
        self._r = weakref.proxy(review)

    @property
    def added(self) -> list[CompatEntry]:
        """Entries the patch adds: not in the same array anywhere in the old tree."""
        return self._r.compat_added

    @cached_property
    def resolved(self) -> list[tuple[CompatEntry, str]]:
        """(entry, QOM type name of its driver) for each added entry whose driver qlint resolves."""
        return list(self._r.resolved_added_entries())

    def array(self, name: str) -> CompatArray | None:
        """The compat array called ``name`` after the patch."""
        return self._r.array_named(self._r.new_index, name)

    def named_before(self, path: str, name: str) -> bool:
        """Did ``path`` hold the string literal ``"name"`` before the patch (a property it listed)?"""
        f = self._r.patch.changed(path)
        return f is not None and bool(f.old_data) and spells_string(f.old_data, name)


_IDENT_RE = re.compile(r"[A-Za-z_]\w*")


def same_constant(review, old: str | None, new: str | None) -> bool:
    """``old`` and ``new`` are two names of one constant.

    Both resolve to the same number (``#define`` or enum), or the patch renames
    the constant tree-wide: the old name is gone from the new tree and the new
    name was nowhere in the old one (a generated enum's new spelling).
    """
    if not old or not new or old == new or not (_IDENT_RE.fullmatch(old) and _IDENT_RE.fullmatch(new)):
        return False
    o, n = review.old_index.number(old), review.new_index.number(new)
    if o is not None or n is not None:
        return o == n
    return not review.new_index.grep(old.encode()) and not review.old_index.grep(new.encode())
