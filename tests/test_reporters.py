"""Every output format on one canonical report: golden files, plus checks of each format's contract.

The canonical report is the bundled demo series (``qlint demo``): fixture_repo
commits with a fixed signature and time, so commit ids are the same on every
run.  ``QLINT_UPDATE_GOLDEN=1 python3 -m pytest tests/test_reporters.py``
rewrites tests/golden/<format>.golden; review the diff before committing it.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from qlint.analyzer import reporters
from qlint.analyzer.change import Patch, Series
from qlint.analyzer.engine import Report, review
from qlint.analyzer.finding import Finding, Related
from qlint.analyzer.sources.fixture_repo import build_demo
from qlint.analyzer.sources.gitsrc import review_range
from qlint.analyzer.rule import all_rules

GOLDEN = Path(__file__).resolve().parent / "golden"
UPDATE = os.environ.get("QLINT_UPDATE_GOLDEN") == "1"


@pytest.fixture(scope="module")
def demo_report(tmp_path_factory) -> Report:
    dest = tmp_path_factory.mktemp("demo") / "qemu"
    _, base, ids = build_demo(dest)
    return review(review_range(str(dest), f"{base}..{ids[-1]}"))


def _patch(index: int, total: int, subject: str, message_id: str | None = None) -> Patch:
    return Patch(ident=f"{index:040x}", short=f"{index:010x}", subject=subject, files=[], old=None, new=None,
                 index=index, total=total, message_id=message_id)


def _finding(**kw) -> Finding:
    base = dict(rule="pci-config-unguarded", severity="error", message="a one-line message", path="hw/a.c",
                line=10, end_line=12, function="f", patch_index=1, patch_total=1, details="Why it breaks.",
                quoted=["+    x = 1;"], anchor="x")
    base.update(kw)
    return Finding(**base)


def _report(patches: list[Patch], findings: list[Finding]) -> Report:
    return Report(Series(patches=patches, base=None, tip=None, description="A..B"), findings)


def _render(fmt: str, report: Report) -> str:
    return reporters.get(fmt).render(report)


# --- golden output -----------------------------------------------------------------------------


@pytest.mark.parametrize("fmt", reporters.formats())
def test_golden(fmt, demo_report):
    path = GOLDEN / f"{fmt}.golden"
    out = _render(fmt, demo_report)
    if UPDATE:
        GOLDEN.mkdir(exist_ok=True)
        path.write_text(out, encoding="utf-8", newline="\n")
    assert path.exists(), f"no golden for --format {fmt}: run with QLINT_UPDATE_GOLDEN=1 and review {path}"
    assert out == path.read_text(encoding="utf-8"), (
        f"--format {fmt} differs from {path.name}; if the change is intended, "
        "rerun with QLINT_UPDATE_GOLDEN=1 and review the diff"
    )


def test_demo_has_findings_in_two_patches(demo_report):
    """The goldens only mean something if the canonical report exercises grouping and severities."""
    assert {f.patch_index for f in demo_report.findings} >= {1, 4}
    assert {f.severity for f in demo_report.findings} >= {"error", "note"}


@pytest.mark.parametrize("fmt", ["sarif", "gitlab", "rdjsonl", "github", "email"])
def test_cli_demo_prints_the_format(fmt):
    r = subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", "demo", "--format", fmt],
                       capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    assert r.stdout == (GOLDEN / f"{fmt}.golden").read_text(encoding="utf-8")


# --- SARIF -------------------------------------------------------------------------------------


def _sarif(report: Report) -> dict:
    return json.loads(_render("sarif", report))


def test_sarif_required_keys_and_rule_indexes(demo_report):
    doc = _sarif(demo_report)
    assert doc["$schema"] == "https://json.schemastore.org/sarif-2.1.0.json"
    assert doc["version"] == "2.1.0"
    (run,) = doc["runs"]
    driver = run["tool"]["driver"]
    assert driver["name"] == "qlint"
    rules = driver["rules"]
    assert [r["id"] for r in rules] == [r.name for r in all_rules()]
    levels = {"error": "error", "warning": "warning", "note": "note"}
    for desc, rule in zip(rules, all_rules()):
        assert desc["name"] == rule.name
        assert desc["shortDescription"]["text"] == rule.summary
        assert desc["fullDescription"]["text"] and desc["help"]["markdown"] == rule.doc()
        assert desc["defaultConfiguration"]["level"] == levels[rule.severity]
    assert len(run["results"]) == len(demo_report.findings)
    for res, f in zip(run["results"], demo_report.findings):
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"] == f.rule
        assert res["level"] == levels[f.severity]
        assert res["message"]["text"].startswith(f.message + "\n\n")
        loc = res["locations"][0]["physicalLocation"]
        assert loc["artifactLocation"]["uri"] == f.path
        assert loc["region"] == {"startLine": f.line, "endLine": f.end_line}
        assert res["partialFingerprints"] == {"qlint/v1": f.fingerprint}
        assert res["properties"]["commit"] == f.commit
        assert "fixes" not in res


def test_sarif_related_locations_and_unknown_rule():
    f = _finding(related=[Related("hw/pci/pci.c", 80, "property defined here")], details="")
    g = _finding(rule="no-such-rule", severity="warning")
    run = _sarif(_report([_patch(1, 1, "s")], [f, g]))["runs"][0]
    res, other = run["results"]
    assert res["message"]["text"] == f.message  # no trailing blank lines without details
    (rel,) = res["relatedLocations"]
    assert rel["message"]["text"] == "property defined here"
    assert rel["physicalLocation"]["artifactLocation"]["uri"] == "hw/pci/pci.c"
    assert rel["physicalLocation"]["region"]["startLine"] == 80
    assert "ruleIndex" not in other and other["level"] == "warning"  # never an index to the wrong rule


# --- GitLab Code Quality -----------------------------------------------------------------------


def test_gitlab_fields_and_unique_fingerprints(demo_report):
    text = _render("gitlab", demo_report)
    assert text.count("\n") == 1  # compact: one line
    issues = json.loads(text)
    assert isinstance(issues, list) and len(issues) == len(demo_report.findings)
    sev = {"error": "major", "warning": "minor", "note": "info"}
    for issue, f in zip(issues, demo_report.findings):
        assert issue == {"description": f.message, "check_name": f.rule, "fingerprint": f.fingerprint,
                         "severity": sev[f.severity], "location": {"path": f.path, "lines": {"begin": f.line}}}
    fps = [i["fingerprint"] for i in issues]
    assert len(set(fps)) == len(fps)


def test_gitlab_fingerprints_survive_a_line_shift(demo_report):
    shifted = [dataclasses.replace(f, line=f.line + 5, end_line=f.end_line + 5) for f in demo_report.findings]
    before = json.loads(_render("gitlab", demo_report))
    after = json.loads(_render("gitlab", Report(demo_report.series, shifted)))
    assert [i["fingerprint"] for i in before] == [i["fingerprint"] for i in after]
    assert [i["location"]["lines"]["begin"] for i in after] == [f.line for f in shifted]


def test_gitlab_duplicate_fingerprints_are_made_unique():
    f = _finding()
    issues = json.loads(_render("gitlab", _report([_patch(1, 1, "s")], [f, dataclasses.replace(f, line=40)])))
    assert [i["fingerprint"] for i in issues] == [f.fingerprint, f.fingerprint + "-2"]


# --- reviewdog rdjsonl -------------------------------------------------------------------------


def test_rdjsonl_each_line_is_a_diagnostic(demo_report):
    lines = _render("rdjsonl", demo_report).splitlines()
    assert len(lines) == len(demo_report.findings)
    sev = {"error": "ERROR", "warning": "WARNING", "note": "INFO"}
    for line, f in zip(lines, demo_report.findings):
        d = json.loads(line)
        assert d["message"].startswith(f.message + "\n\n" + f.details)
        assert d["location"] == {"path": f.path, "range": {"start": {"line": f.line}, "end": {"line": f.end_line}}}
        assert d["severity"] == sev[f.severity]
        assert d["source"] == {"name": "qlint"} and d["code"] == {"value": f.rule}
        assert "suggestions" not in d
        if f.suggestion:
            assert f.suggestion.splitlines()[0] in d["message"]


def test_rdjsonl_related_locations():
    f = _finding(related=[Related("hw/pci/pci.c", 80, "property defined here")])
    (line,) = _render("rdjsonl", _report([_patch(1, 1, "s")], [f])).splitlines()
    assert json.loads(line)["related_locations"] == [
        {"message": "property defined here", "location": {"path": "hw/pci/pci.c", "range": {"start": {"line": 80}}}}
    ]


# --- GitHub Actions ----------------------------------------------------------------------------


def test_github_every_line_is_a_command(demo_report):
    lines = _render("github", demo_report).splitlines()
    assert len(lines) == len(demo_report.findings)
    for line, f in zip(lines, demo_report.findings):
        assert re.match(r"^::(error|warning|notice) file=", line), line
        assert f"file={f.path},line={f.line},endLine={f.end_line},title={f.rule}::" in line
    assert lines[0].startswith("::error ") and any(line.startswith("::notice ") for line in lines)


def test_github_escaping():
    f = _finding(severity="warning", path="hw/a,b:c%.c", message="100% done: a, b", details="line1\r\nline2")
    (line,) = _render("github", _report([_patch(1, 1, "s")], [f])).splitlines()
    assert line == (
        "::warning file=hw/a%2Cb%3Ac%25.c,line=10,endLine=12,title=pci-config-unguarded"
        "::100%25 done: a, b%0A%0Aline1%0D%0Aline2"
    )


# --- email -------------------------------------------------------------------------------------


def test_email_blocks_in_patch_order(demo_report):
    text = _render("email", demo_report)
    heads = [line for line in text.splitlines() if line.startswith("[PATCH ")]
    indexes = [int(re.match(r"\[PATCH (\d+)/(\d+)\]", h).group(1)) for h in heads]
    assert indexes == sorted(indexes) and set(indexes) == {f.patch_index for f in demo_report.findings}
    assert any(line.startswith("> +") for line in text.splitlines())
    for f in demo_report.findings:
        assert f"{f.path}:{f.line}: {f.message} [{f.rule}]" in text
    assert text.endswith("\n-- \nqlint\n")
    assert text.isascii()


def test_email_reorders_by_patch_and_shows_message_id():
    patches = [_patch(1, 2, "first", "<a@example.org>"), _patch(2, 2, "second", "b@example.org")]
    later = _finding(patch_index=2, patch_total=2, message="in patch two")
    earlier = _finding(patch_index=1, patch_total=2, message="in patch one",
                       details="word " * 40, suggestion="add this:\n    y = 2;")
    text = _render("email", _report(patches, [later, earlier]))
    assert text.index("[PATCH 1/2] first\nMessage-Id: <a@example.org>\n") < text.index(
        "[PATCH 2/2] second\nMessage-Id: <b@example.org>\n")
    assert text.index("in patch one") < text.index("in patch two")
    body = text.split("in patch one [pci-config-unguarded]\n\n")[1].split("\n\nSuggested fix:")[0]
    assert len(body.splitlines()) > 1 and all(len(line) <= 72 for line in body.splitlines())
    assert "Suggested fix:\n    add this:\n        y = 2;\n" in text
    assert "qlint: 2 patches reviewed, 2 errors, 0 warnings, 0 notes" in text


def test_email_single_patch_and_long_quote():
    f = _finding(quoted=[f"+    line{i};" for i in range(12)], related=[Related("hw/b.c", 3, "see here")])
    text = _render("email", _report([_patch(1, 1, "only subject")], [f]))
    lines = text.splitlines()
    assert lines[0] == "only subject" and "[PATCH" not in text and "Message-Id" not in text
    assert sum(1 for line in lines if line.startswith("> ")) == 8
    assert "> +    line7;" in lines and "> +    line8;" not in lines
    assert "hw/b.c:3: see here" in text


def test_email_no_findings():
    text = _render("email", _report([_patch(1, 3, "a"), _patch(2, 3, "b"), _patch(3, 3, "c")], []))
    assert text == "qlint: 3 patches reviewed, 0 errors, 0 warnings, 0 notes\n\n-- \nqlint\n"


# --- text --------------------------------------------------------------------------------------


def test_text_names_the_function_of_a_fix_only_for_c_functions():
    """Whether ``function`` is a C function is the finding's to say (a VMState description's
    variable is not one), not the reporter's to guess from names."""
    fn = _finding(function="acme_realize", suggestion="hw/core/machine.c, hw_compat_7_2[]:")
    desc = _finding(function="acme_regs", suggestion="a subsection", in_function=False)
    text = _render("text", _report([_patch(1, 1, "s")], [fn, desc]))
    assert "  Fix in acme_realize():" in text.splitlines()
    assert "  Fix:" in text.splitlines() and "acme_regs()" not in text
    assert "in_function" not in json.dumps(desc.to_dict())  # not part of the JSON schema


# --- patch -------------------------------------------------------------------------------------


def test_patch_prints_the_report_fixes_and_computes_nothing():
    """The edits are the report's (made by fixgen before rendering): the reporter needs no tree."""
    from qlint.analyzer.fix.fixplan import FixSet

    fixes = FixSet(files={"hw/b.c": ("a\nb\n", "a\nc\n"), "hw/a.c": ("same\n", "same\n")})
    report = Report(Series(patches=[_patch(1, 1, "s")], base=None, tip=None), [_finding()], _fixes=fixes)
    assert _render("patch", report) == (
        "diff --git a/hw/b.c b/hw/b.c\n--- a/hw/b.c\n+++ b/hw/b.c\n@@ -1,2 +1,2 @@\n a\n-b\n+c\n")


# -- output is inert: escape sequences and non-UTF-8 bytes from the reviewed commits ------------

HOSTILE_PATH = "hw/pci/pcie_aer\x1b[31m\udcff.c"  # \udcff: the byte 0xff, read with surrogateescape
HOSTILE_SUBJECT = b"hw/pci/aer: \x1b[31mred\xff\x1b]0;owned\x07 mask"


@pytest.fixture(scope="module")
def hostile_repo(tmp_path_factory):
    """The AER break in a file whose name holds ESC [31m and the byte 0xff, committed with a subject
    holding a colour, a title-setting OSC sequence and the byte 0xff."""
    import pygit2

    from qlint.analyzer.sources.fixture_repo import build, case_patches

    fixtures = Path(__file__).resolve().parents[1] / "fixtures"
    _, patches = case_patches(fixtures / "examples" / "pci-config-unguarded" / "invalid" / "aer-mask-unguarded")
    dest = tmp_path_factory.mktemp("hostile") / "repo"
    repo, base, ids = build(fixtures / "tree", patches, dest)
    sig = pygit2.Signature("Ada Fixture", "ada@example.invalid", 1677668400, 0)

    def moved(commit: str):
        idx = pygit2.Index()
        idx.read_tree(repo[commit].peel(pygit2.Commit).tree)
        entry = idx["hw/pci/pcie_aer.c"]
        idx.remove("hw/pci/pcie_aer.c")
        idx.add(pygit2.IndexEntry(HOSTILE_PATH, entry.id, entry.mode))
        return idx.write_tree(repo)

    old = repo.create_commit(None, sig, sig, "base\n", moved(base), [])
    repo.create_commit("refs/heads/hostile", sig, sig, HOSTILE_SUBJECT + b"\n\nBody.\n", moved(ids[-1]), [old])
    return dest


def _hostile(repo: Path, fmt: str) -> subprocess.CompletedProcess:
    # --no-cache: this is about the reporters, not about the cache's keys
    return subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", "-C", str(repo), "--no-cache", "--format",
                           fmt, "hostile~1..hostile"], capture_output=True)


@pytest.mark.parametrize("fmt", ["text", "email", "github"])
def test_escape_sequences_never_reach_the_terminal(hostile_repo, fmt):
    r = _hostile(hostile_repo, fmt)
    assert r.returncode == 1, r.stderr
    assert not re.search(rb"[\x00-\x08\x0b-\x1f\x7f]", r.stdout), r.stdout  # no raw ESC, BEL, CR...
    out = r.stdout.decode("utf-8")  # and valid UTF-8
    assert "pcie_aer\\x1b[31m\\xff.c" in out  # the path, identifiable
    if fmt != "github":
        assert "aer: \\x1b[31mred\\xff\\x1b]0;owned\\x07 mask" in out  # the subject too


@pytest.mark.parametrize("fmt", ["json", "gitlab", "sarif", "rdjsonl"])
def test_machine_formats_are_valid_json_and_keep_the_bytes(hostile_repo, fmt):
    from urllib.parse import unquote_to_bytes

    r = _hostile(hostile_repo, fmt)
    assert r.returncode == 1, r.stderr
    assert b"\x1b" not in r.stdout
    text = r.stdout.decode("ascii")  # every non-ASCII character is a JSON escape
    docs = [json.loads(line) for line in text.splitlines()] if fmt == "rdjsonl" else [json.loads(text)]
    raw = HOSTILE_PATH.encode("utf-8", "surrogateescape")
    if fmt == "json":
        doc = docs[0]
        assert doc["patches"][0]["subject"].encode("utf-8", "surrogateescape") == HOSTILE_SUBJECT
        paths = [f["path"] for f in doc["findings"]]
    elif fmt == "gitlab":
        paths = [i["location"]["path"] for i in docs[0]]
    elif fmt == "rdjsonl":
        paths = [d["location"]["path"] for d in docs]
    else:
        uris = [res["locations"][0]["physicalLocation"]["artifactLocation"]["uri"]
                for res in docs[0]["runs"][0]["results"]]
        assert "hw/pci/pcie_aer%1B%5B31m%FF.c" in uris
        paths = [unquote_to_bytes(u).decode("utf-8", "surrogateescape") for u in uris]
    assert raw in [p.encode("utf-8", "surrogateescape") for p in paths]


def test_patch_format_keeps_the_bytes_for_git_apply(hostile_repo, tmp_path):
    r = _hostile(hostile_repo, "patch")
    assert r.returncode == 1 and b"diff --git" in r.stdout, r.stderr
    assert HOSTILE_PATH.encode("utf-8", "surrogateescape") in r.stdout
    work = tmp_path / "work"
    subprocess.run(["git", "clone", "-q", "-b", "hostile", str(hostile_repo), str(work)], check=True)
    (tmp_path / "fix.patch").write_bytes(r.stdout)
    subprocess.run(["git", "-C", str(work), "apply", "--check", str(tmp_path / "fix.patch")], check=True)


def test_inert_escapes_controls_and_bytes_and_keeps_the_rest():
    from qlint.analyzer.reporters._escape import inert, one_line

    assert inert("a\x1b[2Jb\tc\nd\re\x7f\x9b\udcff\\x41 é") == "a\\x1b[2Jb\tc\nd\\x0de\\x7f\\u009b\\xff\\x41 é"
    assert one_line("a\nb\tc") == "a\\x0ab\\x09c"
    report = _report([_patch(1, 1, "s\x1b[31mubject")], [_finding(path="hw/\x1b]0;t\x07.c", details="d\x1bx")])
    for fmt in ("text", "email", "github"):
        assert "\x1b" not in _render(fmt, report) and "\x07" not in _render(fmt, report)


def test_fingerprints_tell_apart_paths_that_differ_in_a_byte_that_is_not_utf8():
    from qlint.analyzer.finding import Finding

    def fp(path: bytes) -> str:
        return Finding("r", "error", "m", path.decode("utf-8", "surrogateescape"), 1, 1).fingerprint

    assert fp(b"hw/a\xff.c") != fp(b"hw/a\xfe.c")
    assert fp(b"hw/a.c") == Finding("r", "error", "m", "hw/a.c", 1, 1).fingerprint
