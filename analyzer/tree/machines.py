"""Versioned machine types and the compat arrays each one gets.

A board defines its versioned machine types with a macro of its own
(``DEFINE_Q35_MACHINE(7, 2)``, ``DEFINE_VIRT_MACHINE(7, 2)``,
``DEFINE_SPAPR_MACHINE(7_2, "7.2", false)``, and in older trees
``DEFINE_Q35_MACHINE(v7_2, "pc-q35-7.2", NULL, pc_q35_7_2_machine_options)``).
The macro builds a TypeInfo whose ``.name`` is the machine type and whose
class_init calls the version's options function; each options function calls
the next newer one and then ``compat_props_add(m->compat_props, ARRAY,
ARRAY_len)``.  This module follows that C: it expands the board's macro
invocations with a small C preprocessor (token pasting, stringification,
variadic macros, rescanning; #defines from the board file and the headers it
includes), reads the options functions of the file and walks their calls.

Only files with a ``compat_props_add`` or ``SET_MACHINE_COMPAT`` call are
read, with regular expressions and the tokenizer below; no syntax tree is
built.  A board whose macros do not expand to a versioned TypeInfo is left
out and listed in :attr:`MachineMap.unresolved`; callers fall back to generic
wording for it.
"""

from __future__ import annotations

import hashlib
import re
from collections import OrderedDict, deque
from dataclasses import dataclass, field

from qlint.analyzer.tree import cache
from qlint.analyzer.cmodel import lexemes
from qlint.analyzer.cmodel.cparse import COMPAT_ARRAY_RE
from qlint.analyzer.tree.index import TreeIndex
from qlint.analyzer.limits import MACRO_ARG_DEPTH, MACRO_STEPS, MACRO_TOKENS


@dataclass(frozen=True)
class MachineType:
    name: str  # "pc-q35-7.2"
    board: str  # "pc-q35": the name without the version
    version: tuple[int, int]  # (7, 2)
    path: str  # file that defines it
    arrays: tuple[str, ...]  # every compat array its options chain adds, its own first


@dataclass
class MachineMap:
    types: list[MachineType] = field(default_factory=list)
    # board files whose options functions add compat arrays but whose machine types
    # could not be read: path -> the arrays those functions add
    unresolved: dict[str, tuple[str, ...]] = field(default_factory=dict)
    # machine types whose options chain goes through another board's machine type
    # (xenfv-4.2 through pc-i440fx-4.2, pc-1.3 through pc-i440fx-1.4): type -> that board
    derived: dict[MachineType, str] = field(default_factory=dict)

    def reached_by(self, array: str) -> list[MachineType]:
        return [t for t in self.types if array in t.arrays]

    def unresolved_with(self, array: str) -> list[str]:
        return sorted(p for p, arrs in self.unresolved.items() if array in arrs)


def machine_types(index: TreeIndex) -> list[MachineType]:
    """Every versioned machine type of the tree."""
    return analyze(index).types


def reached_by(index: TreeIndex, array: str) -> list[MachineType]:
    """Machine types whose options chain adds compat array ``array``."""
    return analyze(index).reached_by(array)


def newest_per_board(types: list[MachineType]) -> list[MachineType]:
    """The newest machine type of each board, by board name."""
    best: dict[tuple[str, str], MachineType] = {}
    for t in types:
        key = (t.board, t.path)
        cur = best.get(key)
        if cur is None or _order(t) > _order(cur):
            best[key] = t
    return sorted(best.values(), key=lambda t: (t.board, t.path))


def _order(t: MachineType) -> tuple:
    """Release, then bug-fix release (pc-q35-8.2 < pc-q35-8.2.1 < pc-q35-9.0)."""
    m = _VERSIONED_RE.match(t.name)
    micro = int(m.group(4)[1:]) if m and m.group(4) else -1
    return (t.version, micro, t.name)


# ---------------------------------------------------------------------------
# the analysis, cached on the index

_HINT_RE = re.compile(rb"\bcompat_props_add\s*\(|\bSET_MACHINE_COMPAT\s*\(")
_MAX_HEADERS = 400
_VERSIONED_RE = re.compile(r"^([A-Za-z][\w.-]*?)-(\d+)\.(\d+)((?:\.\d+)?)(.*)$")


def _has_hint(data: bytes) -> bool:
    return (b"compat_props_add" in data or b"SET_MACHINE_COMPAT" in data) and bool(_HINT_RE.search(data))


_VERSIONED_ARRAY_RE = re.compile(r"_\d+_\d+$")


def analyze(index: TreeIndex) -> MachineMap:
    """Every versioned machine type, the arrays it gets, and the boards that could not be read."""
    cached = getattr(index, "_machine_map", None)
    if cached is not None:
        return cached
    result = MachineMap()
    candidates = [p for p, oid in index.files() if p.endswith(".c") and index._scan("machines-hint", p, oid, _has_hint)]
    boards = {p: _board_file(index, p) for p in candidates}
    boards = {p: b for p, b in boards.items() if b is not None}
    found = []  # (name, path, roots, name match)
    root_of: dict[tuple[str, str], str] = {}  # (path, options function) -> the board whose class_init calls it
    for path, bf in sorted(boards.items()):
        for name, roots in bf.machines:
            m = _VERSIONED_RE.match(name)
            if not m:
                continue
            board = m.group(1) + m.group(5)
            found.append((name, path, roots, m, board))
            for r in roots:
                where = _function_file(boards, path, r)
                if where is not None:
                    root_of.setdefault((where, r), board)
    reached_fns: set[tuple[str, str]] = set()
    types: list[MachineType] = []
    for name, path, roots, m, board in found:
        arrays: list[str] = []
        visited: list[tuple[str, str]] = []
        for root in roots:
            for arr in _chain_arrays(boards, path, root, visited):
                if arr not in arrays:
                    arrays.append(arr)
        reached_fns.update(visited)
        t = MachineType(name, board, (int(m.group(2)), int(m.group(3))), path, tuple(arrays))
        types.append(t)
        base = next((root_of[v] for v in visited if root_of.get(v, board) != board), None)
        if base is not None:
            result.derived[t] = base
    for path, bf in sorted(boards.items()):
        adding = {f: [a for a in arrs if _VERSIONED_ARRAY_RE.search(a)] for f, arrs in bf.own_arrays.items()}
        adding = {f: arrs for f, arrs in adding.items() if arrs}
        if adding and not any((path, f) in reached_fns for f in adding):
            result.unresolved[path] = tuple(sorted({a for arrs in adding.values() for a in arrs}))
    types.sort(key=_order, reverse=True)
    types.sort(key=lambda t: (t.board, t.path))
    result.types = types
    index._machine_map = result  # type: ignore[attr-defined]
    return result


@dataclass
class _BoardFile:
    machines: list[tuple[str, list[str]]]  # (machine type name, options functions its class_init calls)
    own_arrays: dict[str, list[str]]  # options function -> arrays it adds itself
    calls: dict[str, list[str]]  # options function -> functions it calls, in order


def _chain_arrays(boards: dict[str, _BoardFile], path: str, root: str, reached: list) -> list[str]:
    """Arrays added by options function ``root`` of ``path`` and every options function it calls.

    ``reached`` collects the (path, function) pairs walked, in order.
    """
    out: list[str] = []
    seen: set[tuple[str, str]] = set()
    where = _function_file(boards, path, root)
    # depth first, callees in call order (a loop: a recursive closure would be a reference cycle)
    stack = [(where, root)] if where is not None else []
    while stack:
        p, fn = stack.pop()
        if (p, fn) in seen:
            continue
        seen.add((p, fn))
        reached.append((p, fn))
        bf = boards[p]
        for a in bf.own_arrays.get(fn, []):
            if a not in out:
                out.append(a)
        callees = [(w, callee) for callee in bf.calls.get(fn, [])
                   if (w := _function_file(boards, p, callee)) is not None]
        stack.extend(reversed(callees))
    return out


def _function_file(boards: dict[str, _BoardFile], prefer: str, fn: str) -> str | None:
    """The board file defining options function ``fn``: ``prefer`` first, else the only other one."""
    if fn in boards[prefer].calls:
        return prefer
    others = [p for p, b in boards.items() if fn in b.calls]
    return others[0] if len(others) == 1 else None


_BOARD_CACHE: dict[tuple, "_BoardFile | None"] = {}


def _board_file(index: TreeIndex, path: str) -> _BoardFile | None:
    """The machine types and options functions of one board file (cached on its and its headers' blobs)."""
    oid = index.snap.blob_id(path)
    if oid is None:
        return None
    pre = index._scan("machines-pp", path, oid, _preprocess)
    if pre is None:
        return None
    code, defines, includes = pre
    sources = _header_sources(index, path, includes)
    key = (path, oid, tuple(o for _, o in sources))
    if key in _BOARD_CACHE:
        return _BOARD_CACHE[key]
    # a board file changes less often than the headers it includes, but a range meets each
    # combination again and again: keep the result on disk as well
    on_disk = not any(o.startswith("mem:") for o in key[2] + (oid,))  # not staged or mailed text
    disk_key = hashlib.sha1(repr(key).encode()).hexdigest()
    got = cache.store().get("board", disk_key) if on_disk else None
    if got is not None:
        _remember(key, got[0])
        return got[0]
    result = _read_board(index, path, oid, code, defines, sources)
    if on_disk:
        cache.store().put("board", disk_key, (result,))
    _remember(key, result)
    return result


def _remember(key: tuple, result: "_BoardFile | None") -> None:
    if len(_BOARD_CACHE) > 256:
        _BOARD_CACHE.pop(next(iter(_BOARD_CACHE)))
    _BOARD_CACHE[key] = result


# (path, blob id) of a board file -> its tokens' MachineClass functions and top-level invocations:
# a range reads the same board file again whenever one of its headers changes
_BOARD_TOKENS: OrderedDict[tuple[str, str], tuple] = OrderedDict()


def _board_tokens(path: str, oid: str, code: str) -> tuple:
    key = (path, oid)
    got = _BOARD_TOKENS.get(key)
    if got is None:
        toks = _tokens(code)
        got = _BOARD_TOKENS[key] = (_machine_class_functions(toks), _top_level_invocations(toks))
        if len(_BOARD_TOKENS) > 64:
            _BOARD_TOKENS.popitem(last=False)
    return got


def _read_board(index: TreeIndex, path: str, oid: str, code, defines, sources) -> "_BoardFile | None":
    fns, invocations = _board_tokens(path, oid, code)
    result = None
    if fns:
        table = dict(defines)
        for hpath, hoid in sources:
            hres = index._scan("machines-pp", hpath, hoid, _preprocess)
            if hres is not None:
                for k, v in hres[1].items():
                    table.setdefault(k, v)
        own = {name: _with_nested(arrs, table) for name, (arrs, _calls) in fns.items()}
        calls = {name: cl for name, (_arrs, cl) in fns.items()}
        machines: list[tuple[str, list[str]]] = []
        ex = _Expander(table)
        suffix = _machine_suffix(ex)
        for inv in invocations:
            if inv[0].text not in table:
                continue
            machines.extend(_machine_types_of(ex, inv, suffix))
        result = _BoardFile(machines, own, calls)
    return result


# ---------------------------------------------------------------------------
# reading a file: comments out, directives apart, tokens

_DEFINE_RE = re.compile(r"#\s*define\s+([A-Za-z_]\w*)(\([^)]*\))?(.*)", re.S)
_INCLUDE_RE = re.compile(r'#\s*include\s*"([^"]+)"')


def _strip_comments(text: str) -> str:
    r"""Comments replaced by a space (and the newlines they held), strings and characters kept:
    ``//[^\n]*|/\*.*?\*/|"..."|'...'`` (re.S) substituted, in linear time (see lexemes)."""
    return lexemes.substitute(text, _uncomment, dotall=True)


def _uncomment(s: str) -> str:
    if s.startswith("//"):
        return " "
    if s.startswith("/*"):
        return " " + "\n" * s.count("\n")
    return s


def _preprocess(data: bytes) -> tuple[str, dict, list[str]]:
    """(code without directives, {macro: (params or None, body)}, included paths) of a file."""
    text = _strip_comments(data.decode("utf-8", "surrogateescape"))
    lines = text.split("\n")
    code: list[str] = []
    defines: dict[str, tuple[tuple[str, ...] | None, str]] = {}
    includes: list[str] = []
    i = 0
    while i < len(lines):
        ln = lines[i]
        if ln.lstrip().startswith("#"):
            logical = [ln]
            while logical[-1].endswith("\\") and i + 1 < len(lines):
                logical[-1] = logical[-1][:-1]
                i += 1
                logical.append(lines[i])
                code.append("")
            d = " ".join(logical).strip()
            m = _DEFINE_RE.match(d)
            if m:
                params = None
                if m.group(2) is not None:
                    params = tuple(p.strip() for p in m.group(2)[1:-1].split(",") if p.strip())
                defines.setdefault(m.group(1), (params, m.group(3).strip()))
            else:
                im = _INCLUDE_RE.match(d)
                if im:
                    includes.append(im.group(1))
            code.append("")
        else:
            code.append(ln)
        i += 1
    return "\n".join(code), defines, includes


class _Tok:
    __slots__ = ("text", "kind", "space", "hide")

    def __init__(self, text: str, kind: str, space: bool = False, hide: frozenset = frozenset()):
        self.text, self.kind, self.space, self.hide = text, kind, space, hide

    def with_hide(self, extra: frozenset) -> "_Tok":
        if extra <= self.hide:
            return self
        return _Tok(self.text, self.kind, self.space, self.hide | extra)

    def __repr__(self) -> str:  # pragma: no cover - debugging
        return self.text


_TOKEN_RE = re.compile(
    r'(?P<ws>\s+)|(?P<str>"(?:[^"\\\n]|\\.)*")|(?P<chr>\'(?:[^\'\\\n]|\\.)*\')'
    r"|(?P<id>[A-Za-z_]\w*)|(?P<num>\.?\d(?:[eEpP][+-]|[\w.])*)"
    r"|(?P<punct>##|\.\.\.|->|<<=|>>=|[-+*/%&|^!=<>]=|&&|\|\||<<|>>|\+\+|--|\S)"
)
# the same, at a quote that cannot open a literal (see _tokens)
_QUOTE_RE = re.compile(r"(?P<punct>\S)")
_LITERAL_BODY = {'"': re.compile(r'"(?:[^"\\\n]|\\.)*'), "'": re.compile(r"'(?:[^'\\\n]|\\.)*")}


def _tokens(text: str) -> list[_Tok]:
    """The tokens of ``text``: what ``_TOKEN_RE.finditer`` gives, in linear time.  A quote whose
    literal does not close on its line is a punctuator; a scan that found so stopped at the end
    of the line, and a quote of the same kind before that point fails the same way, so it is not
    scanned again (see lexemes)."""
    out: list[_Tok] = []
    space = False
    failed = {'"': -1, "'": -1}
    pos, n = 0, len(text)
    match = _TOKEN_RE.match
    while pos < n:
        c = text[pos]
        if c in failed:
            if pos < failed[c]:
                m = _QUOTE_RE.match(text, pos)
            else:
                end = _LITERAL_BODY[c].match(text, pos).end()
                if end < n and text[end] == c:
                    m = match(text, pos)
                else:
                    failed[c] = end
                    m = _QUOTE_RE.match(text, pos)
        else:
            m = match(text, pos)
        if m is None:  # pragma: no cover - \s+ or \S matches any character
            break
        pos = m.end()
        kind = m.lastgroup or "punct"
        if kind == "ws":
            space = True
            continue
        out.append(_Tok(m.group(0), "str" if kind in ("str", "chr") else kind, space))
        space = False
    return out


def _closers(toks: list[_Tok]) -> list[int]:
    """For each token, the index of the bracket closing it (any kind closes any kind, as
    _matching counts them), or -1: one pass instead of a scan for each bracket."""
    out = [-1] * len(toks)
    stack: list[int] = []
    for j, t in enumerate(toks):
        x = t.text
        if x in ("(", "{", "["):
            stack.append(j)
        elif x in (")", "}", "]") and stack:
            out[stack.pop()] = j
    return out


_KEYWORDS = {"if", "while", "for", "switch", "return", "sizeof", "do", "else", "case", "defined"}


def _machine_class_functions(toks: list[_Tok]) -> dict[str, tuple[list[str], list[str]]]:
    """Functions of the file taking one ``MachineClass *``: name -> (arrays they add, functions they call)."""
    out: dict[str, tuple[list[str], list[str]]] = {}
    closers = _closers(toks)
    i, n = 0, len(toks)
    while i < n:
        t = toks[i]
        if t.text == "{":
            j = closers[i]
            i = j + 1 if j > 0 else n
            continue
        if (t.kind == "id" and i + 6 < n and toks[i + 1].text == "(" and toks[i + 2].text == "MachineClass"
                and toks[i + 3].text == "*" and toks[i + 4].kind == "id" and toks[i + 5].text == ")"
                and toks[i + 6].text == "{"):
            end = closers[i + 6]
            if end < 0:
                break
            body = toks[i + 7:end]
            out[t.text] = (_arrays_added(t.text, body), _calls(body))
            i = end + 1
            continue
        i += 1
    return out


def _calls(body: list[_Tok]) -> list[str]:
    """The functions ``body`` calls, each once, in order."""
    out: list[str] = []
    seen: set[str] = set()
    for k in range(len(body) - 1):
        t = body[k]
        if (t.kind == "id" and body[k + 1].text == "(" and t.text not in _KEYWORDS
                and (k == 0 or body[k - 1].text not in (".", "->")) and t.text not in seen):
            seen.add(t.text)
            out.append(t.text)
    return out


def _arrays_added(fn: str, body: list[_Tok]) -> list[str]:
    """compat_props_add(x, ARRAY, ARRAY_len) and SET_MACHINE_COMPAT(m, ARRAY).

    An array declared in the function itself is named ``fn:array`` unless its name says its
    version (``spapr_compat_10_0``), as the tree index names it.
    """
    local = {body[k + 1].text for k in range(len(body) - 2)
             if body[k].text == "GlobalProperty" and body[k + 1].kind == "id" and body[k + 2].text == "["}
    out: list[str] = []
    closers = None
    for k, t in enumerate(body):
        if t.text not in ("compat_props_add", "SET_MACHINE_COMPAT") or k + 1 >= len(body) or body[k + 1].text != "(":
            continue
        closers = closers or _closers(body)
        end = closers[k + 1]
        args = _split_args(body[k + 2:end]) if end > 0 else []
        if len(args) >= 2 and len(args[1]) == 1 and args[1][0].kind == "id":
            name = args[1][0].text
            if name in local and not COMPAT_ARRAY_RE.match(name):
                name = f"{fn}:{name}"
            if name not in out:
                out.append(name)
    return out


_MACRO_ARRAY_RE = re.compile(r"^[A-Z][A-Z0-9_]*_COMPAT_\d+_\d+$")


def _with_nested(arrays: list[str], table: dict) -> list[str]:
    """Old trees' compat macros include others (``#define PC_COMPAT_2_10 HW_COMPAT_2_10 {...}``)."""
    out: list[str] = []
    stack = list(reversed(arrays))
    while stack:
        a = stack.pop()
        if a in out:
            continue
        out.append(a)
        raw = table.get(a) if _MACRO_ARRAY_RE.match(a) else None
        if raw is not None and raw[0] is None:
            stack.extend(reversed([w for w in re.findall(r"\b[A-Z][A-Z0-9_]*\b", raw[1]) if _MACRO_ARRAY_RE.match(w)]))
    return out


def _split_args(toks: list[_Tok]) -> list[list[_Tok]]:
    args: list[list[_Tok]] = [[]]
    depth = 0
    for t in toks:
        if t.text in ("(", "[", "{"):
            depth += 1
        elif t.text in (")", "]", "}"):
            depth -= 1
        if t.text == "," and depth == 0:
            args.append([])
        else:
            args[-1].append(t)
    return args


def _top_level_invocations(toks: list[_Tok]) -> list[list[_Tok]]:
    """``NAME(args)`` statements at file scope, NAME in upper case: the candidate machine-defining macros."""
    out: list[list[_Tok]] = []
    closers = _closers(toks)
    i, n = 0, len(toks)
    prev = ""
    while i < n:
        t = toks[i]
        if (t.kind == "id" and i + 1 < n and toks[i + 1].text == "(" and prev in ("", ";", "}", ")")
                and re.fullmatch(r"[A-Z_][A-Z0-9_]*", t.text)):
            j = closers[i + 1]
            if j < 0:
                break
            out.append(toks[i:j + 1])
            prev, i = ")", j + 1
            continue
        if t.text in ("{", "(", "["):
            j = closers[i]
            if j < 0:
                break
            prev, i = toks[j].text, j + 1
            continue
        prev = t.text
        i += 1
    return out


# ---------------------------------------------------------------------------
# macros: the board file's and its headers'


def _include_candidates(path: str, inc: str) -> list[str]:
    d = path.rsplit("/", 1)[0] if "/" in path else ""
    return ["include/" + inc, (d + "/" + inc) if d else inc, inc]


def _header_sources(index: TreeIndex, path: str, includes: list[str]) -> list[tuple[str, str]]:
    """(path, blob id) of the headers ``path`` includes, recursively, in the order a compiler meets them."""
    out: list[tuple[str, str]] = []
    seen = {path}
    queue = deque((path, inc) for inc in includes)
    while queue and len(out) < _MAX_HEADERS:
        src, inc = queue.popleft()
        for cand in _include_candidates(src, inc):
            if cand in seen:
                break
            oid = index.snap.blob_id(cand)
            if oid is None:
                continue
            seen.add(cand)
            out.append((cand, oid))
            res = index._scan("machines-pp", cand, oid, _preprocess)
            if res is not None:
                queue.extend((cand, i) for i in res[2])
            break
    return out


_MACRO_CACHE: dict[tuple, "_Macro"] = {}

# What an invocation defines, by its tokens: [(the macro definitions its expansion looked up,
# the result)].  The tables of a range's snapshots differ in a few macros, and an expansion
# depends only on those it looked up, so a result stands while they are the same.
_EXPANSIONS: OrderedDict[tuple, list[tuple[tuple, list]]] = OrderedDict()
_EXPANSIONS_LIMIT = 8192


def _machine_types_of(ex: _Expander, inv: list[_Tok], suffix: str) -> list[tuple[str, list[str]]]:
    """_typeinfos of the expansion of ``inv`` (none if it expands too deep), memoised."""
    key = (suffix,) + tuple((t.text, t.kind, t.space) for t in inv)
    table = ex.table
    known = _EXPANSIONS.get(key)
    if known is not None:
        for deps, result in known:
            if all(table.get(name) == raw for name, raw in deps):
                _EXPANSIONS.move_to_end(key)
                return [(name, list(fns)) for name, fns in result]
    ex.steps = ex.depth = 0
    ex.looked_up = {}
    try:
        result = _typeinfos(ex.expand(inv), suffix)
    except _TooDeep:
        result = []
    deps = tuple(ex.looked_up.items())
    ex.looked_up = None
    variants = _EXPANSIONS.setdefault(key, [])
    variants.insert(0, (deps, result))
    del variants[4:]
    _EXPANSIONS.move_to_end(key)
    if len(_EXPANSIONS) > _EXPANSIONS_LIMIT:
        _EXPANSIONS.popitem(last=False)
    return [(name, list(fns)) for name, fns in result]


class _Macro:
    __slots__ = ("name", "params", "variadic", "body")

    def __init__(self, name: str, params: tuple[str, ...] | None, body: str):
        self.name = name
        self.variadic = False
        if params is not None:
            ps = list(params)
            if ps and ps[-1].endswith("..."):
                self.variadic = True
                last = ps[-1][:-3].strip()
                ps[-1] = last or "__VA_ARGS__"
            params = tuple(ps)
        self.params = params
        self.body = _tokens(body)


def _machine_suffix(ex: "_Expander") -> str:
    m = ex.macro("TYPE_MACHINE_SUFFIX")
    if m is not None and m.params is None:
        s = "".join(_unquote(t.text) for t in m.body if t.kind == "str")
        if s:
            return s
    return "-machine"


class _TooDeep(Exception):
    """An expansion over one of limits.MACRO_*: the invocation defines no machine type qlint reads."""


class _Expander:
    """C macro expansion with hide sets (Prosser's algorithm), enough for machine-defining macros."""

    def __init__(self, table: dict):
        self.table = table  # name -> (params or None, body text)
        self.steps = 0
        self.depth = 0  # arguments being expanded inside one another
        self.looked_up: dict | None = None  # name -> table entry (or None), when recording

    def macro(self, name: str) -> "_Macro | None":
        raw = self.table.get(name)
        if self.looked_up is not None:
            self.looked_up[name] = raw
        if raw is None:
            return None
        key = (name,) + raw
        m = _MACRO_CACHE.get(key)
        if m is None:
            m = _MACRO_CACHE[key] = _Macro(name, raw[0], raw[1])
            if len(_MACRO_CACHE) > 20000:
                _MACRO_CACHE.pop(next(iter(_MACRO_CACHE)))
        return m

    def spend(self, n: int) -> None:
        """Count ``n`` steps of work against limits.MACRO_STEPS."""
        self.steps += n
        if self.steps > MACRO_STEPS:
            raise _TooDeep

    def expand(self, toks: list[_Tok]) -> list[_Tok]:
        """``toks`` with their macros expanded and rescanned.  The tokens still to read are a
        stack, the next one last, so that replacing an invocation by its expansion costs the
        expansion, not the rest of the input; finding the arguments' end counts against the
        steps too."""
        pending = toks[::-1]
        out: list[_Tok] = []
        while pending:
            self.spend(1)
            t = pending.pop()
            m = self.macro(t.text) if t.kind == "id" else None
            if m is None or t.text in t.hide:
                out.append(t)
                continue
            if m.params is None:
                body = [b.with_hide(t.hide | {t.text}) for b in m.body]
                if body:
                    body[0] = _Tok(body[0].text, body[0].kind, t.space, body[0].hide)
                self._push(pending, body)
                continue
            if not pending or pending[-1].text != "(":
                out.append(t)
                continue
            end = self._closing(pending)
            if end < 0:
                out.append(t)
                continue
            close = pending[end]
            args = _split_args(pending[len(pending) - 2:end:-1])
            del pending[end:]
            hs = (t.hide & close.hide) | {t.text}
            body = self._substitute(m, args, frozenset(hs))
            if body:
                body[0] = _Tok(body[0].text, body[0].kind, t.space, body[0].hide)
            self._push(pending, body)
        return out

    def _closing(self, pending: list[_Tok]) -> int:
        """The index in ``pending`` (read from its end) of the bracket closing ``pending[-1]``, or -1."""
        depth = 0
        for j in range(len(pending) - 1, -1, -1):
            x = pending[j].text
            if x in ("(", "{", "["):
                depth += 1
            elif x in (")", "}", "]"):
                depth -= 1
                if depth == 0:
                    self.spend(len(pending) - j)
                    return j
        self.spend(len(pending))
        return -1

    def _push(self, pending: list[_Tok], body: list[_Tok]) -> None:
        pending.extend(reversed(body))
        if len(pending) > MACRO_TOKENS:
            raise _TooDeep

    def _substitute(self, m: _Macro, args: list[list[_Tok]], hs: frozenset) -> list[_Tok]:
        params = m.params or ()
        if len(params) == 0 and args == [[]]:
            args = []
        if m.variadic:
            fixed = len(params) - 1
            va: list[_Tok] = []
            for k, a in enumerate(args[fixed:]):
                if k:
                    va.append(_Tok(",", "punct"))
                va.extend(a)
            args = args[:fixed] + [va]
        args = args + [[] for _ in range(len(params) - len(args))]
        bind = dict(zip(params, args))
        body = m.body
        out: list[_Tok] = []
        k = 0
        while k < len(body):
            b = body[k]
            if b.text == "#" and k + 1 < len(body) and body[k + 1].text in bind:
                self.spend(len(bind[body[k + 1].text]))
                out.append(_Tok(_stringify(bind[body[k + 1].text]), "str", b.space))
                k += 2
                continue
            if b.kind == "id" and b.text in bind:
                pasted = (k > 0 and body[k - 1].text == "##") or (k + 1 < len(body) and body[k + 1].text == "##")
                arg = bind[b.text] if pasted else self._expand_arg(bind[b.text])
                if not arg:
                    out.append(_Tok("", "placemarker", b.space))
                else:
                    first = arg[0]
                    out.append(_Tok(first.text, first.kind, b.space, first.hide))
                    out.extend(arg[1:])
                    if len(out) > MACRO_TOKENS:
                        raise _TooDeep
                k += 1
                continue
            out.append(_Tok(b.text, b.kind, b.space, b.hide))
            k += 1
        out = _paste(out)
        return [t.with_hide(hs) for t in out if t.kind != "placemarker"]

    def _expand_arg(self, arg: list[_Tok]) -> list[_Tok]:
        """An argument, macro-expanded before it is substituted: an expansion inside an
        expansion, nested at most limits.MACRO_ARG_DEPTH deep."""
        if self.depth >= MACRO_ARG_DEPTH:
            raise _TooDeep
        self.depth += 1
        try:
            return self.expand(list(arg))
        finally:
            self.depth -= 1


def _paste(toks: list[_Tok]) -> list[_Tok]:
    out: list[_Tok] = []
    k = 0
    while k < len(toks):
        t = toks[k]
        if t.text == "##" and t.kind == "punct" and out and k + 1 < len(toks):
            left, right = out.pop(), toks[k + 1]
            text = left.text + right.text
            if left.kind == "placemarker":
                merged = right
            elif right.kind == "placemarker":
                merged = left
            else:
                parsed = _tokens(text)
                kind = parsed[0].kind if len(parsed) == 1 else "punct"
                merged = _Tok(text, kind, left.space, left.hide)
            out.append(merged)
            k += 2
            continue
        out.append(t)
        k += 1
    return out


def _stringify(arg: list[_Tok]) -> str:
    parts = []
    for k, t in enumerate(arg):
        if k and t.space:
            parts.append(" ")
        parts.append(t.text.replace("\\", "\\\\").replace('"', '\\"') if t.kind == "str" else t.text)
    return '"' + "".join(parts) + '"'


def _unquote(s: str) -> str:
    return s[1:-1] if len(s) >= 2 and s[0] == s[-1] == '"' else s


def _typeinfos(toks: list[_Tok], suffix: str) -> list[tuple[str, list[str]]]:
    """(machine type name, options functions its class_init calls) of each TypeInfo in an expansion."""
    fn_bodies: dict[str, tuple[int, int]] = {}  # name -> its body's (start, end) in toks
    n = len(toks)
    closers = _closers(toks)
    for i in range(n - 1):
        if toks[i].kind == "id" and toks[i + 1].text == "(":
            close = closers[i + 1]
            if close > 0 and close + 1 < n and toks[close + 1].text == "{":
                end = closers[close + 1]
                if end > 0:
                    fn_bodies.setdefault(toks[i].text, (close + 2, end))
    out = []
    budget = 4 * n + 10_000  # tokens the .name scans may read: linear, whatever the expansion
    calls: dict[tuple[int, int], list[str]] = {}  # (start, end) -> the calls there
    for i in range(n - 2):
        if toks[i].text == "." and toks[i + 1].text == "name" and toks[i + 2].text == "=":
            j = i + 3
            depth = 0
            parts = []
            while j < n:
                budget -= 1
                if budget < 0:
                    raise _TooDeep
                tt = toks[j].text
                if tt in ("(", "[", "{"):
                    depth += 1
                elif tt in (")", "]", "}"):
                    if depth == 0:
                        break
                    depth -= 1
                elif tt == "," and depth == 0:
                    break
                if toks[j].kind == "str":
                    parts.append(_unquote(toks[j].text))
                j += 1
            name = "".join(parts)
            if suffix and name.endswith(suffix):
                name = name[: -len(suffix)]
            if not name:
                continue
            # the class_init of this TypeInfo: the next ``.class_init = fn`` in the initialiser
            ci = None
            for k in range(j, min(n - 3, j + 60)):
                if toks[k].text == "}":
                    break
                if toks[k].text == "." and toks[k + 1].text == "class_init" and toks[k + 2].text == "=":
                    ci = toks[k + 3].text
                    break
            if ci is None:
                for k in range(min(i, n - 4), max(-1, i - 60), -1):
                    if toks[k].text == "{":
                        break
                    if toks[k].text == "." and toks[k + 1].text == "class_init" and toks[k + 2].text == "=":
                        ci = toks[k + 3].text
                        break
            a, b = fn_bodies.get(ci, (0, 0)) if ci else (0, 0)
            key = (a, b) if b > a else (0, n)  # no body of its class_init: every call of the expansion
            if key not in calls:
                calls[key] = _calls(toks[key[0]:key[1]])
            out.append((name, list(calls[key])))
    return out


# ---------------------------------------------------------------------------
# the listing of `qlint machines`

_ARRAY_KEY_RE = re.compile(r"^(\w+?)_compat_(\d+)_(\d+)$", re.I)


def _array_key(name: str) -> tuple:
    m = _ARRAY_KEY_RE.match(name)
    if m:
        return (m.group(1).lower(), 0, -int(m.group(2)), -int(m.group(3)), name)
    return (name.split("_")[0].lower(), 1, 0, 0, name)


def listing(index: TreeIndex) -> dict:
    """Every compat array (defined in the tree or added by a machine type) and the machine types it reaches."""
    mm = analyze(index)
    paths: dict[str, str] = {}
    for a in index.compat_arrays():
        if a.style != "inline":
            paths.setdefault(a.name, a.path)
    names = set(paths) | {a for t in mm.types for a in t.arrays} | {a for arrs in mm.unresolved.values() for a in arrs}
    arrays = []
    for name in sorted(names, key=_array_key):
        arrays.append({
            "name": name,
            "path": paths.get(name),
            "machine_types": [{"name": t.name, "path": t.path} for t in mm.reached_by(name)],
        })
    return {
        "arrays": arrays,
        "machine_types": [
            {"name": t.name, "board": t.board, "version": f"{t.version[0]}.{t.version[1]}", "path": t.path,
             "arrays": list(t.arrays), "via": mm.derived.get(t)}
            for t in mm.types
        ],
        "unresolved": [{"path": p, "arrays": list(a)} for p, a in sorted(mm.unresolved.items())],
    }
