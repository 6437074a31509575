"""The migration matrix of one compat property, from a repository's releases.

For each release and each versioned machine type, the value the property
takes (its default, unless a compat array that reaches the machine type sets
it); a release that predates the property behaves as if it were set to its
default when it has the code the property guards, else to the value the
compat entry restores.  A VM of machine type M migrates from release A to
release B when both know M and the value is the same on both sides.  For
VMs started on a release whose value differs from what fixed releases give
them, the rescue is the -global option that makes each destination behave
as the source did, for the rest of the VM's life.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qlint.analyzer.diff import behaviour as beh
from qlint.analyzer.change import InputError, MissingObjectError
from qlint.analyzer.tree.index import TreeIndex
from qlint.analyzer.cmodel.model import PropertyDef
from qlint.analyzer.diff.propdiff import norm_value

Version = tuple[int, int]


@dataclass
class Subject:
    name: str
    prop: PropertyDef
    driver: str | None  # QOM type name the compat entries name (what -global takes)
    default: str  # normalised (norm_value)
    old_value: str  # what the compat entries restore, normalised
    entries: list[str]  # "hw_compat_7_2" ... in the reference tree
    statements: list = field(default_factory=list)  # guarded behaviour, for releases without the property
    driver_text: str | None = None  # the driver as -global should name it (a macro when the build decides)
    spelled: dict[str, str] = field(default_factory=dict)  # normalised value -> as the source writes it

    def show(self, v: str | None) -> str:
        """A value for people: on/off, or the source's name for a number (DEV_NVECTORS_UNSPECIFIED)."""
        return self.spelled.get(v or "", display(v))


@dataclass
class Column:
    label: str  # "8.0.0", "tip (8.0.50)"
    version: tuple[int, int, int]
    source: str
    index: TreeIndex
    has_property: bool = False
    tip: bool = False  # the reviewed tree, not a release


@dataclass
class Group:
    versions: list[Version]  # machine-type versions with this story, newest first
    machine_types: list[str]
    values: dict[str, str | None]  # column label -> value, absent when the release does not know the machine type
    rescue: list[dict] = field(default_factory=list)
    and_older: bool = False  # the oldest group: machine types older than any release shown behave alike
    older_releases: set[str] = field(default_factory=set)  # releases that know only the group's older types

    def works(self, a: str, b: str) -> bool | None:
        va, vb = self.values.get(a), self.values.get(b)
        if a not in self.values or b not in self.values:
            return None
        if va is None or vb is None:
            return None
        return va == vb

    @property
    def failing(self) -> bool:
        labels = list(self.values)
        return any(self.works(a, b) is False for a in labels for b in labels)


@dataclass
class Matrix:
    subject: Subject
    columns: list[Column]
    groups: list[Group]
    fine: list[Version]  # machine-type versions with no failing migration
    point_release_note: str

    def to_dict(self) -> dict:
        s = self.subject
        return {
            "property": s.name,
            "driver": s.driver,
            "defined_in": {"path": s.prop.path, "array": s.prop.array, "macro": s.prop.macro},
            "default": s.show(s.default),
            "restored_by_compat": s.show(s.old_value),
            "compat_arrays": s.entries,
            "releases": [
                {"name": c.label, "version": ".".join(map(str, c.version)), "source": c.source,
                 "has_property": c.has_property}
                for c in self.columns
            ],
            "point_releases": self.point_release_note,
            "machine_groups": [
                {
                    "machine_versions": [f"{v[0]}.{v[1]}" for v in g.versions],
                    "machine_types": g.machine_types,
                    "values": {k: (s.show(v) if v is not None else None) for k, v in g.values.items()},
                    "migrations": [
                        {"from": a, "to": b, "works": g.works(a, b)}
                        for a in g.values for b in g.values if a != b
                    ],
                    "rescue": g.rescue,
                }
                for g in self.groups
            ],
            "unaffected_machine_versions": [f"{v[0]}.{v[1]}" for v in self.fine],
        }


def display(v: str | None) -> str:
    return {"true": "on", "false": "off"}.get(v or "", v or "?")


_BOOLISH = ("DEFINE_PROP_BIT", "DEFINE_PROP_BIT64", "DEFINE_PROP_BOOL", "DEFINE_PROP_ON_OFF_AUTO")
_WIDTH = {"DEFINE_PROP_UINT8": 8, "DEFINE_PROP_UINT16": 16, "DEFINE_PROP_UINT32": 32, "DEFINE_PROP_UINT64": 64}


def normalise(idx: TreeIndex, prop: PropertyDef, value: str | None) -> str:
    """A value the way the property's type parses it: on/off for booleans, decimal for integers
    (a macro resolved through the tree, -1 wrapped for unsigned types), else as written."""
    if prop.macro in _BOOLISH:
        return norm_value(value)
    t = (value or "").strip().strip('"')
    if re.fullmatch(r"[A-Z_][A-Z0-9_]*", t):
        for path in idx.grep(t.encode()):
            name = re.escape(t.encode())  # a #define or an enum constant
            m = re.search(rb"(?:#\s*+define\s++" + name + rb"\s++|\b" + name + rb"\s*+=\s*+)\(?\s*+(-?)\s*+(0[xX][0-9a-fA-F]+|\d+)",
                          idx.read(path) or b"")
            if m:
                t = ("-" if m.group(1) else "") + m.group(2).decode()
                break
    try:
        n = int(t.rstrip("uUlL"), 0)
    except ValueError:
        return t
    if n < 0 and prop.macro in _WIDTH:
        n += 1 << _WIDTH[prop.macro]
    return str(n)


# -- the subject --------------------------------------------------------------


def _defs(idx: TreeIndex, name: str, array: str | None = None) -> list[PropertyDef]:
    """Definitions of property ``name`` (in property array ``array`` when given) anywhere in the tree."""
    out = []
    for path in idx.grep(f'"{name}"'.encode()):
        if array is not None and array.encode() not in (idx.read(path) or b""):
            continue
        m = idx.model(path)
        if m is not None:
            out.extend(p for p in m.props if (p.name == name or idx.string_name(p.name) == name)
                       and (array is None or p.array == array))
    return out


def _has_property(idx: TreeIndex, subj: "Subject") -> bool:
    return beh.defines_property(idx, subj.prop) or bool(_defs(idx, subj.name, subj.prop.array))


def _entries(idx: TreeIndex, name: str):
    """Every compat entry setting ``name``, in arrays of any release."""
    return idx.entries_for(name, (1 << 16, 0))


def resolve_subject(idx: TreeIndex, spec: str) -> Subject:
    """``PROPERTY`` or ``DRIVER.PROPERTY`` in the reference tree ``idx``."""
    driver, name = None, spec
    if "." in spec:
        head, tail = spec.rsplit(".", 1)
        if head and tail and (head in idx.qom_types() or head in idx.type_macros()):
            driver, name = idx.type_macros().get(head, head), tail
    defs = _defs(idx, name)
    if not defs:
        raise InputError(f"no property named {name!r} in the tree at {idx.snap.label}")
    entries = _entries(idx, name)
    drivers = [idx.type_name(e.driver, e.driver_is_macro) for _a, e in entries]
    if driver is None:
        resolved = [d for d in drivers if d]
        # the most frequent; a tie goes to the first in the tree's order, whatever the hash seed
        driver = max(dict.fromkeys(resolved), key=resolved.count) if resolved else None
    prop = defs[0]
    if driver is not None and len(defs) > 1:
        for d in defs:
            owners = idx.owners_of_array(d.path, d.array)
            if any(idx.covers(driver, o) or idx.covers(o, driver) for o in owners):
                prop = d
                break
    if driver is None:
        owners = idx.owners_of_array(prop.path, prop.array)
        driver = owners[0] if owners else None
    default = normalise(idx, prop, prop.default)
    values = [normalise(idx, prop, e.value) for _a, e in entries if _entry_applies(idx, driver, e)]
    values = [v for v in values if v != default]
    if values:
        old = max(dict.fromkeys(values), key=values.count)
    else:
        old = {"true": "false", "false": "true"}.get(default, "?")
    return Subject(
        name=name, prop=prop, driver=driver, default=default, old_value=old,
            entries=sorted({a.name for a, e in entries if _entry_applies(idx, driver, e)}),
        statements=_own_behaviour(idx, prop, defs),
        driver_text=driver or next((e.driver for _a, e in entries if e.driver_is_macro), None),
        spelled=_spelled(idx, prop, [prop.default] + [e.value for _a, e in entries]),
    )


def _spelled(idx: TreeIndex, prop: PropertyDef, written: list[str | None]) -> dict[str, str]:
    out = {}
    for w in written:
        t = (w or "").strip().strip('"')
        if re.fullmatch(r"[A-Z_][A-Z0-9_]*", t):
            n = normalise(idx, prop, t)
            if n != t:
                out[n] = t
    return out


def _own_behaviour(idx: TreeIndex, prop: PropertyDef, defs: list[PropertyDef]) -> list:
    """The code only this property guards.  When other devices define the same property on the same
    field (every virtio-pci device has "vectors"), the code testing that field is shared and says
    nothing about this device's releases: no evidence then."""
    if not prop.bit and any(d.array != prop.array and d.field == prop.field for d in defs):
        return []
    return beh.guarded_behaviour(idx, prop)


# -- values -----------------------------------------------------------------------


def _entry_applies(idx: TreeIndex, driver: str | None, e) -> bool:
    """Does compat entry ``e`` set the property on the subject's type ``driver``?"""
    drv = idx.type_name(e.driver, e.driver_is_macro)
    if drv is None:
        return e.driver_is_macro and driver is None  # an unresolvable macro: only when nothing better is known
    if driver is None:
        return True
    return drv == driver or idx.covers(drv, driver) or idx.covers(driver, drv)


def value_in(col: Column, subj: Subject, v: Version, families: set[str] | None) -> str | None:
    """The property's value (normalised) for machine-type version ``v`` on release ``col``."""
    idx = col.index
    if col.has_property:
        defs = _defs(idx, subj.name, subj.prop.array)
        value = normalise(idx, subj.prop, defs[0].default) if defs else subj.default
        best = None
        for a, e in _entries(idx, subj.name):
            if a.version < v or (families is not None and a.family not in families):
                continue
            if not _entry_applies(idx, subj.driver, e):
                continue
            if best is None or a.version < best[0]:  # the oldest array reaching v is added last and wins
                best = (a.version, normalise(idx, subj.prop, e.value))
        return best[1] if best else value
    if subj.statements and beh.has_statements(idx, subj.statements):
        return subj.default
    # no code of the new behaviour in this release: the device behaved as the compat entry restores
    return subj.old_value if subj.old_value != "?" else None


def _machines(idx: TreeIndex, v: Version, families: set[str] | None) -> list[str]:
    try:
        from qlint.analyzer.tree import machines
    except ImportError:  # pragma: no cover - board model absent
        machines = None
    names: list[str] = []
    if machines is not None:
        try:
            for mt in machines.machine_types(idx):
                if mt.version == v and (families is None or any(
                        a.split("_compat_")[0].lower() in families for a in mt.arrays)):
                    names.append(mt.name)
        except MissingObjectError:
            raise  # a board file the repository lacks is not an unusual one
        except Exception:  # an unusual board file must not cost the matrix
            names = []
    return sorted(set(names))


# -- the matrix ---------------------------------------------------------------------


def build(columns: list[Column], subj: Subject, families: set[str] | None = None,
          point_release_note: str = "") -> Matrix:
    for c in columns:
        c.has_property = _has_property(c.index, subj)
    # machine-type versions whose story may differ: every release's, every array holding an entry
    cand: set[Version] = {(c.version[0], c.version[1]) for c in columns}
    for c in columns:
        if c.has_property:
            cand |= {a.version for a, _e in _entries(c.index, subj.name)}
    oldest = min((c.version[0], c.version[1]) for c in columns)
    cand = {v for v in cand if v >= oldest} | {oldest}
    stories: list[tuple[Version, dict[str, str | None]]] = []
    for v in sorted(cand, reverse=True):
        values = {c.label: value_in(c, subj, v, families) for c in columns if (c.version[0], c.version[1]) >= v}
        stories.append((v, values))
    groups: list[Group] = []
    fine: list[Version] = []
    for v, values in stories:
        if groups and _same_story(groups[-1], values, columns):
            groups[-1].versions.append(v)
            groups[-1].older_releases |= set(values) - set(groups[-1].values)
            continue
        groups.append(Group([v], [], values))
    if groups:
        groups[-1].and_older = True
    out = []
    ref = columns[-1].index
    for g in groups:
        if not g.failing:
            fine.extend(g.versions)
            continue
        g.machine_types = _machines(ref, g.versions[0], families)
        g.rescue = _rescue(g, columns, subj)
        out.append(g)
    return Matrix(subj, columns, out, sorted(fine, reverse=True), point_release_note)


def _same_story(g: Group, values: dict[str, str | None], columns: list[Column]) -> bool:
    """An older machine type tells the same story as group ``g``: the same value on every release
    of the group, and releases only it knows (older ones) behave like the group's oldest release."""
    if any(values.get(k) != v for k, v in g.values.items()):
        return False
    first = next((c.label for c in columns if c.label in g.values), None)
    return all(values[k] == g.values.get(first) for k in values if k not in g.values)


def _rescue(g: Group, columns: list[Column], subj: Subject) -> list[dict]:
    """For each release whose VMs carry a value fixed releases do not give them: what to pass where."""
    fixed = g.values.get(columns[-1].label)
    out = []
    for src in columns:
        sv = g.values.get(src.label)
        if src.label not in g.values or sv is None or sv == fixed:
            continue
        need, cannot, asis = [], [], []
        for dst in columns:
            if dst.label not in g.values or dst is src:
                continue
            dv = g.values[dst.label]
            if dv == sv:
                asis.append(dst.label)
            elif dst.has_property:
                need.append(dst.label)
            else:
                cannot.append(dst.label)
        if not need:
            continue
        driver = subj.driver_text or "DRIVER"
        out.append({
            "started_on": src.label,
            "value": subj.show(sv),
            "option": f"-global {driver}.{subj.name}={display(sv)}",
            "destinations": need,
            "works_as_is": asis,
            "cannot_receive": cannot,
        })
    return out
