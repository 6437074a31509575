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

from .finding import SEVERITIES, Finding

CONFIG_NAME = ".qlint.toml"
BASELINE_VERSION = 1

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
    source: Path | None = None  # the file it was read from, None for defaults


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


def _translate_segment(seg: str) -> str:
    out: list[str] = []
    i, n = 0, len(seg)
    while i < n:
        c = seg[i]
        i += 1
        if c == "*":
            while i < n and seg[i] == "*":  # "a**b" inside a segment is just "*"
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
            if j >= n:  # no closing bracket: a literal '['
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


@lru_cache(maxsize=512)
def _glob_regex(pattern: str) -> re.Pattern[str]:
    pat = _normalise(pattern)
    anywhere = "/" not in pat
    segs = [s for s in pat.split("/") if s != ""] or [""]
    parts: list[str] = []
    for k, seg in enumerate(segs):
        last = k == len(segs) - 1
        if seg == "**":
            parts.append(".*" if last else "(?:[^/]+/)*")
        else:
            parts.append(_translate_segment(seg) + ("" if last else "/"))
    body = "".join(parts)
    prefix = "(?:.*/)?" if anywhere else ""
    return re.compile(f"{prefix}{body}(?:/.*)?", re.DOTALL)


def _normalise(path: str) -> str:
    while path.startswith("./"):
        path = path[2:]
    return path.lstrip("/")


def path_matches(path: str, pattern: str) -> bool:
    """Whether a repository-relative ``path`` matches the glob ``pattern``."""
    return _glob_regex(pattern).fullmatch(_normalise(path)) is not None


def _validate_glob(pattern: str) -> str | None:
    """A problem with a glob, or None."""
    if not _normalise(pattern).strip("/"):
        return "an empty path pattern"
    try:
        _glob_regex(pattern)
    except re.error as exc:
        return f"invalid path pattern {pattern!r} ({exc})"
    return None


# --------------------------------------------------------------------------
# loading


def _known_rules() -> set[str]:
    from .rulebase import all_rules

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
    """The configuration for a review.

    ``explicit`` (the --config FILE option) wins; otherwise ``root/.qlint.toml``
    when it exists; otherwise the defaults (every rule, nothing filtered).
    ``known_rules`` defaults to the names of ``all_rules()``.
    """
    if explicit is not None:
        path = Path(explicit)
    else:
        path = Path(root) / CONFIG_NAME
        if not path.is_file():
            return Config()
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the configuration: {exc.strerror or exc}") from None
    try:
        data = tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text, so not a TOML file") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: invalid TOML: {_one_line(str(exc))}") from None
    try:
        cfg = parse_config(data, known_rules)
    except _Problem as exc:
        raise ConfigError(f"{path}: {_one_line(str(exc))}") from None
    cfg.source = path
    return cfg


# --------------------------------------------------------------------------
# baselines


def load_baseline(path: Path) -> set[str]:
    """The fingerprints recorded in a baseline file written by ``write_baseline``."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the baseline: {exc.strerror or exc}") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: the baseline is not UTF-8 JSON") from None
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"{path}: the baseline is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or "fingerprints" not in data or "version" not in data:
        raise ConfigError(f'{path}: not a qlint baseline (expected {{"version": 1, "fingerprints": [...]}})')
    if data["version"] != BASELINE_VERSION:
        raise ConfigError(f"{path}: baseline version {data['version']!r} is not supported (expected {BASELINE_VERSION})")
    fps = data["fingerprints"]
    if not isinstance(fps, list):
        raise ConfigError(f"{path}: baseline 'fingerprints' must be an array of strings")
    for fp in fps:
        if not isinstance(fp, str) or not re.fullmatch(r"[0-9a-f]+", fp):
            raise ConfigError(f"{path}: baseline fingerprint {fp!r} is not a hex string")
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
