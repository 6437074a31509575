"""Property and feature changes: defaults, new default-on features, and what compat values mean.

Part of the semantic diff, for the property rules.  A property's owners are
the QOM types whose class_init installs its array; an owner that did not
exist before the patch is a new device and not a break.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from qlint.analyzer.tree.index import TreeIndex
from qlint.analyzer.cmodel.model import PropertyDef

_TRUE = {"true", "on", "yes", "1", "on_off_auto_on"}
_FALSE = {"false", "off", "no", "0", "on_off_auto_off"}
_AUTO = {"auto", "on_off_auto_auto"}
_FEATURE_ADD = ("virtio_add_feature", "virtio_set_feature", "set_bit")


def norm_value(v: str | None) -> str:
    """Compare property values the way qdev parses them: on/true/yes are one value."""
    t = (v or "").strip().strip('"').lower()
    m = re.fullmatch(r"stringify\((.*)\)", t)
    if m:
        t = m.group(1).strip()
    if t in _TRUE:
        return "true"
    if t in _FALSE:
        return "false"
    if t in _AUTO:
        return "auto"
    try:
        return str(int(t.rstrip("ul"), 0))
    except ValueError:
        return t


def is_feature_switch(p: PropertyDef) -> bool:
    """A property that turns a guest-visible feature on: a feature bit, or a bool on a features word."""
    if p.macro in ("DEFINE_PROP_BIT", "DEFINE_PROP_BIT64"):
        return "feature" in p.field
    return p.macro in ("DEFINE_PROP_BOOL", "DEFINE_PROP_ON_OFF_AUTO") and "feature" in p.field


def truthy(p: PropertyDef) -> bool:
    return norm_value(p.default) in ("true", "auto") or (
        norm_value(p.default).isdigit() and norm_value(p.default) != "0")


# A call (a word with a letter, then "(") or a macro name.  The plain [A-Za-z_]\w*\s*\( is
# quadratic in a long word: it is tried at each of its letters, each time to the word's end.
_CALL_OR_MACRO = re.compile(r"(?<!\w)(?=\w*?[A-Za-z_])\w++\s*+\(|^[A-Z_][A-Z0-9_]*$")


def value_error(p: PropertyDef, value: str) -> str | None:
    """Why ``value`` does not parse for property ``p``, or None (also None when qlint cannot tell)."""
    raw = value.strip()
    if _CALL_OR_MACRO.search(raw) and not raw.lower().startswith("stringify"):
        return None  # a macro or expression: resolved by the compiler, not qlint
    v = raw.strip('"')
    m = re.fullmatch(r"stringify\((.*)\)", v)
    if m:
        v = m.group(1).strip()
        if re.fullmatch(r"[A-Z_][A-Z0-9_]*", v):
            return None
    low = v.lower()
    macro = p.macro
    if macro in ("DEFINE_PROP_BOOL", "DEFINE_PROP_BIT", "DEFINE_PROP_BIT64"):
        if low not in ("on", "off", "true", "false", "yes", "no"):
            return f"\"{v}\" is not a boolean (on/off, true/false, yes/no)"
    elif macro == "DEFINE_PROP_ON_OFF_AUTO":
        if low not in ("on", "off", "auto"):
            return f"\"{v}\" is not on, off or auto"
    elif re.fullmatch(r"DEFINE_PROP_U?INT(8|16|32|64)", macro):
        if not re.fullmatch(r"-?(0x[0-9a-fA-F]+|\d+)", v):
            return f"\"{v}\" is not an integer"
    elif macro == "DEFINE_PROP_SIZE":
        if not re.fullmatch(r"(0x[0-9a-fA-F]+|\d+)(\.\d+)?[kKmMgGtTpPeE]?[bB]?", v):
            return f"\"{v}\" is not a size"
    return None


@dataclass
class PropChange:
    kind: str  # "added" (a new property on an existing type) or "default" (its default changed)
    path: str
    new: PropertyDef
    old: PropertyDef | None
    owners: list[str] = field(default_factory=list)


@dataclass
class FeatureAdd:
    path: str
    function: str
    feature: str
    line: int


def prop_changes(review) -> list[PropChange]:
    out: list[PropChange] = []
    for f, om, nm in review.modified_pairs():
        old = {(p.array, p.name): p for p in om.props}
        old_arrays = {p.array for p in om.props} | om.open_prop_arrays
        # a name defined twice in one array sits in #ifdef branches: qlint cannot tell which one builds
        twice = {k for k, n in Counter((p.array, p.name) for p in list(om.props) + list(nm.props)).items() if n > 2}
        twice |= {k for k, n in Counter((p.array, p.name) for p in nm.props).items() if n > 1}
        twice |= {k for k, n in Counter((p.array, p.name) for p in om.props).items() if n > 1}
        for p in nm.props:
            if (p.array, p.name) in twice:
                continue
            prev = old.get((p.array, p.name))
            if prev is None and p.array not in old_arrays:
                continue  # a new array: a new device's properties
            base = review.pool.get(review.series.base)  # existing before the series, not just this patch
            owners = [o for o in review.new_index.owners_of_array(f.path, p.array)
                      if o in base.qom_types()]
            if not owners:
                continue  # no existing type has it
            if prev is None:
                out.append(PropChange("added", f.path, p, None, owners))
            elif norm_value(prev.default) != norm_value(p.default):
                out.append(PropChange("default", f.path, p, prev, owners))
    return out


def macro_prop_changes(review) -> list[PropChange]:
    """Defaults changed inside a DEFINE_PROP macro of a header: every array that uses it changes."""
    out: list[PropChange] = []
    base = review.pool.get(review.series.base)
    for f, om, nm in review.modified_pairs():
        for name, (_, calls, line) in nm.prop_macros.items():
            if name not in om.prop_macros:
                continue
            oparams, ocalls, _ = om.prop_macros[name]
            olds = {c[1][0]: c for c in ocalls if c[1]}
            for macro, args in calls:
                if not args or args[0] not in olds:
                    continue
                prev = olds[args[0]]
                i = 4 if macro.startswith("DEFINE_PROP_BIT") else 3
                if len(args) <= i or len(prev[1]) <= i or norm_value(args[i]) == norm_value(prev[1][i]):
                    continue
                for path in review.new_index.grep(name.encode()):
                    m = review.new_index.model(path)
                    if m is None:
                        continue
                    for arr, uses in m.prop_array_macros.items():
                        if not any(u[0] == name for u in uses):
                            continue
                        owners = [o for o in review.new_index.owners_of_array(path, arr) if o in base.qom_types()]
                        if not owners:
                            continue
                        at = _macro_line(f, args[0], line)
                        mk = lambda a, macro=macro, i=i, arr=arr, at=at, f=f: PropertyDef(  # noqa: E731
                            a[0].strip('"'), macro, "", a[2] if len(a) > 2 else "", None, a[i], arr, at, f.path)
                        out.append(PropChange("default", f.path, mk(args), mk(prev[1], prev[0]), owners))
    return out


def _macro_line(f, prop_name: str, line: int) -> int:
    """The changed line of the header that defines ``prop_name`` (else the #define)."""
    text = (f.new_data or b"").decode("utf-8", "replace").splitlines()
    for n in sorted(f.added):
        if 0 < n <= len(text) and prop_name in text[n - 1]:
            return n
    inside = [n for n in sorted(f.added) if line <= n <= line + 60]  # a continuation line of the macro
    return inside[0] if inside else line


def feature_additions(review) -> list[FeatureAdd]:
    """Feature bits a get_features-style function now sets for every machine type."""
    out: list[FeatureAdd] = []
    for f, om, nm in review.modified_pairs():
        for fn in nm.functions.values():
            before = om.functions.get(fn.name)
            if before is None or "features" not in fn.name:
                continue
            old_feats = {feat for _, feat, _, _ in before.feature_calls}
            for _callee, feat, guards, line in fn.feature_calls:
                if feat in old_feats:
                    continue
                if review.guards.guards_props(guards, nm, review.new_index):
                    continue  # switched by a property: compat-entry-missing's business
                if any(not g.validation for g in guards):
                    continue  # conditional on something qlint does not model: do not guess
                out.append(FeatureAdd(f.path, fn.name, feat, line))
    return out


def owners_cover(index: TreeIndex, owners: list[str]) -> list[str]:
    """Concrete types that have a property installed on ``owners``: the owners and their subtypes."""
    out = []
    for o in owners:
        for t in [o] + index.descendants(o):
            if not index.is_abstract(t) and t not in out:
                out.append(t)
    return out


# Properties whose value is a number the device uses as is (counts, sizes, vectors).  Bits and
# bools over a flags word mostly select host-side mechanics (ioeventfd...) that qlint cannot tell
# from guest-visible ones; new feature bits are feature-default-on's business.
_SCALAR_PROP_RE = re.compile(r"DEFINE_PROP_(?:U?INT(?:8|16|32|64)|SIZE(?:32)?)$")


@dataclass
class ImplicitDefault:
    """A new property over a field existing types already used at its implicit zero."""

    path: str
    prop: PropertyDef
    owners: list[str]  # existing types whose class_init installs the property
    affected: list[str]  # concrete existing types that gain it
    effective: str  # the value the device now gets by default
    read_at: str  # path of old code that reads the field


def effective_default(p: PropertyDef, model, index: TreeIndex) -> str | None:
    """The value ``p`` gives its field by default, after realize code that replaces a sentinel
    (``if (s->f == UNSPECIFIED) { s->f = 2; }``); None when qlint cannot tell."""
    d = norm_value(p.default)
    if re.fullmatch(r"-?\d+", d):
        return d
    raw = (p.default or "").replace(" ", "")
    for fn in model.functions.values():
        for fname, value, guards, _ in fn.fields_written:
            if fname != p.field.rsplit(".", 1)[-1] or not guards:
                continue
            c = guards[-1].cond
            if guards[-1].taken and c[0] == "cmp" and c[1] == "==" and c[2] == fname and c[3] == raw:
                v = norm_value(value)
                return v if re.fullmatch(r"-?\d+", v) else None
    n = index.number(raw) if re.fullmatch(r"[A-Za-z_]\w*", raw) else None
    return str(n) if n is not None else None


def implicit_default_changes(review) -> list[ImplicitDefault]:
    """New number properties on existing types over a field that existed before the series and that
    code of the type (or its parents) already read: QOM objects are zero-initialised, so the device
    used the field at 0, and a non-zero default changes it for old machine types."""
    out: list[ImplicitDefault] = []
    base = review.pool.get(review.series.base)
    new = review.new_index
    for f, om, nm in review.modified_pairs():
        before = {(p.array, p.name) for p in om.props}
        for p in nm.props:
            if (p.array, p.name) in before or not _SCALAR_PROP_RE.match(p.macro):
                continue
            if not re.fullmatch(r"[A-Za-z_]\w*", p.field):
                continue  # conf.x, regs[2]: qlint does not follow members of members
            eff = effective_default(p, nm, new)
            if eff is None or eff == "0":
                continue
            owners = [o for o in new.owners_of_array(f.path, p.array) if o in base.qom_types()]
            if not owners:
                continue  # a new device
            name = new.string_name(p.name)
            affected = []
            for t in owners_cover(new, owners):
                if t not in base.qom_types():
                    continue
                ps = base.props_of(t)
                if ps.has(name):
                    continue  # it had the property already (moved, not added)
                if any(q.field == p.field and q.struct == p.struct for q in ps.props.values()):
                    affected = []
                    break  # another property set the field: a rename, not a new default
                # (properties qlint cannot list, such as a child device's aliased onto a proxy, sit
                # on other structs' fields; the struct and reader checks below still apply)
                affected.append(t)
            if not affected:
                continue
            members = base.struct_fields(p.struct)
            if members is None or p.field not in members:
                continue  # a new field: only new code reads it
            read_at = _old_reader(base, affected, p.field)
            if read_at is None:
                continue
            out.append(ImplicitDefault(f.path, p, owners, affected, eff, read_at))
    return out


def _old_reader(base: TreeIndex, types: list[str], fieldname: str) -> str | None:
    """A file of ``types`` or their parents whose code reads ``fieldname`` before the series and
    never stores anything but 0 into it; None if there is none, or if some code stores another value
    (then the field did not sit at its implicit zero)."""
    qt = base.qom_types()
    paths = sorted({q.path for t in types for n in [t] + base.ancestors(t) for q in qt.get(n, [])})
    found = None
    for path in paths:
        data = base.read(path)
        if data is None or fieldname.encode() not in data:
            continue
        m = base.model(path)
        if m is None:
            return None
        for fn in m.functions.values():
            if any(w[0] == fieldname and norm_value(w[1]) not in ("0", "false") for w in fn.fields_written):
                return None
            if fieldname in fn.fields_read and found is None:
                found = path
    return found
