"""Hostile C through the real review path: deep nesting, long chains, bytes that are not UTF-8,
comments never closed, huge arrays and lines.

Each case commits a shape into a repository built from the fixture tree and runs ``qlint``
on it, as a CI bot would: the review ends in findings that are right where the C is fine, or
in qlint's own one-line error naming the limit (docs/limits.md), never another exception.
What these shapes cost is measured in bench/hostile_c.py, not here.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pygit2
import pytest

from qlint.analyzer.cmodel import cparse, lexemes
from qlint.analyzer import limits
from qlint.analyzer.cli import main
from qlint.analyzer.sources.fixture_repo import build, commit_change

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AER = (FIXTURES / "tree/hw/pci/pcie_aer.c").read_bytes()
PC = (FIXTURES / "tree/hw/i386/pc.c").read_bytes()
MACHINE = (FIXTURES / "tree/hw/core/machine.c").read_bytes()
WRITE = b"pci_set_long(dev->config + offset + PCI_ERR_ROOT_COMMAND, 1);"


@pytest.fixture(scope="module")
def base(tmp_path_factory):
    """(repository path, base commit) of the fixture tree."""
    dest = tmp_path_factory.mktemp("hostile") / "repo"
    _repo, base, _ = build(FIXTURES / "tree", [], dest)
    return dest, base


def _commit(base, files: dict[str, bytes]) -> str:
    """A commit on the base that sets ``files`` (path -> bytes)."""
    path, parent = base
    return commit_change(pygit2.Repository(str(path)), parent, "hostile\n", None, files=files)


def _qlint(capsys, *args) -> tuple[int, str, str]:
    with pytest.raises(SystemExit) as exc:
        main(list(args))
    out, err = capsys.readouterr()
    return exc.value.code, out, err


def _review(capsys, base, files: dict[str, bytes]) -> tuple[int, dict | None, str]:
    tip = _commit(base, files)
    code, out, err = _qlint(capsys, "-C", str(base[0]), "--jobs", "1", "--format", "json", f"{base[1]}..{tip}")
    _one_line_or_nothing(code, err)
    return code, json.loads(out) if code in (0, 1) else None, err


def _one_line_or_nothing(code: int, err: str) -> None:
    """Exit 0/1 with a review, or exit 2 with one line of qlint's own that names a limit."""
    assert code in (0, 1, 2), (code, err)
    if code == 2:
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("qlint: "), err
        assert "internal error" not in err and "(limits." in err, err


def _aer_with(body: bytes) -> bytes:
    """pcie_aer.c with ``body`` inserted in pcie_aer_init after its capability is added."""
    anchor = b"    dev->aer_cap = offset;\n"
    assert anchor in AER
    return AER.replace(anchor, anchor + body + b"\n", 1)


def _line_of(data: bytes, needle: bytes) -> int:
    return data[:data.index(needle)].count(b"\n") + 1


def _unguarded_at(report: dict, line: int) -> list[dict]:
    return [f for f in report["findings"] if f["rule"] == "pci-config-unguarded" and f["path"] == "hw/pci/pcie_aer.c"
            and f["line"] <= line <= f["end_line"]]


# --- deep nesting: no RecursionError, the write inside is found -------------------------------


@pytest.mark.parametrize("shape", ["blocks", "ifs", "else-ifs"])
def test_a_write_nested_490_deep_is_reviewed(capsys, base, shape):
    n = 490
    if shape == "blocks":
        body = b"    " + b"{" * n + WRITE + b"}" * n
    elif shape == "ifs":
        body = b"".join(b"    if (size > %d)\n" % i for i in range(n)) + b"        " + WRITE
    else:
        body = b"    if (size > 0) { } " + b"".join(b"else if (size > %d) { } " % i for i in range(n)) + b"else { " + WRITE + b" }"
    data = _aer_with(body)
    code, report, err = _review(capsys, base, {"hw/pci/pcie_aer.c": data})
    assert code == 1, err
    assert _unguarded_at(report, _line_of(data, WRITE)), report["findings"]


@pytest.mark.parametrize("op", [b"&&", b"||"])
def test_a_guard_of_970_terms_is_read_whole(capsys, base, op):
    terms = b" %s " % op
    cond = terms.join(b"s->flag%d" % i for i in range(970))
    data = _aer_with(b"    if (" + cond + b") {\n        " + WRITE + b"\n    }")
    code, report, err = _review(capsys, base, {"hw/pci/pcie_aer.c": data})
    assert code == 1, err
    assert _unguarded_at(report, _line_of(data, WRITE))
    # the model holds every term, in order, in a tree log2(970) deep
    model = cparse.parse("hw/pci/pcie_aer.c", data)
    (write,) = [w for w in model.writes if "PCI_ERR_ROOT_COMMAND" in w.offset]
    cond = write.guards[-1].cond
    atoms, depth, stack = [], 0, [(cond, 1)]
    while stack:
        c, d = stack.pop()
        depth = max(depth, d)
        if c[0] in ("and", "or"):
            stack += [(c[2], d + 1), (c[1], d + 1)]
        else:
            atoms.append(c[1])
    assert atoms == [f"flag{i}" for i in range(970)]
    assert depth <= 12


def test_a_sum_of_970_terms_is_one_offset(capsys, base):
    offset = b" + ".join(b"R%d" % i for i in range(970))
    data = _aer_with(b"    pci_set_long(dev->config + offset + " + offset + b", 1);")
    code, report, err = _review(capsys, base, {"hw/pci/pcie_aer.c": data})
    assert code == 1, err
    model = cparse.parse("hw/pci/pcie_aer.c", data)
    (write,) = [w for w in model.writes if "R969" in w.offset]
    assert set(write.offset.split("+")) == {"offset"} | {f"R{i}" for i in range(970)}


def test_a_condition_nested_past_the_limit_is_one_line_naming_it(capsys, base):
    depth = limits.CONDITION_DEPTH + 10
    data = _aer_with(b"    if (" + b"!(" * depth + b"size" + b")" * depth + b") {\n        " + WRITE + b"\n    }")
    code, _report, err = _review(capsys, base, {"hw/pci/pcie_aer.c": data})
    assert code == 2 and "limits.CONDITION_DEPTH" in err, err


def test_early_exits_that_make_reading_quadratic_are_one_line_naming_the_budget(capsys, base):
    exits = b"".join(b"    if (size == %d) return -EINVAL;\n" % i for i in range(3000))
    code, _report, err = _review(capsys, base, {"hw/pci/pcie_aer.c": _aer_with(exits + b"    " + WRITE)})
    assert code == 2 and "limits.READ_BUDGET_PER_BYTE" in err and "hw/pci/pcie_aer.c" in err, err


def test_macro_arguments_400_deep_leave_that_machine_type_out(capsys, base):
    deep = b"F(" * 400 + b"pc_q35_7_1_machine_options" + b")" * 400
    board = PC + (b"#define F(x) x\n"
                  b"static void pc_q35_7_0_machine_options(MachineClass *m)\n{\n"
                  b"    pc_q35_7_1_machine_options(m);\n}\n"
                  b'DEFINE_Q35_MACHINE(v7_0, "pc-q35-7.0", NULL, ' + deep + b");\n"
                  b'DEFINE_Q35_MACHINE(v6_2, "pc-q35-6.2", NULL, F(F(pc_q35_7_0_machine_options)));\n')
    tip = _commit(base, {"hw/i386/pc.c": board})
    code, out, err = _qlint(capsys, "-C", str(base[0]), "machines", "--format", "json", tip)
    assert code == 0, err
    names = {t["name"] for t in json.loads(out)["machine_types"]}
    assert {"pc-q35-8.0", "pc-q35-7.2", "pc-q35-7.1", "pc-q35-6.2"} <= names  # shallow macros expand
    assert "pc-q35-7.0" not in names  # over limits.MACRO_ARG_DEPTH: left out, no error


# --- bytes that are not UTF-8 --------------------------------------------------------------------


def test_bytes_that_are_not_utf8_are_kept_and_the_cache_changes_nothing(capsys, base):
    data = _aer_with(b"    " + WRITE) + (
        b"#define VMSTATE_ACME(_f\xff, _s) VMSTATE_UINT32(_f\xff, _s)\n"
        b"#define ACME_PROPS(n\xe9) DEFINE_PROP_BOOL(n\xe9, PCIDevice, f, true)\n"
        b"/* caf\xe9 */ static const char *acme_\xff = \"\xfe\";\n")
    tip = _commit(base, {"hw/pci/pcie_aer.c": data})
    runs = [_qlint(capsys, "-C", str(base[0]), "--jobs", "1", "--format", "json", f"{base[1]}..{tip}")
            for _ in range(2)]  # an empty cache, then the one the first run filled
    assert [r[0] for r in runs] == [1, 1], runs[0][2]
    assert runs[0][1] == runs[1][1]
    model = cparse.parse("hw/pci/pcie_aer.c", data)
    (vm,) = [v for v in model.vmstate_macros if v.name == "VMSTATE_ACME"]
    assert vm.params == ("_f\udcff", "_s")
    assert model.prop_macros["ACME_PROPS"][0] == ("n\udce9",)


# --- comments never closed -------------------------------------------------------------------------


def test_a_comment_never_closed_runs_to_the_end_of_the_file_as_for_cpp(capsys, base):
    """What follows a /* with no */ is comment for the compiler: a write there is no write."""
    hidden = b"pci_set_long(dev->config + offset + PCI_ERR_ROOT_STATUS, 2);"
    data = _aer_with(b"    " + WRITE + b"\n    " + b"/* " * 2000 + b"\n    " + hidden)
    code, report, err = _review(capsys, base, {"hw/pci/pcie_aer.c": data})
    assert code == 1, err
    assert _unguarded_at(report, _line_of(data, WRITE))
    assert not _unguarded_at(report, _line_of(data, hidden))
    assert not any("PCI_ERR_ROOT_STATUS" in w.offset for w in cparse.parse("x.c", data).writes)


def test_a_line_of_20k_unclosed_comments_is_reviewed(capsys, base):
    data = _aer_with(b"    " + WRITE) + b"/* " * 20000 + b"\n"
    code, report, err = _review(capsys, base, {"hw/pci/pcie_aer.c": data})
    assert code == 1, err
    assert _unguarded_at(report, _line_of(data, WRITE))


def test_a_parse_over_the_time_limit_is_one_line_naming_it(monkeypatch):
    monkeypatch.setattr(limits, "PARSE_SECONDS", 0.05)
    with pytest.raises(limits.LimitError, match=r"^x\.c: .*\(limits\.PARSE_SECONDS; see docs/limits\.md\)$"):
        cparse.parse("x.c", b"/ *" * 20000)  # quadratic in tree-sitter-c: a few seconds
    assert cparse.parse("y.c", AER).writes  # the parser is usable again


# --- many entries, huge lines ----------------------------------------------------------------------

_ENTRY = b'    { "acme-nic", "rx-queues", "1" },\n'


def test_20k_compat_entries_each_get_their_finding(capsys, base):
    entries = b"".join(b'    { "acme-nic", "p%d", "1" },\n' % i for i in range(20000))
    code, report, err = _review(capsys, base, {"hw/core/machine.c": MACHINE.replace(_ENTRY, entries, 1)})
    assert code == 1, err
    bad = [f for f in report["findings"] if f["rule"] == "compat-entry-unknown-property"]
    assert len(bad) == 20000
    assert [f["line"] for f in bad] == list(range(7, 20007))
    assert all(len(f["quoted"]) == 1 for f in bad)


def _run_limited(args: list[str], memory: int) -> subprocess.CompletedProcess:
    """qlint in a process that may not take more than ``memory`` bytes."""
    code = ("import resource, sys; resource.setrlimit(resource.RLIMIT_AS, (%d, %d)); "
            "from qlint.analyzer.cli import main; main(sys.argv[1:])" % (memory, memory))
    return subprocess.run([sys.executable, "-c", code, *args], capture_output=True, text=True)


@pytest.mark.parametrize("entries,limit", [(400_000, "C_FILE_BYTES"), (150_000, "COMPAT_ENTRIES")])
def test_a_huge_initializer_line_is_one_line_naming_the_limit(base, tmp_path, entries, limit):
    line = b"".join(b'{ "acme-nic", "p%d", "1" }, ' % i for i in range(entries)) + b"\n"
    tip = _commit(base, {"hw/core/machine.c": MACHINE.replace(_ENTRY, line, 1)})
    r = _run_limited(["-C", str(base[0]), "--jobs", "1", f"{base[1]}..{tip}"], 2 << 30)
    _one_line_or_nothing(r.returncode, r.stderr)
    assert r.returncode == 2 and f"limits.{limit}" in r.stderr, r.stderr


def test_a_long_quoted_line_is_cut(capsys, base):
    data = _aer_with(b"    " + WRITE + b" /* " + b"x" * 5000 + b" */")
    code, report, err = _review(capsys, base, {"hw/pci/pcie_aer.c": data})
    (f,) = _unguarded_at(report, _line_of(data, WRITE))
    quoted = [q for q in f["quoted"] if "PCI_ERR_ROOT_COMMAND" in q]
    assert quoted and all(len(q) <= limits.QUOTE_LINE_CHARS + 4 for q in f["quoted"]) and quoted[0].endswith("...")


# --- the linear scanners find what the plain patterns find ----------------------------------------

from hypothesis import given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

_BYTES_LEXEMES = re.compile(rb'"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'|//[^\n]*|/\*(?:[^*]|\*(?!/))*\*/')
_STR_LEXEMES = re.compile(r'//[^\n]*|/\*.*?\*/|"(?:[^"\\\n]|\\.)*"|\'(?:[^\'\\\n]|\\.)*\'', re.S)
_COMMENTS = re.compile(r"/\*.*?\*/|//[^\n]*", re.S)
_C_TEXT = st.lists(st.sampled_from(['"', "'", "/", "*", "\\", "\n", "a", " ", "é"]), max_size=30).map("".join)


@settings(max_examples=2000, deadline=None)
@given(_C_TEXT)
def test_lexeme_spans_are_those_of_the_regular_expressions(text):
    assert list(lexemes.spans(text.encode())) == [m.span() for m in _BYTES_LEXEMES.finditer(text.encode())]
    assert list(lexemes.spans(text, dotall=True)) == [m.span() for m in _STR_LEXEMES.finditer(text)]
    assert list(lexemes.spans(text, literals=False)) == [m.span() for m in _COMMENTS.finditer(text)]
    assert lexemes.strings_and_words(text) == re.findall(r'"((?:[^"\\]|\\.)*)"|(\w+)', text)
    b = text.encode()
    assert list(lexemes.quoted(b)) == [m.span() for m in re.finditer(rb'"(?:[^"\\\n]|\\.)*"', b)]
    assert list(lexemes.quoted(b, newline=True)) == [m.span() for m in re.finditer(rb'"(?:[^"\\]|\\.)*"', b)]
    cut = lexemes.unclosed_comment(b)
    assert cut is None or (b[cut:cut + 2] == b"/*" and b.find(b"*/", cut + 2) < 0)


_PLAIN_ENTRY = re.compile(
    r"\.driver\s*=\s*((?:\"(?:[^\"\\]|\\.)*\"|\w+)(?:\s*(?:\"(?:[^\"\\]|\\.)*\"|\w+))*)\s*,\s*"
    r"\.property\s*=\s*(\"(?:[^\"\\]|\\.)*\"|\w+)\s*,\s*"
    r"\.value\s*=\s*(\"(?:[^\"\\]|\\.)*\"|[^,}\n]+?)\s*,?\s*(?:\\\s*)?[,}]",
    re.S,
)


@settings(max_examples=2000, deadline=None)
@given(st.sampled_from([".driver = a, .property = b, .value =", ".driver = \"a\" TYPE_X , .property=\"p\",.value=", ""]),
       st.lists(st.sampled_from([" ", "\n", "\t", ",", "}", "x", "\\", '"', ".value", "=", "a b"]), max_size=12))
def test_the_compat_macro_entry_pattern_finds_what_the_plain_one_finds(head, tail):
    text = head + "".join(tail)
    assert ([(m.span(), m.groups()) for m in cparse._MACRO_ENTRY_RE.finditer(text)]
            == [(m.span(), m.groups()) for m in _PLAIN_ENTRY.finditer(text)])


def test_scans_stay_linear_on_their_worst_inputs():
    """Inputs on which the plain patterns took minutes; each must give the plain answer (the
    cost is in bench/hostile_c.py)."""
    from qlint.analyzer.tree import index, machines
    from qlint.analyzer.diff import propdiff, vmdiff

    assert cparse._MACRO_ENTRY_RE.search(".driver = " + "a" * 5000 + "!") is None
    assert index._defines_parent(b"#define A(x) \\\n" * 20000) is False
    assert index._defines_parent(b"#define A(x) \\\n    .parent = TYPE_X, \\\n") is True
    assert vmdiff._sets_prop("qdev_prop_set_" * 20000 + '"p"', "p") is False
    assert vmdiff._sets_prop('qdev_prop_set_bit(dev, "p", true);', "p") is True
    assert propdiff._CALL_OR_MACRO.search("A" * 20000 + "!") is None
    assert [t.text for t in machines._tokens('"\\' * 20000)][:3] == ['"', "\\", '"']


# --- the limits are documented -------------------------------------------------------------------


def test_every_limit_is_in_docs_limits_md_with_its_value():
    doc = (Path(__file__).resolve().parents[1] / "docs" / "limits.md").read_text()
    names = [n for n in dir(limits) if n.isupper()]
    assert names
    for name in names:
        value = getattr(limits, name)
        row = next((ln for ln in doc.splitlines() if ln.startswith("|") and f"`{name}`" in ln), None)
        assert row is not None, name
        shown = re.sub(r"[,\s]", "", row.split("|")[2])
        assert shown.replace("MiB", "") in (f"{value}", f"{value >> 20}", f"{value >> 20}MiB"), (name, row)
