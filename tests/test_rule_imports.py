"""Rules read the typed diff, nothing else.

A rule imports only the diff API (``diff.api``; the review itself comes with ``rule``), the
model types, the wording (``fix.wording``), the fix plans (``fix.fixplan``) and ``rule``: not the
prefilter, the tree index, the index pool, the matrix command, the semantic diff's internals,
git or tree-sitter.  It runs no regex (``re`` is not imported at all: a fact a rule needs of
the C text is named in the model or the diff, with a test on a C snippet) and reads no file
bytes.  Each rule module is parsed with ``ast``, so imports inside functions count too.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

RULES = Path(__file__).resolve().parents[1] / "rules"

ALLOWED = {
    "__future__",
    "qlint.analyzer.fix.wording",
    "qlint.analyzer.diff.api",
    "qlint.analyzer.fix.fixplan",
    "qlint.analyzer.cmodel.model",
    "qlint.analyzer.rule",
}

# attributes that reach past the typed diff: the index pool, file bytes, the series' sources, and
# the untyped answers the typed diff wraps
FORBIDDEN_ATTRIBUTES = {
    "pool", "old_data", "new_data", "read", "read_oid", "blob_id", "grep", "series",
    "compat_added", "resolved_added_entries", "array_named", "write_changes", "guarded_changes",
    "prop_is_new", "guard_props", "guards_props", "modified_pairs",
}

FORBIDDEN_NAMES = {"__import__", "open", "eval", "exec", "compile"}


def _is_package(dotted: str) -> bool:
    """A module or package of qlint's source tree (so ``from PKG import NAME`` imports a module)."""
    rel = Path(*dotted.split(".")[1:])
    root = RULES.parent
    return (root / rel).with_suffix(".py").is_file() or (root / rel / "__init__.py").is_file()


def violations(source: str, filename: str = "<rule>") -> list[str]:
    """What in a rule module's ``source`` reaches outside the rules' API."""
    out = []
    for node in ast.walk(ast.parse(source, filename)):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name not in ALLOWED:
                    out.append(f"{filename}:{node.lineno}: imports {alias.name}")
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                out.append(f"{filename}:{node.lineno}: relative import")
            elif node.module in ALLOWED:
                continue
            elif node.module.startswith("qlint.analyzer") and node.module.count(".") <= 2 and \
                    all(f"{node.module}.{alias.name}" in ALLOWED or _is_package(f"{node.module}.{alias.name}")
                        for alias in node.names):
                # `from qlint.analyzer.fix import wording` names a module of a package
                for alias in node.names:
                    if f"{node.module}.{alias.name}" not in ALLOWED:
                        out.append(f"{filename}:{node.lineno}: imports {node.module}.{alias.name}")
            else:
                out.append(f"{filename}:{node.lineno}: imports from {node.module}")
        elif isinstance(node, ast.Attribute) and node.attr in FORBIDDEN_ATTRIBUTES:
            out.append(f"{filename}:{node.lineno}: reads .{node.attr}")
        elif isinstance(node, ast.Name) and node.id in FORBIDDEN_NAMES:
            out.append(f"{filename}:{node.lineno}: uses {node.id}")
    return out


def _rule_files() -> list[Path]:
    return sorted(p for p in RULES.glob("*.py") if p.name != "__init__.py")


def test_there_are_rules_to_check():
    assert len(_rule_files()) >= 10


@pytest.mark.parametrize("path", _rule_files(), ids=lambda p: p.stem)
def test_rule_reads_only_the_typed_diff(path: Path):
    assert violations(path.read_text(encoding="utf-8"), path.name) == []


def test_the_check_catches_what_it_forbids():
    bad = '''
import re
from qlint.analyzer.fix import wording
from qlint.analyzer.diff import propdiff
from qlint.analyzer.tree.index import TreeIndex
from qlint.analyzer.rule import Rule

def check(review):
    from qlint.analyzer.diff.prefilter import entries_added
    idx = review.pool.get(review.patch.new)
    f = review.patch.changed("hw/x.c")
    return re.search(rb"x", f.old_data), idx.read("hw/x.c")
'''
    assert sorted(v.split(": ", 1)[1] for v in violations(bad)) == sorted([
        "imports re", "imports qlint.analyzer.diff.propdiff", "imports from qlint.analyzer.tree.index",
        "imports from qlint.analyzer.diff.prefilter", "reads .pool", "reads .old_data", "reads .read",
    ])
    ok = '''
from __future__ import annotations
from qlint.analyzer.fix import wording
from qlint.analyzer.diff.api import norm_value
from qlint.analyzer.rule import Review, Rule
'''
    assert violations(ok) == []
