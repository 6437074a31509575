from __future__ import annotations

from qlint.analyzer.rule import Review, Rule


class CompatEntryAborts(Rule):
    """
    ## What it does
    Flags a compat entry added by the patch whose driver covers a concrete
    type (the driver itself or one of its subtypes) that does not have the
    property, when the entry is not marked `.optional = true`.  Types whose
    properties qlint cannot all read are left alone.

    ## Why is this bad?
    QEMU applies a compat property to every device of a matching type and
    exits with "Property 'X.y' not found" when one lacks it: every VM of the
    old machine types that uses such a device fails to start.

    ## Example
    ```c
    { "acme-serial-pci-base", "x-only-on-2x", "off" },   /* acme-serial-pci lacks it */
    ```

    ## Use instead
    ```c
    { "acme-serial-pci-2x", "x-only-on-2x", "off" },
    ```
    """

    name = "compat-entry-aborts"
    severity = "error"
    summary = "a compat entry matches a concrete type that lacks the property"

    def check(self, review: Review):
        idx = review.new_index
        for e, drv in review.compat.resolved:
            if e.optional:
                continue
            name = idx.string_name(e.property)
            whole = idx.props_of(drv, with_subtypes=True)
            if not whole.has(name) and not whole.has(e.property):
                continue  # nobody has it: compat-entry-unknown-property
            lacking = []
            for t in [drv] + idx.descendants(drv):
                if idx.is_abstract(t):
                    continue
                ps = idx.props_of(t)
                if not ps.complete:
                    lacking = []
                    break
                if not ps.has(name) and not ps.has(e.property):
                    lacking.append(t)
            if lacking:
                yield self.finding(
                    review,
                    message=f"compat entry for \"{e.property}\" on \"{drv}\" also matches "
                            f"{', '.join(lacking)}, which lack the property",
                    path=e.path, line=e.line, end_line=e.line,
                    details=(f"Compat properties apply to the driver type and all its subtypes. "
                             f"{', '.join(lacking)} {'has' if len(lacking) == 1 else 'have'} no \"{e.property}\", "
                             f"so QEMU stops with \"Property not found\" when a VM of the machine types of "
                             f"{e.array}[] creates one. Name the types that have the property instead."),
                    quoted=review.quote(e.path, e.line, e.line),
                    anchor=f"aborts:{e.array}:{e.driver}:{e.property}",
                )
