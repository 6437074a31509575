"""The C model in QEMU's vocabulary: plain data that rules read.

Nothing here knows about tree-sitter, git or the command line.  ``cparse``
fills these records from C source; ``tree`` and ``diff`` combine them.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Union

# ---------------------------------------------------------------------------
# Conditions.  A guard is kept as a small expression tree so that a rule can
# evaluate it for a property's default value without re-parsing C.

Cond = Union[
    tuple,  # ("bit", field, mask_ident) | ("bitnr", field, bitnr_ident) | ("field", field)
    # ("not", c) | ("and", a, b) | ("or", a, b) | ("cmp", op, field, value_text)
    # ("other", text)
]


@dataclass(frozen=True)
class Guard:
    """One enclosing condition of a statement.

    ``taken`` is True when the statement runs if ``cond`` is true (an ``if``
    body), False when it runs if ``cond`` is false (the ``else`` branch, or the
    rest of a block after ``if (cond) { return; }``).
    """

    cond: Cond
    text: str
    taken: bool = True
    # an early exit that reports an error: it validates input, it does not select behaviour
    validation: bool = False


# Targets of a PCI device's config-space buffers.
CONFIG_TARGETS = ("config", "wmask", "w1cmask", "cmask")


@dataclass(frozen=True)
class ConfigWrite:
    """A statement that sets part of a PCI device's initial config state.

    ``target`` is one of CONFIG_TARGETS, or ``"cap"`` for a call that adds a
    capability (its layout lands in config/wmask/cmask).  ``offset`` and
    ``value`` are normalised expression texts (no white space, no comments,
    the device variable dropped), so re-wrapping or renaming does not change
    them.
    """

    target: str
    offset: str
    value: str
    how: str
    function: str
    line: int
    end_line: int
    text: str
    guards: tuple[Guard, ...] = ()
    value_fields: tuple[str, ...] = ()
    base_var: str = ""
    base_type: str = ""

    @property
    def key(self) -> tuple[str, str, str]:
        """What the write does, independent of how the capability base is named."""
        if self.target == "cap":
            # what a capability call passes that is not a C variable: ids, sizes, flags
            value = ",".join(a if not re.search(r"[a-z]", a) else "_" for a in self.value.split(","))
        else:
            value = re.sub(r"\b[a-z_][a-z0-9_]*(?=->)", "", self.value)  # s->x and dev->x are the same
        return (self.target, cap_relative(_numbers(self.offset)), _numbers(value))


_INT_RE = re.compile(r"(?<![\w.])(0[xX][0-9a-fA-F]+|0[0-7]*|[1-9][0-9]*)[uUlL]*(?![\w.])")


def _numbers(text: str) -> str:
    """Integer literals in decimal: ``0x02``, ``2`` and ``2U`` write the same byte."""
    def dec(m: re.Match) -> str:
        t = m.group(1)
        return str(int(t, 16) if t[:2] in ("0x", "0X") else int(t, 8) if len(t) > 1 and t[0] == "0" else int(t))
    return _INT_RE.sub(dec, text) if any(c.isdigit() for c in text) else text


def cap_relative(offset: str) -> str:
    """``PCI_EXP_LNKSTA+pos`` and ``PCI_EXP_LNKSTA+dev->exp.exp_cap`` are the same register.

    Lower-case terms are a capability's position in some variable; constants
    name the register.  Keys compare registers, not variable names.
    """
    terms = offset.split("+") if offset else []
    consts = sorted(t for t in terms if not any(c.islower() for c in t))
    if len(consts) != len(terms):
        consts.append("<cap>")
    return "+".join(consts)


@dataclass(frozen=True)
class PropertyDef:
    name: str
    macro: str
    struct: str
    field: str
    bit: str | None
    default: str | None
    array: str
    line: int
    path: str = ""


@dataclass(frozen=True)
class CompatEntry:
    array: str
    driver: str  # as written: a TYPE_* macro or a string literal's content
    driver_is_macro: bool
    property: str
    value: str
    line: int
    path: str = ""
    text: str = ""

    @property
    def optional(self) -> bool:
        """The entry is marked ``.optional = true``: QEMU skips types that lack the property."""
        return ".optional" in self.text and "true" in self.text.split(".optional", 1)[1][:20]

    @property
    def value_is_call(self) -> bool:
        """The value is written as a call (``stringify(X)``, ``FOO(2)``), not a string literal."""
        return re.search(r"\w\s*\(", self.value) is not None

    @property
    def array_version(self) -> tuple[int, int] | None:
        """The release the name of the entry's array stands for (hw_compat_2_12, PC_COMPAT_2_12: 2.12)."""
        m = re.search(r"_(\d+)_(\d+)$", self.array)
        return (int(m.group(1)), int(m.group(2))) if m else None


@dataclass(frozen=True)
class CompatArray:
    name: str
    family: str  # "hw", "pc", "spapr", ... (lower case, macro era too)
    version: tuple[int, int]
    entries: tuple[CompatEntry, ...]
    line: int
    end_line: int
    path: str = ""
    # "array" (GlobalProperty x[]), "macro" (#define HW_COMPAT_X_Y), or "inline" (an old machine
    # definition's own .compat_props list: every old machine type lists its entries itself)
    style: str = "array"


@dataclass(frozen=True)
class TypeInfoDef:
    var: str
    name: str  # macro or literal content, as written
    name_is_macro: bool
    parent: str | None
    parent_is_macro: bool
    class_init: str | None
    instance_struct: str | None
    line: int
    path: str = ""


@dataclass(frozen=True)
class VMField:
    """One entry of a VMStateDescription's .fields."""

    macro: str
    args: tuple[str, ...]  # normalised argument texts
    line: int
    text: str

    @property
    def field(self) -> str:
        return self.args[0] if self.args else ""

    @property
    def plain_field(self) -> bool:
        """The field is one member named as is (``ctrl``), not ``regs[2]``, ``a.b`` or ``p->q``."""
        return re.fullmatch(r"\w+", self.field) is not None

    @property
    def identity(self) -> str:
        """What the field is on the wire, independent of guards: the macro family and the field."""
        base = self.macro
        for suffix in ("_TEST", "_V"):
            if base.endswith(suffix):
                base = base[: -len(suffix)]
        return base + ":" + self.field

    @property
    def version(self) -> int | None:
        """The version a _V field appeared in (0 when unversioned)."""
        arg = None
        if self.macro.endswith("_V") and self.args:
            arg = self.args[-1]
        elif self.macro.startswith("VMSTATE_STRUCT") and len(self.args) >= 3 and "TEST" not in self.macro:
            arg = self.args[2]
        if arg is None:
            return 0
        try:
            return int(arg, 0)
        except ValueError:
            return None

    @property
    def test(self) -> str | None:
        return self.args[-1] if "_TEST" in self.macro and self.args else None

    @property
    def is_unused(self) -> bool:
        return self.macro.startswith(("VMSTATE_UNUSED", "VMSTATE_BUFFER_UNSAFE_INFO")) or "UNUSED" in self.macro

    @property
    def nested(self) -> list[str]:
        """vmstate_* descriptions this field nests."""
        return [a.lstrip("&") for a in self.args if a.lstrip("&").startswith("vmstate_")]


@dataclass(frozen=True)
class VMStateDesc:
    var: str
    name: str  # .name as written: string content, or a macro
    version_id: str | None
    minimum_version_id: str | None
    fields: tuple[VMField, ...]
    subsections: tuple[str, ...]
    needed: str | None
    line: int
    end_line: int
    path: str = ""
    unmigratable: bool = False

    @property
    def version(self) -> int | None:
        try:
            return int(self.version_id, 0) if self.version_id else 0
        except ValueError:
            return None

    @property
    def minimum(self) -> int | None:
        try:
            return int(self.minimum_version_id, 0) if self.minimum_version_id else 0
        except ValueError:
            return None


@dataclass(frozen=True)
class VMStateMacro:
    """``#define VMSTATE_FOO(a, b) VMSTATE_X(...), VMSTATE_Y(...)``: fields several descriptions share."""

    name: str
    params: tuple[str, ...]
    fields: tuple[tuple[str, tuple[str, ...]], ...]  # (macro, args) with the parameters unexpanded
    line: int
    path: str = ""


@dataclass
class Function:
    name: str
    line: int
    end_line: int
    calls: set[str] = field(default_factory=set)
    # function names stored into a struct field (k->realize = foo_realize)
    assigned_fns: set[str] = field(default_factory=set)
    # property arrays attached to a class (device_class_set_props(dc, x))
    prop_arrays: set[str] = field(default_factory=set)
    # VMState descriptions a class_init installs (dc->vmsd = &vmstate_x)
    vmsds: set[str] = field(default_factory=set)
    # string literals handed to object_(class_)property_add*()
    dynamic_props: set[str] = field(default_factory=set)
    # field names the function reads (for .needed and _TEST functions)
    fields_read: set[str] = field(default_factory=set)
    # conditions it tests and values it returns, as guards (for .needed and _TEST functions)
    conds: list[Guard] = field(default_factory=list)
    # the function is `return true;` / `return 1;` and nothing else
    always_true: bool = False
    # virtio_add_feature(&features, X)-style calls: (callee, feature, guards, line)
    feature_calls: list[tuple[str, str, tuple[Guard, ...], int]] = field(default_factory=list)
    # every call: (callee, enclosing guards, line)
    call_sites: list[tuple[str, tuple[Guard, ...], int]] = field(default_factory=list)
    # every statement that runs under at least one condition: (guards, normalised text, line)
    guarded: list[tuple[tuple[Guard, ...], str, int]] = field(default_factory=list)
    # plain stores into a struct field (s->f = v / s.f = v): (field, normalised value, guards, line)
    fields_written: list[tuple[str, str, tuple[Guard, ...], int]] = field(default_factory=list)


@dataclass
class FileModel:
    path: str
    functions: dict[str, Function] = field(default_factory=dict)
    writes: list[ConfigWrite] = field(default_factory=list)
    props: list[PropertyDef] = field(default_factory=list)
    # property arrays whose initialiser holds entries qlint cannot read
    # (macros expanding to several properties): they may define more.
    open_prop_arrays: set[str] = field(default_factory=set)
    masks: dict[str, str] = field(default_factory=dict)  # mask ident -> bit-number ident
    numbers: dict[str, int] = field(default_factory=dict)  # #define X 11 / enum X = 11
    type_macros: dict[str, str] = field(default_factory=dict)  # TYPE_FOO -> "foo"
    typeinfos: list[TypeInfoDef] = field(default_factory=list)
    compat_arrays: list[CompatArray] = field(default_factory=list)
    # property arrays' entries that are macros: array -> [(macro, args)]
    prop_array_macros: dict[str, list[tuple[str, tuple[str, ...]]]] = field(default_factory=dict)
    # #define X(params) DEFINE_PROP_...(...), ...: name -> (params, [(macro, args)], line)
    prop_macros: dict[str, tuple[tuple[str, ...], list[tuple[str, tuple[str, ...]]], int]] = field(default_factory=dict)
    vmstates: list[VMStateDesc] = field(default_factory=list)
    vmstate_macros: list[VMStateMacro] = field(default_factory=list)
    # struct definitions of the file: struct tag and typedef name -> member names (members of
    # anonymous struct/union members included, since C reaches them directly)
    struct_fields: dict[str, frozenset[str]] = field(default_factory=dict)
    has_errors: bool = False

    def reachable(self, root: str | None, installed: bool = True) -> set[str]:
        """Functions of this file that ``root`` calls or (with ``installed``) installs, directly or
        through others."""
        seen: set[str] = set()
        stack = [root] if root else []
        while stack:
            cur = stack.pop()
            if cur in seen or cur not in self.functions:
                continue
            seen.add(cur)
            fn = self.functions[cur]
            stack.extend(fn.calls | fn.assigned_fns if installed else fn.calls)
        return seen

    def function_at(self, line: int) -> str | None:
        for fn in self.functions.values():
            if fn.line <= line <= fn.end_line:
                return fn.name
        return None
