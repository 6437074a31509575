"""Findings are plain data: rules make them, reporters render them."""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field

SEVERITIES = ("error", "warning", "note")
# how sure qlint is, best first (see docs/output-formats.md, "Confidence")
CONFIDENCES = ("high", "medium", "low")


@dataclass
class Related:
    path: str
    line: int
    message: str


@dataclass
class Finding:
    rule: str
    severity: str
    message: str  # one line, no advice
    path: str
    line: int
    end_line: int
    function: str | None = None
    commit: str | None = None
    commit_subject: str | None = None
    patch_index: int = 1
    patch_total: int = 1
    details: str = ""  # the reviewer's paragraph: why it breaks, for whom
    quoted: list[str] = field(default_factory=list)  # changed lines, diff-marked
    suggestion: str | None = None  # exact lines to add, and where
    related: list[Related] = field(default_factory=list)
    confidence: str = "high"
    # post-release fixes: which migrations between releases work, and the rescue (qlint matrix)
    matrix: dict | None = None
    matrix_text: str = ""  # the same, preformatted for text and mail
    # what identifies the finding besides rule and path: never a line number
    anchor: str = ""
    # what --fix adds (a plan from analyzer.fixplan), or None when qlint cannot write the fix
    fix: object | None = field(default=None, repr=False, compare=False)
    # False when ``function`` names something else than a C function (a VMState description):
    # reporters say "in f()" only of functions
    in_function: bool = field(default=True, repr=False)
    # the VMStateDescription variable whose stream the finding is about (the parent of a new
    # subsection): the engine drops the finding when the last release did not send it
    stream: str | None = field(default=None, repr=False)

    @property
    def fingerprint(self) -> str:
        h = hashlib.sha1()
        for part in (self.rule, self.path, self.function or "", self.anchor):
            # a byte of a path that is not UTF-8 arrives as a surrogate: hashed as itself, not as "?"
            h.update(part.encode("utf-8", "surrogatepass") + b"\0")
        return h.hexdigest()[:16]

    def to_dict(self) -> dict:
        fix, self.fix = self.fix, None  # plans are --fix's input, not part of the JSON schema
        try:
            d = asdict(self)
        finally:
            self.fix = fix
        d.pop("anchor")
        d.pop("fix")
        d.pop("in_function")
        d.pop("stream")
        d["fingerprint"] = self.fingerprint
        return d
