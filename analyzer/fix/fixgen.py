"""``--fix``: turn the fix plans of findings into edits of the files at the reviewed tip.

Every plan (analyzer.fixplan) is located again in the tip's files: a finding of
an early patch of a range names lines of that patch, which later patches may
have moved (the lines are mapped through a diff of the two texts) or changed
(then there is no automatic fix).  The edits of all findings are collected per
file and checked for overlaps, so that two findings touching one file (two
functions of a device, the compat array) give one consistent diff.  Nothing is
written anywhere: the result is old and new text per file.
"""

from __future__ import annotations

import difflib
import os
import re

from qlint.analyzer.cmodel import cparse
from qlint.analyzer.fix.fixplan import (
    EntryFix,
    FixSet,
    GuardFix,
    PropertyPlan,
    SubsectionFix,
    UnusedFix,
    WidenFix,
)
from qlint.analyzer.tree.index import TreeIndex

FIXABLE_SEVERITIES = ("error", "warning")


class Unfixable(Exception):
    """Why a plan cannot be written at the tip (one short clause)."""


class Workspace:
    """The tip's files and the edits accepted so far (1-based, inclusive line ranges)."""

    def __init__(self, snap):
        self.snap = snap
        self.orig: dict[str, list[str]] = {}
        self.edits: dict[str, list[tuple[int, int, list[str], int]]] = {}
        self.seq = 0
        self.declared: set[tuple[str, str]] = set()  # (kind, name) added by an earlier fix of this run
        self.bits: dict[str, int] = {}  # header -> last bit number handed out

    def lines(self, path: str) -> list[str]:
        if path not in self.orig:
            data = self.snap.read(path)
            if data is None:
                raise Unfixable(f"{path} is not in the reviewed tree")
            text = data.decode("utf-8", "surrogateescape")
            ls = text.splitlines(keepends=True)
            if ls and not ls[-1].endswith("\n"):
                ls[-1] += "\n"
            self.orig[path] = ls
        return self.orig[path]

    def data(self, path: str) -> bytes:
        return "".join(self.lines(path)).encode("utf-8", "surrogateescape")

    def commit(self, edits: list[tuple[str, int, int, list[str]]]) -> None:
        """Accept ``edits`` (path, first, last, new lines; last = first - 1 inserts before first) or none."""
        for path, a, b, _ in edits:
            for (c, d, _, _) in self.edits.get(path, []):
                if _overlap(a, b, c, d):
                    raise Unfixable(f"another fix already changes {path}:{c}")
        for i, (path, a, b, _) in enumerate(edits):
            for (p2, c, d, _) in edits[i + 1:]:
                if p2 == path and _overlap(a, b, c, d):
                    raise Unfixable(f"its edits of {path} overlap")
        for path, a, b, new in edits:
            self.seq += 1
            self.edits.setdefault(path, []).append((a, b, new, self.seq))

    def result(self) -> dict[str, tuple[str, str]]:
        out = {}
        for path, edits in sorted(self.edits.items()):
            old = self.orig[path]
            new: list[str] = []
            pos = 1
            for a, b, lines, _ in sorted(edits, key=lambda e: (e[0], e[1] >= e[0], e[3])):
                new.extend(old[pos - 1:a - 1])
                new.extend(lines)
                pos = max(pos, b + 1, a)
            new.extend(old[pos - 1:])
            out[path] = ("".join(old), "".join(new))
        return out


def _overlap(a: int, b: int, c: int, d: int) -> bool:
    """Do edit [a, b] and edit [c, d] touch the same lines (insertions are points before a line)?"""
    if b < a and d < c:
        return False  # two insertions: both go in, in order
    if b < a:
        return c < a <= d
    if d < c:
        return a < c <= b
    return not (b < c or d < a)


# -- line mapping --------------------------------------------------------------------


class LineMap:
    """Lines of one text to lines of another, through the blocks a diff finds equal."""

    def __init__(self, a: list[str], b: list[str]):
        self.same = a == b
        self.blocks = [] if self.same else difflib.SequenceMatcher(None, a, b, autojunk=False).get_matching_blocks()

    def __call__(self, line: int) -> int | None:
        if self.same:
            return line
        for i, j, n in self.blocks:
            if i < line <= i + n:
                return j + (line - i)
        return None


def _text_lines(data: bytes | None) -> list[str]:
    if data is None:
        return []
    ls = data.decode("utf-8", "surrogateescape").splitlines(keepends=True)
    if ls and not ls[-1].endswith("\n"):
        ls[-1] += "\n"
    return ls


class Context:
    def __init__(self, report, ws: Workspace):
        self.report = report
        self.ws = ws
        self.index = TreeIndex(report.series.tip)
        self._maps: dict = {}

    def patch_of(self, finding):
        ps = self.report.series.patches
        i = finding.patch_index - 1
        return ps[i] if 0 <= i < len(ps) else ps[-1]

    def to_tip(self, finding, path: str, side: str = "new") -> LineMap:
        """Lines of ``path`` in the finding's patch (its new or old side) to lines at the tip."""
        key = (finding.patch_index, path, side)
        if key not in self._maps:
            p = self.patch_of(finding)
            snap = p.new if side == "new" else p.old
            src = _text_lines(snap.read(path))
            tip = self.ws.lines(path) if side == "new" else _text_lines(p.new.read(path))
            self._maps[key] = LineMap(src, tip)
        return self._maps[key]

    def old_lines(self, finding, path: str) -> list[str]:
        return _text_lines(self.patch_of(finding).old.read(path))


def _indent(line: str) -> str:
    return line[: len(line) - len(line.lstrip())]


def _reindent(lines: list[str], by: str = "    ") -> list[str]:
    return [by + ln if ln.strip() else ln for ln in lines]


def _statement(spans: list[tuple[int, int, int]], a: int, b: int) -> tuple[int, int, int] | None:
    """The innermost block-level statement holding lines a..b."""
    best = None
    for s, e, d in spans:
        if s <= a and b <= e and (best is None or d > best[2]):
            best = (s, e, d)
    return best


def _groups(stmts: list[tuple[int, int, int]], spans: list[tuple[int, int, int]]):
    """Runs of statements with no other statement of their block between them."""
    stmts = sorted(set(stmts))
    groups: list[list[tuple[int, int, int]]] = []
    for st in stmts:
        if groups:
            last = groups[-1][-1]
            between = [x for x in spans if x[2] == st[2] and last[1] < x[0] < st[0]]
            if last[2] == st[2] and not between:
                groups[-1].append(st)
                continue
        groups.append([st])
    return groups


# -- the property: declaration and compat entry ----------------------------------------


_BITNR_RE = re.compile(r"^(\s*#\s*define\s+)(\w+_BITNR)(\s+)(\d+)\s*$")


def _declare(ctx: Context, plan: PropertyPlan, edits: list) -> None:
    """The bit define and mask (or the bool field), the DEFINE_PROP_* line and the compat entry."""
    ws = ctx.ws
    if ("prop", plan.prop) in ws.declared:
        return
    if plan.kind == "bit":
        _declare_bit(ctx, plan, edits)
    else:
        _declare_bool(ctx, plan, edits)
    _compat_entry(ctx, plan, edits)
    ws.declared.add(("prop", plan.prop))


def _declare_bit(ctx: Context, plan: PropertyPlan, edits: list) -> None:
    ws = ctx.ws
    if not plan.header or not plan.array_path:
        raise Unfixable("qlint cannot find where the cap_present bits are defined")
    hl = ws.lines(plan.header)
    defs = [(i + 1, m) for i, ln in enumerate(hl) if (m := _BITNR_RE.match(ln.rstrip("\n")))]
    if not defs:
        raise Unfixable(f"{plan.header} defines no *_BITNR numbers")
    if not any(m.group(2) == plan.bitnr for _, m in defs):
        last_line, last = max(defs, key=lambda d: int(d[1].group(4)))
        number = max(int(last.group(4)) + 1, ws.bits.get(plan.header, -1) + 1)
        ws.bits[plan.header] = number
        mem_re = re.compile(r"^(\s*)(\w+)\s*=\s*\(\s*1U?L*\s*<<\s*" + re.escape(last.group(2)) + r"\s*\)\s*(,?)")
        mem = next(((i + 1, m) for i, ln in enumerate(hl) if (m := mem_re.match(ln))), None)
        if mem is None:
            raise Unfixable(f"{plan.header} has no mask for {last.group(2)}")
        mem_line, mm = mem
        width = len(last.group(1)) + len(last.group(2)) + len(last.group(3))
        head = last.group(1) + plan.bitnr
        define = head + " " * max(1, width - len(head)) + f"{number}\n"
        member = f"{mm.group(1)}{plan.mask} = (1 << {plan.bitnr}),\n"
        nxt = next((j for j in range(last_line + 1, len(hl) + 1) if hl[j - 1].strip()
                    and not hl[j - 1].strip().startswith(("/*", "*", "//"))), None)
        if not mm.group(3):  # the last enumerator had no comma
            edits.append((plan.header, mem_line, mem_line, [hl[mem_line - 1].rstrip("\n").rstrip() + ",\n"]))
        if nxt == mem_line:  # #defines inside the enum, each before its mask
            edits.append((plan.header, mem_line + 1, mem_line, [define, member]))
        else:
            edits.append((plan.header, last_line + 1, last_line, [define]))
            edits.append((plan.header, mem_line + 1, mem_line, [member]))
    _prop_line(ctx, plan, [f'DEFINE_PROP_BIT("{plan.prop}", {plan.struct}, cap_present,',
                           " " * len("DEFINE_PROP_BIT(") + f"{plan.bitnr}, true),"], edits)


def _declare_bool(ctx: Context, plan: PropertyPlan, edits: list) -> None:
    ws = ctx.ws
    if not plan.array or not plan.array_path:
        raise Unfixable("qlint cannot find the device's property array")
    closing = re.compile(r"^\s*}\s*" + re.escape(plan.struct) + r"\s*;")
    opening = re.compile(r"^\s*(?:typedef\s+)?struct\s+" + re.escape(plan.struct) + r"\s*{")
    where = None
    for path in ctx.index.grep(plan.struct.encode()):
        if not path.endswith((".h", ".c")):
            continue
        ls = ws.lines(path)
        for i, ln in enumerate(ls):
            if closing.match(ln) and any(re.search(r"\bstruct\b", x) for x in ls[max(0, i - 200):i]):
                where = (path, i + 1)
                break
            if opening.match(ln):
                depth = 0
                for j in range(i, len(ls)):
                    depth += ls[j].count("{") - ls[j].count("}")
                    if depth == 0 and "}" in ls[j]:
                        where = (path, j + 1)
                        break
                break
        if where:
            break
    if where is None:
        raise Unfixable(f"qlint cannot find the definition of {plan.struct}")
    path, close = where
    ls = ws.lines(path)
    member = next((ln for ln in reversed(ls[:close - 1]) if ln.strip() and not ln.strip().startswith(("/*", "*"))), "    x;")
    indent = _indent(member) or "    "
    edits.append((path, close, close - 1, [f"{indent}bool {plan.field};\n"]))
    _prop_line(ctx, plan, [f'DEFINE_PROP_BOOL("{plan.prop}", {plan.struct}, {plan.field}, true),'], edits)


def _prop_line(ctx: Context, plan: PropertyPlan, text: list[str], edits: list) -> None:
    ws = ctx.ws
    m = ctx.index.model(plan.array_path)
    props = [p for p in m.props if p.array == plan.array] if m is not None else []
    ls = ws.lines(plan.array_path)
    if any(f'"{plan.prop}"' in ln for ln in ls):
        return  # the tip has it already
    start = max((p.line for p in props), default=None)
    if start is None:
        decl = re.compile(r"\b" + re.escape(plan.array) + r"\s*\[\s*\]\s*=\s*{")
        start = next((i + 1 for i, ln in enumerate(ls) if decl.search(ln)), None)
        if start is None:
            raise Unfixable(f"qlint cannot find {plan.array}[] in {plan.array_path}")
    end = next((j for j in range(start, len(ls) + 1)
                if re.match(r"\s*(DEFINE_PROP_END_OF_LIST\s*\(\s*\)\s*,?\s*$|}\s*;)", ls[j - 1])), None)
    if end is None:
        raise Unfixable(f"qlint cannot find the end of {plan.array}[]")
    indent = _indent(ls[start - 1]) if props else "    "
    edits.append((plan.array_path, end, end - 1, [indent + t + "\n" for t in text]))


def _compat_entry(ctx: Context, plan: PropertyPlan, edits: list) -> None:
    if plan.driver is None:
        raise Unfixable("qlint cannot tell which type the compat entry names")
    _add_entries(ctx, plan.compat_path, plan.compat_array, plan.compat_exists, [((f'"{plan.prop}"',), plan.entry())],
                 edits)


def _add_entries(ctx: Context, path: str, array: str, exists: bool, entries: list[tuple[tuple[str, ...], str]],
                 edits: list) -> None:
    """Append ``entries`` ((needles, C text)) to compat array ``array`` of ``path``, skipping
    those of which a line of the array holds every needle.  An empty array written on one line
    (``GlobalProperty hw_compat_X_Y[] = {};``, how each cycle's array starts) is opened up."""
    if not exists:
        raise Unfixable(f"{array}[] does not exist yet (a release was just made): create it first")
    m = ctx.index.model(path)
    arr = next((a for a in (m.compat_arrays if m else []) if a.name == array), None)
    if arr is None or arr.style != "array":
        raise Unfixable(f"{array} is not a GlobalProperty array qlint can edit")
    ls = ctx.ws.lines(path)
    body = ls[arr.line - 1:arr.end_line]
    todo = [text for needles, text in entries if not any(all(n in ln for n in needles) for ln in body)]
    if not todo:
        return
    close = arr.end_line
    one_line = re.match(r"(.*=\s*)\{\s*\}(\s*;.*)$", ls[close - 1]) if arr.line == close else None
    if one_line is not None:
        head, tail = one_line.group(1).rstrip() + " {", "}" + one_line.group(2).strip()
        edits.append((path, close, close, [head + "\n", *("    " + t + "\n" for t in todo), tail + "\n"]))
        return
    if not re.match(r"\s*}\s*;", ls[close - 1]):
        raise Unfixable(f"{array}[] does not end on a line of its own")
    indent = _indent(ls[arr.entries[-1].line - 1]) if arr.entries else "    "
    edits.append((path, close, close - 1, [indent + t + "\n" for t in todo]))


def _entry_fix(ctx: Context, finding, fix: EntryFix) -> list:
    edits: list = []
    _add_entries(ctx, fix.compat_path, fix.compat_array, fix.compat_exists, list(fix.entries), edits)
    if not edits:
        raise Unfixable(f"{fix.compat_array}[] already has the entry")
    return edits


# -- pci-config-unguarded ------------------------------------------------------------------


def _guard_fix(ctx: Context, finding, fix: GuardFix) -> list:
    ws = ctx.ws
    path = fix.path
    tip = ws.lines(path)
    spans = cparse.statement_spans(ws.data(path))
    cond = fix.plan.condition(fix.var)
    edits: list = []
    if fix.kind in ("added", "changed"):
        to_tip = ctx.to_tip(finding, path)
        stmts = []
        for a, b in fix.new_lines:
            ta, tb = to_tip(a), to_tip(b)
            if ta is None or tb is None:
                raise Unfixable("a later patch of the range changes that code")
            st = _statement(spans, ta, tb)
            if st is None:
                raise Unfixable("the write is not a statement of a block")
            stmts.append(st)
        groups = _groups(stmts, spans)
        old_text: list[str] = []
        if fix.kind == "changed":
            if len(groups) != 1:
                raise Unfixable("the changed writes are not next to each other")
            old_text = _old_statements(ctx, finding, fix)
        for g in groups:
            first, last = g[0][0], g[-1][1]
            ind = _indent(tip[first - 1])
            body = _reindent(tip[first - 1:last])
            new = [f"{ind}if ({cond}) {{\n"] + body
            if old_text:
                new += [f"{ind}}} else {{\n"] + _reindent(_dedent_to(old_text, ind))
            new.append(f"{ind}}}\n")
            edits.append((path, first, last, new))
    else:  # removed: the old statements come back for old machine types
        old_text = _old_statements(ctx, finding, fix)
        at = _insertion_point(ctx, finding, fix)
        ind = _indent(old_text[0])
        edits.append((path, at, at - 1, [f"{ind}if (!({cond})) {{\n"] + _reindent(old_text) + [f"{ind}}}\n"]))
    _declare(ctx, fix.plan, edits)
    return edits


def _dedent_to(lines: list[str], ind: str) -> list[str]:
    cur = _indent(lines[0]) if lines else ""
    if cur == ind:
        return lines
    out = []
    for ln in lines:
        out.append(ind + ln[len(cur):] if ln.startswith(cur) else ln)
    return out


def _old_statements(ctx: Context, finding, fix: GuardFix) -> list[str]:
    """The old writes' whole statements, as they were in the patch's old file."""
    p = ctx.patch_of(finding)
    data = p.old.read(path_old(p, fix.path))
    if data is None:
        raise Unfixable("qlint cannot read the old file")
    spans = cparse.statement_spans(data)
    ls = _text_lines(data)
    stmts = sorted({st for a, b in fix.old_lines if (st := _statement(spans, a, b)) is not None})
    if len(stmts) != len(fix.old_lines) and not stmts:
        raise Unfixable("the old write is not a statement of a block")
    out: list[str] = []
    for s, e, _ in stmts:
        out.extend(ls[s - 1:e])
    return out


def path_old(patch, path: str) -> str:
    f = patch.changed(path)
    return f.old_path if f is not None and f.old_path else path


def _insertion_point(ctx: Context, finding, fix: GuardFix) -> int:
    """Where the removed statements were, as a line of the tip (insert before it)."""
    p = ctx.patch_of(finding)
    old = _text_lines(p.old.read(path_old(p, fix.path)))
    new = _text_lines(p.new.read(fix.path))
    spans = cparse.statement_spans("".join(old).encode("utf-8", "surrogateescape"))
    first = min(st[0] for a, b in fix.old_lines if (st := _statement(spans, a, b)) is not None)
    old_to_new = LineMap(old, new)
    before = old_to_new(first - 1) if first > 1 else 0
    if before is None:
        raise Unfixable("the lines around the removed write changed too")
    to_tip = ctx.to_tip(finding, fix.path)
    at = to_tip(before) if before else 0
    if at is None:
        raise Unfixable("a later patch of the range changes that code")
    return at + 1


# -- VMState ----------------------------------------------------------------------------------


def _desc(ctx: Context, path: str, var: str):
    m = ctx.index.model(path)
    d = next((d for d in (m.vmstates if m else []) if d.var == var), None)
    if d is None:
        raise Unfixable(f"qlint cannot find {var} at the tip")
    return m, d


def _field_line(ctx: Context, finding, path: str, desc, text: str, line: int | None) -> tuple[int, int]:
    """Lines of a field (``VMSTATE_X(...)`` as written, one per line) of ``desc`` in the tip's file."""
    ls = ctx.ws.lines(path)
    n = text.count("\n")
    cands = []
    if line is not None:
        t = ctx.to_tip(finding, path)(line)
        if t is not None:
            cands.append(t)
    first = text.splitlines()[0].strip()
    cands += [i for i in range(desc.line, desc.end_line + 1) if ls[i - 1].strip().startswith(first)]
    for t in cands:
        if desc.line <= t <= desc.end_line and "".join(x.strip() for x in ls[t - 1:t + n]).rstrip(",") == \
                "".join(x.strip() for x in text.splitlines()):
            return t, t + n
    raise Unfixable(f"{text.splitlines()[0]} is not a line of its own in {desc.var} at the tip")


def _fields_cast(ls: list[str], desc) -> str:
    for ln in ls[desc.line - 1:desc.end_line]:
        # .fields = (...): the first ".fields = (" with a ")" after it (a scan of [^)]* from each
        # one would be quadratic in a line without any)
        m = re.search(r"\.fields\s*+=\s*+\(", ln)
        close = ln.find(")", m.end()) if m else -1
        if close >= 0:
            return ln[m.end() - 1:close + 1]
    return "(const VMStateField[])"


def _subsection_fix(ctx: Context, finding, fix: SubsectionFix) -> list:
    ws = ctx.ws
    path = fix.path
    ls = ws.lines(path)
    m, parent = _desc(ctx, path, fix.parent_var)
    edits: list = []
    for var, text, line in fix.moves:
        _, d = _desc(ctx, path, var)
        a, b = _field_line(ctx, finding, path, d, text, line)
        edits.append((path, a, b, []))
    for var, version, minimum in fix.versions:
        _, d = _desc(ctx, path, var)
        for key, value in (("version_id", version), ("minimum_version_id", minimum)):
            if value is None:
                continue
            rx = re.compile(r"^(\s*\." + key + r"\s*=\s*)([^,]+)(,?.*)$")
            hit = next((i for i in range(d.line, d.end_line + 1) if rx.match(ls[i - 1].rstrip("\n"))), None)
            if hit is None:
                raise Unfixable(f"{var} has no .{key} line")
            mm = rx.match(ls[hit - 1].rstrip("\n"))
            if mm.group(2).strip() != value:
                edits.append((path, hit, hit, [mm.group(1) + value + mm.group(3) + "\n"]))
    if fix.macro_drop is not None:
        edits += _macro_drop(ctx, fix.macro_drop)
    if not fix.carry and not fix.needed_of:
        return edits  # a version bump with no new field: the old versions are the whole fix
    p = fix.plan
    ind = _indent(ls[parent.line]) or "    "
    needed = [f"static bool {fix.needed_fn}(void *opaque)\n", "{\n", f"{ind}{fix.struct} *s = opaque;\n", "\n"]
    if fix.needed_of:
        _, sub = _desc(ctx, path, fix.needed_of)
        old = sub.needed
        ret = f"s->{p.field}"
        if old and old != "NULL":
            found = ctx.index.function_anywhere(old, prefer=path)
            if found is None or not found[1].always_true:
                ret += f" && {old}(opaque)"
        needed += [f"{ind}return {ret};\n", "}\n", "\n"]
        edits.append((path, sub.line, sub.line - 1, needed))
        rx = re.compile(r"^(\s*\.needed\s*=\s*)([^,]+)(,?.*)$")
        hit = next((i for i in range(sub.line, sub.end_line + 1) if rx.match(ls[i - 1].rstrip("\n"))), None)
        if hit is not None:
            mm = rx.match(ls[hit - 1].rstrip("\n"))
            edits.append((path, hit, hit, [mm.group(1) + fix.needed_fn + mm.group(3) + "\n"]))
        else:
            after = next((i for key in ("minimum_version_id", "version_id", "name")
                          for i in range(sub.line, sub.end_line + 1)
                          if re.match(r"\s*\." + key + r"\s*=", ls[i - 1])), None)
            if after is None:
                raise Unfixable(f"qlint cannot tell where {sub.var}'s .needed goes")
            edits.append((path, after + 1, after, [f"{_indent(ls[after - 1])}.needed = {fix.needed_fn},\n"]))
    else:
        needed += [f"{ind}return s->{p.field};\n", "}\n", "\n"]
        body = needed + [
            f"static const VMStateDescription {fix.sub_var} = {{\n",
            f'{ind}.name = "{fix.sub_name}",\n',
            f"{ind}.version_id = 1,\n",
            f"{ind}.minimum_version_id = 1,\n",
            f"{ind}.needed = {fix.needed_fn},\n",
            f"{ind}.fields = {_fields_cast(ls, parent)} {{\n",
            *[f"{ind}{ind}{c},\n" for c in fix.carry],
            f"{ind}{ind}VMSTATE_END_OF_LIST()\n",
            f"{ind}}}\n",
            "};\n",
            "\n",
        ]
        edits.append((path, parent.line, parent.line - 1, body))
        edits += _list_subsection(ls, path, parent, fix.sub_var, ind)
    _declare(ctx, p, edits)
    return edits


def _list_subsection(ls: list[str], path: str, parent, sub_var: str, ind: str) -> list:
    """``&sub_var`` in the parent's .subsections (which is created when there is none)."""
    rng = range(parent.line, parent.end_line + 1)
    start = next((i for i in rng if re.match(r"\s*\.subsections\s*=", ls[i - 1])), None)
    if start is not None:
        null = next((i for i in range(start, parent.end_line + 1) if re.match(r"\s*NULL\s*,?\s*$", ls[i - 1])), None)
        if null is None:
            raise Unfixable(f"{parent.var}.subsections has no NULL line")
        return [(path, null, null - 1, [f"{_indent(ls[null - 1])}&{sub_var},\n"])]
    end = next((i for i in rng if "VMSTATE_END_OF_LIST" in ls[i - 1]), None)
    if end is None or end + 1 > parent.end_line or not re.match(r"\s*}\s*,?\s*$", ls[end]):
        raise Unfixable(f"qlint cannot tell where {parent.var}'s .fields end")
    close = end + 1
    out = []
    cast = "(const VMStateDescription * const [])" if "const VMStateField" in "".join(ls[parent.line - 1:end]) \
        else "(const VMStateDescription *[])"
    if not ls[close - 1].rstrip().endswith(","):
        out.append((path, close, close, [ls[close - 1].rstrip("\n").rstrip() + ",\n"]))
    out.append((path, close + 1, close, [f"{ind}.subsections = {cast} {{\n", f"{ind}{ind}&{sub_var},\n",
                                         f"{ind}{ind}NULL\n", f"{ind}}},\n"]))
    return out


def _macro_drop(ctx: Context, drop: tuple[str, int, str]) -> list:
    """Take field number ``k`` out of a ``#define VMSTATE_FOO(...)`` (the subsection carries it)."""
    name, k, path = drop
    ls = ctx.ws.lines(path)
    start = next((i for i, ln in enumerate(ls) if re.match(r"\s*#\s*define\s+" + re.escape(name) + r"\(", ln)), None)
    if start is None:
        raise Unfixable(f"qlint cannot find #define {name}")
    end = start
    while ls[end].rstrip("\n").rstrip().endswith("\\") and end + 1 < len(ls):
        end += 1
    body = [ls[start].split(")", 1)[-1]] + ls[start + 1:end + 1]  # the parameters are not a field
    calls = [start + j for j, ln in enumerate(body) if re.search(r"\bVMSTATE_\w+\s*\(", ln)]
    if k >= len(calls) or (i := calls[k]) == start:
        raise Unfixable(f"field {k + 1} of {name} is not a line of its own")
    if len(calls) == 1:
        raise Unfixable(f"{name} would be empty")
    users = ctx.index.grep((name + "(").encode())
    uses = sum("".join(ctx.ws.lines(u)).count(name + "(") for u in users) - 1
    if uses != 1:
        raise Unfixable(f"{name} is used by {uses} descriptions")
    out = [(path, i + 1, i + 1, [])]
    if i == calls[-1]:  # the last field: the one before it ends the macro now
        prev = calls[-2]
        text = re.sub(r",?\s*\\\s*$", "", ls[prev].rstrip("\n"))
        out.append((path, prev + 1, prev + 1, [text + "\n"]))
    return out


def _widen_fix(ctx: Context, finding, fix: WidenFix) -> list:
    path = fix.sub.path
    ls = ctx.ws.lines(path)
    _, d = _desc(ctx, path, fix.var)
    a, b = _field_line(ctx, finding, path, d, fix.new_text, finding.line)
    ind = _indent(ls[d.line]) or "    "
    st, tmp = fix.sub.struct, fix.tmp_struct
    fn = fix.tmp_var.removeprefix("vmstate_")
    block = [
        f"/* {fix.field} as {fix.old_ctype}: what machine types without {fix.sub.plan.prop} migrate */\n",
        f"typedef struct {tmp} {{\n", f"{ind}{st} *parent;\n", f"{ind}{fix.old_ctype} {fix.field};\n", f"}} {tmp};\n",
        "\n",
        f"static int {fn}_pre_save(void *opaque)\n", "{\n", f"{ind}{tmp} *tmp = opaque;\n", "\n",
        f"{ind}tmp->{fix.field} = tmp->parent->{fix.field};\n", f"{ind}return 0;\n", "}\n", "\n",
        f"static int {fn}_post_load(void *opaque, int version_id)\n", "{\n", f"{ind}{tmp} *tmp = opaque;\n", "\n",
        f"{ind}tmp->parent->{fix.field} = tmp->{fix.field};\n", f"{ind}return 0;\n", "}\n", "\n",
        f"static const VMStateDescription {fix.tmp_var} = {{\n",
        f'{ind}.name = "{fix.tmp_name}",\n',
        f"{ind}.pre_save = {fn}_pre_save,\n",
        f"{ind}.post_load = {fn}_post_load,\n",
        f"{ind}.fields = {_fields_cast(ls, d)} {{\n",
        f"{ind}{ind}VMSTATE_{_CTYPE_MACROS[fix.old_ctype]}({fix.field}, {tmp}),\n",
        f"{ind}{ind}VMSTATE_END_OF_LIST()\n", f"{ind}}}\n", "};\n", "\n",
    ]
    edits = [(path, d.line, d.line - 1, block),
             (path, a, b, [f"{_indent(ls[a - 1])}VMSTATE_WITH_TMP({st}, {tmp}, {fix.tmp_var}),\n"])]
    return edits + _subsection_fix(ctx, finding, fix.sub)


_CTYPE_MACROS = {"uint8_t": "UINT8", "int8_t": "INT8", "uint16_t": "UINT16", "int16_t": "INT16",
                 "uint32_t": "UINT32", "int32_t": "INT32", "uint64_t": "UINT64", "int64_t": "INT64", "bool": "BOOL"}


def _unused_fix(ctx: Context, finding, fixes: tuple) -> list:
    edits: list = []
    for fix in fixes:
        if not isinstance(fix, UnusedFix):
            raise Unfixable("qlint does not write this fix")
        path = fix.path
        ls = ctx.ws.lines(path)
        _, d = _desc(ctx, path, fix.var)
        if fix.after is not None:
            a, b = _field_line(ctx, finding, path, d, fix.after, None)
            at, ind = b + 1, _indent(ls[a - 1])
        else:
            at = next((i + 1 for i in range(d.line, d.end_line) if re.search(r"\.fields\s*=", ls[i - 1])), None)
            if at is None:
                raise Unfixable(f"qlint cannot find {d.var}'s .fields")
            ind = _indent(ls[at - 1]) + "    "
        edits.append((path, at, at - 1, [f"{ind}VMSTATE_UNUSED({fix.size}), /* was {fix.old_text} */\n"]))
    return edits


# -- the driver ---------------------------------------------------------------------------

_BUILDERS = {GuardFix: _guard_fix, SubsectionFix: _subsection_fix, WidenFix: _widen_fix,
             tuple: _unused_fix, EntryFix: _entry_fix}


def register(kind, builder) -> None:
    _BUILDERS[kind] = builder


def generate(report) -> FixSet:
    """Edits for every fixable finding of ``report``, and why the others have none."""
    out = FixSet()
    ws = Workspace(report.series.tip)
    ctx = Context(report, ws)
    done: dict[object, bool] = {}
    for f in report.findings:
        if f.severity not in FIXABLE_SEVERITIES:
            continue
        fix = getattr(f, "fix", None)
        if fix is None:
            out.skipped.append((f, "qlint does not write this fix"))
            continue
        if fix in done:
            (out.fixed if done[fix] else out.skipped).append(f if done[fix] else (f, "see above"))
            continue
        builder = _BUILDERS.get(type(fix))
        try:
            if builder is None:
                raise Unfixable("qlint does not write this fix")
            edits = builder(ctx, f, fix)
            ws.commit(edits)
        except Unfixable as exc:
            done[fix] = False
            out.skipped.append((f, str(exc)))
            continue
        except Exception as exc:  # odd C at the tip: one finding without a fix, not a failed run
            if os.environ.get("QLINT_DEBUG"):
                raise
            done[fix] = False
            out.skipped.append((f, f"qlint could not place it: {type(exc).__name__}"))
            continue
        done[fix] = True
        out.fixed.append(f)
    out.files = ws.result()
    return out


__all__ = ["generate", "Unfixable", "register", "SubsectionFix", "UnusedFix"]
