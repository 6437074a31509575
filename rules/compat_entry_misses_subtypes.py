from __future__ import annotations

from qlint.analyzer.diff.api import owners_cover
from qlint.analyzer.rule import Review, Rule


class CompatEntryMissesSubtypes(Rule):
    """
    ## What it does
    Flags compat entries added by the patch for a property that lives on a
    base type when, together, the entries of that release for the property
    leave out a variant of a named type that has it too (the property is on
    `virtio-foo-pci-base`, the entry names `virtio-foo-pci`, and the
    `-transitional`/`-non-transitional` variants stay unguarded).  Only
    variants named after a listed driver (its name plus a suffix) are
    reported: siblings with other names may not need the entry.

    ## Why is this bad?
    The uncovered types keep the new behaviour on old machine types, so VMs
    using them cannot migrate to or from the previous release, while the
    covered ones can: the break is real but hides behind a partial fix.

    ## Example
    ```c
    { "acme-serial-pci", "x-fifo", "off" },     /* acme-serial-pci-2x also has x-fifo */
    ```

    ## Use instead
    ```c
    { "acme-serial-pci-base", "x-fifo", "off" },
    ```
    """

    name = "compat-entry-misses-subtypes"
    severity = "error"
    summary = "compat entries for a property do not cover every concrete type that has it"

    def check(self, review: Review):
        idx = review.new_index
        done = set()
        for e in review.compat.added:
            arr = review.compat.array(e.array)
            if arr is None:
                continue
            name = idx.string_name(e.property)
            key = (arr.version, name, e.value)
            if key in done:
                continue
            done.add(key)
            drv = idx.type_name(e.driver, e.driver_is_macro)
            if drv is None or drv not in idx.qom_types():
                continue
            ps = idx.props_of(drv, with_subtypes=True)
            p = ps.props.get(name)
            if p is None or not ps.complete:
                continue
            owners = idx.owners_of_array(p.path, p.array)
            having = owners_cover(idx, owners)
            drivers = set()
            for a in idx.arrays_of_version(arr.version):
                for x in a.entries:
                    if idx.string_name(x.property) == name:  # any value: a variant may keep its own
                        d = idx.type_name(x.driver, x.driver_is_macro)
                        if d is None:
                            drivers = None
                            break
                        drivers.add(d)
                if drivers is None:
                    break
            if not drivers or not having:
                continue
            # the uncovered types that are variants of a named driver (virtio-foo-pci and
            # virtio-foo-pci-transitional): a sibling with an unrelated name may well not need it
            missing = [t for t in having if not any(idx.covers(d, t) for d in drivers)
                       and any(t.startswith(d) for d in drivers)]
            if missing:
                yield self.finding(
                    review,
                    message=f"compat entries for \"{name}\" miss {', '.join(missing)}",
                    path=e.path, line=e.line, end_line=e.line,
                    details=(f"\"{name}\" is defined on {', '.join(owners)} ({p.path}); the {arr.name}[] entries "
                             f"name {', '.join(sorted(drivers))}, which leaves {', '.join(missing)} with the new "
                             f"behaviour on old machine types. Name the type that defines the property, or add an "
                             f"entry per missing type."),
                    quoted=review.quote(e.path, e.line, e.line),
                    suggestion="\n".join(f'{{ "{owners[0] if len(owners) == 1 else t}", "{name}", "{e.value}" }},'
                                         for t in (missing[:1] if len(owners) == 1 else missing)),
                    anchor=f"subtypes:{arr.name}:{name}",
                )
