"""What a migration maintainer says: who breaks, and the exact fix, in words.

Shared by the rules so that every review names machine types, releases and
the property/guard/compat-entry triad the same way.  The fixes themselves are
plans (:mod:`fixplan`); this module words them.
"""

from __future__ import annotations

import difflib

from qlint.analyzer.cmodel.model import ConfigWrite, FileModel, PropertyDef
from qlint.analyzer.fix.fixplan import (
    _array_family,
    array_exists,
    compat_array_name,
    guard_var,
    property_plan,
)
from qlint.analyzer.tree.index import TreeIndex


def closest(word: str, candidates: list[str]) -> str | None:
    """The one of ``candidates`` closest to ``word`` (a misspelt name), for a "did you mean";
    None when none is close."""
    close = difflib.get_close_matches(word, candidates, n=1)
    return close[0] if close else None


def vstr(v: tuple[int, int] | None) -> str:
    return f"{v[0]}.{v[1]}" if v else "?"


def machine_types(v: tuple[int, int] | None, index: TreeIndex | None = None, family: str = "hw",
                  array: str | None = None, path: str | None = None) -> str:
    """The machine types that compat array ``array`` (default: the current ``{family}_compat_X_Y``) reaches.

    With a tree index they are named from the boards' own machine type definitions: the
    newest machine type of each board that gets the array, and with ``path`` only of the
    boards that can hold that file (meson.build and Kconfig say which).  Without an index, or
    when no board of the tree can be read, the wording is generic.
    """
    if v is None:
        return "existing versioned machine types"
    s = vstr(v)
    generic = f"machine types {s} and older (pc-q35-{s}, pc-i440fx-{s}, virt-{s}, ...)"
    if index is None:
        return generic
    names, more = _reached_names(index, v, family, array, path)
    if not names:
        return generic
    if len(names) == 1 and not more:
        return f"machine types {s} and older ({names[0]} and older)"
    return f"machine types {s} and older ({', '.join(names)}{', ...' if more else ''} and the older ones of each board)"


def _reached_names(index: TreeIndex, v: tuple[int, int], family: str, array: str | None,
                   path: str | None = None) -> tuple[list[str], bool]:
    """(newest machine type of each board reached, whether boards qlint cannot read add the array too)."""
    from qlint.analyzer.tree import kbuild, machines

    mm = machines.analyze(index)
    arr = array or compat_array_name(index, v, family)[0]
    reached = mm.reached_by(arr)
    if not reached and array is None:
        # an old tree's macro or a new array's spelling: whichever of the tree's machine types add
        for alt in (f"{family}_compat_{v[0]}_{v[1]}", f"{family.upper()}_COMPAT_{v[0]}_{v[1]}"):
            if mm.reached_by(alt):
                arr, reached = alt, mm.reached_by(alt)
                break
    if not reached:
        # not added anywhere yet (the window after a release): the array goes to the v machine
        # types of the boards that add this family's arrays
        fam = _array_family(arr)
        boards = {(t.board, t.path) for t in mm.types if any(_array_family(a) == fam for a in t.arrays)}
        reached = [t for t in mm.types if t.version == v and (t.board, t.path) in boards]
    if path is not None:
        reach = kbuild.holders(index, path)
        if reach is not None and reach.boards:
            boards = kbuild.versioned_boards(index) or {}
            held = {boards[b] for b in reach.boards if b in boards}
            reached = [t for t in reached if t.path in held]
    names: list[str] = []
    for t in machines.newest_per_board([t for t in reached if t not in mm.derived]):
        if t.name not in names:
            names.append(t.name)
    return names, bool(mm.unresolved_with(arr))


def create_array_hint(index: TreeIndex, v: tuple[int, int] | None, family: str = "hw") -> str:
    """What to say when the current array does not exist yet (the window after a release)."""
    if v is None or array_exists(index, v, family):
        return ""
    name, path = compat_array_name(index, v, family)
    if name.isupper():
        return (f"\n   ({name} does not exist yet: QEMU {vstr(v)} was just released. Define it in {path} "
                f"and add it to the {vstr(v)} machine types' compat lists.)")
    return (f"\n   ({name}[] does not exist yet: QEMU {vstr(v)} was just released. Add\n"
            f"        GlobalProperty {name}[] = {{ ... }};\n"
            f"        const size_t {name}_len = G_N_ELEMENTS({name});\n"
            f"    to {path}, declare both in include/hw/boards.h, and call\n"
            f"    compat_props_add(m->compat_props, {name}, {name}_len) from every\n"
            f"    {vstr(v)} machine type's options, as the previous release did.)")


def property_fix(index: TreeIndex, model: FileModel, writes: list[ConfigWrite], version) -> str:
    """The property, guard and compat entry that would keep old machine types as they were."""
    plan = property_plan(index, model, writes, version)
    return property_text(plan, writes[0].function, guard_var(index, model, writes, plan), index, version)


def property_text(plan, function: str, var: str, index: TreeIndex, version, kind: str = "added") -> str:
    """The advice text of a property plan (what ``--fix`` writes, in words)."""
    hint = create_array_hint(index, version)
    cond = plan.condition(var)
    if kind == "removed":
        guard = [f"3. {function}(): keep the removed writes for old machine types:",
                 f"       if (!({cond})) {{", "           <the removed writes>", "       }"]
    elif kind == "changed":
        guard = [f"3. {function}(): the new value under the property, the old one otherwise:",
                 f"       if ({cond}) {{", "           <the new write>", "       } else {",
                 "           <the old write>", "       }"]
    elif plan.kind == "bit":
        guard = [f"3. {function}(): put the new writes under the property:",
                 f"       if ({cond}) {{", "           ...", "       }"]
    else:
        guard = [f"3. {function}(): put the new behaviour under the property:",
                 f"       if ({cond}) {{", "           ...", "       }"]
    if plan.kind == "bit":
        return "\n".join([
            f"1. {plan.header or 'the header defining the cap_present bits'}, in the enum of cap_present bits:",
            f"       #define {plan.bitnr} {plan.number if plan.number is not None else 'N'}",
            f"       {plan.mask} = (1 << {plan.bitnr}),",
            f"2. {plan.array_path}, {plan.array}[]:",
            f'       DEFINE_PROP_BIT("{plan.prop}", {plan.struct}, cap_present,',
            f"                       {plan.bitnr}, true),",
            *guard,
            f"4. {plan.compat_path}, {plan.compat_array}[]:",
            "       " + plan.entry() + hint,
        ])
    return "\n".join([
        f"1. {plan.struct}: a field in the device state:  bool {plan.field};",
        f"2. {plan.array_path or ''}{', ' if plan.array_path else ''}{plan.array or 'the device property array'}[]:",
        f'       DEFINE_PROP_BOOL("{plan.prop}", {plan.struct}, {plan.field}, true),',
        *guard,
        f"4. {plan.compat_path}, {plan.compat_array}[]:",
        "       " + plan.entry() + hint,
    ])


def entry_line(driver: str, prop: str, value: str) -> str:
    return f'{{ {driver}, "{prop}", "{value}" }},'


def restoring_value(prop: PropertyDef) -> str:
    d = (prop.default or "").strip().lower()
    if d in ("true", "on"):
        return "off"
    if d in ("false", "off"):
        return "on"
    return "<old value>"


def subsection_text(fix, index: TreeIndex, version) -> str:
    """The advice text of a SubsectionFix: the same names ``--fix`` writes."""
    p = fix.plan
    lines = [
        f"1. {p.struct}: a field in the device state:  bool {p.field};",
        f"2. {p.array_path}, {p.array}[]:",
        f'       DEFINE_PROP_BOOL("{p.prop}", {p.struct}, {p.field}, true),',
        f"3. static bool {fix.needed_fn}(void *opaque)",
        "   {",
        f"       {p.struct} *s = opaque;",
        f"       return s->{p.field};",
        "   }",
    ]
    n = 4
    if fix.needed_of:
        lines.append(f"   and .needed = {fix.needed_fn}, in {fix.needed_of}")
    else:
        lines += [f"{n}. a subsection \"{fix.sub_name}\" ({fix.sub_var}) with .needed = {fix.needed_fn} holding"]
        lines += [f"       {c}," for c in fix.carry]
        lines += [f"   listed in {fix.parent_var}.subsections"]
        n += 1
        for var, text, _ in fix.moves:
            lines.append(f"{n}. {var}: drop {text} from .fields (the subsection carries it)")
            n += 1
        for var, v, mv in fix.versions:
            lines.append(f"{n}. {var}: keep .version_id = {v}" + (f", .minimum_version_id = {mv}" if mv else ""))
            n += 1
    lines += [f"{n}. {p.compat_path}, {p.compat_array}[]:", "       " + p.entry() + create_array_hint(index, version)]
    return "\n".join(lines)
