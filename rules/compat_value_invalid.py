from __future__ import annotations

from qlint.analyzer.diff.api import value_error
from qlint.analyzer.rule import Review, Rule


class CompatValueInvalid(Rule):
    """
    ## What it does
    Flags a compat entry added by the patch whose value does not parse for
    the property's type: on/off, true/false or yes/no for booleans and bits,
    on/off/auto for `OnOffAuto`, integers for `UINT*`/`INT*`, sizes for
    `SIZE`.  Values written as macros or expressions are left alone.

    ## Why is this bad?
    QEMU applies compat properties when it creates the device; a value that
    does not parse makes every VM of those machine types fail to start.

    ## Example
    ```c
    { "acme-dev", "x-acme-fast", "disabled" },
    ```

    ## Use instead
    ```c
    { "acme-dev", "x-acme-fast", "off" },
    ```
    """

    name = "compat-value-invalid"
    severity = "error"
    summary = "a compat entry's value does not parse for the property's type"

    def check(self, review: Review):
        idx = review.new_index
        for e, drv in review.compat.resolved:
            p = idx.props_of(drv, with_subtypes=True).props.get(idx.string_name(e.property))
            if p is None:
                continue
            why = value_error(p, e.value)
            if why:
                yield self.finding(
                    review,
                    message=f"compat entry for \"{e.property}\" has value {e.value}: {why}",
                    path=e.path, line=e.line, end_line=e.line,
                    details=(f"\"{e.property}\" is a {p.macro} ({p.path}); QEMU parses compat values when it "
                             f"creates the device, so every VM of the machine types of {e.array}[] would fail "
                             f"to start."),
                    quoted=review.quote(e.path, e.line, e.line),
                    anchor=f"value:{e.array}:{e.driver}:{e.property}",
                )
