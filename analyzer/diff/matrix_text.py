"""The migration matrix as text (in a review and in ``qlint matrix``) and as an HTML page.

Consecutive releases that agree on every machine group are shown as one column; a group's table
gives each release's value, which migrations work, and the rescue for VMs that carry a value the
fixed releases do not give them.
"""

from __future__ import annotations

import re

from qlint.analyzer.diff.matrix import Column, Group, Matrix, Version

def _span(labels: list[str]) -> str:
    return labels[0] if len(labels) == 1 else f"{labels[0]} ... {labels[-1]}"


def _merge_columns(m: Matrix, g: Group) -> list[list[str]]:
    """Consecutive releases that agree on every machine group are shown as one column."""
    runs: list[list[str]] = []
    for c in m.columns:
        if c.label not in g.values:
            continue
        if runs and not c.tip and not _col(m, runs[-1][-1]).tip and all(
                grp.values.get(c.label) == grp.values.get(runs[-1][-1]) for grp in m.groups) and (
                c.has_property == _col(m, runs[-1][-1]).has_property):
            runs[-1].append(c.label)
        else:
            runs.append([c.label])
    return runs


def _col(m: Matrix, label: str) -> Column:
    return next(c for c in m.columns if c.label == label)


def machine_label(g: Group) -> str:
    v = g.versions
    newest = f"{v[0][0]}.{v[0][1]}"
    if len(v) > 1 and not g.and_older:
        newest = f"{v[-1][0]}.{v[-1][1]} to {newest}"
    names = ""
    if g.machine_types:
        names = f" ({', '.join(g.machine_types)}{' and older' if g.and_older else ''})"
    return f"machine types {newest}{' and older' if g.and_older else ''}{names}"


def render_text(m: Matrix, width_hint: int = 0) -> str:
    s = m.subject
    out = [
        f"{s.name}: {s.prop.macro} in {s.prop.path} ({s.prop.array}[]), default {s.show(s.default)}; "
        f"{', '.join(e + '[]' for e in s.entries) or 'no compat array'} set{'s' if len(s.entries) == 1 else ''} "
        f"{s.show(s.old_value)}.",
        "Releases: " + ", ".join(f"{c.label}" + ("" if c.source in ("main line", "tree") else f" ({c.source})")
                                 for c in m.columns) + ".",
    ]
    if m.point_release_note:
        out.append(m.point_release_note)
    out.append("")
    for g in m.groups:
        out += render_group(m, g)
        out.append("")
    if m.fine:
        out.append(f"Machine types {_versions_text(m.fine)}: every migration between these releases works.")
    if not m.groups:
        out.append("No migration between these releases fails for any machine type.")
    return "\n".join(out).rstrip() + "\n"


def _versions_text(vs: list[Version]) -> str:
    if len(vs) <= 2:
        return " and ".join(f"{v[0]}.{v[1]}" for v in vs)
    return f"{min(vs)[0]}.{min(vs)[1]} to {max(vs)[0]}.{max(vs)[1]}"


def render_group(m: Matrix, g: Group, indent: str = "") -> list[str]:
    s = m.subject
    runs = _merge_columns(m, g)
    heads = [_span(r) for r in runs]
    vals = []
    for r in runs:
        c = _col(m, r[0])
        v = s.show(g.values[r[0]])
        vals.append(v if c.has_property else f"({v})")
    w0 = max(len("from \\ to"), max(len(h) for h in heads))
    ws = [max(len(h), len(v), 4) for h, v in zip(heads, vals)]
    row = lambda first, cells: indent + "  " + first.ljust(w0) + "  " + "  ".join(  # noqa: E731
        c.ljust(w) for c, w in zip(cells, ws)).rstrip()
    out = [indent + machine_label(g)[0].upper() + machine_label(g)[1:] + ":",
           row("release", heads), row(s.name[:w0] if len(s.name) <= w0 else "value", vals), ""]
    out.append(row("from \\ to", heads))
    for ra, ha in zip(runs, heads):
        cells = []
        for rb in runs:
            ok = g.works(ra[0], rb[0])
            cells.append("ok" if ok else ("FAIL" if ok is False else "?"))
        out.append(row(ha, cells))
    if any(not _col(m, r[0]).has_property for r in runs):
        out.append(indent + "  (value) = the release has no such property and behaves as if set to that value")
    if g.older_releases:
        older = sorted(g.older_releases, key=lambda x: _col(m, x).version)
        out.append(indent + f"  Releases before {runs[0][0]} ({_span(older)}) treat the older machine types "
                            f"as {runs[0][0]} does.")
    for r in g.rescue:
        dst = _runs_text(runs, r["destinations"])
        out += [
            "",
            indent + f"  Rescue for VMs of these machine types started on {r['started_on']} "
                     f"(they run with {s.name}={r['value']}):",
            indent + f"  start every destination QEMU ({dst}) with",
            indent + f"      {r['option']}",
            indent + "  and keep passing it on every later migration until the VM is powered off and started",
            indent + "  again on a fixed QEMU (a reboot inside the guest is not enough).",
        ]
        if re.fullmatch(r"[A-Z][A-Z0-9_]*", s.driver_text or ""):
            out.append(indent + f"  ({s.driver_text} is a build-dependent type name: use the one of your "
                                f"QEMU binary.)")
        if r["cannot_receive"]:
            out.append(indent + f"  {_runs_text(runs, r['cannot_receive'])} cannot receive these VMs (no such property).")
    return out


def _runs_text(runs: list[list[str]], labels: list[str]) -> str:
    shown = []
    for r in runs:
        inside = [x for x in r if x in labels]
        if inside:
            shown.append(_span(inside))
    return ", ".join(shown)


def render_html(m: Matrix) -> str:
    import html

    s = m.subject
    parts = [
        "<!doctype html><meta charset=utf-8><title>qlint matrix: " + html.escape(s.name) + "</title>",
        "<style>body{font-family:sans-serif}td,th{border:1px solid #999;padding:2px 8px;text-align:center}"
        "table{border-collapse:collapse;margin:8px 0}.ok{background:#cfc}.fail{background:#f99}"
        ".unk{background:#eee}</style>",
        f"<h1>{html.escape(s.name)}</h1><p>{html.escape(s.prop.macro)} in {html.escape(s.prop.path)}, default "
        f"{html.escape(s.show(s.default))}; compat: {html.escape(', '.join(s.entries) or 'none')}</p>",
    ]
    if m.point_release_note:
        parts.append(f"<p>{html.escape(m.point_release_note)}</p>")
    for g in m.groups:
        runs = _merge_columns(m, g)
        heads = [_span(r) for r in runs]
        parts.append(f"<h2>{html.escape(machine_label(g))}</h2><table><tr><th>from \\ to</th>"
                     + "".join(f"<th>{html.escape(h)}<br><small>{html.escape(s.show(g.values[r[0]]))}</small></th>"
                               for h, r in zip(heads, runs)) + "</tr>")
        for ra, ha in zip(runs, heads):
            cells = []
            for rb in runs:
                ok = g.works(ra[0], rb[0])
                cls, txt = ("ok", "works") if ok else (("fail", "fails") if ok is False else ("unk", "?"))
                cells.append(f'<td class="{cls}">{txt}</td>')
            parts.append(f"<tr><th>{html.escape(ha)}</th>{''.join(cells)}</tr>")
        parts.append("</table>")
        for r in g.rescue:
            parts.append(f"<p>Started on {html.escape(r['started_on'])}: give <code>{html.escape(r['option'])}"
                         f"</code> to {html.escape(_runs_text(runs, r['destinations']))} until the VM is powered "
                         f"off and started on a fixed QEMU.</p>")
    if m.fine:
        parts.append(f"<p>Machine types {html.escape(_versions_text(m.fine))}: every migration works.</p>")
    return "\n".join(parts) + "\n"
