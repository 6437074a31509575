from __future__ import annotations

from qlint.analyzer.fix import fixplan, wording
from qlint.analyzer.rule import Related, Review, Rule


class CompatEntryMissing(Rule):
    """
    ## What it does
    Flags a property guard that protects changed state (a new write under a
    property, existing writes newly put under one, or a guard on a property
    that is new in the range) when no entry in the current compat array
    (`hw_compat_X_Y[]`, `pc_compat_X_Y[]`, or another board's array of the
    last released version) restores the property's old value for a type that
    covers the device.  An entry added by a later patch of the same series
    meets the obligation; the review says which patch.

    ## Why is this bad?
    The property only helps if old machine types switch it off.  Without the
    compat entry every machine type gets the new default, and the guard is
    dead code as far as migration is concerned.

    ## Example
    ```c
    if (dev->cap_present & QEMU_PCIE_ERR_UNC_MASK) {   /* new property, default on */
        pci_set_long(dev->wmask + offset + PCI_ERR_UNCOR_MASK, PCI_ERR_UNC_SUPPORTED);
    }
    /* ...and nothing in hw_compat_7_2[] */
    ```

    ## Use instead
    ```c
    GlobalProperty hw_compat_7_2[] = {
        { TYPE_PCI_DEVICE, "x-pcie-err-unc-mask", "off" },
    };
    ```
    """

    name = "compat-entry-missing"
    severity = "error"
    other_severities = ("note",)  # a guard whose entry a later patch of the series adds
    summary = "a compat-property guard with no entry in the current compat array"

    def check(self, review: Review):
        v = review.current_version
        if v is None:
            return
        for gc in review.config_writes.guarded + review.vmstate.obligations:
            prop = gc.prop
            in_function = not gc.why.startswith("vmstate")  # else gc.function is a VMState description
            pname = review.new_index.string_name(prop.name)
            owners = fixplan.owner_types(review.new_index, prop)
            # an entry in the current array, or an older one (whether an older array is the right
            # one, a post-release fix, is for compat-entry-wrong-version to judge)
            met_by = review.first_patch_with_entry(gc.alternatives or [prop], v)
            if met_by is review.patch:
                continue
            quoted = review.quote(gc.path, gc.line, gc.end_line)
            arr, arr_path = fixplan.compat_array_name(review.tip_index, v)
            m = review.new_index.model(prop.path)
            driver = fixplan.driver_for_array(m, prop.array) if m is not None else None
            entry = wording.entry_line(driver or (f'"{owners[0]}"' if owners else "TYPE_..."), pname,
                                      wording.restoring_value(prop))
            if met_by is not None:
                yield self.finding(
                    review,
                    severity="note",
                    message=f"compat entry for \"{pname}\" is added later in the series, by patch "
                            f"{met_by.index}/{met_by.total}",
                    path=gc.path, line=gc.line, end_line=gc.end_line, function=gc.function,
                    in_function=in_function,
                    details=f"This patch guards {gc.function}() on \"{pname}\"; patch {met_by.index}/"
                            f"{met_by.total} ({met_by.short} \"{met_by.subject}\") adds the {arr}[] entry. "
                            f"Between the two patches old machine types get the new behaviour, which only "
                            f"matters to a bisect.",
                    quoted=quoted,
                    anchor=f"later:{pname}",
                )
                continue
            why = {
                "new-write": "puts new config writes under",
                "newly-guarded": "puts existing config writes under",
                "new-property": "guards config writes on the new property",
                "vmstate-test": "sends a new VMState field only when the _TEST function reads",
                "vmstate-needed": "sends a new subsection only when its .needed function reads",
                "vmstate-needed-forced": "sends a new subsection when its .needed function reads",
            }[gc.why]
            if gc.why == "vmstate-needed-forced":
                yield self.finding(
                    review,
                    message=f"\"{pname}\" gates a new subsection but the board code sets it, so no compat entry "
                            f"can switch it off",
                    path=gc.path, line=gc.line, end_line=gc.end_line, function=gc.function,
                    in_function=in_function,
                    details=(
                        f"{gc.function} is sent when \"{pname}\" is true. Its default is {prop.default}, but "
                        f"this tree sets it with qdev_prop_set_*() when it creates the device, which overrides "
                        f"compat properties: VMs of {wording.machine_types(v, review.new_index, path=gc.path)} send the subsection and cannot "
                        f"migrate to QEMU {wording.vstr(v)}. Make the new behaviour the property's default, stop "
                        f"setting it from board code, and switch it off in the current compat array."
                    ),
                    quoted=review.quote(gc.path, gc.line, gc.end_line),
                    suggestion=(f"{prop.path}: {prop.macro}(\"{pname}\", ..., true), drop the qdev_prop_set_*() "
                                f"call, and in {arr_path}, {arr}[]:\n    "
                                + wording.entry_line(driver or "TYPE_...", pname, "off")),
                    related=[Related(prop.path, prop.line, f"property \"{pname}\" defined here")],
                    anchor=f"forced:{pname}",
                )
                continue
            subject = f"{gc.function}()" if in_function else gc.function
            yield self.finding(
                review,
                message=f"no entry in {arr}[] switches \"{pname}\" off for old machine types",
                path=gc.path, line=gc.line, end_line=gc.end_line, function=gc.function,
                    in_function=in_function,
                details=(
                    f"{subject} {why} \"{pname}\" ({prop.macro} in {prop.path}, default "
                    f"{prop.default}). Nothing in the current compat array restores the old value, so a VM "
                    f"started with {wording.machine_types(v, review.new_index, path=gc.path)} gets the new behaviour too and cannot migrate "
                    f"to or from QEMU {wording.vstr(v)}. Add the entry to {arr}[] in {arr_path}."
                ),
                quoted=quoted,
                suggestion=f"{arr_path}, {arr}[]:\n    {entry}" + wording.create_array_hint(review.tip_index, v),
                related=[Related(prop.path, prop.line, f"property \"{pname}\" defined here")],
                fix=(fixplan.EntryFix(arr, arr_path, fixplan.array_exists(review.tip_index, v), ((("\"" + pname + "\"",), entry),))
                     if (driver or owners) and wording.restoring_value(prop) in ("on", "off") else None),
                anchor=f"missing:{pname}",
            )

