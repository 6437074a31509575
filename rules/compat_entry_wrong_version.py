from __future__ import annotations

from qlint.analyzer import advice
from qlint.analyzer import behaviour as beh
from qlint.analyzer.change import InputError
from qlint.analyzer.index import TreeIndex
from qlint.analyzer.model import CompatEntry, PropertyDef
from qlint.analyzer.rulebase import Rule
from qlint.analyzer.semdiff import PatchReview


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

    def check(self, review: PatchReview):
        current = review.current_version
        if current is None:
            return
        idx = review.new_index
        for e in review.compat_added:
            arr = review.array_named(idx, e.array)
            if arr is None:
                continue
            if arr.style == "inline" and any(
                x.property == e.property for a in idx.arrays_of_version(current) for x in a.entries
            ):
                continue  # per-machine lists: every old machine type repeats the entry, the newest has it too
            props = _props_named(review, idx, e)
            if not props or _is_default(props[0], e.value) or _restated(review, e, props[0]):
                continue  # nothing new to switch off
            first = _first_shipped(review, props, arr.version, current)
            if first is _UNKNOWN:
                continue  # the guarded behaviour is nowhere qlint can see: do not guess
            if first is None:
                correct = current
            else:
                correct = _release_before(review, first) or arr.version
            shipped = _shipped_list(review, first, current)
            drv_name = idx.type_name(e.driver, e.driver_is_macro) or e.driver
            if arr.version == correct:
                if correct != current:
                    mx = _matrix(review, e, _release_before(review, first))
                    started = (f"VMs of machine types {advice.vstr(correct)} and older that were started on "
                               f"{', '.join(shipped)} ")
                    if mx:
                        rescue = started + "can only migrate to a fixed QEMU with the rescue below."
                    else:
                        value = matrix_display(props[0].default)
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
                            f"{advice.vstr(first)}, so machine types {advice.vstr(correct)} and older get the old "
                            f"behaviour back while {advice.vstr(first)} and newer keep what they had. " + rescue
                        ),
                        quoted=review.quote(e.path, e.line, e.line),
                        anchor=f"post-release:{e.array}:{e.property}",
                        **mx,
                    )
                continue
            want, want_path = advice.compat_array_name(idx, correct, arr.family)
            if first is None:
                why = (f"the behaviour it restores is new in this development cycle (VERSION "
                       f"{'.'.join(map(str, idx.version() or ()))}), so it must go in the current array")
            else:
                why = (f"the behaviour it restores first shipped in QEMU {advice.vstr(first)}, so the entry "
                       f"belongs to the array of the release before it")
            if arr.version < correct:
                effect = (f"machine types {_range(review, arr.version, correct)} keep the new behaviour and VMs "
                          f"started with them cannot migrate to or from QEMU {advice.vstr(correct)}")
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


def matrix_display(value: str | None) -> str:
    from qlint.analyzer.matrix import display
    from qlint.analyzer.propdiff import norm_value

    return display(norm_value(value))


def _matrix(review: PatchReview, e: CompatEntry, since) -> dict:
    """The migration matrix of the fixed property over the releases since ``since`` and this tree."""
    from qlint.analyzer import matrix

    series = review.series
    if series.release_versions is None or series.release_lookup is None:
        return {}
    idx = review.new_index
    try:
        drv = idx.type_name(e.driver, e.driver_is_macro)
        subj = matrix.resolve_subject(idx, f"{drv}.{e.property}" if drv else e.property)
    except InputError:
        return {}
    current = review.current_version
    cols = []
    for v in series.release_versions():
        if (since is None or v >= since) and v <= current:
            snap = series.release_lookup(review.patch.new, v)
            if snap is not None:
                cols.append(matrix.Column(f"{v[0]}.{v[1]}.0", (v[0], v[1], 0), "main line", review.pool.get(snap)))
    for v, source, snap in series.point_releases() if series.point_releases else ():
        if (since is None or v[:2] >= since) and v[:2] <= current:
            cols.append(matrix.Column(".".join(map(str, v)), v, source, review.pool.get(snap)))
    cols.sort(key=lambda c: c.version)
    tree_v = idx.version() or (current[0], current[1], 50)
    cols.append(matrix.Column(f"{'.'.join(map(str, tree_v))} (this patch)", tree_v, "tree", idx, tip=True))
    m = matrix.build(cols, subj)
    if not m.groups:
        return {}
    text = []
    for g in m.groups:
        text += matrix.render_group(m, g)
    if m.point_release_note or not series.point_releases or not series.point_releases():
        text += ["", "  (No stable branch or point-release tag in this repository: point releases are not shown.)"]
    return {"matrix": m.to_dict(), "matrix_text": "\n".join(text)}


def _is_default(prop: PropertyDef, value: str) -> bool:
    norm = {"on": "true", "yes": "true", "off": "false", "no": "false"}
    d = (prop.default or "").strip().lower()
    v = value.strip().lower()
    return norm.get(d, d) == norm.get(v, v)


def _restated(review: PatchReview, e: CompatEntry, prop: PropertyDef) -> bool:
    """The entry restates an obligation the tree already met: same property and
    value already in this array, or an existing property whose entries this
    file already listed (a table refactor, entries re-targeted to other types)."""
    idx = review.new_index
    drv = idx.type_name(e.driver, e.driver_is_macro)
    for a in review.old_index.arrays_of_version(review.array_named(idx, e.array).version):
        for x in a.entries if a.name == e.array else ():
            if x.property != e.property or x.value != e.value:
                continue
            other = idx.type_name(x.driver, x.driver_is_macro)
            if drv is None or other is None or idx.covers(other, drv) or idx.covers(drv, other):
                return True
    if review.prop_is_new(prop):
        return False
    f = review.patch.changed(e.path)
    old = f.old_data if f is not None and f.old_data else b""
    return f'"{e.property}"'.encode() in old


def _props_named(review: PatchReview, idx: TreeIndex, e: CompatEntry) -> list[PropertyDef]:
    drv = idx.type_name(e.driver, e.driver_is_macro)
    if drv is not None and drv in idx.qom_types():
        ps = idx.props_of(drv, with_subtypes=True)
        if e.property in ps.props:
            return [ps.props[e.property]]
    # fall back on properties of that name in the files the series touches
    out = []
    for f in review.c_files:
        m = review.new_model(f)
        if m is not None:
            out.extend(p for p in m.props if p.name == e.property)
    return out


def _behaviour(review: PatchReview, idx: TreeIndex, prop: PropertyDef) -> list[tuple[str, str, str]]:
    """(path, function, statement) that run only as ``prop`` allows, in the new tree."""
    return beh.guarded_behaviour(idx, prop, {f.path for f in review.c_files if f.path})


def _replaced(review: PatchReview) -> list[tuple[str, str, str]]:
    """(path, function, squashed line) of code lines the patch removes.

    If a release already had them, the patch changes shipped behaviour: the
    mark of a post-release fix.
    """
    out = []
    for f in review.c_files:
        om = review.old_model(f)
        if om is not None and f.removed and f.old_data is not None:
            out += beh.replaced_lines(f.old_path, om, f.old_data, f.removed)
    return out


def _shipped_in(review: PatchReview, rel: TreeIndex, behaviour, replaced, props: list[PropertyDef]) -> bool:
    if behaviour:
        return beh.has_statements(rel, behaviour + replaced)
    return any(beh.defines_property(rel, p) for p in props)


_UNKNOWN = object()


def _first_shipped(review: PatchReview, props, after, current):
    """The first release after ``after`` that had the behaviour, None if none, _UNKNOWN if qlint cannot tell."""
    series = review.series
    if series.release_lookup is None or series.release_versions is None:
        return _UNKNOWN
    behaviour = []
    for p in props:
        behaviour.extend(_behaviour(review, review.new_index, p))
    if not behaviour:
        # the property itself is the behaviour only for feature bits it switches on by default
        if not any(review.prop_is_new(p) and "feature" in p.field for p in props):
            return _UNKNOWN
    replaced = _replaced(review)
    for v in series.release_versions():
        if not (after < v <= current):
            continue
        snap = series.release_lookup(review.patch.new, v)
        if snap is None:
            continue
        if _shipped_in(review, review.pool.get(snap), behaviour, replaced, props):
            return v
    return None


def _release_before(review: PatchReview, v):
    vs = [r for r in (review.series.release_versions() if review.series.release_versions else []) if r < v]
    return max(vs) if vs else None


def _shipped_list(review: PatchReview, first, current) -> list[str]:
    if first is None or review.series.release_versions is None:
        return []
    return [advice.vstr(v) + ".0" for v in review.series.release_versions() if first <= v <= current]


def _range(review: PatchReview, lo, hi) -> str:
    vs = review.series.release_versions() if review.series.release_versions else []
    inside = [advice.vstr(v) for v in vs if lo < v <= hi]
    return ", ".join(inside) if inside else advice.vstr(hi)
