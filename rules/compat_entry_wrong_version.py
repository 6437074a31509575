from __future__ import annotations

from qlint.analyzer.fix import fixplan, wording
from qlint.analyzer.diff.api import shown_value
from qlint.analyzer.cmodel.model import CompatEntry, PropertyDef
from qlint.analyzer.rule import Review, Rule


class CompatEntryWrongVersion(Rule):
    """
    ## What it does
    Checks the array a new compat entry goes into.  The right array is the one
    of the last release that did *not* have the new behaviour: the current
    array (`hw_compat_X_Y` for VERSION X.Y.50) when the behaviour is new in
    this development cycle; an older one for a post-release fix, when the
    behaviour already shipped in a release.  qlint finds out which releases
    shipped the behaviour by looking for the guarded code (or the property)
    in each release's tree.  A correct post-release fix gets a note that names
    the releases that shipped the unguarded behaviour.

    ## Why is this bad?
    An entry in an older array leaves the newest released machine types with
    the new behaviour: a VM started as `-M pc-q35-X.Y` on QEMU X.Y cannot
    migrate to this tree and back.  An entry in a newer array than the one
    before the first release that shipped the behaviour changes machine types
    that already had it on a released QEMU.

    ## Example
    ```c
    /* VERSION 7.2.50, the writes are new in this patch */
    GlobalProperty hw_compat_7_1[] = {
        { TYPE_PCI_DEVICE, "x-pcie-err-unc-mask", "off" },
    };
    ```

    ## Use instead
    ```c
    GlobalProperty hw_compat_7_2[] = {
        { TYPE_PCI_DEVICE, "x-pcie-err-unc-mask", "off" },
    };
    ```
    """

    name = "compat-entry-wrong-version"
    severity = "error"
    other_severities = ("note",)  # a correct post-release fix, with the releases that shipped the behaviour
    summary = "a compat entry sits in the array of the wrong release"

    def check(self, review: Review):
        current = review.current_version
        if current is None:
            return
        idx = review.new_index
        for e in review.compat.added:
            arr = review.compat.array(e.array)
            if arr is None:
                continue
            if arr.style == "inline" and any(
                x.property == e.property for a in idx.arrays_of_version(current) for x in a.entries
            ):
                continue  # per-machine lists: every old machine type repeats the entry, the newest has it too
            props = _props_named(review, e)
            if not props or _is_default(props[0], e.value) or _restated(review, e, props[0]):
                continue  # nothing new to switch off
            shipped_in = review.releases.first_shipped(props, arr.version, current)
            if not shipped_in.known:
                continue  # the guarded behaviour is nowhere qlint can see: do not guess
            first = shipped_in.version
            if first is None:
                correct = current
            else:
                correct = review.releases.before(first) or arr.version
            shipped = review.releases.shipped(first, current)
            drv_name = idx.type_name(e.driver, e.driver_is_macro) or e.driver
            if arr.version == correct:
                if correct != current:
                    mx = review.releases.migration_matrix(e, review.releases.before(first))
                    started = (f"VMs of machine types {wording.vstr(correct)} and older that were started on "
                               f"{', '.join(shipped)} ")
                    if mx:
                        rescue = started + "can only migrate to a fixed QEMU with the rescue below."
                    else:
                        value = shown_value(props[0].default)
                        rescue = (started + f"cannot migrate to a fixed QEMU without -global "
                                  f"{drv_name}.{e.property}={value} (the value they were started with) on the "
                                  f"destination until they are powered off and started on a fixed QEMU.")
                    yield self.finding(
                        review,
                        severity="note",
                        message=f"post-release fix: \"{e.property}\" goes in {e.array}[] because QEMU "
                                f"{', '.join(shipped)} shipped the behaviour unguarded",
                        path=e.path, line=e.line, end_line=e.line,
                        details=(
                            f"The behaviour guarded by \"{e.property}\" first shipped in QEMU "
                            f"{wording.vstr(first)}, so machine types {wording.vstr(correct)} and older get the old "
                            f"behaviour back while {wording.vstr(first)} and newer keep what they had. " + rescue
                        ),
                        quoted=review.quote(e.path, e.line, e.line),
                        anchor=f"post-release:{e.array}:{e.property}",
                        **mx,
                    )
                continue
            want, want_path = fixplan.compat_array_name(idx, correct, arr.family)
            if first is None:
                why = (f"the behaviour it restores is new in this development cycle (VERSION "
                       f"{'.'.join(map(str, idx.version() or ()))}), so it must go in the current array")
            else:
                why = (f"the behaviour it restores first shipped in QEMU {wording.vstr(first)}, so the entry "
                       f"belongs to the array of the release before it")
            if arr.version < correct:
                effect = (f"machine types {_range(review, arr.version, correct)} keep the new behaviour and VMs "
                          f"started with them cannot migrate to or from QEMU {wording.vstr(correct)}")
            else:
                effect = (f"machine types {_range(review, correct, arr.version)} lose the behaviour they already "
                          f"had on QEMU {', '.join(shipped)}, so their VMs cannot migrate from those releases")
            yield self.finding(
                review,
                message=f"compat entry for \"{e.property}\" is in {e.array}[] but belongs in {want}[]",
                path=e.path, line=e.line, end_line=e.line,
                details=f"This entry is in {e.array}[]; {why}. As it stands, {effect}.",
                quoted=review.quote(e.path, e.line, e.line),
                suggestion=f"move it to {want_path}, {want}[]:\n    {e.text.strip().rstrip(',')},",
                anchor=f"wrong:{e.array}:{e.property}",
            )


def _is_default(prop: PropertyDef, value: str) -> bool:
    norm = {"on": "true", "yes": "true", "off": "false", "no": "false"}
    d = (prop.default or "").strip().lower()
    v = value.strip().lower()
    return norm.get(d, d) == norm.get(v, v)


def _restated(review: Review, e: CompatEntry, prop: PropertyDef) -> bool:
    """The entry restates an obligation the tree already met: same property and
    value already in this array, or an existing property whose entries this
    file already listed (a table refactor, entries re-targeted to other types)."""
    idx = review.new_index
    drv = idx.type_name(e.driver, e.driver_is_macro)
    for a in review.old_index.arrays_of_version(review.compat.array(e.array).version):
        for x in a.entries if a.name == e.array else ():
            if x.property != e.property or x.value != e.value:
                continue
            other = idx.type_name(x.driver, x.driver_is_macro)
            if drv is None or other is None or idx.covers(other, drv) or idx.covers(drv, other):
                return True
    if review.properties.is_new(prop):
        return False
    return review.compat.named_before(e.path, e.property)


def _props_named(review: Review, e: CompatEntry) -> list[PropertyDef]:
    idx = review.new_index
    drv = idx.type_name(e.driver, e.driver_is_macro)
    if drv is not None and drv in idx.qom_types():
        ps = idx.props_of(drv, with_subtypes=True)
        if e.property in ps.props:
            return [ps.props[e.property]]
    # fall back on properties of that name in the files the series touches
    return review.properties.named(e.property)


def _range(review: Review, lo, hi) -> str:
    inside = [wording.vstr(v) for v in review.releases.versions if lo < v <= hi]
    return ", ".join(inside) if inside else wording.vstr(hi)
