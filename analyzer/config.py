"""Project configuration (.qlint.toml), suppressions and baselines.

Pure functions and dataclasses: nothing here prints or exits.  Every problem
with a configuration or baseline file is a ``ConfigError`` whose message is one
line naming the file and the problem; the CLI turns it into exit status 2.

See docs/configuration.md for the file format.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
import os
import re
import tempfile
import tomllib
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any, Iterable

from qlint.analyzer.change import LazyPatch, Series, Snapshot
from qlint.analyzer.finding import SEVERITIES, Finding

CONFIG_NAME = ".qlint.toml"
BASELINE_VERSION = 1
# The most qlint reads of a configuration file and of a baseline (in bytes).
MAX_CONFIG_BYTES = 1024 * 1024
MAX_BASELINE_BYTES = 64 * 1024 * 1024

_TOP_KEYS = ("select", "ignore", "exclude", "severity", "suppress")
_SUPPRESS_KEYS = ("rule", "path", "function", "reason")


class ConfigError(Exception):
    """A configuration or baseline file is unreadable or invalid (one-line message)."""


@dataclass(frozen=True)
class Suppression:
    rule: str
    path: str  # glob, same syntax as ``exclude``
    reason: str  # required, non-empty: a reviewer reads it
    function: str | None = None  # exact function name, when given

    def matches(self, finding: Finding) -> bool:
        if finding.rule != self.rule:
            return False
        if self.function is not None and finding.function != self.function:
            return False
        return path_matches(finding.path, self.path)


@dataclass
class Config:
    select: set[str] | None = None  # None: every rule
    ignore: set[str] = field(default_factory=set)
    severity: dict[str, str] = field(default_factory=dict)
    exclude: list[str] = field(default_factory=list)
    suppressions: list[Suppression] = field(default_factory=list)
    source: Path | str | None = None  # the file it was read from ("REV:path" from a tree), None for defaults


# --------------------------------------------------------------------------
# path globs
#
# A pattern is matched against the finding's repository-relative path with
# '/' separators:
#   *      any characters except '/'
#   ?      one character except '/'
#   [abc]  one of the characters ([!abc] or [^abc]: none of them)
#   **     as a whole path segment: any number of segments, including none
# A pattern that matches a directory also matches everything below it
# ("hw/xen" and "hw/xen/*" both cover hw/xen/pv/xen_pvdev.c); a pattern with no
# '/' is matched at any depth ("*.h" covers include/hw/pci/pci.h).
#
# A pattern compiles to a small automaton that is run over the path one
# character at a time, keeping the set of states it can be in.  A backtracking
# matcher (fnmatch, re) takes exponential time on a pattern like "a*a*a*...b":
# fifteen '*' against a 60-character path never finished.  Here each character
# costs at most one visit of every state, and usually one dictionary lookup
# (the transitions met are remembered): time is linear in the path's length.

MAX_GLOB = 1024  # characters in one path pattern
_SEEN_MAX = 4096  # transitions an automaton remembers

# Instructions of the automaton: match one character, fork, jump, accept.
_CHAR, _SPLIT, _JUMP, _ACCEPT = range(4)


class GlobError(ValueError):
    """A path pattern that cannot be compiled (a character range such as [z-a])."""


def _not_slash(c: str) -> bool:
    return c != "/"


def _any(c: str) -> bool:
    return True


def _one(pred) -> tuple:
    return ("one", pred)


_SLASH = _one("/".__eq__)
_ANYTHING = ("star", [_one(_any)])  # any characters, '/' included
_SEGMENTS = ("star", [("plus", [_one(_not_slash)]), _SLASH])  # whole non-empty segments, each with its '/'
_DIRECTORIES = ("opt", [_ANYTHING, _SLASH])  # where a pattern with no '/' may start
_BELOW = ("opt", [_SLASH, _ANYTHING])  # what a pattern matching a directory also covers


def _bracket(body: str, negated: bool):
    """The predicate of a bracket expression's body (the text between '[' or '[!' and ']')."""
    singles: set[str] = set()
    ranges: list[tuple[str, str]] = []
    i, n = 0, len(body)
    while i < n:
        if i + 2 < n and body[i + 1] == "-":  # a trailing '-' is a character, as in [a-]
            lo, hi = body[i], body[i + 2]
            if hi < lo:
                raise GlobError(f"bad character range {lo}-{hi}")
            ranges.append((lo, hi))
            i += 3
        else:
            singles.add(body[i])
            i += 1

    def inside(c: str) -> bool:
        return c in singles or any(lo <= c <= hi for lo, hi in ranges)

    if negated:
        return lambda c: c != "/" and not inside(c)
    return inside


def _segment(seg: str) -> list[tuple]:
    """The nodes of one path segment of a pattern (not '**')."""
    out: list[tuple] = []
    i, n = 0, len(seg)
    while i < n:
        c = seg[i]
        i += 1
        if c == "*":
            while i < n and seg[i] == "*":  # "a**b" inside a segment is just "*"
                i += 1
            out.append(("star", [_one(_not_slash)]))
        elif c == "?":
            out.append(_one(_not_slash))
        elif c == "[" and (end := _bracket_end(seg, i)) is not None:
            body = seg[i:end]
            negated = body[:1] in ("!", "^")
            out.append(_one(_bracket(body[1:] if negated else body, negated)))
            i = end + 1
        else:  # a '[' with no closing ']' is a character too
            out.append(_one(c.__eq__))
    return out


def _bracket_end(seg: str, i: int) -> int | None:
    """Where the ']' closing a bracket expression that starts at ``seg[i]`` is, or None."""
    j, n = i, len(seg)
    if j < n and seg[j] in "!^":
        j += 1
    if j < n and seg[j] == "]":  # a ']' first in the brackets is one of the characters
        j += 1
    while j < n and seg[j] != "]":
        j += 1
    return j if j < n else None


def _emit(nodes: list[tuple], prog: list[list]) -> None:
    for node in nodes:
        kind, arg = node
        start = len(prog)
        if kind == "one":
            prog.append([_CHAR, arg])
        elif kind == "star":  # fork: once more, or on
            prog.append([_SPLIT, start + 1, None])
            _emit(arg, prog)
            prog.append([_JUMP, start])
            prog[start][2] = len(prog)
        elif kind == "opt":
            prog.append([_SPLIT, start + 1, None])
            _emit(arg, prog)
            prog[start][2] = len(prog)
        else:  # plus: once, then as a star
            _emit(arg, prog)
            prog.append([_SPLIT, start, len(prog) + 1])


@dataclass(frozen=True)
class _Automaton:
    """A compiled glob.  Sets of states are bit masks; a state's bit is 1 << its index."""

    start: int  # the states before any character is read
    steps: tuple  # per state: (predicate, states after that character) for a character state, else None
    accept: int  # the accepting state
    # (states, character) -> states after it, as met: a path repeats few of them
    seen: dict = field(default_factory=dict, compare=False)

    def after(self, current: int, c: str) -> int:
        """The states the automaton may be in after reading ``c`` in ``current``."""
        key = (current, c)
        out = self.seen.get(key)
        if out is None:
            out = 0
            while current:  # each state, once
                state = current & -current
                current ^= state
                step = self.steps[state.bit_length() - 1]
                if step is not None and step[0](c):
                    out |= step[1]
            if len(self.seen) >= _SEEN_MAX:
                self.seen.clear()
            self.seen[key] = out
        return out


@lru_cache(maxsize=512)
def _automaton(pattern: str) -> _Automaton:
    pat = _normalise(pattern)
    nodes: list[tuple] = [] if "/" in pat else [_DIRECTORIES]
    segs = [s for s in pat.split("/") if s != ""] or [""]
    for k, seg in enumerate(segs):
        last = k == len(segs) - 1
        if seg == "**":
            nodes.append(_ANYTHING if last else _SEGMENTS)
        else:
            nodes.extend(_segment(seg))
            if not last:
                nodes.append(_SLASH)
    nodes.append(_BELOW)
    prog: list[list] = []
    _emit(nodes, prog)
    prog.append([_ACCEPT])
    reach = _closures(prog)
    steps = tuple((op[1], reach[pc + 1]) if op[0] == _CHAR else None for pc, op in enumerate(prog))
    return _Automaton(reach[0], steps, 1 << (len(prog) - 1))


def _closures(prog: list[list]) -> list[int]:
    """For every state, the character and accepting states it reaches without reading a character.

    Every loop of the automaton reads a character (the body of each star and plus starts with
    one), so these are computed once each, depth first, without recursion.
    """
    reach: list[int | None] = [None] * len(prog)
    for root in range(len(prog)):
        stack = [root]
        while stack:
            pc = stack[-1]
            op = prog[pc]
            if reach[pc] is not None:
                stack.pop()
            elif op[0] in (_CHAR, _ACCEPT):
                reach[pc] = 1 << pc
            elif todo := [n for n in op[1:] if reach[n] is None]:
                stack += todo
            else:
                reach[pc] = 0
                for n in op[1:]:
                    reach[pc] |= reach[n]
    return reach


def _normalise(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def path_matches(path: str, pattern: str) -> bool:
    """Whether a repository-relative ``path`` matches the glob ``pattern``."""
    auto = _automaton(pattern)
    current = auto.start
    for c in _normalise(path):
        current = auto.after(current, c)
        if not current:
            return False
    return bool(current & auto.accept)


def _validate_glob(pattern: str) -> str | None:
    """A problem with a glob, or None."""
    if not _normalise(pattern).strip("/"):
        return "an empty path pattern"
    if len(pattern) > MAX_GLOB:
        return f"a path pattern of {len(pattern)} characters (at most {MAX_GLOB})"
    try:
        _automaton(pattern)
    except GlobError as exc:
        return f"invalid path pattern {pattern!r} ({exc})"
    return None


# --------------------------------------------------------------------------
# loading


def _known_rules() -> set[str]:
    from qlint.analyzer.rule import all_rules

    return {r.name for r in all_rules()}


def _rule_problem(name: Any, where: str, known: set[str]) -> str | None:
    if not isinstance(name, str):
        return f"{where}: expected a rule name (string), got {_tname(name)}"
    if name not in known:
        close = difflib.get_close_matches(name, sorted(known), n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else " (see `qlint rules`)"
        return f"{where}: unknown rule {name!r}{hint}"
    return None


def _tname(v: Any) -> str:
    return {str: "a string", int: "an integer", float: "a number", bool: "a boolean",
            list: "an array", dict: "a table"}.get(type(v), type(v).__name__)


def _string_list(data: dict, key: str) -> list:
    v = data[key]
    if not isinstance(v, list):
        raise _Problem(f"{key!r} must be an array of strings, got {_tname(v)}")
    for item in v:
        if not isinstance(item, str):
            raise _Problem(f"{key!r} must be an array of strings, got an element that is {_tname(item)}")
    return v


class _Problem(Exception):
    """A problem found while validating; load_config adds the file name."""


def parse_config(data: dict, known_rules: Iterable[str] | None = None) -> Config:
    """Validate a decoded TOML document; problems raise ``_Problem`` (no file name)."""
    known = set(_known_rules() if known_rules is None else known_rules)
    for key in data:
        if key not in _TOP_KEYS:
            close = difflib.get_close_matches(key, _TOP_KEYS, n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else f" (known keys: {', '.join(_TOP_KEYS)})"
            raise _Problem(f"unknown key {key!r}{hint}")
    cfg = Config()

    if "select" in data:
        names = _string_list(data, "select")
        for n in names:
            if (p := _rule_problem(n, "select", known)):
                raise _Problem(p)
        if not names:
            raise _Problem("'select' is empty, so no rule would run (leave it out to run every rule)")
        cfg.select = set(names)

    if "ignore" in data:
        names = _string_list(data, "ignore")
        for n in names:
            if (p := _rule_problem(n, "ignore", known)):
                raise _Problem(p)
        cfg.ignore = set(names)

    if "exclude" in data:
        globs = _string_list(data, "exclude")
        for g in globs:
            if (p := _validate_glob(g)):
                raise _Problem(f"exclude: {p}")
        cfg.exclude = list(globs)

    if "severity" in data:
        sev = data["severity"]
        if not isinstance(sev, dict):
            raise _Problem(f"'severity' must be a table (rule = \"error\"), got {_tname(sev)}")
        for rule, level in sev.items():
            if (p := _rule_problem(rule, "[severity]", known)):
                raise _Problem(p)
            if level not in SEVERITIES:
                raise _Problem(
                    f"[severity] {rule}: {level!r} is not a severity (choose from {', '.join(SEVERITIES)})"
                )
        cfg.severity = dict(sev)

    if "suppress" in data:
        entries = data["suppress"]
        if not isinstance(entries, list) or not all(isinstance(e, dict) for e in entries):
            raise _Problem("'suppress' must be an array of tables ([[suppress]] sections)")
        for i, e in enumerate(entries, 1):
            cfg.suppressions.append(_suppression(e, f"[[suppress]] #{i}", known))
    return cfg


def _suppression(e: dict, where: str, known: set[str]) -> Suppression:
    for key in e:
        if key not in _SUPPRESS_KEYS:
            raise _Problem(f"{where}: unknown key {key!r} (known keys: {', '.join(_SUPPRESS_KEYS)})")
    if "rule" not in e:
        raise _Problem(f"{where}: missing 'rule'")
    if (p := _rule_problem(e["rule"], f"{where} rule", known)):
        raise _Problem(p)
    if "path" not in e:
        raise _Problem(f"{where} ({e['rule']}): missing 'path' (use \"**\" for every file)")
    path = e["path"]
    if not isinstance(path, str):
        raise _Problem(f"{where} ({e['rule']}): 'path' must be a string, got {_tname(path)}")
    if (p := _validate_glob(path)):
        raise _Problem(f"{where} ({e['rule']}): {p}")
    function = e.get("function")
    if function is not None and (not isinstance(function, str) or not function.strip()):
        raise _Problem(f"{where} ({e['rule']}): 'function' must be a non-empty string")
    reason = e.get("reason")
    if not isinstance(reason, str) or not reason.strip():
        raise _Problem(
            f"{where} ({e['rule']} in {path}): a suppression needs a non-empty 'reason' "
            "saying why the finding does not apply"
        )
    return Suppression(rule=e["rule"], path=path, reason=reason.strip(),
                       function=function.strip() if function else None)


def _one_line(s: str) -> str:
    return " ".join(s.split())


def load_config(root: Path, explicit: Path | None = None, *,
                known_rules: Iterable[str] | None = None) -> Config:
    """The configuration in a directory: ``explicit`` (a file) when given, else ``root/.qlint.toml``
    when it exists, else the defaults.  ``known_rules`` defaults to the names of ``all_rules()``.

    A review reads its configuration with ``review_settings`` instead, from what it trusts.
    """
    if explicit is not None:
        path = Path(explicit)
    else:
        path = Path(root) / CONFIG_NAME
        if not path.is_file():
            return Config()
    cfg = config_from_bytes(_read_file(path, MAX_CONFIG_BYTES, "configuration"), str(path), known_rules)
    cfg.source = path
    return cfg


def config_from_bytes(raw: bytes, label: str, known_rules: Iterable[str] | None = None) -> Config:
    """The configuration a TOML document holds; ``label`` names it in a ConfigError."""
    if len(raw) > MAX_CONFIG_BYTES:
        raise ConfigError(f"{label}: {_too_big(MAX_CONFIG_BYTES, 'configuration')}")
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: not UTF-8 text, so not a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{label}: invalid TOML: {_one_line(str(exc))}") from None
    except RecursionError:  # tomllib parses nested arrays and tables recursively
        raise ConfigError(f"{label}: invalid TOML: arrays or tables nested too deeply") from None
    try:
        cfg = parse_config(data, known_rules)
    except _Problem as exc:
        raise ConfigError(f"{label}: {_one_line(str(exc))}") from None
    cfg.source = label
    return cfg


def _too_big(limit: int, what: str) -> str:
    return f"the {what} is larger than {limit // (1024 * 1024)} MiB, the most qlint reads"


def _read_file(path: Path, limit: int, what: str) -> bytes:
    """At most ``limit`` bytes of a file; a larger file is a ConfigError (so is /dev/zero)."""
    try:
        with open(path, "rb") as fh:
            raw = fh.read(limit + 1)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the {what}: {exc.strerror or exc}") from None
    if len(raw) > limit:
        raise ConfigError(f"{path}: {_too_big(limit, what)}")
    return raw


# --------------------------------------------------------------------------
# baselines


def load_baseline(path: Path) -> set[str]:
    """The fingerprints recorded in a baseline file written by ``write_baseline``."""
    path = Path(path)
    return baseline_from_bytes(_read_file(path, MAX_BASELINE_BYTES, "baseline"), str(path))


def baseline_from_bytes(raw: bytes, label: str) -> set[str]:
    """The fingerprints a baseline document holds; ``label`` names it in a ConfigError."""
    if len(raw) > MAX_BASELINE_BYTES:
        raise ConfigError(f"{label}: {_too_big(MAX_BASELINE_BYTES, 'baseline')}")
    try:
        data = json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{label}: the baseline is not UTF-8 JSON") from None
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{label}: the baseline is not valid JSON: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{label}: the baseline is not valid JSON: arrays or objects nested too deeply") from None
    if not isinstance(data, dict) or "fingerprints" not in data or "version" not in data:
        raise ConfigError(f'{label}: not a qlint baseline (expected {{"version": 1, "fingerprints": [...]}})')
    if data["version"] != BASELINE_VERSION:
        raise ConfigError(f"{label}: baseline version {data['version']!r} is not supported (expected {BASELINE_VERSION})")
    fps = data["fingerprints"]
    if not isinstance(fps, list):
        raise ConfigError(f"{label}: baseline 'fingerprints' must be an array of strings")
    for fp in fps:
        if not isinstance(fp, str) or not re.fullmatch(r"[0-9a-f]+", fp):
            raise ConfigError(f"{label}: baseline fingerprint {repr(fp)[:80]} is not a hex string")
    return set(fps)


def write_baseline(report, path: Path) -> None:
    """Record the fingerprints of ``report.findings`` (atomically replaces ``path``)."""
    path = Path(path)
    doc = {"version": BASELINE_VERSION, "fingerprints": sorted({f.fingerprint for f in report.findings})}
    text = json.dumps(doc, indent=2) + "\n"
    directory = path.parent if str(path.parent) else Path(".")
    try:
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=directory)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot write the baseline: {exc.strerror or exc}") from None
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except OSError as exc:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise ConfigError(f"{path}: cannot write the baseline: {exc.strerror or exc}") from None


# --------------------------------------------------------------------------
# what a review trusts
#
# The changes under review must not be able to change their own review: a series that adds a
# .qlint.toml ignoring a rule, a [[suppress]] for its own finding, or its finding's fingerprint
# to a committed baseline would otherwise pass.  So the configuration comes from the tree the
# changes apply to (their base), and a file named on the command line is read from there too
# when the changes touch it.  docs/configuration.md ("What configuration is trusted") says
# which base each input mode has.


@dataclass
class Trusted:
    """What a review may take its configuration from."""

    base: Snapshot  # the tree the reviewed changes apply to: its .qlint.toml configures the review
    series: Series  # the changes under review
    workdir: Path | None = None  # the reviewed repository's work tree (None: a bare repository)


def review_settings(trusted: Trusted, config_file: Path | None = None, baseline_file: Path | None = None, *,
                    known_rules: Iterable[str] | None = None) -> tuple[Config, set[str] | None, list[str]]:
    """(configuration, baseline or None, notes for the user) of one review.

    Without ``config_file``, the base's ``.qlint.toml`` (never the work tree's, the index's or the
    reviewed changes').  The files given are read where they are, except a file of the work tree
    that the reviewed changes touch: its version in the base is read instead, and when the base
    has none the review runs as without it.  A note says so.
    """
    notes: list[str] = []
    if config_file is None:
        raw, label = _from_base(trusted.base, CONFIG_NAME), _base_label(trusted.base, CONFIG_NAME)
    else:
        raw, label = _user_file(trusted, Path(config_file), MAX_CONFIG_BYTES, "configuration", notes)
    cfg = Config() if raw is None else config_from_bytes(raw, label, known_rules)
    baseline = None
    if baseline_file is not None:
        raw, label = _user_file(trusted, Path(baseline_file), MAX_BASELINE_BYTES, "baseline", notes)
        baseline = set() if raw is None else baseline_from_bytes(raw, label)
    return cfg, baseline, notes


def _user_file(trusted: Trusted, path: Path, limit: int, what: str, notes: list[str]) -> tuple[bytes | None, str]:
    """(bytes or None, label) of a file named on the command line, as the review may read it."""
    rel = _touched_in_work_tree(trusted, path)
    if rel is None:
        return _read_file(path, limit, what), str(path)
    label = _base_label(trusted.base, rel)
    raw = _from_base(trusted.base, rel)
    if raw is None:
        notes.append(f"{path}: the changes under review add it, so the review runs without this {what} "
                     f"(the base has no {rel})")
    else:
        notes.append(f"{path}: the changes under review touch it, so the {what} is read as the base has it ({label})")
    return raw, label


def _from_base(base: Snapshot, rel: str) -> bytes | None:
    """A file of the base tree, None when the tree has none."""
    oid = base.blob_id(rel)
    if oid is None:
        return None
    data = base.read(rel)
    if data is None:  # listed in the tree, absent from the object store
        raise ConfigError(f"{_base_label(base, rel)}: object {oid} is not in the repository (partial clone?)")
    return data


def _base_label(base: Snapshot, rel: str) -> str:
    """``REV:path``, as git names a file of a commit's tree."""
    rev = base.label[:12] if re.fullmatch(r"[0-9a-f]{40}", base.label) else base.label
    return f"{rev}:{rel}"


def _touched_in_work_tree(trusted: Trusted, path: Path) -> str | None:
    """The repository path of ``path`` when it is a file of the work tree that the reviewed
    changes add, change, delete or rename (the work tree may hold their version), else None."""
    if trusted.workdir is None:
        return None
    for rel in _work_tree_paths(path, trusted.workdir):
        if _touched(trusted, rel):
            return rel
    return None


def _work_tree_paths(path: Path, workdir: Path) -> list[str]:
    """Where ``path`` is in the work tree: as written and with symbolic links followed."""
    out: list[str] = []
    for p, top in ((os.path.abspath(path), os.path.abspath(workdir)),
                   (os.path.realpath(path), os.path.realpath(workdir))):
        rel = os.path.relpath(p, top)
        if rel != "." and not rel.startswith(".." + os.sep) and rel != ".." and rel not in out:
            out.append(Path(rel).as_posix())
    return out


def _touched(trusted: Trusted, rel: str) -> bool:
    series = trusted.series
    if trusted.base.blob_id(rel) != series.tip.blob_id(rel):
        return True
    for p in series.patches:
        if p.old.blob_id(rel) != p.new.blob_id(rel):
            return True
        # an in-memory tree may leave out files qlint does not read; the patch still lists them
        if not isinstance(p, LazyPatch) and any(rel in (f.path, f.old_path) for f in p.files):
            return True
    return False


# --------------------------------------------------------------------------
# filtering


def rules_enabled(config: Config, known_rules: Iterable[str] | None = None) -> set[str]:
    """Names of the rules whose findings can survive ``apply`` (selected, not ignored)."""
    known = set(_known_rules() if known_rules is None else known_rules)
    chosen = known if config.select is None else known & config.select
    return chosen - config.ignore


def _kept(f: Finding, config: Config, baseline: set[str] | None) -> bool:
    if config.select is not None and f.rule not in config.select:
        return False
    if f.rule in config.ignore:
        return False
    if any(path_matches(f.path, g) for g in config.exclude):
        return False
    if any(s.matches(f) for s in config.suppressions):
        return False
    if baseline and f.fingerprint in baseline:
        return False
    return True


def apply(report, config: Config, baseline: set[str] | None = None):
    """A new Report (same series, same order) with the configuration applied.

    Drops findings of rules not selected or ignored, findings in excluded
    paths, suppressed findings and findings whose fingerprint is in the
    baseline; then applies severity overrides.  The input is not modified.
    """
    out: list[Finding] = []
    for f in report.findings:
        if not _kept(f, config, baseline):
            continue
        level = config.severity.get(f.rule)
        out.append(dataclasses.replace(f, severity=level) if level and level != f.severity else f)
    return dataclasses.replace(report, findings=out)
