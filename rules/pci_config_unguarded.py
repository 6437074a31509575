from __future__ import annotations

from qlint.analyzer.fix import fixplan, wording
from qlint.analyzer.fix.fixplan import GuardFix
from qlint.analyzer.rule import Review, Rule

_TARGET_WORDS = {
    "config": "config",
    "wmask": "wmask",
    "w1cmask": "w1cmask",
    "cmask": "cmask",
    "cap": "capability layout",
}


class PciConfigUnguarded(Rule):
    """
    ## What it does
    Flags a patch that makes an existing device type start with different PCI
    config space: a write to `config`, `wmask`, `w1cmask` or `cmask` (or a
    capability added with `pci_add_capability`/`pcie_*_init`) that appears,
    disappears or changes value in an init/realize/reset path, with no guard on
    a compat property around it.

    ## Why is this bad?
    Config space is migrated, and the destination checks it on load:
    `get_pci_config_device()` rejects any byte that differs from its own under
    `cmask` and outside `wmask`/`w1cmask`.  A VM started as `-M pc-q35-7.2`
    must migrate to and from QEMU 7.2 in both directions, so a device may only
    change its initial config space for new machine types.

    ## Example
    ```c
    pci_set_long(dev->config + offset + PCI_ERR_UNCOR_MASK, PCI_ERR_UNC_MASK_DEFAULT);
    pci_set_long(dev->wmask + offset + PCI_ERR_UNCOR_MASK, PCI_ERR_UNC_SUPPORTED);
    ```

    ## Use instead
    ```c
    DEFINE_PROP_BIT("x-pcie-err-unc-mask", PCIDevice, cap_present,
                    QEMU_PCIE_ERR_UNC_MASK_BITNR, true),
    ...
    if (dev->cap_present & QEMU_PCIE_ERR_UNC_MASK) {
        pci_set_long(dev->config + offset + PCI_ERR_UNCOR_MASK, PCI_ERR_UNC_MASK_DEFAULT);
        pci_set_long(dev->wmask + offset + PCI_ERR_UNCOR_MASK, PCI_ERR_UNC_SUPPORTED);
    }
    ...
    GlobalProperty hw_compat_7_2[] = {
        { TYPE_PCI_DEVICE, "x-pcie-err-unc-mask", "off" },
    };
    ```

    ## References
    QEMU docs/devel/migration/compatibility.rst
    """

    name = "pci-config-unguarded"
    severity = "error"
    summary = "initial PCI config space of an existing device changes without a compat property"

    def check(self, review: Review):
        v = review.current_version
        for ch in review.config_writes.changes:
            writes = ch.new or ch.old
            targets = sorted({_TARGET_WORDS[w.target] for w in writes})
            regs = sorted({w.offset for w in writes})
            verb = {"added": "now sets", "removed": "no longer sets", "changed": "changes the value it sets in"}[ch.kind]
            message = f"{ch.function}() {verb} {'/'.join(targets)} at {', '.join(regs)} with no compat property"
            quoted = review.quote(ch.path, ch.line, ch.end_line) if ch.kind != "removed" else []
            if ch.kind == "removed" or ch.kind == "changed":
                for w in ch.old:
                    quoted += ["-" + line for line in w.text.splitlines()]
            vs = wording.vstr(v)
            details = (
                f"{ch.function}() builds the initial config space of devices that already exist, so this "
                f"changes the {' and '.join(targets)} that a VM started with {wording.machine_types(v, review.new_index, path=ch.path)} gets. "
                f"Config space is part of the migration stream and the destination compares it with its own "
                f"on load (get_pci_config_device(): bytes under cmask and outside wmask/w1cmask must match), "
                f"so such a VM can no longer migrate between QEMU {vs} and a QEMU built from this tree, in "
                f"either direction; where the destination accepts the bytes, the guest sees its device change "
                f"under it. The new layout may only apply to new machine types: put it under a property "
                f"that defaults to the new behaviour and switch the property off in the current compat array."
            )
            f = review.patch.changed(ch.path)
            model = review.new_model(f) if f is not None else None
            suggestion, fix = None, None
            if model is not None:
                plan = fixplan.property_plan(review.new_index, model, writes, v)
                var = fixplan.guard_var(review.new_index, model, writes, plan)
                suggestion = wording.property_text(plan, ch.function, var, review.new_index, v, ch.kind)
                fix = GuardFix(plan, ch.path, ch.function, ch.kind, var,
                               tuple((w.line, w.end_line) for w in ch.new),
                               tuple(w.text for w in ch.old), tuple((w.line, w.end_line) for w in ch.old))
            yield self.finding(
                review,
                message=message,
                path=ch.path,
                line=ch.line,
                end_line=ch.end_line,
                function=ch.function,
                details=details,
                quoted=quoted,
                suggestion=suggestion,
                fix=fix,
                anchor=ch.kind + ":" + ",".join(sorted(f"{w.target}@{w.offset}" for w in writes)),
            )
