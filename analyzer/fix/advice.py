"""What a migration maintainer says: who breaks, and the exact fix.

Shared by the rules so that every review names machine types, releases and
the property/guard/compat-entry triad the same way.
"""

from __future__ import annotations

import difflib
import re

from qlint.analyzer.tree.index import TreeIndex
from qlint.analyzer.cmodel.model import ConfigWrite, FileModel, PropertyDef


BITNR_RE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+\w+_BITNR[ \t]+(\d+)[ \t]*$", re.M)


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
            cap_id = re.search(r"\bPCI_(?:EXT_)?CAP_ID_([A-Z0-9_]+)", w.value)
            if cap_id:
                return cap_id.group(1).lower().replace("_", "-") + "-cap"
            return re.sub(r"_init$", "", w.offset.split("+")[0]).replace("_", "-")
    return "new-behaviour"


def _class_functions(model: FileModel, root: str):
    """The functions a class_init reaches in its own file (it and the helpers it calls)."""
    return [model.functions[f] for f in model.reachable(root, installed=False)]


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
    plan = property_plan(index, model, writes, version)
    return property_text(plan, writes[0].function, guard_var(index, model, writes, plan), index, version)


def _device_types(model: FileModel, fn: str):
    """TypeInfos of ``model`` whose class_init installs ``fn`` (directly or through helpers it calls)."""
    return [t for t in model.typeinfos if fn in model.reachable(t.class_init)]


def property_plan(index: TreeIndex, model: FileModel, writes: list[ConfigWrite], version):
    """Names of the property that would guard ``writes``: a cap_present bit or a bool of the device."""
    from qlint.analyzer.fix.fixplan import PropertyPlan

    slug = register_slug(writes)
    prop_name = "x-" + slug
    w0 = writes[0]
    arr_name, arr_path = compat_array_name(index, version)
    exists = array_exists(index, version)
    if "PCIDevice" in w0.base_type or w0.base_type == "":
        bit_props = [p for p in index.props_by_field("cap_present") if p.bit]
        mask = "QEMU_" + slug.upper().replace("-", "_")
        bitnr = mask + "_BITNR"
        holders = {p.array for p in bit_props}
        # code of one device (its realize, reached from its own class_init) gets a property of that
        # device; code shared by every PCI device (the core, capability helpers) a cap_present bit
        own = [t for t in _device_types(model, w0.function)
               if not any(a in holders for a in _arrays_from(model, t.class_init))]
        if bit_props and not own:
            holder = bit_props[0]
            nums = [n for n in (index.number(p.bit) for p in bit_props if p.bit) if n is not None]
            hdr = next(iter(index.grep(("#define " + holder.bit).encode())), None)
            # every bit the header numbers is taken, whether a property backs it or not
            nums += [int(n) for n in BITNR_RE.findall((index.read(hdr) or b"").decode("utf-8", "replace"))] if hdr else []
            nxt = (max(nums) + 1) if nums else None
            pm = index.model(holder.path)
            driver = driver_for_array(pm, holder.array) if pm is not None else None
            return PropertyPlan(prop=prop_name, kind="bit", struct=holder.struct, array=holder.array,
                                array_path=holder.path,
                                driver=driver_spelling(index, driver or "TYPE_PCI_DEVICE", arr_path),
                                compat_array=arr_name, compat_path=arr_path, compat_exists=exists,
                                header=hdr, bitnr=bitnr, mask=mask, number=nxt)
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
    return PropertyPlan(prop=prop_name, kind="bool", struct=struct or "DeviceState", array=arr,
                        array_path=model.path if arr else None,
                        driver=driver_spelling(index, drv, arr_path) if drv else None,
                        compat_array=arr_name, compat_path=arr_path, compat_exists=exists, field=field)


def guard_var(index: TreeIndex, model: FileModel, writes: list[ConfigWrite], plan) -> str:
    """The variable of ``plan.struct``'s type that the guard reads in the writes' function."""
    if plan.kind == "bit":
        return writes[0].base_var or "dev"
    return state_var(index.read(model.path), model, writes[0].function, plan.struct) or "s"


def state_var(data: bytes | None, model: FileModel, function: str, struct: str) -> str | None:
    """A pointer to ``struct`` that ``function`` declares or takes (``AcmeState *s = ACME(dev);``)."""
    fn = model.functions.get(function)
    if data is None or fn is None:
        return None
    lines = data.decode("utf-8", "replace").splitlines()[fn.line - 1:fn.end_line]
    m = re.search(r"\b" + re.escape(struct) + r"\s*\*\s*(\w+)\s*[=,;)]", "\n".join(lines))
    return m.group(1) if m else None


def driver_spelling(index: TreeIndex, driver: str, compat_path: str) -> str:
    """``driver`` (a TYPE_ macro or a quoted name) as the compat array's file can spell it.

    A macro that the file neither uses nor gets from a header it includes would not
    compile there: the type's name, quoted, always does.
    """
    if driver.startswith('"') or not re.fullmatch(r"[A-Z_][A-Z0-9_]*", driver):
        return driver
    text = (index.read(compat_path) or b"").decode("utf-8", "replace")
    if re.search(r"\b" + re.escape(driver) + r"\b", text):
        return driver
    includes = set(re.findall(r'#\s*include\s+"([^"]+)"', text))
    for p in index.grep(("define " + driver).encode()):
        if p == compat_path or p.removeprefix("include/") in includes:
            return driver
    name = index.type_macros().get(driver)
    return f'"{name}"' if name else driver


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


def vmstate_plan(index: TreeIndex, model: FileModel | None, top_var: str, struct: str, slug: str, version):
    """The bool property a .needed function reads: on the device whose dc->vmsd is ``top_var``.

    None when qlint cannot name the device, its property array, or when the
    description's state is not the device's (the .needed opaque could not reach it).
    """
    from qlint.analyzer.fix.fixplan import PropertyPlan

    if model is None:
        return None
    driver, props = device_of_vmsd(model, top_var)
    if driver is None or props is None:
        return None
    arr_struct = next((p.struct for p in model.props if p.array == props), None)
    if arr_struct is not None and arr_struct != struct:
        return None
    arr_name, arr_path = compat_array_name(index, version)
    slug = re.sub(r"[^A-Za-z0-9]+", "_", slug).strip("_").lower()
    return PropertyPlan(prop="x-migrate-" + slug.replace("_", "-"), kind="bool", struct=struct, array=props,
                        array_path=model.path, driver=driver_spelling(index, driver, arr_path),
                        compat_array=arr_name, compat_path=arr_path, compat_exists=array_exists(index, version),
                        field="migrate_" + slug)


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


def macro_field(index: TreeIndex, f) -> tuple[str, int, str] | None:
    """(macro, position, path) of a field that a VMSTATE_* macro of the tree expands to (one level)."""
    m = re.match(r"\s*(\w+)\s*\(", f.text)
    if m is None:
        return None
    vm = index.vmstate_macro(m.group(1))
    call_args = re.findall(r"[^,()\s][^,()]*", f.text[m.end():].rsplit(")", 1)[0])
    if vm is None or len(call_args) != len(vm.params):
        return None
    subst = dict(zip(vm.params, (a.strip() for a in call_args)))
    for k, (macro, args) in enumerate(vm.fields):
        expanded = tuple(re.sub(r"\b\w+\b", lambda w: subst.get(w.group(0), w.group(0)), a) for a in args)
        if macro == f.macro and expanded == tuple(f.args):
            return vm.name, k, vm.path
    return None
