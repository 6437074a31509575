from __future__ import annotations

from qlint.analyzer.fix import fixplan, wording
from qlint.analyzer.fix.fixplan import SubsectionFix, UnusedFix, WidenFix
from qlint.analyzer.cmodel.model import VMField
from qlint.analyzer.rule import Review, Rule


class VmstateFieldRemoved(Rule):
    """
    ## What it does
    Flags a field removed from an existing `VMStateDescription`, or whose type
    or size changes (`VMSTATE_UINT32` to `VMSTATE_UINT64`, a different array
    length), when no `VMSTATE_UNUSED` placeholder keeps the wire layout.

    ## Why is this bad?
    The stream has no field names: the other side still sends or expects the
    old bytes, so every later field is read at the wrong offset and the load
    fails, or worse, succeeds with garbage.  For the same reason, a field whose
    C name changes in its place (same macro, same size, same position) is not
    a change, and is not flagged; a renamed field that also moves is.

    ## Example
    ```c
    -    VMSTATE_UINT32(legacy_reg, AcmeState),
    ```

    ## Use instead
    ```c
    +    VMSTATE_UNUSED(4),          /* was legacy_reg */
    ```
    """

    name = "vmstate-field-removed"
    severity = "error"
    summary = "a field removed from, or resized in, an existing VMState description"

    def check(self, review: Review):
        v = review.current_version
        groups: dict[tuple[str, str], list] = {}
        for fc in review.vmstate.fields:
            if fc.kind in ("removed", "changed") and fc.old is not None:
                if fc.kind == "removed" and review.vmstate.never_sent(fc):
                    continue  # only machine types gone from the tree sent it
                groups.setdefault((fc.desc.name, fc.kind), []).append(fc)
        for (name, kind), items in groups.items():
            d = items[0].desc
            if kind == "removed":
                what = ", ".join(f"{fc.old.field} ({fc.old.macro})" for fc in items)
                msg = f"VMState \"{name}\" drops {what}"
                plans = [_unused_plan(review, fc) for fc in items]
                plan = tuple(plans) if all(plans) else None
                fix = (f"keep the wire layout: in {d.var}, replace each dropped field by "
                       f"VMSTATE_UNUSED(<its size in bytes>)")
                if plan:
                    fix = f"keep the wire layout: in {d.var}, " + "; ".join(
                        f"VMSTATE_UNUSED({p.size}) where {p.old_text} was" for p in plan)
            else:
                parts = []
                for fc in items:
                    if fc.new.macro != fc.old.macro:
                        parts.append(f"{fc.old.field} from {fc.old.macro} to {fc.new.macro}")
                    else:
                        parts.append(f"the size of {fc.old.field}")
                msg = f"VMState \"{name}\" changes {', '.join(parts)}"
                plan = _widen_plan(review, items[0]) if len(items) == 1 else None
                fix = ("keep the old field as it was; send the new form in a subsection whose .needed reads a "
                       "compat property")
                if plan is not None:
                    fix = (f"keep the old width on the wire: in {d.var}, replace {plan.new_text} by\n"
                           f"    VMSTATE_WITH_TMP({plan.sub.struct}, {plan.tmp_struct}, {plan.tmp_var}),\n"
                           f"where {plan.tmp_struct} holds {plan.sub.struct} *parent and {plan.old_ctype} "
                           f"{plan.field}, copied from the parent in pre_save and back in post_load; and send the "
                           f"new width in a subsection:\n" + wording.subsection_text(plan.sub, review.tip_index, v))
            quoted = []
            for fc in items:
                quoted += ["-" + line for line in fc.old.text.splitlines()][:2]
                if fc.new is not None:
                    quoted += review.quote(fc.path, fc.line, fc.line)
            olds = "; ".join(f"{fc.old.macro}({', '.join(fc.old.args)})" for fc in items)
            yield self.finding(
                review,
                message=msg,
                path=items[0].path, line=min(fc.line for fc in items), end_line=max(fc.line for fc in items),
                function=d.var,
                in_function=False,
                stream=d.var,
                details=(
                    f"Migration streams carry no field names, only their bytes in order. QEMU "
                    f"{wording.vstr(v)} still sends and expects {olds}, so VMs of {wording.machine_types(v, review.new_index, path=items[0].path)} cannot "
                    f"migrate to or from this tree: every later field of \"{name}\" is read at the wrong place."
                ),
                quoted=quoted,
                suggestion=fix,
                fix=plan,
                anchor=f"{kind}:{name}:" + ",".join(sorted(fc.old.identity for fc in items)),
            )


# bytes on the wire of the fixed-size VMSTATE_* forms
_SIZES = {"BOOL": 1, "UINT8": 1, "INT8": 1, "UINT16": 2, "INT16": 2, "UINT32": 4, "INT32": 4,
          "UINT64": 8, "INT64": 8, "UINTTL": None}


def field_size(f: VMField) -> int | None:
    """Bytes ``f`` puts on the wire, when its macro says so (VMSTATE_UINT32, VMSTATE_UINT8_ARRAY(f, s, 6))."""
    base = f.macro.removeprefix("VMSTATE_")
    for suffix in ("_TEST", "_V"):
        base = base.removesuffix(suffix)
    if base in _SIZES:
        return _SIZES[base]
    if base.endswith("_ARRAY") and base[:-6] in _SIZES and len(f.args) >= 3:
        unit = _SIZES[base[:-6]]
        try:
            return unit * int(f.args[2], 0) if unit else None
        except ValueError:
            return None
    return None


def _unused_plan(review: Review, fc) -> UnusedFix | None:
    """VMSTATE_UNUSED of the dropped field's size, after the field that preceded it."""
    size = field_size(fc.old)
    if size is None or not fc.old.text.startswith(fc.old.macro + "("):
        return None
    od = review.vmstate.old_desc(fc)
    if od is None:
        return None
    kept = {x.text for x in fc.desc.fields}
    after = None
    for x in od.fields:
        if x.line >= fc.old.line:
            break
        if x.text in kept:
            after = x.text
    return UnusedFix(path=fc.path, var=fc.desc.var, size=size, after=after, old_text=fc.old.text)


_CTYPES = {"UINT8": "uint8_t", "INT8": "int8_t", "UINT16": "uint16_t", "INT16": "int16_t",
           "UINT32": "uint32_t", "INT32": "int32_t", "UINT64": "uint64_t", "INT64": "int64_t", "BOOL": "bool"}


def _widen_plan(review: Review, fc) -> WidenFix | None:
    """A scalar that became wider: the old width through VMSTATE_WITH_TMP, the new one in a subsection."""
    old, new, d = fc.old, fc.new, fc.desc
    ob, nb = old.macro.removeprefix("VMSTATE_"), new.macro.removeprefix("VMSTATE_")
    if ob not in _CTYPES or nb not in _CTYPES or len(new.args) != 2 or old.field != new.field \
            or not new.plain_field or not new.text.startswith(new.macro + "("):
        return None
    if (field_size(new) or 0) <= (field_size(old) or 0):
        return None
    struct = new.args[1]
    model = review.new_index.model(fc.path)
    plan = fixplan.vmstate_plan(review.tip_index, model, d.var, struct, new.field, review.current_version)
    if plan is None:
        return None
    short = plan.field.removeprefix("migrate_")
    sub = SubsectionFix(path=fc.path, parent_var=d.var, parent_name=d.name, struct=struct, plan=plan,
                        sub_var=f"{d.var}_{short}", sub_name=f"{d.name}/{short}", needed_fn=f"{d.var}_{short}_needed",
                        carry=(new.text,))
    camel = "".join(p.capitalize() for p in new.field.split("_"))
    return WidenFix(sub=sub, var=d.var, new_text=new.text, field=new.field, old_ctype=_CTYPES[ob],
                    tmp_struct=f"{struct.removesuffix('State')}{camel}Tmp", tmp_var=f"{d.var}_{new.field}_tmp",
                    tmp_name=f"{d.name}/{new.field}_tmp")
