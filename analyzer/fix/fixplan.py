"""What a fix adds, as data: one object that both the advice text and ``--fix`` read.

A rule that knows how to fix its finding attaches one of these plans to the
finding (``Finding.fix``).  ``advice`` renders the plan as the finding's
suggestion text; ``fixgen`` turns it into edits of the files at the reviewed
tip.  Plans hold names and C text only (no models, no syntax trees), so they
stay cheap to build for every finding.
"""

from __future__ import annotations

from dataclasses import dataclass, field


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
