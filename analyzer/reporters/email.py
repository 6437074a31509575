"""``--format email``: the review as a reply to the series on the mailing list.

Plain text that also reads well inside patchew's ``=== OUTPUT BEGIN ===`` /
``=== OUTPUT END ===`` log: one block per patch with findings, in series
order; each finding quotes the changed lines (``> +...``) and comments below
them, as a reviewer does.  Nothing here adds non-ASCII characters; escape sequences and
non-UTF-8 bytes of subjects, paths and quoted lines are shown escaped (``\x1b``, ``\xff``: see
._escape).
"""

from __future__ import annotations

import textwrap

from qlint.analyzer.reporters._escape import inert

WIDTH = 72
MAX_QUOTED = 8


def _plural(n: int, word: str, suffix: str = "s") -> str:
    return f"{n} {word}{suffix if n != 1 else ''}"


def _header(p) -> list[str]:
    head = [f"[PATCH {p.index}/{p.total}] {p.subject}" if p.total > 1 else p.subject]
    if p.message_id:
        head.append(f"Message-Id: <{p.message_id.strip().strip('<>')}>")
    return head


def _finding(f) -> list[str]:
    out: list[str] = []
    if f.quoted:
        out.extend(("> " + q).rstrip() for q in f.quoted[:MAX_QUOTED])
        if len(f.quoted) > MAX_QUOTED:
            out.append("[...]")
        out.append("")
    out.append(f"{f.path}:{f.line}: {f.message} [{f.rule}]")
    if f.details:
        out.append("")
        out.extend(textwrap.wrap(f.details, width=WIDTH, break_long_words=False, break_on_hyphens=False))
    if f.suggestion:
        out.append("")
        out.append("Suggested fix:")
        out.extend(("    " + s).rstrip() for s in f.suggestion.splitlines())
    if f.matrix_text:
        out.append("")
        out.append("Migrations between releases, and the rescue:")
        out.extend(s.rstrip() for s in f.matrix_text.splitlines())
    if f.related:
        out.append("")
        out.extend(f"See {r.path}:{r.line}: {r.message}" for r in f.related)
    out.append("")
    return out


def render(report) -> str:
    out: list[str] = []
    by_patch: dict[int, list] = {}
    for f in report.findings:
        by_patch.setdefault(f.patch_index, []).append(f)
    for p in report.series.patches:
        fs = by_patch.pop(p.index, [])
        if not fs:
            continue
        out.extend(_header(p))
        out.append("")
        for f in fs:
            out.extend(_finding(f))
    for index in sorted(by_patch):  # findings of no listed patch: shown, never dropped
        out.append(f"Patch {index}")
        out.append("")
        for f in by_patch[index]:
            out.extend(_finding(f))
    counts = {sev: sum(1 for f in report.findings if f.severity == sev) for sev in ("error", "warning", "note")}
    n = len(report.series.patches)
    out.append(
        f"qlint: {_plural(n, 'patch', 'es')} reviewed, {_plural(counts['error'], 'error')}, "
        f"{_plural(counts['warning'], 'warning')}, {_plural(counts['note'], 'note')}"
    )
    out.append("")
    out.append("-- ")
    out.append("qlint")
    return inert("\n".join(out) + "\n")
