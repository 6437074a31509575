from __future__ import annotations

import difflib

from qlint.analyzer.rulebase import Rule
from qlint.analyzer.semdiff import PatchReview


class CompatEntryUnknownProperty(Rule):
    """
    ## What it does
    Flags a compat entry added by the patch whose property is defined neither
    by its driver type, nor by that type's QOM parents, nor by any of its
    subtypes.  Types are resolved through `TYPE_*` macros, string literals and
    `TypeInfo.parent`; properties through `DEFINE_PROP_*` arrays installed by
    each class_init and `object_class_property_add*()` calls.  When a type or
    one of its property arrays cannot be read completely, the rule stays
    silent rather than guess; a driver qlint cannot resolve at all gets a
    note that names it.

    ## Why is this bad?
    A compat entry whose property no matching type has never takes effect: the
    old machine types it was written for keep the new behaviour, silently.
    (Where a matched type lacks the property, QEMU aborts at start-up.)

    ## Example
    ```c
    { TYPE_PCI_DEVICE, "x-pcie-err-unc-msk", "off" },   /* property is x-pcie-err-unc-mask */
    ```

    ## Use instead
    ```c
    { TYPE_PCI_DEVICE, "x-pcie-err-unc-mask", "off" },
    ```
    """

    name = "compat-entry-unknown-property"
    severity = "error"
    summary = "a compat entry names a property its driver type does not define"

    def check(self, review: PatchReview):
        idx = review.new_index
        resolved = {id(e) for e, _ in review.resolved_added_entries()}
        for e in review.compat_added:
            if id(e) in resolved or (e.driver_is_macro and not e.driver.isidentifier()):
                continue  # names composed at build time ("Opteron_G3" "-" TYPE_X86_CPU) are registered by code
            name = idx.type_name(e.driver, e.driver_is_macro)
            if name is None:
                continue  # a macro qlint cannot resolve (or one #ifdef'd per target): nothing to say
            shown = name or e.driver
            yield self.finding(
                review,
                severity="note",
                message=f"compat entry for \"{e.property}\": qlint finds no QOM type named \"{shown}\"; not checked",
                path=e.path, line=e.line, end_line=e.line,
                details=(f"No TypeInfo in the tree registers \"{shown}\". Types registered by code (CPU "
                         "models, types named at run time) are invisible to qlint; if this is not one of them, "
                         "the entry never applies."),
                quoted=review.quote(e.path, e.line, e.line),
                anchor=f"unresolved:{e.array}:{e.driver}:{e.property}",
            )
        for e, drv in review.resolved_added_entries():
            ps = idx.props_of(drv, with_subtypes=True)
            prop_name = idx.string_name(e.property)
            if ps.has(prop_name) or ps.has(e.property) or not ps.complete:
                continue
            known = sorted(set(ps.props) | ps.dynamic)
            close = difflib.get_close_matches(e.property, known, n=1)
            hint = f" Did you mean \"{close[0]}\"?" if close else ""
            shown = f'{e.driver} ("{drv}")' if e.driver_is_macro else f'"{drv}"'
            yield self.finding(
                review,
                message=f"compat entry sets \"{e.property}\" on {shown}, which has no such property",
                path=e.path, line=e.line, end_line=e.line, function=None,
                details=(
                    f"Neither \"{drv}\" nor its parents ({', '.join(idx.ancestors(drv)) or 'none'}) nor its "
                    f"subtypes define \"{e.property}\", so this entry in {e.array}[] never applies and old "
                    f"machine types keep the new behaviour.{hint}"
                ),
                quoted=review.quote(e.path, e.line, e.line),
                suggestion=(f'{e.path}, {e.array}[]:\n    {{ {e.driver if e.driver_is_macro else chr(34) + e.driver + chr(34)}, '
                            f'"{close[0]}", "{e.value}" }},') if close else None,
                anchor=f"{e.array}:{e.driver}:{e.property}",
            )
