from __future__ import annotations

from qlint.analyzer.fix import fixplan, wording
from qlint.analyzer.fix.fixplan import SubsectionFix
from qlint.analyzer.rule import Review, Rule


class VmstateFieldAdded(Rule):
    """
    ## What it does
    Flags a field added to the `.fields` of an existing `VMStateDescription`
    (matched by its `.name`, after expanding `VMSTATE_*` macros defined in the
    tree) that is neither version-gated (a `_V` form above the old
    `version_id`) nor behind a `_TEST` function that reads a compat property.

    ## Why is this bad?
    Fields are sent in order with no framing.  A destination that does not
    know the field reads its bytes as the next field (or finds the stream too
    long) and the load fails; an older source does not send it and a newer
    destination reads the next section as this field.  Either way VMs of
    existing machine types cannot migrate to or from the previous release.

    ## Example
    ```c
    .fields = (const VMStateField[]) {
        VMSTATE_UINT32(ctrl, AcmeState),
        VMSTATE_UINT32(new_reg, AcmeState),      /* new, always sent */
        VMSTATE_END_OF_LIST()
    },
    ```

    ## Use instead
    ```c
    static bool acme_new_reg_needed(void *opaque)
    {
        AcmeState *s = opaque;
        return s->migrate_new_reg;               /* DEFINE_PROP_BOOL, off in hw_compat_X_Y */
    }
    static const VMStateDescription vmstate_acme_new_reg = {
        .name = "acme/new_reg",
        .version_id = 1,
        .minimum_version_id = 1,
        .needed = acme_new_reg_needed,
        .fields = (const VMStateField[]) {
            VMSTATE_UINT32(new_reg, AcmeState),
            VMSTATE_END_OF_LIST()
        },
    };
    /* ...and &vmstate_acme_new_reg in the parent's .subsections */
    ```
    """

    name = "vmstate-field-added"
    severity = "error"
    summary = "a field added to an existing VMState description without a version or compat-gated test"

    def check(self, review: Review):
        diff = review.vmstate
        v = review.current_version
        groups: dict[str, list] = {}
        for fc in diff.fields:
            if fc.kind != "added" or fc.new is None:
                continue
            x = fc.new
            if x.version and x.version > 0:
                continue  # version-gated: vmstate-version-bump speaks for it
            reason = "always sent"
            if x.test:
                g = diff.gate(x.test, fc.path)
                if g.props or not g.found or g.version:
                    continue  # compat-gated (compat-entry-missing checks the entry) or version-gated
                reason = f"sent whenever {x.test}() says so, which reads no compat property"
            groups.setdefault(fc.desc.name, []).append((fc, reason))
        for name, items in groups.items():
            fc0, reason0 = items[0]
            d = fc0.desc
            names = ", ".join(f"{fc.new.field} ({fc.new.macro})" for fc, _ in items)
            reasons = sorted({r for _, r in items})
            what = "a field" if len(items) == 1 else f"{len(items)} fields"
            line = min(fc.line for fc, _ in items)
            end = max(fc.line for fc, _ in items)
            quoted = []
            for fc, _ in items:
                quoted += review.quote(fc.path, fc.line, fc.line) or ["+" + fc.new.text.splitlines()[0]]
            fix = _fix_plan(review, d, [fc for fc, _ in items])
            yield self.finding(
                review,
                message=f"VMState \"{name}\" gains {names}, {'; '.join(reasons)}",
                path=fc0.path, line=line, end_line=end, function=d.var, in_function=False, stream=d.var,
                details=(
                    f"\"{name}\" is the migration format of a device that exists today. It gains {what} "
                    f"that {'is' if len(items) == 1 else 'are'} {'; '.join(reasons)}, so a VM started with "
                    f"{wording.machine_types(v, review.new_index, path=fc0.path)} sends a stream that QEMU {wording.vstr(v)} cannot load, and QEMU "
                    f"{wording.vstr(v)} sends one this tree reads wrongly. Move the new state into a subsection "
                    f"whose .needed function returns a property that defaults to on and is switched off in the "
                    f"current compat array."
                ),
                quoted=quoted,
                suggestion=(wording.subsection_text(fix, review.tip_index, v) if fix is not None
                            else _subsection_fix(review, d, fc0.new)),
                fix=fix,
                anchor=f"added:{name}:" + ",".join(sorted(fc.new.identity for fc, _ in items)),
            )


def _fix_plan(review: Review, d, items) -> SubsectionFix | None:
    """Move the new fields into a subsection gated by a new property of the device."""
    x = items[0].new
    slug = x.field.replace(".", "_").replace("->", "_")
    struct = x.args[1] if len(x.args) > 1 else ""
    model = review.new_index.model(d.path) if d.path else None
    plan = fixplan.vmstate_plan(review.tip_index, model, d.var, struct, slug, review.current_version)
    if plan is None or not struct:
        return None
    moves, macro_drop = [], None
    for fc in items:
        f = fc.new
        if f.text.startswith(f.macro + "("):
            moves.append((d.var, f.text, f.line))
        else:  # the field comes from a VMSTATE_* macro of the tree: take it out of the macro
            drop = fixplan.macro_field(review.new_index, f)
            if drop is None or macro_drop is not None:
                return None
            macro_drop = drop
    return SubsectionFix(path=d.path, parent_var=d.var, parent_name=d.name, struct=struct, plan=plan,
                         sub_var=f"{d.var}_{plan.field.removeprefix('migrate_')}",
                         sub_name=f"{d.name}/{plan.field.removeprefix('migrate_')}",
                         needed_fn=f"{d.var}_{plan.field.removeprefix('migrate_')}_needed",
                         carry=tuple(f"{fc.new.macro}({', '.join(fc.new.args)})" for fc in items),
                         moves=tuple(moves), macro_drop=macro_drop)


def _subsection_fix(review: Review, d, x) -> str:
    v = review.current_version
    arr, path = fixplan.compat_array_name(review.tip_index, v)
    model = review.new_index.model(d.path) if d.path else None
    driver, props = fixplan.device_of_vmsd(model, d.var) if model is not None else (None, None)
    slug = x.field.replace(".", "_").replace("->", "_")
    struct = x.args[1] if len(x.args) > 1 else "State"
    return "\n".join([
        f"1. {props or 'the device property array'}[]:  DEFINE_PROP_BOOL(\"x-migrate-{slug.replace('_', '-')}\", "
        f"{struct}, migrate_{slug}, true),",
        f"2. static bool {d.var}_{slug}_needed(void *opaque)",
        "   {",
        f"       {struct} *s = opaque;",
        f"       return s->migrate_{slug};",
        "   }",
        f"3. a subsection \"{d.name}/{slug}\" with .needed = {d.var}_{slug}_needed holding",
        f"       {x.macro}({', '.join(x.args)}),",
        f"   listed in {d.var}.subsections",
        f"4. {path}, {arr}[]:",
        f"       {{ {driver or 'TYPE_...(the device)'}, \"x-migrate-{slug.replace('_', '-')}\", \"off\" }},"
        + wording.create_array_hint(review.tip_index, v),
    ])
