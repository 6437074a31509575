"""README.md's rule table is what the rules declare, and GitHub renders it as one table."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from qlint.analyzer.rule import all_rules, rules_table

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
UPDATE = os.environ.get("QLINT_UPDATE_GOLDEN") == "1"
BLOCK = re.compile(r"(<!-- rules:begin[^\n]*-->\n\n)(.*?)(\n<!-- rules:end -->)", re.S)
REGENERATE = ("regenerate it with `QLINT_UPDATE_GOLDEN=1 python3 -m pytest -q tests/test_rule_table.py`, "
              "or put the output of `qlint rules --format markdown` between the rules:begin and rules:end markers")


def _cells(row: str) -> list[str]:
    assert row.startswith("| ") and row.endswith(" |"), row
    return re.split(r"(?<!\\) \| ", row[2:-2])


def test_the_readme_table_is_what_the_rules_declare():
    text = README.read_text(encoding="utf-8")
    blocks = BLOCK.findall(text)
    assert len(blocks) == 1, f"README.md needs exactly one rules:begin/rules:end block; {REGENERATE}"
    want = rules_table(all_rules())
    if UPDATE and blocks[0][1] != want:
        README.write_text(BLOCK.sub(lambda m: m.group(1) + want + m.group(3), text), encoding="utf-8")
        blocks = BLOCK.findall(README.read_text(encoding="utf-8"))
    assert blocks[0][1] == want, f"README.md's rule table differs from the rules; {REGENERATE}"


def test_the_table_is_one_table_with_a_row_per_rule():
    rules = all_rules()
    rows = rules_table(rules).splitlines()
    # a blank line, or a line that is not a row, ends a GitHub table: every line is a row
    assert all(rows), "a blank line splits the table"
    head, rule, *body = rows
    assert _cells(head) == ["rule", "severity", "what it catches"]
    assert rule == "|---|---|---|"
    assert len(body) == len(rules)
    for r, row in zip(rules, body, strict=True):
        name, severity, summary = _cells(row)
        module = type(r).__module__.rsplit(".", 1)[-1]
        assert name == f"[`{r.name}`](rules/{module}.py)" and (ROOT / "rules" / f"{module}.py").is_file()
        assert severity.split(" / ") == list(r.severities())
        assert summary.replace("\\|", "|") == r.summary


def test_a_pipe_or_a_newline_in_a_summary_stays_in_its_cell():
    class Odd(type(all_rules()[0])):
        summary = "a | b\nc"
        other_severities = ("note",)

    row = rules_table([Odd()]).splitlines()[2]
    assert "\n" not in row and _cells(row)[1:] == [f"{Odd.severity} / note", "a \\| b c"]


def test_the_command_the_failure_names_prints_the_table():
    r = subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", "rules", "--format", "markdown"],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout == rules_table(all_rules()), r.stderr
