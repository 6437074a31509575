from __future__ import annotations

from qlint.analyzer.fix import fixplan, wording
from qlint.analyzer.fix.fixplan import SubsectionFix
from qlint.analyzer.rule import Review, Rule


class VmstateVersionBump(Rule):
    """
    ## What it does
    Reports a raised `version_id` of an existing `VMStateDescription` (a
    warning; an error for a description nested with `VMSTATE_STRUCT`, whose
    version never goes on the wire) and a raised `minimum_version_id` (an
    error).

    ## Why is this bad?
    A destination refuses a section whose version is newer than its own, so
    raising `version_id` breaks migration *to* older QEMU for every machine
    type; raising `minimum_version_id` breaks migration *from* older QEMU.
    Nested descriptions are loaded with the parent's version, so their own
    `version_id` changes nothing on the wire but the meaning of `_V` fields.

    ## Example
    ```c
    -    .version_id = 2,
    +    .version_id = 3,
         ...
    +    VMSTATE_UINT32_V(new_reg, AcmeState, 3),
    ```

    ## Use instead
    A subsection with a `.needed` function tied to a compat property (see
    `qlint rule vmstate-field-added`).
    """

    name = "vmstate-version-bump"
    severity = "warning"
    other_severities = ("error",)  # minimum_version_id, or a description nested with VMSTATE_STRUCT
    summary = "version_id or minimum_version_id of an existing VMState description raised"

    def check(self, review: Review):
        v = review.current_version
        for vc in review.vmstate.versions:
            o, n = vc.old, vc.new
            line = vc.line
            fix = _fix_plan(review, vc)
            if None not in (o.minimum, n.minimum) and n.minimum > o.minimum \
                    and review.vmstate.sent_below(vc, n.minimum) is not False:
                yield self.finding(
                    review,
                    severity="error",
                    message=f"VMState \"{n.name}\" raises minimum_version_id from {o.minimum} to {n.minimum}",
                    path=vc.path, line=line, end_line=line, function=n.var, in_function=False, stream=n.var,
                    details=(
                        f"A stream of \"{n.name}\" at version {o.version} from QEMU {wording.vstr(v)} is now "
                        f"refused: no VM, whatever its machine type, can migrate from {wording.vstr(v)} to this "
                        f"tree. Keep minimum_version_id and load the old versions with _V fields."
                    ),
                    quoted=review.quote(vc.path, line, line),
                    suggestion=wording.subsection_text(fix, review.tip_index, v) if fix is not None else None,
                    fix=fix,
                    anchor=f"min:{n.name}",
                )
            if None not in (o.version, n.version) and n.version > o.version:
                nested = bool(vc.nested_in)
                where = f" (nested in {', '.join(vc.nested_in)})" if nested else ""
                yield self.finding(
                    review,
                    severity="error" if nested else "warning",
                    message=f"VMState \"{n.name}\"{where} raises version_id from {o.version} to {n.version}",
                    path=vc.path, line=line, end_line=line, function=n.var, in_function=False, stream=n.var,
                    details=(
                        (f"\"{n.name}\" is nested with VMSTATE_STRUCT, so its version is not on the wire: the "
                         f"parent's version is used to load it, and _V fields at {n.version} are never loaded "
                         f"from a stream. " if nested else "")
                        + f"QEMU {wording.vstr(v)} refuses version {n.version} of \"{n.name}\", so no VM can "
                        f"migrate from this tree back to {wording.vstr(v)}, whatever its machine type. "
                        f"A subsection whose .needed reads a property that the current compat array switches off "
                        f"keeps backward migration for {wording.machine_types(v, review.new_index, path=vc.path)}."
                    ),
                    quoted=review.quote(vc.path, line, line),
                    suggestion=(wording.subsection_text(fix, review.tip_index, v) if fix is not None else
                                "move the new fields into a subsection with a compat-property .needed "
                                "(see `qlint rule vmstate-field-added`) and keep version_id"),
                    fix=fix,
                    anchor=f"version:{n.name}",
                )


def _fix_plan(review: Review, vc) -> SubsectionFix | None:
    """Keep the old versions; the fields of the new version go in a subsection gated by a property.

    A description nested with VMSTATE_STRUCT gets no subsection of its own (its
    .needed would see the nested struct, not the device): the parent that nests
    it carries the fields, named through the nesting field (``rx.head``).
    """
    o, n = vc.old, vc.new
    if o.version is None or n.version is None:
        return None
    new_fields = [f for f in n.fields if f.macro.endswith("_V") and (f.version or 0) > (o.version or 0)]
    if any(len(f.args) < 3 for f in new_fields):
        return None
    model = review.new_index.model(vc.path)
    if model is None:
        return None
    top, prefix = n, ""
    if vc.nested_in:
        nesting = [(d, f) for d in model.vmstates for f in d.fields if n.var in f.nested]
        if len(nesting) != 1:
            return None
        top, via = nesting[0]
        prefix = via.field + "."
    struct = (top.fields[0].args[1] if top.fields and len(top.fields[0].args) > 1 else "")
    first = new_fields[0].field if new_fields else "version"
    slug = (prefix + first).replace(".", "_")
    plan = fixplan.vmstate_plan(review.tip_index, model, top.var, struct, slug, review.current_version)
    if plan is None or not struct:
        return None
    carry = tuple(f"{f.macro[:-2]}({prefix}{f.args[0]}, {struct}{''.join(', ' + a for a in f.args[2:-1])})"
                  for f in new_fields)
    short = plan.field.removeprefix("migrate_")
    return SubsectionFix(path=vc.path, parent_var=top.var, parent_name=top.name, struct=struct, plan=plan,
                         sub_var=f"{top.var}_{short}", sub_name=f"{top.name}/{short}",
                         needed_fn=f"{top.var}_{short}_needed", carry=carry,
                         moves=tuple((n.var, f.text, f.line) for f in new_fields),
                         versions=((n.var, o.version_id, o.minimum_version_id if n.minimum != o.minimum else None),))

