from __future__ import annotations

from qlint.analyzer.fix import fixplan, wording
from qlint.analyzer.diff.api import is_feature_switch, norm_value, truthy
from qlint.analyzer.rule import Review, Rule


class FeatureDefaultOn(Rule):
    """
    ## What it does
    Flags a guest-visible feature that an existing device type now offers to
    old machine types: a new `DEFINE_PROP_BIT`/`BIT64`/`BOOL`/`ON_OFF_AUTO`
    on a features word whose default turns the feature on, with no compat
    entry turning it off; or a feature bit that a `get_features`-style
    function now sets unconditionally (`virtio_add_feature(&features, X)`
    outside any property guard).

    ## Why is this bad?
    Feature bits are negotiated with the guest and migrated with the device.
    An old machine type on the new QEMU offers a bit that the old QEMU does
    not, so a guest that negotiated it cannot migrate back, and the device
    the guest sees depends on which QEMU started it.

    ## Example
    ```c
    +    DEFINE_PROP_BIT64("acme_fast", AcmeState, host_features, ACME_F_FAST, true),
    ```

    ## Use instead
    ```c
    GlobalProperty hw_compat_7_2[] = {
        { "acme-dev", "acme_fast", "off" },
    };
    ```
    """

    name = "feature-default-on"
    severity = "error"
    summary = "a guest-visible feature turned on by default for existing machine types"

    def check(self, review: Review):
        v = review.current_version
        if v is None:
            return
        tip = review.tip_index
        for pc in review.properties.changes:
            p = pc.new
            if pc.kind != "added" or not is_feature_switch(p) or not truthy(p):
                continue
            name = tip.string_name(p.name)
            if _has_off_entry(tip, v, name):
                continue
            arr, path = fixplan.compat_array_name(tip, v)
            yield self.finding(
                review,
                message=f"new feature property \"{name}\" is on by default for existing types "
                        f"{', '.join(pc.owners)}",
                path=pc.path, line=p.line, end_line=p.line, function=None,
                details=(
                    f"\"{name}\" ({p.macro} on {p.field}) defaults to {p.default}, so VMs of "
                    f"{wording.machine_types(v, review.new_index, path=pc.path)} offer the feature to the guest on this tree but not on QEMU "
                    f"{wording.vstr(v)}; a guest that negotiates it cannot migrate back. Switch it off for old "
                    f"machine types."
                ),
                quoted=review.quote(pc.path, p.line, p.line),
                suggestion=f"{path}, {arr}[]:\n    " + wording.entry_line(f'"{pc.owners[0]}"', name, "off")
                           + wording.create_array_hint(tip, v),
                anchor=f"feature-prop:{p.array}:{name}",
            )
        for fa in review.properties.features_added:
            arr, path = fixplan.compat_array_name(tip, v)
            yield self.finding(
                review,
                message=f"{fa.function}() now offers {fa.feature} to every machine type",
                path=fa.path, line=fa.line, end_line=fa.line, function=fa.function,
                details=(
                    f"{fa.function}() sets {fa.feature} unconditionally, so VMs of {wording.machine_types(v, review.new_index, path=fa.path)} "
                    f"negotiate a feature QEMU {wording.vstr(v)} does not offer and cannot migrate back to it. "
                    f"Put the bit behind a property (on by default) and switch it off in {arr}[]."
                ),
                quoted=review.quote(fa.path, fa.line, fa.line),
                suggestion=(f"DEFINE_PROP_BIT64(\"<feature>\", <State>, host_features, {fa.feature}, true), "
                            f"test it before setting the bit, and add\n    {path}, {arr}[]:\n"
                            f"        {{ TYPE_...(the device), \"<feature>\", \"off\" }},"),
                anchor=f"feature-call:{fa.function}:{fa.feature}",
            )


def _has_off_entry(index, v, name) -> bool:
    return any(norm_value(e.value) in ("false", "0") for _, e in index.entries_for(name, v))
