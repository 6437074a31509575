"""Configuration, suppressions and baselines: each filter drops exactly what it should."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from qlint.analyzer.config import (
    Config,
    ConfigError,
    GlobError,
    Suppression,
    apply,
    load_baseline,
    load_config,
    path_matches,
    rules_enabled,
    write_baseline,
)
from qlint.analyzer.engine import Report
from qlint.analyzer.sources.fixture_repo import build
from qlint.analyzer.finding import Finding
from qlint.analyzer.rule import all_rules

ALL = {r.name for r in all_rules()}


@dataclass
class DummySeries:
    patches: list = field(default_factory=list)
    description: str = "dummy series"


def F(rule: str, path: str, function: str | None = None, severity: str = "error", anchor: str = "") -> Finding:
    return Finding(rule=rule, severity=severity, message=f"{rule} in {path}", path=path, line=10,
                   end_line=12, function=function, anchor=anchor or f"{rule}:{path}:{function}")


SERIES = DummySeries()

FINDINGS = [
    F("pci-config-unguarded", "hw/pci/pcie_aer.c", "pcie_aer_init"),                          # 0
    F("compat-entry-missing", "hw/pci/pcie_aer.c", "pcie_aer_init"),                          # 1
    F("compat-entry-noop", "hw/core/machine.c", None, severity="warning"),                    # 2
    F("vmstate-field-removed", "target/riscv/machine.c", "vmstate_pointermasking"),            # 3
    F("vmstate-field-removed", "target/riscv/machine.c", "vmstate_hyper"),                     # 4
    F("vmstate-version-bump", "hw/xen/xen_pt.c", "xen_pt_vmstate", severity="warning"),        # 5
    F("vmstate-field-added", "hw/xen/pv/xen_pvdev.c", "vmstate_pv"),                           # 6
    F("vmstate-field-added", "tests/qtest/virtio-test.c", None),                              # 7
    F("vmstate-field-added", "hw/net/virtio-net.c", "vmstate_virtio_net"),                     # 8
]


def report() -> Report:
    return Report(SERIES, list(FINDINGS))


def kept(rep: Report) -> list[int]:
    """Indexes into FINDINGS of what survived, by identity of (rule, path, function)."""
    keys = [(f.rule, f.path, f.function) for f in FINDINGS]
    return [keys.index((f.rule, f.path, f.function)) for f in rep.findings]


def write(tmp_path: Path, text: str, name: str = ".qlint.toml") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


# ---------------------------------------------------------------- sanity


def test_rule_names_used_here_exist():
    assert {f.rule for f in FINDINGS} <= ALL


def test_defaults_keep_everything_and_same_series():
    rep = report()
    out = apply(rep, Config(), None)
    assert out is not rep
    assert out.series is SERIES
    assert kept(out) == list(range(len(FINDINGS)))
    assert rules_enabled(Config()) == ALL


def test_no_config_file_means_defaults(tmp_path):
    cfg = load_config(tmp_path, None)
    assert cfg == Config()


# ---------------------------------------------------------------- filters


def test_select_drops_other_rules_only():
    cfg = Config(select={"vmstate-field-added", "compat-entry-noop"})
    assert kept(apply(report(), cfg, None)) == [2, 6, 7, 8]
    assert rules_enabled(cfg) == {"vmstate-field-added", "compat-entry-noop"}


def test_ignore_drops_that_rule_only():
    cfg = Config(ignore={"vmstate-field-removed"})
    assert kept(apply(report(), cfg, None)) == [0, 1, 2, 5, 6, 7, 8]
    assert rules_enabled(cfg) == ALL - {"vmstate-field-removed"}


def test_ignore_beats_select():
    cfg = Config(select={"vmstate-field-added", "compat-entry-noop"}, ignore={"compat-entry-noop"})
    assert kept(apply(report(), cfg, None)) == [6, 7, 8]
    assert rules_enabled(cfg) == {"vmstate-field-added"}


def test_exclude_single_star_covers_directory_and_below():
    cfg = Config(exclude=["hw/xen/*"])
    assert kept(apply(report(), cfg, None)) == [0, 1, 2, 3, 4, 7, 8]


def test_exclude_double_star_on_nested_paths():
    cfg = Config(exclude=["tests/**"])
    assert kept(apply(report(), cfg, None)) == [0, 1, 2, 3, 4, 5, 6, 8]
    cfg = Config(exclude=["hw/**/xen_pvdev.c"])
    assert kept(apply(report(), cfg, None)) == [0, 1, 2, 3, 4, 5, 7, 8]
    cfg = Config(exclude=["**/machine.c"])
    assert kept(apply(report(), cfg, None)) == [0, 1, 5, 6, 7, 8]


@pytest.mark.parametrize(
    "path, pattern, expected",
    [
        ("tests/qtest/a/b/c.c", "tests/**", True),
        ("tests/x.c", "tests/**", True),
        ("hw/xen/pv/xen_pvdev.c", "hw/xen/**", True),
        ("hw/xenfoo/x.c", "hw/xen/**", False),
        ("hw/xen.c", "hw/xen/**", False),
        ("hw/a/b/c/d.c", "hw/**/d.c", True),
        ("hw/d.c", "hw/**/d.c", True),
        ("hw/a/b/c/d.c", "hw/*/d.c", False),
        ("hw/a/d.c", "hw/*/d.c", True),
        ("include/hw/pci/pci.h", "*.h", True),
        ("include/hw/pci/pci.c", "*.h", False),
        ("hw/pci/pci.c", "hw/pci/pci.?", True),
        ("hw/pci/pci.c", "hw/pci/pci.[ch]", True),
        ("hw/pci/pci.c", "hw/pci/pci.[!ch]", False),
        ("hw/pci/pci.c", "./hw/pci/pci.c", True),
        ("hw/pci/pci.c", "pci/pci.c", False),  # anchored at the root once it has a '/'
        ("hw/pci/pci.c", "hw/pci", True),
        ("hw/pcie/x.c", "hw/pci", False),
    ],
)
def test_path_globs(path, pattern, expected):
    assert path_matches(path, pattern) is expected


def test_suppression_matches_rule_path_and_function():
    s = Suppression(rule="vmstate-field-removed", path="target/riscv/machine.c",
                    function="vmstate_pointermasking", reason="experimental")
    assert kept(apply(report(), Config(suppressions=[s]), None)) == [0, 1, 2, 4, 5, 6, 7, 8]


def test_suppression_without_function_covers_every_function_of_that_rule_in_path():
    s = Suppression(rule="vmstate-field-removed", path="target/riscv/*", reason="experimental")
    assert kept(apply(report(), Config(suppressions=[s]), None)) == [0, 1, 2, 5, 6, 7, 8]


def test_suppression_needs_the_rule_to_match():
    # same path as findings 0 and 1, but only rule pci-config-unguarded is suppressed
    s = Suppression(rule="pci-config-unguarded", path="hw/pci/**", reason="r")
    assert kept(apply(report(), Config(suppressions=[s]), None)) == [1, 2, 3, 4, 5, 6, 7, 8]


def test_suppression_needs_the_path_to_match():
    s = Suppression(rule="vmstate-field-added", path="hw/net/*", reason="r")
    assert kept(apply(report(), Config(suppressions=[s]), None)) == [0, 1, 2, 3, 4, 5, 6, 7]


def test_severity_override_changes_exit_relevant_errors():
    rep = report()
    assert len(rep.errors) == 7
    cfg = Config(severity={"vmstate-field-added": "warning", "vmstate-version-bump": "error"})
    out = apply(rep, cfg, None)
    assert kept(out) == list(range(len(FINDINGS)))  # nothing dropped
    sev = {(f.rule, f.path): f.severity for f in out.findings}
    assert sev[("vmstate-field-added", "hw/net/virtio-net.c")] == "warning"
    assert sev[("vmstate-version-bump", "hw/xen/xen_pt.c")] == "error"
    assert sev[("compat-entry-noop", "hw/core/machine.c")] == "warning"
    assert len(out.errors) == 7 - 3 + 1
    # the input is untouched
    assert [f.severity for f in rep.findings] == [f.severity for f in FINDINGS]
    assert len(rep.errors) == 7


def test_demoting_every_error_clears_the_exit_status():
    cfg = Config(severity={r: "note" for r in ALL})
    assert apply(report(), cfg, None).errors == []


# ---------------------------------------------------------------- loading


FULL = """
select = ["pci-config-unguarded", "compat-entry-missing", "vmstate-field-removed", "vmstate-version-bump"]
ignore = ["compat-entry-noop"]
exclude = ["tests/**", "hw/xen/*"]

[severity]
vmstate-version-bump = "error"

[[suppress]]
rule = "vmstate-field-removed"
path = "target/riscv/machine.c"
function = "vmstate_pointermasking"   # optional
reason = "experimental extension, migration of it is not supported"
"""


def test_load_full_example(tmp_path):
    write(tmp_path, FULL)
    cfg = load_config(tmp_path, None)
    assert cfg.source == tmp_path / ".qlint.toml"
    assert cfg.select == {"pci-config-unguarded", "compat-entry-missing", "vmstate-field-removed",
                          "vmstate-version-bump"}
    assert cfg.ignore == {"compat-entry-noop"}
    assert cfg.exclude == ["tests/**", "hw/xen/*"]
    assert cfg.severity == {"vmstate-version-bump": "error"}
    assert cfg.suppressions == [Suppression("vmstate-field-removed", "target/riscv/machine.c",
                                            "experimental extension, migration of it is not supported",
                                            "vmstate_pointermasking")]
    out = apply(report(), cfg, None)
    # 2 ignored; 5 (hw/xen) and 6 (hw/xen/pv), 7 (tests) excluded; 3 suppressed; 8 not selected
    assert kept(out) == [0, 1, 4]


def test_explicit_config_beats_dot_qlint_toml(tmp_path):
    write(tmp_path, 'ignore = ["compat-entry-noop"]\n')
    other = write(tmp_path, 'ignore = ["vmstate-field-added"]\n', name="ci.toml")
    assert load_config(tmp_path, other).ignore == {"vmstate-field-added"}
    assert load_config(tmp_path, None).ignore == {"compat-entry-noop"}


def test_explicit_config_that_does_not_exist_is_an_error(tmp_path):
    with pytest.raises(ConfigError, match="nope.toml"):
        load_config(tmp_path, tmp_path / "nope.toml")


def _err(tmp_path, text: str) -> str:
    write(tmp_path, text)
    with pytest.raises(ConfigError) as ei:
        load_config(tmp_path, None)
    msg = str(ei.value)
    assert "\n" not in msg
    assert str(tmp_path / ".qlint.toml") in msg
    return msg


def test_bad_toml_rejected_with_file_name(tmp_path):
    msg = _err(tmp_path, 'ignore = ["compat-entry-noop"\nexclude = \n')
    assert "invalid TOML" in msg


def test_unknown_rule_rejected(tmp_path):
    msg = _err(tmp_path, 'ignore = ["vmstate-field-remove"]\n')
    assert "unknown rule 'vmstate-field-remove'" in msg
    assert "vmstate-field-removed" in msg  # the suggestion
    for text in ('select = ["nope"]\n', '[severity]\nnope = "error"\n',
                 '[[suppress]]\nrule = "nope"\npath = "a.c"\nreason = "r"\n'):
        assert "unknown rule 'nope'" in _err(tmp_path, text)


def test_unknown_keys_rejected(tmp_path):
    assert "unknown key 'exclude_paths'" in _err(tmp_path, 'exclude_paths = ["tests/**"]\n')
    msg = _err(tmp_path, '[[suppress]]\nrule = "vmstate-field-added"\npath = "a.c"\nreason = "r"\nfile = "x"\n')
    assert "unknown key 'file'" in msg


def test_bad_severity_rejected(tmp_path):
    msg = _err(tmp_path, '[severity]\nvmstate-version-bump = "fatal"\n')
    assert "'fatal' is not a severity" in msg


def test_suppression_without_reason_rejected(tmp_path):
    base = '[[suppress]]\nrule = "vmstate-field-removed"\npath = "target/riscv/machine.c"\n'
    assert "reason" in _err(tmp_path, base)
    assert "reason" in _err(tmp_path, base + 'reason = "   "\n')
    assert "reason" in _err(tmp_path, base + "reason = 3\n")
    write(tmp_path, base + 'reason = "ok"\n')
    assert load_config(tmp_path, None).suppressions[0].reason == "ok"


def test_suppression_without_path_rejected(tmp_path):
    assert "'path'" in _err(tmp_path, '[[suppress]]\nrule = "vmstate-field-removed"\nreason = "r"\n')


def test_wrong_types_rejected(tmp_path):
    assert "array of strings" in _err(tmp_path, 'ignore = "compat-entry-noop"\n')
    assert "array of strings" in _err(tmp_path, "exclude = [1]\n")
    assert "empty" in _err(tmp_path, "select = []\n")
    assert "empty path pattern" in _err(tmp_path, 'exclude = [""]\n')


# ---------------------------------------------------------------- baselines


def test_baseline_round_trip_drops_exactly_the_recorded_findings(tmp_path):
    old = Report(SERIES, [FINDINGS[i] for i in (0, 3, 5)])
    path = tmp_path / "baseline.json"
    write_baseline(old, path)
    doc = json.loads(path.read_text())
    assert doc["version"] == 1
    assert doc["fingerprints"] == sorted(FINDINGS[i].fingerprint for i in (0, 3, 5))
    base = load_baseline(path)
    assert base == {FINDINGS[i].fingerprint for i in (0, 3, 5)}
    assert kept(apply(report(), Config(), base)) == [1, 2, 4, 6, 7, 8]


def test_baseline_ignores_line_numbers(tmp_path):
    path = tmp_path / "b.json"
    write_baseline(Report(SERIES, [FINDINGS[8]]), path)
    moved = Finding(**{**FINDINGS[8].__dict__, "line": 400, "end_line": 401})
    assert apply(Report(SERIES, [moved]), Config(), load_baseline(path)).findings == []


def test_empty_baseline_drops_nothing(tmp_path):
    path = tmp_path / "b.json"
    write_baseline(Report(SERIES, []), path)
    assert load_baseline(path) == set()
    assert kept(apply(report(), Config(), load_baseline(path))) == list(range(len(FINDINGS)))


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"fingerprints": []}',
        '{"version": 2, "fingerprints": []}',
        '{"version": 1, "fingerprints": "abc"}',
        '{"version": 1, "fingerprints": [1]}',
        '{"version": 1, "fingerprints": ["not hex"]}',
    ],
)
def test_malformed_baseline_rejected(tmp_path, text):
    path = tmp_path / "b.json"
    path.write_text(text)
    with pytest.raises(ConfigError, match="b.json"):
        load_baseline(path)


def test_missing_baseline_rejected(tmp_path):
    with pytest.raises(ConfigError, match="missing.json"):
        load_baseline(tmp_path / "missing.json")


# ---------------------------------------------------------------- glob matching cost and semantics


def _old_glob_regex(pattern: str) -> "re.Pattern[str]":
    """The regex translation path globs had before the automaton: the reference semantics."""

    def segment(seg: str) -> str:
        out, i, n = [], 0, len(seg)
        while i < n:
            c = seg[i]
            i += 1
            if c == "*":
                while i < n and seg[i] == "*":
                    i += 1
                out.append("[^/]*")
            elif c == "?":
                out.append("[^/]")
            elif c == "[":
                j = i
                if j < n and seg[j] in "!^":
                    j += 1
                if j < n and seg[j] == "]":
                    j += 1
                while j < n and seg[j] != "]":
                    j += 1
                if j >= n:
                    out.append(re.escape(c))
                    continue
                body = seg[i:j]
                i = j + 1
                neg = body[:1] in ("!", "^")
                if neg:
                    body = body[1:]
                body = "".join("\\" + ch if ch in "\\[]" else ch for ch in body)
                out.append(f"[^/{body}]" if neg else f"[{body}]")
            else:
                out.append(re.escape(c))
        return "".join(out)

    pat = pattern
    while pat.startswith("./"):
        pat = pat[2:]
    pat = pat.lstrip("/")
    segs = [s for s in pat.split("/") if s != ""] or [""]
    parts = []
    for k, seg in enumerate(segs):
        last = k == len(segs) - 1
        if seg == "**":
            parts.append(".*" if last else "(?:[^/]+/)*")
        else:
            parts.append(segment(seg) + ("" if last else "/"))
    prefix = "(?:.*/)?" if "/" not in pat else ""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "possible set difference" and the like
        return re.compile(f"{prefix}{''.join(parts)}(?:/.*)?", re.DOTALL)


def _old_matches(path: str, pattern: str) -> bool | str:
    try:
        rx = _old_glob_regex(pattern)
    except re.error:
        return "invalid"
    while path.startswith("./"):
        path = path[2:]
    return rx.fullmatch(path.lstrip("/")) is not None


def _new_matches(path: str, pattern: str) -> bool | str:
    try:
        return path_matches(path, pattern)
    except GlobError:
        return "invalid"


# "[!-x...]" was translated to "[^/-x...]", a range from '/' to x: the new matcher reads it as
# none of '-', x, ..., as the documentation says; every other glob means what it meant.
_OLD_QUIRK = re.compile(r"\[[!^]-[^\]]")


_PATH_CHARS = "ab/.-]![\\^"
_GLOB_CHARS = "ab*?/[]!^-.\\"


@st.composite
def _near_globs(draw) -> tuple[str, str]:
    """A path and a pattern made from it: most characters kept, some turned into wildcards that
    may or may not cover them, a few stray glob characters (random pairs would rarely match)."""
    path = draw(st.text(alphabet=_PATH_CHARS, max_size=14))
    pieces = [draw(st.sampled_from([c, c, c, "*", "?", "**", f"[{c}]", f"[!{c}]", "[a-c]", "/", ""])) for c in path]
    at = draw(st.integers(0, len(pieces)))
    pieces.insert(at, draw(st.text(alphabet=_GLOB_CHARS, max_size=3)))
    return path, "".join(pieces)


@settings(max_examples=2000, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(case=st.one_of(st.tuples(st.text(alphabet=_PATH_CHARS, max_size=12), st.text(alphabet=_GLOB_CHARS, max_size=10)),
                      _near_globs()))
def test_globs_mean_what_they_meant(case):
    path, pattern = case
    assume(not _OLD_QUIRK.search(pattern))
    assert _new_matches(path, pattern) == _old_matches(path, pattern)


@pytest.mark.parametrize("pattern, path", [
    ("hw/**/*.c", "hw/a/b/c.c"), ("hw/**/*.c", "hw/c.c"), ("hw/**/*.c", "hw//c.c"),
    ("**", ""), ("**", "a/b"), ("**/x", "x"), ("*/", "a/b"), ("a/**", "a"), ("a/**", "a/"),
    ("[]a]", "]"), ("[!]a]", "b"), ("[a-c]x", "bx"), ("[a-]", "-"), ("[--a]", "0"), ("[", "["),
    ("a[b", "a[b"), ("./x", "x"), ("", "x/y"), ("x\ny", "x\ny"), ("[!a]", "/"),
])
def test_glob_corner_cases_as_before(pattern, path):
    assert _new_matches(path, pattern) == _old_matches(path, pattern)


def test_bad_character_range_is_a_config_error(tmp_path):
    assert "bad character range z-a" in _err(tmp_path, 'exclude = ["hw/[z-a].c"]\n')


def test_negated_bracket_starting_with_a_dash_is_a_set():
    assert path_matches("hw/0.c", "hw/[!-a].c")
    assert not path_matches("hw/-.c", "hw/[!-a].c") and not path_matches("hw/a.c", "hw/[!-a].c")


def test_overlong_glob_is_a_config_error(tmp_path):
    assert "at most 1024" in _err(tmp_path, f'exclude = ["{"a" * 1025}"]\n')


_PATHOLOGICAL = "a*" * 15 + "b"  # 15 stars, no match: exponential backtracking in a regex


@pytest.mark.parametrize("length", [60, 10_000])
def test_glob_with_many_stars_finishes(length):
    path = "a" * length
    code = ("from qlint.analyzer.config import path_matches as m\n"
            f"print(m({path!r}, {_PATHOLOGICAL!r}), m({path + 'b'!r}, {_PATHOLOGICAL!r}))")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.stdout.split() == ["False", "True"], r.stderr


# ---------------------------------------------------------------- what configuration is trusted

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"
AER_CASE = FIXTURES / "examples" / "pci-config-unguarded" / "invalid" / "aer-mask-unguarded"
AER_PATCH = next(AER_CASE.glob("0001-*.patch"))
IGNORE_RULE = 'ignore = ["pci-config-unguarded"]\n'
OTHER_RULE = 'ignore = ["compat-entry-noop"]\n'
SUPPRESS = '\n[[suppress]]\nrule = "pci-config-unguarded"\npath = "hw/pci/*"\nreason = "reviewed on the list"\n'
BASELINE = ".ci/qlint-baseline.json"
MODES = ["range", "commit", "patch", "staged"]


def qlint(*args, cwd=None):
    return subprocess.run([sys.executable, "-m", "qlint.analyzer.cli", *args], capture_output=True, text=True,
                          cwd=cwd, timeout=300)


def _git(repo: Path, *args: str) -> str:
    who = ["-c", "user.name=Ada Fixture", "-c", "user.email=ada@example.invalid"]
    return subprocess.run(["git", "-C", str(repo), *who, *args], check=True, capture_output=True, text=True).stdout


def _add(repo: Path, files: dict[str, str]) -> None:
    for rel, text in files.items():
        (repo / rel).parent.mkdir(parents=True, exist_ok=True)
        (repo / rel).write_text(text)
        _git(repo, "add", rel)


def _base_repo(tmp_path: Path, base_files: dict[str, str]) -> tuple[Path, str]:
    """The fixture tree committed, then ``base_files`` committed on it: (repository, base commit)."""
    repo = tmp_path / "repo"
    build(FIXTURES / "tree", [], repo)
    _git(repo, "reset", "-q", "--hard")
    _add(repo, base_files)
    _git(repo, "commit", "-q", "--allow-empty", "-m", "Configure qlint")
    return repo, _git(repo, "rev-parse", "HEAD").strip()


def _review(tmp_path: Path, mode: str, base_files: dict[str, str], change_files: dict[str, str],
            args: list[str]):
    """Review the AER break (plus ``change_files``) on a base holding ``base_files``, in one input mode.

    range: a commit writing change_files, then the break; commit: one commit with both; patch: that
    commit as a mail, reviewed on the base with the work tree at the tip (as after `git am`);
    staged: both staged on the base.
    """
    repo, base = _base_repo(tmp_path, base_files)
    if mode == "range":
        _add(repo, change_files)
        _git(repo, "commit", "-q", "--allow-empty", "-m", "ci: configure qlint")
    _git(repo, "apply", "--index", str(AER_PATCH))
    if mode != "range":
        _add(repo, change_files)
    if mode != "staged":
        _git(repo, "commit", "-q", "-m", "hw/pci/aer: Implement the uncorrectable error mask register")
    argv = ["-C", str(repo), *(a.format(repo=repo) for a in args)]
    if mode == "patch":
        mail = tmp_path / "series.mbox"
        mail.write_text(_git(repo, "format-patch", "-1", "--stdout"))
        argv += ["--patch", str(mail), "--base", base]
    else:
        argv.append({"range": f"{base}..HEAD", "commit": "HEAD", "staged": "--staged"}[mode])
    return qlint(*argv)


@pytest.fixture(scope="module")
def fingerprint(tmp_path_factory) -> str:
    """The fingerprint of the AER break's finding."""
    r = _review(tmp_path_factory.mktemp("fp"), "commit", {}, {}, ["--format", "json"])
    (fp,) = [f["fingerprint"] for f in json.loads(r.stdout)["findings"] if f["rule"] == "pci-config-unguarded"]
    return fp


def _silencers(fp: str) -> dict[str, tuple[dict[str, str], dict[str, str], list[str]]]:
    """Ways to silence the finding: (files of the base, files the change writes, options)."""
    listed = json.dumps({"version": 1, "fingerprints": [fp]})
    return {
        "new .qlint.toml": ({}, {".qlint.toml": IGNORE_RULE}, []),
        "suppression added": ({".qlint.toml": OTHER_RULE}, {".qlint.toml": OTHER_RULE + SUPPRESS}, []),
        "baseline edited": ({BASELINE: '{"version": 1, "fingerprints": []}'}, {BASELINE: listed},
                            ["--baseline", "{repo}/" + BASELINE]),
        "new --config file": ({}, {"ci/qlint.toml": IGNORE_RULE}, ["--config", "{repo}/ci/qlint.toml"]),
    }


SILENCERS = list(_silencers("0"))


@pytest.mark.parametrize("kind", SILENCERS)
@pytest.mark.parametrize("mode", MODES)
def test_changes_under_review_cannot_silence_their_own_findings(tmp_path, fingerprint, mode, kind):
    base_files, change_files, args = _silencers(fingerprint)[kind]
    r = _review(tmp_path, mode, base_files, change_files, args)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "[pci-config-unguarded]" in r.stdout
    if args:  # a file named on the command line: the user is told it was not read as it is
        assert "the changes under review add it" in r.stderr or "the changes under review touch it" in r.stderr


@pytest.mark.parametrize("kind", SILENCERS)
@pytest.mark.parametrize("mode", MODES)
def test_the_same_configuration_in_the_base_silences_them(tmp_path, fingerprint, mode, kind):
    base_files, change_files, args = _silencers(fingerprint)[kind]
    r = _review(tmp_path, mode, {**base_files, **change_files}, {}, args)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "[pci-config-unguarded]" not in r.stdout and r.stderr == ""


def test_a_range_trusts_its_start_not_a_merge_inside_it(tmp_path):
    """A..B reads A's configuration even when the first commit reviewed sits on a merge of the
    range (merges are not reviewed; this one brings a .qlint.toml)."""
    repo, base = _base_repo(tmp_path, {})
    _add(repo, {".qlint.toml": IGNORE_RULE})
    tree = _git(repo, "write-tree").strip()
    merge = _git(repo, "commit-tree", tree, "-p", base, "-p", base + "~1", "-m", "Merge branch 'ci'").strip()
    _git(repo, "reset", "-q", "--hard", merge)
    _git(repo, "apply", "--index", str(AER_PATCH))
    _git(repo, "commit", "-q", "-m", "hw/pci/aer: Implement the uncorrectable error mask register")
    r = qlint("-C", str(repo), f"{base}..HEAD")
    assert r.returncode == 1 and "[pci-config-unguarded]" in r.stdout, r.stdout + r.stderr


def test_an_uncommitted_dot_qlint_toml_is_not_read(tmp_path):
    """The work tree may hold the reviewed changes' files: only --config reads a file from it."""
    repo, _ = _base_repo(tmp_path, {})
    _git(repo, "apply", "--index", str(AER_PATCH))
    _git(repo, "commit", "-q", "-m", "hw/pci/aer: Implement the uncorrectable error mask register")
    (repo / ".qlint.toml").write_text(IGNORE_RULE)
    assert qlint("-C", str(repo), "HEAD").returncode == 1
    assert qlint("-C", str(repo), "--config", str(repo / ".qlint.toml"), "HEAD").returncode == 0


# ---------------------------------------------------------------- configuration files that are too much


def _one_error(r) -> str:
    assert r.returncode == 2, r.stdout + r.stderr
    assert r.stderr.endswith("\n") and len(r.stderr.splitlines()) == 1, r.stderr
    assert "internal error" not in r.stderr and "Traceback" not in r.stderr
    return r.stderr


@pytest.mark.parametrize("text, says", [
    (("# " + "x" * 80 + "\n") * 13_000, "larger than 1 MiB"),
    ("a = " + "[" * 100_000 + "]" * 100_000 + "\n", "nested too deeply"),
    ("a = " + "{b = " * 5_000 + "1" + "}" * 5_000 + "\n", "nested too deeply"),
], ids=["huge", "deep-arrays", "deep-tables"])  # short ids: pytest puts the id in the environment
@pytest.mark.parametrize("where", ["--config", "base tree"])
def test_oversized_or_deep_configuration_is_one_error(tmp_path, text, says, where):
    if where == "base tree":
        repo, _ = _base_repo(tmp_path, {".qlint.toml": text})
        args = []
    else:
        repo, _ = _base_repo(tmp_path, {})
        (tmp_path / "ci.toml").write_text(text)
        args = ["--config", str(tmp_path / "ci.toml")]
    _git(repo, "apply", "--index", str(AER_PATCH))
    _git(repo, "commit", "-q", "-m", "hw/pci/aer: Implement the uncorrectable error mask register")
    assert says in _one_error(qlint("-C", str(repo), *args, "HEAD"))


def test_endless_configuration_file_is_one_error(tmp_path):
    repo, _ = _base_repo(tmp_path, {})
    assert "larger than 1 MiB" in _one_error(qlint("-C", str(repo), "--config", "/dev/zero", "HEAD"))


def test_non_utf8_configuration_is_one_error(tmp_path):
    repo, _ = _base_repo(tmp_path, {})
    (repo / ".qlint.toml").write_bytes(b'ignore = ["caf\xe9"]\n')
    _git(repo, "add", ".qlint.toml")
    _git(repo, "commit", "-q", "-m", "latin-1")
    _git(repo, "apply", "--index", str(AER_PATCH))
    _git(repo, "commit", "-q", "-m", "hw/pci/aer: Implement the uncorrectable error mask register")
    assert "not UTF-8" in _one_error(qlint("-C", str(repo), "HEAD"))
    assert "not UTF-8" in _one_error(qlint("-C", str(repo), "--config", str(repo / ".qlint.toml"), "HEAD"))


def test_deep_baseline_is_one_error(tmp_path):
    repo, _ = _base_repo(tmp_path, {})
    bl = tmp_path / "b.json"
    bl.write_text("[" * 100_000 + "]" * 100_000)
    assert "nested too deeply" in _one_error(qlint("-C", str(repo), "--baseline", str(bl), "HEAD"))


def test_base_configuration_missing_from_the_object_store_is_one_error(tmp_path):
    """A partial clone lists .qlint.toml in the base tree without its blob: an error naming it."""
    repo, _ = _base_repo(tmp_path, {".qlint.toml": IGNORE_RULE})
    _git(repo, "apply", "--index", str(AER_PATCH))
    _git(repo, "commit", "-q", "-m", "hw/pci/aer: Implement the uncorrectable error mask register")
    oid = _git(repo, "rev-parse", "HEAD~1:.qlint.toml").strip()
    (repo / ".git" / "objects" / oid[:2] / oid[2:]).unlink()
    msg = _one_error(qlint("-C", str(repo), "HEAD"))
    assert oid in msg and "partial clone" in msg
