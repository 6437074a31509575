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
import re

from . import cparse
from .fixplan import FixSet, GuardFix, PropertyPlan, SubsectionFix, UnusedFix
from .index import TreeIndex

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
            edits.append((plan.header, mem_line + 1, mem_line, [mm.group(1) + define.lstrip(), member]))
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
    ws = ctx.ws
    if not plan.compat_exists:
        raise Unfixable(f"{plan.compat_array}[] does not exist yet (a release was just made): create it first")
    if plan.driver is None:
        raise Unfixable("qlint cannot tell which type the compat entry names")
    m = ctx.index.model(plan.compat_path)
    arr = next((a for a in (m.compat_arrays if m else []) if a.name == plan.compat_array), None)
    if arr is None or arr.style != "array":
        raise Unfixable(f"{plan.compat_array} is not a GlobalProperty array qlint can edit")
    ls = ws.lines(plan.compat_path)
    if any(f'"{plan.prop}"' in ln for ln in ls[arr.line - 1:arr.end_line]):
        return
    close = arr.end_line
    if not re.match(r"\s*}\s*;", ls[close - 1]):
        raise Unfixable(f"{plan.compat_array}[] does not end on a line of its own")
    indent = _indent(ls[arr.entries[-1].line - 1]) if arr.entries else "    "
    edits.append((plan.compat_path, close, close - 1, [indent + plan.entry() + "\n"]))


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


# -- the driver ---------------------------------------------------------------------------

_BUILDERS = {GuardFix: _guard_fix}


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
        done[fix] = True
        out.fixed.append(f)
    out.files = ws.result()
    return out


def unified(fixes: FixSet) -> str:
    """The fixes as one patch that ``git apply`` takes (a/ and b/ paths)."""
    parts: list[str] = []
    for path, (old, new) in sorted(fixes.files.items()):
        if old == new:
            continue
        diff = list(difflib.unified_diff(old.splitlines(keepends=True), new.splitlines(keepends=True),
                                         f"a/{path}", f"b/{path}", n=3))
        if not diff:
            continue
        parts.append(f"diff --git a/{path} b/{path}\n")
        parts.extend(diff)
    return "".join(parts)


__all__ = ["generate", "unified", "Unfixable", "register", "SubsectionFix", "UnusedFix"]
