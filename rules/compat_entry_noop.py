from __future__ import annotations

from qlint.analyzer.diff.api import norm_value
from qlint.analyzer.rule import Review, Rule


class CompatEntryNoop(Rule):
    """
    ## What it does
    Warns about a compat entry added by the patch whose value equals the
    property's default on its driver type.

    ## Why is this bad?
    It changes nothing: either the entry was meant to restore an old value
    and the default was never changed, or the value is the new behaviour by
    mistake and old machine types are left unprotected.

    ## Example
    ```c
    DEFINE_PROP_BOOL("x-acme-fast", AcmeState, fast, false),
    ...
    { "acme-dev", "x-acme-fast", "off" },
    ```

    ## Use instead
    Restore the value old machine types had, or drop the entry.
    """

    name = "compat-entry-noop"
    severity = "warning"
    summary = "a compat entry sets a property to its default"

    def check(self, review: Review):
        idx = review.new_index
        for e, drv in review.compat.resolved:
            p = idx.props_of(drv).props.get(idx.string_name(e.property))
            if p is None or p.default is None:
                continue
            if norm_value(p.default) == norm_value(e.value):
                yield self.finding(
                    review,
                    message=f"compat entry sets \"{e.property}\" to {e.value}, which is already its default",
                    path=e.path, line=e.line, end_line=e.line,
                    details=(f"\"{e.property}\" ({p.macro} in {p.path}) defaults to {p.default}, so this entry in "
                             f"{e.array}[] changes nothing for old machine types. If the new behaviour is the "
                             f"default, the entry should restore the old value instead."),
                    quoted=review.quote(e.path, e.line, e.line),
                    anchor=f"noop:{e.array}:{e.driver}:{e.property}",
                )
