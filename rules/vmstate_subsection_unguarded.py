from __future__ import annotations

from qlint.analyzer.fix import fixplan, wording
from qlint.analyzer.fix.fixplan import SubsectionFix
from qlint.analyzer.rule import Review, Rule


class VmstateSubsectionUnguarded(Rule):
    """
    ## What it does
    Flags a subsection added to an existing `VMStateDescription` whose
    `.needed` is missing or always true (an error), or reads only guest state
    and no compat property (a warning: the subsection is sent whenever the
    guest happens to use the feature).  When `.needed` reads a property,
    compat-entry-missing checks that the current compat array switches it off.

    ## Why is this bad?
    A destination that does not know a subsection fails the load ("unknown
    subsection").  Subsections are the right tool for new state only when
    old machine types never send them.

    ## Example
    ```c
    static const VMStateDescription vmstate_acme_clock = {
        .name = "acme/clock",
        .fields = (const VMStateField[]) { VMSTATE_CLOCK(clk, AcmeState), VMSTATE_END_OF_LIST() },
    };                                   /* no .needed: always sent */
    ```

    ## Use instead
    ```c
    static bool acme_clock_needed(void *opaque)
    {
        AcmeState *s = opaque;
        return s->migrate_clk;           /* DEFINE_PROP_BOOL("migrate-clk", ..., true), off in hw_compat_X_Y */
    }
    ...
        .needed = acme_clock_needed,
    ```
    """

    name = "vmstate-subsection-unguarded"
    severity = "error"
    other_severities = ("warning",)  # a .needed that reads only guest state
    summary = "a new subsection of an existing VMState description not tied to a compat property"

    def check(self, review: Review):
        diff = review.vmstate
        v = review.current_version
        for ns in diff.subsections:
            sub = ns.sub
            if sub is None:
                continue
            g = diff.gate(sub.needed, sub.path or ns.path)
            if g.props:
                continue  # compat-entry-missing checks the entry
            if g.always:
                sev, why = "error", ("has no .needed function, so it is always sent" if not sub.needed
                                     else f"has a .needed ({sub.needed}) that always returns true")
            elif not g.found:
                continue  # .needed defined where qlint cannot see: do not guess
            else:
                sev, why = "warning", (f"is sent whenever {sub.needed}() sees guest state that needs it; it "
                                       f"reads no compat property")
            yield self.finding(
                review,
                severity=sev,
                message=f"new subsection \"{sub.name}\" of VMState \"{ns.parent.name}\" {why}",
                path=ns.path, line=ns.line, end_line=ns.line, function=sub.var, in_function=False, stream=ns.parent.var,
                details=(
                    f"QEMU {wording.vstr(v)} does not know \"{sub.name}\" and fails the load when it arrives, so "
                    f"VMs of {wording.machine_types(v, review.new_index, path=ns.path)} cannot migrate from this tree to {wording.vstr(v)}"
                    + (" whenever the guest state makes it needed" if sev == "warning" else "")
                    + ". Tie .needed to a property that defaults to on and that the current compat array "
                      "switches off."
                ),
                quoted=review.quote(ns.path, ns.line, ns.line),
                suggestion=(wording.subsection_text(fix, review.tip_index, v) if (fix := _fix_plan(review, sub, ns))
                            else _fix(review, sub, v, ns.parent.var, ns.path)),
                fix=fix,
                anchor=f"subsection:{ns.parent.name}:{sub.name}",
            )


def _fix_plan(review: Review, sub, ns) -> SubsectionFix | None:
    """A .needed function reading a new property of the device (and the old .needed, if any)."""
    slug = sub.name.rsplit("/", 1)[-1]
    struct = next((f.args[1] for f in sub.fields if len(f.args) > 1), "")
    model = review.new_index.model(ns.path)
    plan = fixplan.vmstate_plan(review.tip_index, model, ns.parent.var, struct, slug, review.current_version)
    if plan is None or not struct or (sub.path and sub.path != ns.path):
        return None
    return SubsectionFix(path=ns.path, parent_var=ns.parent.var, parent_name=ns.parent.name, struct=struct,
                         plan=plan, sub_var=sub.var, sub_name=sub.name, needed_fn=f"{sub.var}_needed"
                         if not sub.needed else f"{sub.var}_compat_needed", needed_of=sub.var)


def _fix(review: Review, sub, v, parent_var: str, path_c: str) -> str:
    arr, path = fixplan.compat_array_name(review.tip_index, v)
    slug = sub.name.rsplit("/", 1)[-1].replace("_", "-")
    field = "migrate_" + slug.replace("-", "_")
    fn = f"{sub.var}_needed"
    state = next((f.args[1] for f in sub.fields if len(f.args) > 1), "<State>")
    model = review.new_index.model(path_c)
    driver, props = fixplan.device_of_vmsd(model, parent_var) if model is not None else (None, None)
    return "\n".join([
        f"1. {state}: bool {field};",
        f"2. {props or 'the device property array'}[]:",
        f"       DEFINE_PROP_BOOL(\"x-migrate-{slug}\", {state}, {field}, true),",
        f"3. static bool {fn}(void *opaque)",
        "   {",
        f"       {state} *s = opaque;",
        f"       return s->{field};",
        "   }",
        f"   and .needed = {fn}, in {sub.var}",
        f"4. {path}, {arr}[]:",
        f"       {{ {driver or 'TYPE_...(the device)'}, \"x-migrate-{slug}\", \"off\" }},"
        + wording.create_array_hint(review.tip_index, v),
    ])
