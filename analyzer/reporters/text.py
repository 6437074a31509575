"""``--format text`` (default): review comments as a migration maintainer writes them.

Escape sequences and non-UTF-8 bytes of subjects, paths and quoted lines are shown escaped
(``\x1b``, ``\xff``: see ._escape), never sent to the terminal.
"""

from __future__ import annotations

import textwrap

from qlint.analyzer.reporters._escape import inert


def _para(text: str, indent: str = "  ") -> list[str]:
    return textwrap.wrap(text, width=78, initial_indent=indent, subsequent_indent=indent, break_long_words=False,
                         break_on_hyphens=False) or [indent]


def render(report) -> str:
    out: list[str] = []
    by_patch: dict[int, list] = {}
    for f in report.findings:
        by_patch.setdefault(f.patch_index, []).append(f)
    for p in report.series.patches:
        fs = by_patch.get(p.index, [])
        if not fs:
            continue
        head = f"{p.short} {p.subject}".strip()
        if p.total > 1:
            head = f"[{p.index}/{p.total}] " + head
        out.append(head)
        out.append("")
        for f in fs:
            where = f"{f.path}:{f.line}"
            fn = f" in {f.function}()" if f.function and f.in_function else ""
            out.append(f"{where}: {f.severity}: {f.message} [{f.rule}]")
            if f.quoted:
                out.append("")
                out.extend("    > " + q for q in f.quoted)
            out.append("")
            if f.details:
                out.extend(_para(f.details))
                out.append("")
            if f.suggestion:
                out.append(f"  Fix{fn}:")
                out.extend("    " + s for s in f.suggestion.splitlines())
                out.append("")
            if f.matrix_text:
                out.append("  Migrations between releases, and the rescue:")
                out.extend(("  " + s).rstrip() for s in f.matrix_text.splitlines())
                out.append("")
            for r in f.related:
                out.append(f"  {r.path}:{r.line}: {r.message}")
            if f.related:
                out.append("")
    n_err = sum(1 for f in report.findings if f.severity == "error")
    n_warn = sum(1 for f in report.findings if f.severity == "warning")
    n_note = sum(1 for f in report.findings if f.severity == "note")
    n = len(report.series.patches)
    out.append(
        f"qlint: {n} patch{'es' if n != 1 else ''} reviewed, {n_err} error{'s' if n_err != 1 else ''}, "
        f"{n_warn} warning{'s' if n_warn != 1 else ''}, {n_note} note{'s' if n_note != 1 else ''}"
    )
    return inert("\n".join(out) + "\n")
