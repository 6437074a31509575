"""The packages of qlint import one way: sources and C model below, rules and output above.

Each unit (a subpackage of qlint.analyzer, a top-level module of it, or the rules
package) may import only the units listed for it.  A new import that crosses a
layer the wrong way fails here, with the line that does it; which modules a rule
may import is tests/test_rule_imports.py's.
"""
from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# unit -> units it may import.  Lower layers first.
ALLOWED: dict[str, set[str]] = {
    "finding": set(),
    "limits": {"change"},
    "change": set(),
    "cmodel": {"change", "limits"},
    "tree": {"change", "limits", "cmodel"},
    "sources": {"change", "limits", "cmodel", "tree"},
    "diff": {"change", "limits", "cmodel", "tree", "finding"},
    "fix": {"change", "limits", "cmodel", "tree", "diff", "finding"},
    "rule": {"finding", "diff", "change", "rules"},  # rule finds the rule modules
    "rules": {"rule", "finding", "diff", "fix", "cmodel"},
    "engine": {"change", "limits", "cmodel", "tree", "sources", "diff", "fix", "finding", "rule"},
    "matrix": {"change", "limits", "cmodel", "tree", "sources", "diff", "fix", "finding"},
    "reporters": {"finding", "rule"},
    "config": {"change", "finding", "rule", "limits"},
    "hooks": {"change"},
    "cli": {"change", "limits", "cmodel", "tree", "sources", "diff", "fix", "finding", "rule",
            "engine", "matrix", "reporters", "config", "hooks"},
    "analyzer": set(),
}

# Imports that cross a layer today, each with the reason it is still there.
# The test fails when one of them is gone, so this list only shrinks.
KNOWN: set[tuple[str, str]] = {
    # series services word their answers (release names) with the wording module
    ("diff", "fix"),
}


def _module_of(path: Path) -> str:
    rel = path.relative_to(ROOT).with_suffix("")
    parts = list(rel.parts)
    parts[0] = "qlint." + parts[0]
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _unit(module: str) -> str | None:
    parts = module.split(".")
    if parts[:2] == ["qlint", "rules"]:
        return "rules"
    if parts[:2] != ["qlint", "analyzer"]:
        return None
    if len(parts) == 2:
        return "analyzer"
    return parts[2]


def _imports(path: Path):
    tree = ast.parse(path.read_text(encoding="utf-8"))
    me = _module_of(path)
    package = me if path.name == "__init__.py" else me.rsplit(".", 1)[0]
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                if node.level > 1:
                    base = base[: -(node.level - 1)]
                module = ".".join(base + ([node.module] if node.module else []))
            else:
                module = node.module or ""
            if _unit(module) in (None, "analyzer") or module.count(".") == 2:
                # `from qlint.analyzer.diff import review` names modules
                named = [f"{module}.{a.name}" for a in node.names if _is_module(f"{module}.{a.name}")]
                for name in named:
                    yield node.lineno, name
                if named:
                    continue
            yield node.lineno, module


def _is_module(dotted: str) -> bool:
    rel = Path(*dotted.split(".")[1:])
    return (ROOT / rel).with_suffix(".py").exists() or (ROOT / rel / "__init__.py").exists()


def _sources():
    for top in ("analyzer", "rules"):
        yield from sorted((ROOT / top).rglob("*.py"))


def _crossings():
    for path in _sources():
        me = _unit(_module_of(path))
        for lineno, module in _imports(path):
            unit = _unit(module)
            if unit is None or unit == me:
                continue
            yield path, lineno, me, unit, module


# Module import cycles (function-level imports count: they only hide a cycle).
KNOWN_CYCLES: set[frozenset[str]] = {
    # a range's point releases need the history reader, which reads objects through gitsrc
    frozenset({"qlint.analyzer.sources.gitsrc", "qlint.analyzer.sources.history"}),
    # the cache's row kinds name the index's and the board reader's types; both store rows in it
    frozenset({"qlint.analyzer.tree.cache", "qlint.analyzer.tree.index", "qlint.analyzer.tree.machines"}),
}


def _module_graph():
    graph: dict[str, set[str]] = {}
    for path in _sources():
        me = _module_of(path)
        deps = graph.setdefault(me, set())
        for _, module in _imports(path):
            if _unit(module) is not None and _is_module(module) and module != me:
                deps.add(module)
    return graph


def _cycles(graph):
    """Strongly connected components of more than one module (Tarjan, iterative)."""
    index, low, on, stack, out, counter = {}, {}, set(), [], [], [0]
    for root in graph:
        if root in index:
            continue
        work = [(root, iter(sorted(graph.get(root, ()))))]
        index[root] = low[root] = counter[0]
        counter[0] += 1
        stack.append(root)
        on.add(root)
        while work:
            node, it = work[-1]
            nxt = next(it, None)
            if nxt is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    comp = set()
                    while True:
                        top = stack.pop()
                        on.discard(top)
                        comp.add(top)
                        if top == node:
                            break
                    if len(comp) > 1:
                        out.append(frozenset(comp))
            elif nxt not in index:
                index[nxt] = low[nxt] = counter[0]
                counter[0] += 1
                stack.append(nxt)
                on.add(nxt)
                work.append((nxt, iter(sorted(graph.get(nxt, ())))))
            elif nxt in on:
                low[node] = min(low[node], index[nxt])
    return out


def test_no_import_cycles():
    cycles = [c for c in _cycles(_module_graph()) if c not in KNOWN_CYCLES]
    assert not cycles, "modules importing each other: " + "; ".join(
        " <-> ".join(sorted(c)) for c in cycles)


def test_known_cycles_still_exist():
    gone = KNOWN_CYCLES - set(_cycles(_module_graph()))
    assert not gone, "remove from KNOWN_CYCLES, these no longer happen: " + "; ".join(
        " <-> ".join(sorted(c)) for c in gone)


def test_every_unit_is_placed():
    units = {_unit(_module_of(p)) for p in _sources()}
    assert units <= set(ALLOWED), f"units with no layer: {sorted(units - set(ALLOWED))}"


def test_imports_point_down_the_layers():
    bad = []
    for path, lineno, me, unit, module in _crossings():
        if unit in ALLOWED[me] or (me, unit) in KNOWN:
            continue
        bad.append(f"{path.relative_to(ROOT)}:{lineno}: {me} imports {module} ({unit})")
    assert not bad, "imports against the layers:\n" + "\n".join(bad)


def test_known_crossings_still_exist():
    seen = {(me, unit) for _, _, me, unit, _ in _crossings()}
    gone = KNOWN - seen
    assert not gone, f"remove from KNOWN, these no longer happen: {sorted(gone)}"


def test_the_layering_check_catches_an_upward_import(tmp_path):
    """The checker itself sees a crossing (so an empty result above means something)."""
    global ROOT
    fake = tmp_path / "analyzer" / "cmodel"
    fake.mkdir(parents=True)
    (tmp_path / "rules").mkdir()
    (fake / "x.py").write_text("from qlint.analyzer.engine import review\n")
    saved, ROOT = ROOT, tmp_path
    try:
        found = [(me, unit) for _, _, me, unit, _ in _crossings()]
    finally:
        ROOT = saved
    assert found == [("cmodel", "engine")]


def test_the_cache_format_reads_modules_that_exist():
    """The fact cache's format hashes the modules that decide its rows: a move must not hide one."""
    from qlint.analyzer.tree import cache

    root = Path(cache.__file__).resolve().parents[1]
    missing = [name for name in cache._FORMAT_SOURCES if not (root / name).is_file()]
    assert not missing, f"cache._FORMAT_SOURCES names modules that are not there: {missing}"
