from __future__ import annotations

from qlint.analyzer.fix import wording
from qlint.analyzer.rule import Review, Rule


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

    Also flags an entry whose driver names no type at all because it is
    built from a model name and a type macro the wrong way.  Types registered
    by code (CPU models) are named by a scheme the tree defines with macros,
    `#define X86_CPU_TYPE_SUFFIX "-" TYPE_X86_CPU` and
    `#define X86_CPU_TYPE_NAME(name) (name X86_CPU_TYPE_SUFFIX)`, over a table
    of models whose names are registered with it.  A driver such as
    `"EPYC-IBPB" TYPE_X86_CPU` lacks the separator, and `"EPYC-IPBP-" TYPE_X86_CPU`
    names a model that the C files beside the scheme's header never mention
    (model tables, aliases, and names formatted from them such as `"%s-v%d"`).

    ## Why is this bad?
    A compat entry whose property no matching type has never takes effect: the
    old machine types it was written for keep the new behaviour, silently.
    (Where a matched type lacks the property, QEMU aborts at start-up.)

    ## Example
    ```c
    { TYPE_PCI_DEVICE, "x-pcie-err-unc-msk", "off" },   /* property is x-pcie-err-unc-mask */
    { "EPYC-IBPB" TYPE_X86_CPU, "xlevel", "0x8000000a" },   /* type is "EPYC-IBPB-" TYPE_X86_CPU */
    ```

    ## Use instead
    ```c
    { TYPE_PCI_DEVICE, "x-pcie-err-unc-mask", "off" },
    { "EPYC-IBPB" X86_CPU_TYPE_SUFFIX, "xlevel", "0x8000000a" },
    ```
    """

    name = "compat-entry-unknown-property"
    severity = "error"
    other_severities = ("note",)  # a driver that names no QOM type qlint can find
    summary = "a compat entry names a property its driver type does not define"

    def check(self, review: Review):
        idx = review.new_index
        resolved = {id(e) for e, _ in review.compat.resolved}
        for e in review.compat.added:
            if id(e) in resolved:
                continue
            if e.driver_is_macro and not e.driver.isidentifier():
                # names composed at build time ("Opteron_G3" "-" TYPE_X86_CPU) are registered by code:
                # check them against the tree's naming scheme and model table, else say nothing
                nc = idx.check_built_name(e.driver)
                if nc is not None and not nc.ok:
                    yield self._no_such_type(review, e, nc)
                continue
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
        for e, drv in review.compat.resolved:
            ps = idx.props_of(drv, with_subtypes=True)
            prop_name = idx.string_name(e.property)
            if ps.has(prop_name) or ps.has(e.property) or not ps.complete:
                continue
            known = sorted(set(ps.props) | ps.dynamic)
            close = wording.closest(e.property, known)
            hint = f" Did you mean \"{close}\"?" if close else ""
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
                            f'"{close}", "{e.value}" }},') if close else None,
                anchor=f"{e.array}:{e.driver}:{e.property}",
            )

    def _no_such_type(self, review: Review, e, nc):
        n = nc.naming
        scheme = f'MODEL {n.suffix_macro} ("{n.separator}" {n.base})' if n.suffix_macro else f'MODEL "{n.separator}" {n.base}'
        if nc.why == "separator":
            base = review.new_index.type_macros().get(n.base)
            glued = f' ("{nc.model}{base}")' if base else ""
            what = f'"{nc.model}" runs straight into {n.base} without the "{n.separator}" separator{glued}'
            fixed = n.spelled(nc.model)
        else:
            what = f'no model "{nc.model}" is registered (no model table or alias beside {n.path} names it)'
            close = wording.closest(nc.model, sorted(review.new_index.registered_models(n)[0]))
            fixed = n.spelled(close) if close else None
        v = review.current_version
        if fixed is None:
            fix = None
        elif e.array.isupper():  # a #define PC_COMPAT_X_Y of .driver/.property/.value initialisers
            fix = f"{e.path}, {e.array}:\n    .driver   = {fixed},\\"
        else:
            value = e.value if e.value_is_call else f'"{e.value}"'
            fix = f"{e.path}, {e.array}[]:\n    {{ {fixed}, \"{e.property}\", {value} }},"
        return self.finding(
            review,
            message=f"compat entry for \"{e.property}\" names no type: {e.driver}",
            path=e.path, line=e.line, end_line=e.line, function=None,
            details=(f"Types of this family are named {scheme} ({n.path}:{n.line}); here {what}. The entry "
                     f"names no type, so it never applies: VMs of {wording.machine_types(e.array_version or v, review.new_index, array=e.array)} keep the "
                     f"new behaviour on this tree and differ from the release they were started on."),
            quoted=review.quote(e.path, e.line, e.line),
            suggestion=fix,
            anchor=f"no-type:{e.array}:{e.driver}:{e.property}",
        )

