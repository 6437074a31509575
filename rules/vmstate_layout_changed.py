from __future__ import annotations

from qlint.analyzer.fix import wording
from qlint.analyzer.rule import Review, Rule


class VmstateLayoutChanged(Rule):
    """
    ## What it does
    Flags a change to how an existing `VMStateDescription` is laid out on the
    wire that keeps every field: two fields that trade places (or one that
    moves), a section's or subsection's `.name` that changes, a subsection
    dropped from `.subsections`, and a subsection whose `.needed` read a
    compat property and no longer does.

    ## Why is this bad?
    The stream carries no field names, only their bytes in order: fields that
    trade places load each other's values, silently when their sizes agree.
    The destination finds a section, and a subsection inside it, by its
    `.name`: a renamed one is not found ("Unknown savevm section", "unknown
    subsection"), both ways.  A subsection an older QEMU sends whenever its
    `.needed` is true makes the load fail on a destination that no longer
    lists it; one that compat entries kept away from old machine types is
    sent to releases that do not know it once `.needed` stops reading them.
    A renamed C variable, or a `.name` spelt through a macro of the
    same string, changes nothing and is not flagged; nor is the `.name` of a
    description only nested with `VMSTATE_STRUCT` (no name goes on the wire).

    ## Example
    ```c
         .fields = (const VMStateField[]) {
    -        VMSTATE_UINT32(ctrl, AcmeNicState),
             VMSTATE_UINT32(status, AcmeNicState),
    +        VMSTATE_UINT32(ctrl, AcmeNicState),
    ```

    ## Use instead
    Keep the order and the names; new state goes at the end, in a subsection
    whose `.needed` reads a compat property (see `qlint rule
    vmstate-field-added`).  A subsection no longer needed stays listed, loading
    into state the device ignores.
    """

    name = "vmstate-layout-changed"
    severity = "error"
    summary = ("fields reordered, a section or subsection renamed, dropped or no longer gated by a compat "
               "property in an existing VMState")

    def check(self, review: Review):
        yield from self._moves(review)
        yield from self._names(review)
        yield from self._dropped(review)
        yield from self._ungated(review)

    def _moves(self, review: Review):
        v = review.current_version
        by_desc: dict[tuple[str, str], list] = {}
        for mv in review.vmstate.moves:
            by_desc.setdefault((mv.path, mv.desc.var), []).append(mv)
        for (path, _var), moves in by_desc.items():
            d = moves[0].desc
            name = review.new_index.string_name(d.name)
            what = ", ".join(m.field.field for m in moves)
            lines = [m.line for m in moves]
            quoted = []
            for m in moves:
                quoted += review.quote(path, m.line, m.line)
            yield self.finding(
                review,
                message=f"VMState \"{name}\" sends {what} at another place in the stream",
                path=path, line=min(lines), end_line=max(lines), function=d.var, in_function=False,
                stream=d.var,
                details=(
                    f"Migration streams carry no field names, only their bytes in order: between QEMU "
                    f"{wording.vstr(v)} and this tree, VMs of "
                    f"{wording.machine_types(v, review.new_index, path=path)} load the bytes of {what} into "
                    f"other fields, and other fields' bytes into {'it' if len(moves) == 1 else 'them'}."
                ),
                quoted=quoted,
                suggestion=f"keep the order of {d.var}.fields; new state goes in a subsection",
                anchor=f"moved:{name}:" + ",".join(sorted(m.field.identity for m in moves)),
            )

    def _names(self, review: Review):
        v = review.current_version
        for nc in review.vmstate.names:
            where = ("the section" if nc.role == "section" else "the subsection")
            yield self.finding(
                review,
                message=f"VMState {nc.role} \"{nc.old_name}\" is renamed \"{nc.new_name}\"",
                path=nc.path, line=nc.line, end_line=nc.line, function=nc.new.var, in_function=False,
                stream=nc.new.var,
                details=(
                    f"The destination finds {where} by its name: QEMU {wording.vstr(v)} sends and expects "
                    f"\"{nc.old_name}\", this tree \"{nc.new_name}\", so VMs of "
                    f"{wording.machine_types(v, review.new_index, path=nc.path)} cannot migrate either way."
                ),
                quoted=review.quote(nc.path, nc.line, nc.line),
                suggestion=f"keep .name = \"{nc.old_name}\" in {nc.new.var}",
                anchor=f"renamed:{nc.old_name}:{nc.new_name}",
            )

    def _dropped(self, review: Review):
        v = review.current_version
        for ds in review.vmstate.dropped_subsections:
            if review.vmstate.false_on_live_machines(ds.path, ds.sub.needed):
                continue  # only machine types gone from the tree sent it
            name = review.old_index.string_name(ds.sub.name)
            parent = review.new_index.string_name(ds.parent.name)
            yield self.finding(
                review,
                message=f"VMState \"{parent}\" no longer lists subsection \"{name}\"",
                path=ds.path, line=ds.line, end_line=ds.line, function=ds.parent.var, in_function=False,
                stream=ds.sub.var,
                details=(
                    f"QEMU {wording.vstr(v)} sends \"{name}\" whenever {ds.sub.needed or 'it'} says it is needed; "
                    f"this tree does not know it and fails the load, for VMs of "
                    f"{wording.machine_types(v, review.new_index, path=ds.path)}."
                ),
                quoted=review.quote(ds.path, ds.line, ds.line),
                suggestion=(f"keep {ds.sub.var} in {ds.parent.var}.subsections; its fields may load into "
                            f"state the device no longer uses"),
                anchor=f"dropped:{parent}:{name}",
            )

    def _ungated(self, review: Review):
        v = review.current_version
        for ug in review.vmstate.ungated_subsections:
            if not ug.props and review.vmstate.known_to_every_release(ug.path, ug.sub) is not False:
                continue  # always sent now, but every release a live machine type runs on loads it
            name = review.new_index.string_name(ug.sub.name)
            props = ", ".join(f'"{p.name}"' for p in ug.props)
            how = "is always true" if ug.always else f"no longer reads {props}"
            yield self.finding(
                review,
                message=f"VMState subsection \"{name}\": {ug.sub.needed or '.needed'} {how}",
                path=ug.path, line=ug.line, end_line=ug.line, function=ug.sub.var, in_function=False,
                stream=ug.sub.var,
                details=(
                    (f"Compat entries set {props} so that VMs of "
                     f"{wording.machine_types(v, review.new_index, path=ug.path)} never sent \"{name}\"; "
                     f"now they do, and a release without the subsection fails to load their stream.")
                    if ug.props else
                    (f"\"{name}\" was sent only when needed; now every VM sends it, and the releases of the "
                     f"oldest machine types, which do not know it, fail to load every stream.")
                ),
                quoted=review.quote(ug.path, ug.line, ug.line),
                suggestion=(f"keep reading {props} in {ug.sub.needed or 'the .needed function'}" if ug.props
                            else "send it only when its state differs from what older releases assume"),
                anchor=f"ungated:{name}",
            )
