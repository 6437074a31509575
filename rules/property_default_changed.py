from __future__ import annotations

from qlint.analyzer.fix import fixplan, wording
from qlint.analyzer.diff.api import is_integer, norm_value, owners_cover
from qlint.analyzer.rule import Review, Rule


class PropertyDefaultChanged(Rule):
    """
    ## What it does
    Flags a `DEFINE_PROP_*` whose default changes on a device type that
    already exists (including a default that becomes a sentinel computed at
    realize time, such as an "auto" number of queues) when no compat array of
    the current release or older restores the old value for that type.

    A new property can change a default too.  QOM objects are
    zero-initialised, so an existing type that gains a number property
    (`DEFINE_PROP_UINT32` and the like) over a struct field that existed
    before, and that code of the type or its parents already read, used that
    field at 0.  A non-zero default (or a sentinel that realize replaces by a
    non-zero value, `if (s->f == UNSPECIFIED) { s->f = 2; }`) changes the
    device for old machine types unless an entry sets it back to 0 on every
    concrete type that gains the property.  Not reported: new fields, fields
    that old code already set to something else than 0, fields another
    property already set, bits and bools (host-side switches such as
    ioeventfd look the same as guest-visible ones; feature bits are
    feature-default-on's), strings, pointers and links, and new devices.

    ## Why is this bad?
    Properties shape what the guest sees and what is migrated: a VM started
    with an old machine type on the new QEMU gets the new default, so it no
    longer matches the same VM on the old QEMU and migration between them
    fails or silently changes the device under the guest.

    ## Example
    ```c
    -    DEFINE_PROP_UINT16("num-queues", AcmeState, num_queues, 1),
    +    DEFINE_PROP_UINT16("num-queues", AcmeState, num_queues, 4),

    /* virtio-acme-pci had no "vectors": VirtIOPCIProxy.nvectors was 0 */
    +    DEFINE_PROP_UINT32("vectors", VirtIOPCIProxy, nvectors, 2),
    ```

    ## Use instead
    ```c
    GlobalProperty hw_compat_7_2[] = {
        { "acme-dev", "num-queues", "1" },
        { "virtio-acme-pci", "vectors", "0" },
        { "virtio-acme-pci-transitional", "vectors", "0" },
        { "virtio-acme-pci-non-transitional", "vectors", "0" },
    };
    ```
    """

    name = "property-default-changed"
    severity = "error"
    # a default re-spelt with the property's type, as constants of two enums qlint cannot compare
    other_severities = ("warning",)
    summary = "a property default of an existing device changes with no compat entry restoring it"

    def check(self, review: Review):
        v = review.current_version
        if v is None:
            return
        yield from self._implicit(review, v)
        tip = review.tip_index
        for pc in review.properties.changes + review.properties.macro_changes:
            if pc.kind != "default":
                continue
            name = tip.string_name(pc.new.name)
            old_v = norm_value(pc.old.default)
            literal = old_v in ("true", "false", "auto") or old_v.lstrip("-").isdigit()
            entries = tip.entries_for(name, v)
            if not entries and review.series_adds_entry_for(pc.owners):
                continue  # the series switches the device some other way; qlint cannot tell how
            having = owners_cover(tip, pc.owners) or pc.owners
            uncovered = []
            for t in having:
                ok = False
                for a, e in entries:
                    d = tip.type_name(e.driver, e.driver_is_macro)
                    if d is not None and not tip.covers(d, t):
                        continue
                    # an entry in the current array: the old default never shipped, the released value
                    # is restored already; older arrays must restore this old value
                    if a.version == v or not literal or norm_value(e.value) == old_v:
                        ok = True
                        break
                if not ok:
                    uncovered.append(t)
            if not uncovered:
                continue
            arr, path = fixplan.compat_array_name(tip, v)
            # the property changes type (DEFINE_PROP_UINT8 to DEFINE_PROP_ENDIAN) and its default is
            # spelt in the new type's constants: the same setting, or not, qlint cannot evaluate them
            respelt = pc.old.macro != pc.new.macro and _constant(pc.old.default) and _constant(pc.new.default)
            drv = pc.owners[0] if set(uncovered) >= set(t for t in having if not tip.is_abstract(t)) else uncovered[0]
            old = _as_value(pc.old.default)
            entry = wording.entry_line(f'"{drv}"', name, old)
            yield self.finding(
                review,
                message=f"default of \"{name}\" changes from {pc.old.default} to {pc.new.default}; no compat entry "
                        f"restores {pc.old.default} for {', '.join(uncovered)}",
                severity="warning" if respelt else self.severity,
                confidence="low" if respelt else "high",
                path=pc.path, line=pc.new.line, end_line=pc.new.line, function=None,
                details=(
                    f"VMs of {wording.machine_types(v, review.new_index, path=pc.path)} using {', '.join(uncovered)} would get \"{name}\"="
                    f"{pc.new.default} on this tree where QEMU {wording.vstr(v)} gives them {pc.old.default}: the "
                    f"device changes under the guest and migration between the two fails or misbehaves. Keep the "
                    f"old value for old machine types with an entry in {arr}[]."
                    + (f" The property also changes type ({pc.old.macro} to {pc.new.macro}) and qlint cannot "
                       f"evaluate {pc.old.default} and {pc.new.default}: if they name the same setting, nothing "
                       f"changes." if respelt else "")
                ),
                quoted=review.quote(pc.path, pc.new.line, pc.new.line),
                suggestion=f"{path}, {arr}[]:\n    " + entry + wording.create_array_hint(tip, v),
                fix=(fixplan.EntryFix(arr, path, fixplan.array_exists(tip, v), (((f'"{drv}"', f'"{name}"'), entry),))
                     if old in ("on", "off") or is_integer(old) else None),
                anchor=f"default:{pc.new.array}:{name}",
            )


    def _implicit(self, review: Review, v):
        """New number properties over fields the device used at their implicit zero."""
        tip = review.tip_index
        for ch in review.properties.implicit_defaults:
            p = ch.prop
            name = tip.string_name(p.name)
            entries = tip.entries_for(name, v)
            if not entries and review.series_adds_entry_for(ch.owners):
                continue
            uncovered = []
            for t in ch.affected:
                ok = False
                for _a, e in entries:
                    d = tip.type_name(e.driver, e.driver_is_macro)
                    if d is None or not tip.covers(d, t):
                        continue
                    val = norm_value(e.value)
                    if val == "0" or not is_integer(val):
                        ok = True  # restores 0 (or a value qlint cannot read)
                        break
                if not ok:
                    uncovered.append(t)
            if not uncovered:
                continue
            arr, path = fixplan.compat_array_name(tip, v)
            lines = [wording.entry_line(f'"{t}"', name, "0") for t in uncovered]
            shown = p.default if norm_value(p.default) == ch.effective else f"{p.default}, {ch.effective} once realized"
            yield self.finding(
                review,
                message=f"new property \"{name}\" sets {p.struct}.{p.field} to {ch.effective} by default where existing "
                        f"types used it at 0; no compat entry restores 0 for {', '.join(uncovered)}",
                path=ch.path, line=p.line, end_line=p.line, function=None,
                details=(
                    f"Before this patch {', '.join(ch.affected)} had no \"{name}\" property, so {p.struct}.{p.field}, "
                    f"which {ch.read_at} already reads, stayed 0 (QOM objects are zero-initialised). Its default is "
                    f"now {shown}: VMs of {wording.machine_types(v, review.new_index, path=ch.path)} get {ch.effective} on this tree where QEMU "
                    f"{wording.vstr(v)} gives them 0, the device changes under the guest and migration between the "
                    f"two fails or misbehaves. Keep 0 for old machine types with an entry per type in {arr}[]."
                ),
                quoted=review.quote(ch.path, p.line, p.line),
                suggestion=f"{path}, {arr}[]:\n    " + "\n    ".join(lines) + wording.create_array_hint(tip, v),
                fix=fixplan.EntryFix(arr, path, fixplan.array_exists(tip, v), tuple(((f'"{t}"', f'"{name}"'), ln) for t, ln in zip(uncovered, lines))),
                anchor=f"implicit-default:{p.array}:{name}",
            )


def _as_value(default: str | None) -> str:
    n = norm_value(default)
    return {"true": "on", "false": "off"}.get(n, n)


def _constant(value: str | None) -> bool:
    """A bare enum or macro constant (DEVICE_LITTLE_ENDIAN), not a literal or an expression."""
    v = (value or "").strip()
    return bool(v) and v.isidentifier() and v.upper() == v and any(c.isalpha() for c in v)
