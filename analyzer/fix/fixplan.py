"""What a fix adds, as data: one object that both the advice text and ``--fix`` read.

A rule that knows how to fix its finding attaches one of these plans to the
finding (``Finding.fix``).  ``wording`` renders the plan as the finding's
suggestion text; ``fixgen`` turns it into edits of the files at the reviewed
tip.  Plans hold names and C text only (no models, no syntax trees), so they
stay cheap to build for every finding.  The functions after the plans make them
from the tree: which array is current, which device type installs the changed
code, which names the new property, its field and its bit take.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from qlint.analyzer.cmodel.model import ConfigWrite, FileModel, PropertyDef
from qlint.analyzer.tree.index import TreeIndex


@dataclass(frozen=True)
class PropertyPlan:
    """A compat property: where it is declared and the entry that switches it off."""

    prop: str  # "x-..."
    kind: str  # "bit": a cap_present bit of PCIDevice; "bool": a bool field of the device state
    struct: str  # the struct DEFINE_PROP_* names
    array: str | None  # the property array it goes in
    array_path: str | None
    driver: str | None  # the compat entry's driver as written (TYPE_FOO or "foo")
    compat_array: str
    compat_path: str
    compat_exists: bool  # the current compat array is already there
    # kind == "bit": the bit number define and the cap_present mask
    header: str | None = None
    bitnr: str | None = None
    mask: str | None = None
    number: int | None = None
    # kind == "bool": the field in the device state
    field: str | None = None

    def condition(self, var: str) -> str:
        """The C condition that is true when the property has its default (the new behaviour)."""
        if self.kind == "bit":
            return f"{var}->cap_present & {self.mask}"
        return f"{var}->{self.field}"

    def entry(self) -> str:
        return f'{{ {self.driver or "TYPE_...(the device)"}, "{self.prop}", "off" }},'


@dataclass(frozen=True)
class GuardFix:
    """pci-config-unguarded: put the flagged writes under the property (kind: added, changed, removed)."""

    plan: PropertyPlan
    path: str
    function: str
    kind: str
    var: str  # the variable the guard reads (dev, pci_dev, s)
    new_lines: tuple[tuple[int, int], ...]  # statement spans of the flagged writes in the patch's new file
    old_stmts: tuple[str, ...] = ()  # old statements' text (changed, removed)
    old_lines: tuple[tuple[int, int], ...] = ()  # their spans in the patch's old file (removed)


@dataclass(frozen=True)
class EntryFix:
    """Compat entries to add to the current array: the whole fix when the property exists."""

    compat_array: str
    compat_path: str
    compat_exists: bool
    entries: tuple[tuple[tuple[str, ...], str], ...]  # (what a line holds when it is there, its C text)


@dataclass(frozen=True)
class SubsectionFix:
    """VMState: carry new fields in a subsection whose .needed reads a new property.

    ``moves`` are fields of the parent (their text in the patch's new file) to
    take out of ``from_var``'s .fields; ``carry`` the field texts the new
    subsection holds.  ``versions`` restores version_id/minimum_version_id of
    descriptions (var -> (version_id, minimum_version_id)).  ``needed_of``
    names an existing subsection that gets the .needed function instead of a
    new subsection being created.
    """

    path: str
    parent_var: str  # the description the subsection is added to
    parent_name: str
    struct: str  # the parent's state struct (the .needed opaque)
    plan: PropertyPlan
    sub_var: str
    sub_name: str
    needed_fn: str
    carry: tuple[str, ...] = ()
    moves: tuple[tuple[str, str, int], ...] = ()  # (description var, field text, line in the patch's new file)
    versions: tuple[tuple[str, str | None, str | None], ...] = ()
    needed_of: str | None = None
    macro_drop: tuple[str, int, str] | None = None  # (macro, index of the field in it, header path)


@dataclass(frozen=True)
class WidenFix:
    """vmstate-field-removed for a widened field: the old width stays on the wire, the rest in a subsection.

    The main section sends the old width through VMSTATE_WITH_TMP (a temporary
    of the old C type, copied in pre_save and back in post_load); the new,
    wider field travels in ``sub`` for machine types whose property is on.
    """

    sub: SubsectionFix
    var: str  # the description whose field widened
    new_text: str  # the widened field as the patch writes it
    field: str
    old_ctype: str
    tmp_struct: str
    tmp_var: str
    tmp_name: str


@dataclass(frozen=True)
class UnusedFix:
    """vmstate-field-removed: a VMSTATE_UNUSED(n) placeholder where the field was."""

    path: str
    var: str
    size: int
    after: str | None  # the field text it follows (None: first field)
    old_text: str


@dataclass
class FixSet:
    """The edits of all fixable findings, against the files at the reviewed tip."""

    files: dict[str, tuple[str, str]] = field(default_factory=dict)  # path -> (old text, new text)
    skipped: list[tuple[object, str]] = field(default_factory=list)  # (finding, why)
    fixed: list[object] = field(default_factory=list)  # findings with an edit


# -- making plans from the tree -----------------------------------------------------


BITNR_RE = re.compile(r"^[ \t]*#[ \t]*define[ \t]+\w+_BITNR[ \t]+(\d+)[ \t]*$", re.M)


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


def _device_types(model: FileModel, fn: str):
    """TypeInfos of ``model`` whose class_init installs ``fn`` (directly or through helpers it calls)."""
    return [t for t in model.typeinfos if fn in model.reachable(t.class_init)]


def property_plan(index: TreeIndex, model: FileModel, writes: list[ConfigWrite], version):
    """Names of the property that would guard ``writes``: a cap_present bit or a bool of the device."""
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


def _arrays_from(model: FileModel, root: str) -> set[str]:
    return {arr for fn in _class_functions(model, root) for arr in fn.prop_arrays}


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
