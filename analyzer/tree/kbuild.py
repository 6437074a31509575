"""Which boards can hold the code of a file: QEMU's build description, read.

QEMU builds a device's source file when a Kconfig symbol is on
(``system_ss.add(when: 'CONFIG_E1000_PCI', if_true: files('e1000.c'))`` in a
meson.build), and a board turns symbols on through the Kconfig graph: ``config
Q35`` selects ``PC_PCI``, which selects ``PC``, which implies ``PCI_DEVICES``,
and ``config E1000_PCI`` has ``default y if PCI_DEVICES``.  A file whose build
condition holds in the Kconfig closure of a board can be part of a VM of that
board; a file no versioned board's closure reaches is code that no versioned
machine type can run, whatever it changes.

This module reads every meson.build and Kconfig file of a tree (with linear
scanners, no syntax tree), computes the closure of each board symbol and says,
for a file, which board symbols reach it and through which chain.  Where the
build description does not say (a header, a file meson names through a
variable), the answer is *unknown*, never *no*.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qlint.analyzer.change import Snapshot

# target/<arch>/ and hw/<arch>/ name the same architecture
_ARCH_DIRS = ("hw/", "target/")


@dataclass(frozen=True)
class Source:
    """One ``files('x.c')`` entry of a meson.build: the file and when it is built."""

    path: str
    when: tuple[str, ...]  # Kconfig symbols that must all be on ("" list: always)
    meson: str  # the meson.build that names it
    arch: str | None  # hw/<arch>/ or target/<arch>/: built only for that target


@dataclass
class Symbol:
    name: str
    path: str = ""
    line: int = 0
    depends: list[str] = field(default_factory=list)  # expressions, all must hold
    defaults: list[str | None] = field(default_factory=list)  # "default y [if E]": E or None
    selects: list[tuple[str, str | None]] = field(default_factory=list)
    implies: list[tuple[str, str | None]] = field(default_factory=list)


@dataclass(frozen=True)
class Step:
    """How a symbol came to be on in a closure: ``via`` turned it on by ``how``."""

    symbol: str
    via: str | None
    how: str  # "board", "target", "select", "imply", "default y if ...", "default y"
    target: bool = False  # on because of the target alone, not of the board


@dataclass
class Reach:
    """Answer for one file."""

    path: str
    known: bool  # the build description says when the file is built
    sources: list[Source] = field(default_factory=list)
    boards: dict[str, list[Step]] = field(default_factory=dict)  # board symbol -> chain to the file's symbol


class _Symbols(dict):
    """Symbols by name, knowing which ones only the build system turns on."""

    def __init__(self, symbols: dict[str, Symbol]):
        super().__init__(symbols)
        turned_on = {t for sym in symbols.values() for t, _ in sym.selects + sym.implies}
        self.external = frozenset(
            name for name, sym in symbols.items()
            if not sym.defaults and name not in turned_on and not sym.selects and not sym.implies
        )


@dataclass
class BuildModel:
    sources: dict[str, list[Source]]
    symbols: dict[str, Symbol]
    _closures: dict[tuple[str, ...], dict[str, Step]] = field(default_factory=dict)

    def sources_of(self, path: str) -> list[Source]:
        return self.sources.get(path, [])

    def closure(self, seeds: tuple[str, ...]) -> dict[str, Step]:
        """Symbols on in a build that turns ``seeds`` on, each with the step that did it."""
        got = self._closures.get(seeds)
        if got is None:
            got = _closure(self.symbols, seeds)
            self._closures[seeds] = got
        return got

    def reach(self, path: str, boards: dict[str, str]) -> Reach:
        """Which of ``boards`` (board symbol -> board file) can hold code of ``path``."""
        srcs = self.sources_of(path)
        out = Reach(path, known=bool(srcs), sources=srcs)
        for sym, board_path in sorted(boards.items()):
            on = self.closure(self.seeds(sym))
            board_arch = _arch_of(board_path)
            for src in srcs:
                if src.arch is not None and board_arch is not None and src.arch != board_arch:
                    continue
                if all(self._holds(s, on) for s in src.when):
                    out.boards[sym] = _chain(on, src.when[-1] if src.when else sym)
                    break
        return out

    def seeds(self, board: str) -> tuple[str, ...]:
        """The board, and the symbols its ``depends on`` needs (the target's own, such as I386)."""
        sym = self.symbols.get(board)
        extra: list[str] = []
        if sym is not None:
            for expr in sym.depends:
                extra += _positive_symbols(expr)
        return (board, *sorted(set(extra) - {board}))

    def _holds(self, name: str, on: dict[str, Step]) -> bool:
        return name in on or _is_host(self.symbols, name)

    def board_symbols(self, path: str) -> list[str]:
        """Symbols whose being on builds board file ``path``."""
        return [s.when[-1] for s in self.sources_of(path) if s.when]


# ---------------------------------------------------------------------------
# reading a tree


def model_of(snap: Snapshot) -> BuildModel:
    """The build model of a tree, read once per snapshot object."""
    cached = getattr(snap, "_kbuild_model", None)
    if cached is not None:
        return cached
    sources: dict[str, list[Source]] = {}
    symbols: dict[str, Symbol] = {}
    calls: list[_Call] = []
    for path, _oid in snap.files():
        name = path.rsplit("/", 1)[-1]
        if name == "meson.build":
            data = snap.read(path)
            if data is not None:
                calls += meson_calls(path, data.decode("utf-8", "replace"))
        elif name == "Kconfig" or name.startswith("Kconfig."):
            data = snap.read(path)
            if data is not None:
                for sym in parse_kconfig(path, data.decode("utf-8", "replace")):
                    prev = symbols.get(sym.name)
                    if prev is None:
                        symbols[sym.name] = sym
                    else:  # a symbol defined twice: both definitions count
                        prev.depends += sym.depends
                        prev.defaults += sym.defaults
                        prev.selects += sym.selects
                        prev.implies += sym.implies
    for src in resolve_sets(calls):
        sources.setdefault(src.path, []).append(src)
    model = BuildModel(sources, _Symbols(symbols))
    _remember(snap, model)
    return model


def _remember(snap: Snapshot, model: BuildModel) -> None:
    try:
        snap._kbuild_model = model  # type: ignore[attr-defined]
    except AttributeError:
        pass


def _arch_of(path: str) -> str | None:
    for top in _ARCH_DIRS:
        if path.startswith(top):
            parts = path[len(top):].split("/")
            if len(parts) > 1 and top == "target/":
                return parts[0]
            if top == "hw/" and len(parts) > 1 and parts[0] in _HW_ARCHES:
                return parts[0]
    return None


# hw/ subdirectories that are an architecture's own (the others are device classes)
_HW_ARCHES = frozenset(
    "alpha arm avr hppa i386 loongarch m68k microblaze mips openrisc ppc riscv rx s390x sh4 sparc "
    "sparc64 tricore xtensa".split()
)


# ---------------------------------------------------------------------------
# meson.build


def _meson_tokens(text: str):
    """(kind, value) tokens: str, name, punct; comments dropped.  Linear."""
    i, n = 0, len(text)
    while i < n:
        c = text[i]
        if c == "#":
            j = text.find("\n", i)
            i = n if j < 0 else j
        elif c == "'":
            if text.startswith("'''", i):
                j = text.find("'''", i + 3)
                j = n if j < 0 else j
                yield "str", text[i + 3:j]
                i = j + 3
            else:
                j = i + 1
                buf = []
                while j < n and text[j] != "'" and text[j] != "\n":
                    if text[j] == "\\" and j + 1 < n:
                        buf.append(text[j + 1])
                        j += 2
                        continue
                    buf.append(text[j])
                    j += 1
                yield "str", "".join(buf)
                i = j + 1
        elif c.isalpha() or c == "_":
            j = i + 1
            while j < n and (text[j].isalnum() or text[j] == "_"):
                j += 1
            yield "name", text[i:j]
            i = j
        elif c in " \t\r\n":
            i += 1
        else:
            yield "punct", c
            i += 1


def parse_meson(path: str, text: str) -> list[Source]:
    """Every ``files(...)`` of one meson.build with the ``when:`` of the ``add()`` around it.

    Source sets filled here and added elsewhere (``pci_ss.add(files(...))``, then
    ``system_ss.add_all(when: 'CONFIG_PCI', if_true: pci_ss)``) need the other
    files: :func:`resolve_sets` joins them.
    """
    return resolve_sets(meson_calls(path, text))


@dataclass
class _Call:
    meson: str
    receiver: str | None  # the source set: ``pci_ss`` of ``pci_ss.add(...)``
    method: str  # add, add_all
    when: list[str] = field(default_factory=list)
    files: list[str] = field(default_factory=list)
    sets: list[str] = field(default_factory=list)  # source sets named in if_true:
    negated: bool = False  # the files are in if_false:


def meson_calls(path: str, text: str) -> list[_Call]:
    """The ``X.add(...)`` and ``X.add_all(...)`` calls of a meson.build, with what they add."""
    base = path.rsplit("/", 1)[0] if "/" in path else ""
    toks = list(_meson_tokens(text))
    calls: list[_Call] = []
    # open brackets: [callee, keyword being read, the _Call if an add]
    stack: list[list] = []
    for idx, (kind, val) in enumerate(toks):
        if kind == "punct" and val == "(":
            callee = toks[idx - 1][1] if idx and toks[idx - 1][0] == "name" else None
            call = None
            if callee in ("add", "add_all") and idx >= 3 and toks[idx - 2] == ("punct", "."):
                recv = toks[idx - 3][1] if toks[idx - 3][0] == "name" else None
                call = _Call(path, recv, callee)
                calls.append(call)
            stack.append([callee, None, call])
        elif kind == "punct" and val in "[{":
            stack.append(["[", None, None])
        elif kind == "punct" and val in ")]}":
            if stack:
                stack.pop()
        elif kind == "punct" and val == ",":
            if stack and stack[-1][0] != "[":
                stack[-1][1] = None
        elif kind == "name":
            nxt = toks[idx + 1] if idx + 1 < len(toks) else ("", "")
            if nxt == ("punct", ":") and stack:
                stack[-1][1] = val
            elif nxt != ("punct", "(") and nxt != ("punct", "."):
                add = _enclosing_add(stack)
                if add is not None and add[1] in ("if_true", None) and add[2].method == "add_all":
                    add[2].sets.append(val)
        elif kind == "str" and stack:
            add = _enclosing_add(stack)
            if add is None:
                continue
            call = add[2]
            if add[1] == "when":
                if val.startswith("CONFIG_"):
                    call.when.append(val[len("CONFIG_"):])
                continue
            if stack[-1][0] == "files" and val.endswith((".c", ".h")):
                call.negated = call.negated or add[1] == "if_false"
                if add[1] != "if_false":
                    call.files.append(_normpath(f"{base}/{val}" if base else val))
    return calls


def _enclosing_add(stack: list[list]) -> list | None:
    for frame in reversed(stack):
        if frame[2] is not None:
            return frame
    return None


def resolve_sets(calls: list[_Call]) -> list[Source]:
    """Sources with every condition on the way to a final source set."""
    by_set: dict[str, list[_Call]] = {}
    for c in calls:
        if c.receiver:
            by_set.setdefault(c.receiver, []).append(c)
    # a set added into another under a condition: the condition applies to its files
    parents: dict[str, list[tuple[str, tuple[str, ...]]]] = {}
    for c in calls:
        if c.method == "add_all" and c.receiver:
            for child in c.sets:
                parents.setdefault(child, []).append((c.receiver, tuple(c.when)))
    out: list[Source] = []
    for c in calls:
        if c.method != "add" or not c.files:
            continue
        for when in _conditions(c.receiver, tuple(c.when), parents):
            for f in c.files:
                out.append(Source(f, when, c.meson, _arch_of(c.meson)))
    return out


def _conditions(receiver, when: tuple[str, ...], parents) -> list[tuple[str, ...]]:
    """Each chain of add_all from ``receiver`` to a set nothing adds: the conditions joined."""
    out: list[tuple[str, ...]] = []
    work = [(receiver, when, 0)]
    while work and len(out) < 16:
        name, cond, depth = work.pop()
        ups = parents.get(name) if name else None
        if not ups or depth > 8:
            out.append(cond)
            continue
        for parent, extra in ups:
            work.append((parent, extra + cond, depth + 1))
    return out


def _normpath(path: str) -> str:
    parts: list[str] = []
    for p in path.split("/"):
        if p in ("", "."):
            continue
        if p == ".." and parts:
            parts.pop()
        else:
            parts.append(p)
    return "/".join(parts)


# ---------------------------------------------------------------------------
# Kconfig


def parse_kconfig(path: str, text: str) -> list[Symbol]:
    out: list[Symbol] = []
    cur: Symbol | None = None
    lines = text.split("\n")
    i = 0
    while i < len(lines):
        raw = lines[i]
        lineno = i + 1
        i += 1
        while raw.endswith("\\") and i < len(lines):
            raw = raw[:-1] + " " + lines[i]
            i += 1
        hash_at = raw.find("#")
        line = (raw if hash_at < 0 else raw[:hash_at]).strip()
        if not line:
            continue
        word, _, rest = line.partition(" ")
        rest = rest.strip()
        if word in ("config", "menuconfig"):
            cur = Symbol(rest, path, lineno)
            out.append(cur)
        elif cur is None:
            continue
        elif word == "depends" and rest.startswith("on"):
            cur.depends.append(rest[2:].strip())
        elif word == "default":
            value, cond = _split_if(rest)
            if value == "y":
                cur.defaults.append(cond)
            elif value not in ("n",) and cond is None and _is_name(value):
                cur.defaults.append(value)  # default FOO: on when FOO is
        elif word in ("select", "imply"):
            target, cond = _split_if(rest)
            (cur.selects if word == "select" else cur.implies).append((target, cond))
        elif word in ("source", "menu", "endmenu", "choice", "endchoice", "if", "endif", "comment"):
            cur = None if word != "if" else cur
    return out


def _split_if(text: str) -> tuple[str, str | None]:
    at = text.find(" if ")
    if at < 0:
        return text.strip(), None
    return text[:at].strip(), text[at + 4:].strip()


def _is_name(text: str) -> bool:
    return bool(text) and all(c.isalnum() or c == "_" for c in text)


def _expr_tokens(expr: str) -> list[str]:
    out, i, n = [], 0, len(expr)
    while i < n:
        c = expr[i]
        if c in " \t":
            i += 1
        elif expr.startswith(("&&", "||"), i):
            out.append(expr[i:i + 2])
            i += 2
        elif c in "()!=":
            out.append(c)
            i += 1
        else:
            j = i
            while j < n and (expr[j].isalnum() or expr[j] in "_\"'"):
                j += 1
            if j == i:
                j = i + 1
            out.append(expr[i:j])
            i = j
    return out


def _positive_symbols(expr: str) -> list[str]:
    """Symbols an expression needs on (those not under a ``!``, in an ``&&`` chain at top)."""
    toks = _expr_tokens(expr)
    if "||" in toks:
        return []
    out = []
    neg = False
    depth = 0
    for t in toks:
        if t == "!":
            neg = True
        elif t == "(":
            depth += 1
        elif t == ")":
            depth -= 1
        elif t == "&&":
            neg = False
        elif _is_name(t) and not neg and depth == 0 and t not in ("y", "n"):
            out.append(t)
    return out


def evaluate(expr: str, value) -> bool:
    """A Kconfig boolean expression, ``value(name)`` giving each symbol.  Malformed: False."""
    toks = _expr_tokens(expr)
    pos = 0

    def atom() -> bool:
        nonlocal pos
        if pos >= len(toks):
            raise ValueError
        t = toks[pos]
        pos += 1
        if t == "!":
            return not atom()
        if t == "(":
            v = disj()
            if pos < len(toks) and toks[pos] == ")":
                pos += 1
            return v
        if t == "y":
            return True
        if t == "n":
            return False
        return bool(value(t))

    def conj() -> bool:
        nonlocal pos
        v = atom()
        while pos < len(toks) and toks[pos] == "&&":
            pos += 1
            v = atom() and v
        return v

    def disj() -> bool:
        nonlocal pos
        v = conj()
        while pos < len(toks) and toks[pos] == "||":
            pos += 1
            v = conj() or v
        return v

    if len(toks) > 200 or toks.count("(") > 32:
        return False
    try:
        return disj()
    except (ValueError, RecursionError):
        return False


def _closure(symbols: dict[str, Symbol], seeds: tuple[str, ...]) -> dict[str, Step]:
    """Fixpoint: what selects, implies and defaults turn on from ``seeds``.

    Undefined symbols (host features: KVM, LINUX, ...) count as on in
    conditions.  A ``default y [if E]`` symbol is turned on only when its
    condition needs some symbol that is on because of the board, not only the
    target's own symbols: otherwise every board of a target would hold every
    other board's devices.
    """
    board = seeds[0]
    on: dict[str, Step] = {board: Step(board, None, "board")}
    for s in seeds[1:]:
        on[s] = Step(s, board, "target", target=True)

    def value(name: str) -> bool:
        return name in on or _is_host(symbols, name)

    def deps_hold(sym: Symbol) -> bool:
        return all(evaluate(d, value) for d in sym.depends)

    with_defaults = [s for s in symbols.values() if s.defaults]
    changed = True
    rounds = 0
    while changed and rounds < 64:
        changed = False
        rounds += 1
        for name in list(on):
            sym = symbols.get(name)
            if sym is None:
                continue
            for target, cond in sym.selects:
                if target not in on and (cond is None or evaluate(cond, value)):
                    on[target] = Step(target, name, "select", on[name].target)
                    changed = True
            for target, cond in sym.implies:
                tsym = symbols.get(target)
                if target not in on and (cond is None or evaluate(cond, value)) and (tsym is None or deps_hold(tsym)):
                    on[target] = Step(target, name, "imply", on[name].target)
                    changed = True
        for sym in with_defaults:
            if sym.name in on or not deps_hold(sym):
                continue
            for cond in sym.defaults:
                needs = [t for t in _expr_tokens(cond or "") if _is_name(t)]
                needs += [t for d in sym.depends for t in _expr_tokens(d) if _is_name(t)]
                by_board = [t for t in needs if t in on and not on[t].target]
                if not by_board:
                    continue
                if cond is None or evaluate(cond, value):
                    how = f"default y if {cond}" if cond else "default y"
                    on[sym.name] = Step(sym.name, by_board[0], how)
                    changed = True
                    break
    return on


def _is_host(symbols: dict[str, Symbol], name: str) -> bool:
    """A feature of the host or the build (KVM, TCG, LINUX, OPENGL), not of a board.

    Such a symbol is undefined in Kconfig, or defined with no default that no
    symbol selects or implies: only the build system can turn it on.  A board
    can hold what needs it.
    """
    sym = symbols.get(name)
    if sym is None:
        return True
    external = getattr(symbols, "external", None)
    if external is None:
        return False
    return name in external


def _chain(on: dict[str, Step], last: str) -> list[Step]:
    out: list[Step] = []
    seen = set()
    cur = on.get(last)
    while cur is not None and cur.symbol not in seen:
        out.append(cur)
        seen.add(cur.symbol)
        cur = on.get(cur.via) if cur.via else None
    out.reverse()
    return out


# ---------------------------------------------------------------------------
# the question rules' findings need answered


_MODELS: dict[tuple, BuildModel] = {}


def _build_files(snap: Snapshot) -> tuple:
    return tuple(
        (p, oid) for p, oid in snap.files()
        if p.endswith("/meson.build") or p == "meson.build" or p.rsplit("/", 1)[-1].startswith("Kconfig")
    )


def cached_model(snap: Snapshot) -> BuildModel:
    """The build model, shared by every snapshot with the same meson.build and Kconfig files."""
    got = getattr(snap, "_kbuild_model", None)
    if got is not None:
        return got  # this snapshot asked before: no listing of its files again
    key = _build_files(snap)
    got = _MODELS.get(key)
    if got is None:
        got = model_of(snap)
        _MODELS.clear()  # one tree's model at a time: a series rarely changes the build files
        _MODELS[key] = got
    else:
        _remember(snap, got)
    return got


def versioned_boards(index) -> dict[str, str] | None:
    """Board symbol -> board file, for every board file that defines versioned machine types.

    None when a board with versioned machine types is built by no symbol the
    build description names (a tree from before Kconfig, or a board meson
    names through a variable): then qlint cannot tell who holds a file.
    """
    from qlint.analyzer.tree import machines

    model = cached_model(index.snap)
    out: dict[str, str] = {}
    for path in sorted({t.path for t in machines.analyze(index).types}):
        syms = model.board_symbols(path)
        if not syms:
            return None
        for s in syms:
            out[s] = path
    return out or None


def holders(index, path: str) -> Reach | None:
    """Which versioned boards can hold code of ``path``; None when the tree cannot tell."""
    boards = versioned_boards(index)
    if boards is None:
        return None
    reach = cached_model(index.snap).reach(path, boards)
    return reach if reach.known else None


def holders_listing(index, what: str) -> dict:
    """``qlint machines --holds``: for a file or a QOM type name, who can hold it and why."""
    from qlint.analyzer.tree import machines

    paths = [what] if "/" in what or what.endswith((".c", ".h")) else sorted(
        {t.path for t in index.qom_types().get(what, [])})
    out: dict = {"query": what, "files": []}
    if not paths:
        out["error"] = "no such file or QOM type in the tree"
        return out
    boards = versioned_boards(index)
    mm = machines.analyze(index)
    model = cached_model(index.snap)
    for path in paths:
        entry: dict = {"path": path, "built": [
            {"meson": s.meson, "when": [f"CONFIG_{w}" for w in s.when], "arch": s.arch} for s in model.sources_of(path)
        ]}
        if boards is None:
            entry["known"] = False
            entry["why_unknown"] = "a board with versioned machine types is built by no symbol meson.build names"
        elif not entry["built"]:
            entry["known"] = False
            entry["why_unknown"] = "no meson.build names this file"
        else:
            entry["known"] = True
            reach = model.reach(path, boards)
            entry["boards"] = []
            for sym, chain in reach.boards.items():
                types = [t for t in mm.types if t.path == boards[sym]]
                newest = machines.newest_per_board(types)
                entry["boards"].append({
                    "symbol": f"CONFIG_{sym}",
                    "path": boards[sym],
                    "machine_types": [t.name for t in newest],
                    "oldest": [min((x for x in types if x.board == t.board), key=machines._order).name for t in newest],
                    "chain": [{"symbol": s.symbol, "how": s.how, "via": s.via} for s in chain],
                })
        out["files"].append(entry)
    return out


def describe_chain(chain: list[dict]) -> str:
    """``Q35 selects PC_PCI, which selects PC, which implies PCI_DEVICES, ...``: one line."""
    parts = []
    for step in chain:
        how = step["how"]
        if how == "board":
            parts.append(step["symbol"])
        elif how == "target":
            parts.append(f"(target {step['symbol']})")
        elif how in ("select", "imply"):
            parts.append(f"{how} {step['symbol']}")
        else:
            parts.append(f"{step['symbol']} ({how})")
    return " > ".join(parts)
