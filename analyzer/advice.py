"""What a migration maintainer says: who breaks, and the exact fix.

Shared by the rules so that every review names machine types, releases and
the property/guard/compat-entry triad the same way.
"""

from __future__ import annotations

import re

from .index import TreeIndex
from .model import ConfigWrite, FileModel, PropertyDef


def vstr(v: tuple[int, int] | None) -> str:
    return f"{v[0]}.{v[1]}" if v else "?"


def machine_types(v: tuple[int, int] | None, index: TreeIndex | None = None, family: str = "hw",
                  array: str | None = None) -> str:
    """The machine types that compat array ``array`` (default: the current ``{family}_compat_X_Y``) reaches.

    With a tree index they are named from the boards' own machine type definitions: the
    newest machine type of each board that gets the array.  Without one, or when no board
    of the tree can be read, the wording is generic.
    """
    if v is None:
        return "existing versioned machine types"
    s = vstr(v)
    generic = f"machine types {s} and older (pc-q35-{s}, pc-i440fx-{s}, virt-{s}, ...)"
    if index is None:
        return generic
    names, more = _reached_names(index, v, family, array)
    if not names:
        return generic
    if len(names) == 1 and not more:
        return f"machine types {s} and older ({names[0]} and older)"
    return f"machine types {s} and older ({', '.join(names)}{', ...' if more else ''} and the older ones of each board)"


def _reached_names(index: TreeIndex, v: tuple[int, int], family: str, array: str | None) -> tuple[list[str], bool]:
    """(newest machine type of each board reached, whether boards qlint cannot read add the array too)."""
    from . import machines

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
    names: list[str] = []
    for t in machines.newest_per_board([t for t in reached if t not in mm.derived]):
        if t.name not in names:
            names.append(t.name)
    return names, bool(mm.unresolved_with(arr))


def _array_family(name: str) -> str | None:
    m = re.match(r"(\w+?)_compat_\d+_\d+$", name, re.I)
    return m.group(1).lower() if m else None


def compat_array_name(index: TreeIndex, v: tuple[int, int] | None, family: str = "hw") -> tuple[str, str]:
    """(array name, path) of the current compat array, the way this tree spells it."""
    if v is None:
        return f"{family}_compat_X_Y", "hw/core/machine.c"
    arrays = [a for a in index.arrays_of_version(v) if a.family == family]
    # hw_compat_4_0 before hw_compat_4_0_1 (a stable point release's array of the same version)
    arrays.sort(key=lambda a: not a.name.lower().endswith(f"_compat_{v[0]}_{v[1]}"))
    if arrays:
        return arrays[0].name, arrays[0].path
    # the array does not exist yet (the window after a release); say where it goes
    older = sorted((a for a in index.compat_arrays() if a.family == family), key=lambda a: a.version)
    if older and older[-1].style == "macro":
        return f"{family.upper()}_COMPAT_{v[0]}_{v[1]}", older[-1].path
    path = older[-1].path if older else "hw/core/machine.c"
    return f"{family}_compat_{v[0]}_{v[1]}", path


def array_exists(index: TreeIndex, v: tuple[int, int] | None, family: str = "hw") -> bool:
    return v is not None and any(a.family == family for a in index.arrays_of_version(v))


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


def register_slug(writes: list[ConfigWrite]) -> str:
    for w in writes:
        idents = re.findall(r"[A-Z][A-Z0-9_]{3,}", w.offset) if w.target != "cap" else []
        idents = [i for i in idents if not i.endswith(("_SIZEOF", "_SIZE"))]
        if idents:
            return max(idents, key=len).lower().replace("_", "-")
        if w.target == "cap":
            return re.sub(r"_init$", "", w.offset.split("+")[0]).replace("_", "-")
    return "new-behaviour"


def _class_functions(model: FileModel, root: str):
    """The functions a class_init reaches in its own file (it and the helpers it calls)."""
    seen, stack = set(), [root]
    while stack:
        cur = stack.pop()
        if cur in seen or cur not in model.functions:
            continue
        seen.add(cur)
        fn = model.functions[cur]
        yield fn
        stack.extend(fn.calls)


def _type_ref(t) -> str:
    return t.name if t.name_is_macro else f'"{t.name}"'


def driver_for_array(model: FileModel, array: str) -> str | None:
    """The TYPE_* macro (or quoted name) of the type whose class_init installs ``array``."""
    for t in model.typeinfos:
        if t.class_init and any(array in fn.prop_arrays for fn in _class_functions(model, t.class_init)):
            return _type_ref(t)
    return None


def owner_types(index: TreeIndex, prop: PropertyDef) -> list[str]:
    m = index.model(prop.path)
    if m is None:
        return []
    d = driver_for_array(m, prop.array)
    if d is None:
        return []
    name = d.strip('"') if d.startswith('"') else index.type_macros().get(d)
    return [name] if name else []


def property_fix(index: TreeIndex, model: FileModel, writes: list[ConfigWrite], version) -> str:
    """The property, guard and compat entry that would keep old machine types as they were."""
    slug = register_slug(writes)
    prop_name = "x-" + slug
    w0 = writes[0]
    arr_name, arr_path = compat_array_name(index, version)
    lines: list[str] = []
    if "PCIDevice" in w0.base_type or w0.base_type == "":
        bit_props = [p for p in index.props_by_field("cap_present") if p.bit]
        mask = "QEMU_" + slug.upper().replace("-", "_")
        bitnr = mask + "_BITNR"
        if bit_props:
            holder = bit_props[0]
            nums = [n for n in (index.number(p.bit) for p in bit_props if p.bit) if n is not None]
            nxt = (max(nums) + 1) if nums else "N"
            hdr = next(iter(index.grep(("#define " + holder.bit).encode())), "the header defining the cap_present bits")
            pm = index.model(holder.path)
            driver = driver_for_array(pm, holder.array) if pm is not None else None
            var = w0.base_var or "dev"
            lines += [
                f"1. {hdr}, in the enum of cap_present bits:",
                f"       #define {bitnr} {nxt}",
                f"       {mask} = (1 << {bitnr}),",
                f"2. {holder.path}, {holder.array}[]:",
                f'       DEFINE_PROP_BIT("{prop_name}", {holder.struct}, cap_present,',
                f"                       {bitnr}, true),",
                f"3. {w0.function}(): put the new writes under the property:",
                f"       if ({var}->cap_present & {mask}) {{",
                "           ...",
                "       }",
                f"4. {arr_path}, {arr_name}[]:",
                f'       {{ {driver or "TYPE_PCI_DEVICE"}, "{prop_name}", "off" }},' + create_array_hint(index, version),
            ]
            return "\n".join(lines)
    # a device-specific change: a bool on the device's own state
    field = slug.replace("-", "_")
    drv, arr, struct = None, None, None
    for t in model.typeinfos:
        if t.class_init and t.class_init in model.functions:
            for a in sorted(_arrays_from(model, t.class_init)):
                arr, drv = a, (t.name if t.name_is_macro else f'"{t.name}"')
                struct = next((p.struct for p in model.props if p.array == a), t.instance_struct)
                break
        if arr:
            break
    lines += [
        f"1. {model.path}: a field in the device state:  bool {field};",
        f"2. {model.path}, {arr or 'the device property array'}[]:",
        f'       DEFINE_PROP_BOOL("{prop_name}", {struct or "DeviceState"}, {field}, true),',
        f"3. {w0.function}(): put the new behaviour under the property:",
        f"       if (s->{field}) {{",
        "           ...",
        "       }",
        f"4. {arr_path}, {arr_name}[]:",
        f'       {{ {drv or "TYPE_...(the device)"}, "{prop_name}", "off" }},' + create_array_hint(index, version),
    ]
    return "\n".join(lines)


def _arrays_from(model: FileModel, root: str) -> set[str]:
    return {arr for fn in _class_functions(model, root) for arr in fn.prop_arrays}


def entry_line(driver: str, prop: str, value: str) -> str:
    return f'{{ {driver}, "{prop}", "{value}" }},'


def restoring_value(prop: PropertyDef) -> str:
    d = (prop.default or "").strip().lower()
    if d in ("true", "on"):
        return "off"
    if d in ("false", "off"):
        return "on"
    return "<old value>"


def device_of_vmsd(model: FileModel, var: str) -> tuple[str | None, str | None]:
    """(TYPE_* macro or quoted name, property array) of the type whose class_init installs ``var``."""
    for t in model.typeinfos:
        if t.class_init and any(var in fn.vmsds for fn in _class_functions(model, t.class_init)):
            arrays = sorted(_arrays_from(model, t.class_init))
            return _type_ref(t), (arrays[0] if arrays else None)
    return None, None
