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
        for fc in review.vmstate.fields:
            if fc.kind not in ("removed", "changed") or fc.old is None:
                continue
            d, x = fc.desc, fc.old
            if fc.kind == "removed":
                msg = f"VMState \"{d.name}\" drops field {x.field} ({x.macro})"
                fix = f"keep the wire layout: replace it with VMSTATE_UNUSED(<its size in bytes>) in {d.var}"
            else:
                msg = f"VMState \"{d.name}\" changes field {x.field} from {x.macro} to {fc.new.macro}"
                if fc.new.macro == x.macro:
                    msg = f"VMState \"{d.name}\" changes the size of field {x.field}"
                fix = ("keep the old field as it was; send the new form in a subsection whose .needed reads a "
                       "compat property")
            yield self.finding(
                review,
                message=msg,
                path=fc.path, line=fc.line, end_line=fc.line, function=d.var,
                details=(
                    f"Migration streams carry no field names, only their bytes in order. QEMU "
                    f"{advice.vstr(v)} still sends and expects {x.field} as {x.macro}({', '.join(x.args)}), so VMs "
                    f"of {advice.machine_types(v)} cannot migrate to or from this tree: every later field of "
                    f"\"{d.name}\" is read at the wrong place."
                ),
                quoted=["-" + line for line in x.text.splitlines()][:4],
                suggestion=fix,
                anchor=f"{fc.kind}:{d.name}:{x.identity}",
            )
