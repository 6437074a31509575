from __future__ import annotations

from qlint.analyzer import advice
from qlint.analyzer.rulebase import Rule
from qlint.analyzer.semdiff import PatchReview


class VmstateFieldRemoved(Rule):
    """
    ## What it does
    Flags a field removed from an existing `VMStateDescription`, or whose type
    or size changes (`VMSTATE_UINT32` to `VMSTATE_UINT64`, a different array
    length), when no `VMSTATE_UNUSED` placeholder keeps the wire layout.

    ## Why is this bad?
    The stream has no field names: the other side still sends or expects the
    old bytes, so every later field is read at the wrong offset and the load
    fails, or worse, succeeds with garbage.

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

    def check(self, review: PatchReview):
        v = review.current_version
        groups: dict[tuple[str, str], list] = {}
        for fc in review.vmstate.fields:
            if fc.kind in ("removed", "changed") and fc.old is not None:
                groups.setdefault((fc.desc.name, fc.kind), []).append(fc)
        for (name, kind), items in groups.items():
            d = items[0].desc
            if kind == "removed":
                what = ", ".join(f"{fc.old.field} ({fc.old.macro})" for fc in items)
                msg = f"VMState \"{name}\" drops {what}"
                fix = (f"keep the wire layout: in {d.var}, replace each dropped field by "
                       f"VMSTATE_UNUSED(<its size in bytes>)")
            else:
                parts = []
                for fc in items:
                    if fc.new.macro != fc.old.macro:
                        parts.append(f"{fc.old.field} from {fc.old.macro} to {fc.new.macro}")
                    else:
                        parts.append(f"the size of {fc.old.field}")
                msg = f"VMState \"{name}\" changes {', '.join(parts)}"
                fix = ("keep the old field as it was; send the new form in a subsection whose .needed reads a "
                       "compat property")
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
                details=(
                    f"Migration streams carry no field names, only their bytes in order. QEMU "
                    f"{advice.vstr(v)} still sends and expects {olds}, so VMs of {advice.machine_types(v, review.new_index)} cannot "
                    f"migrate to or from this tree: every later field of \"{name}\" is read at the wrong place."
                ),
                quoted=quoted,
                suggestion=fix,
                anchor=f"{kind}:{name}:" + ",".join(sorted(fc.old.identity for fc in items)),
            )
