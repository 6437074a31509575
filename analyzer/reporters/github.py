"""``--format github``: GitHub Actions workflow commands, one annotation per finding.

``::error file=PATH,line=N,endLine=M,title=RULE::MESSAGE``; warnings become
``::warning`` and notes ``::notice``.  Every line is a command, so a workflow
step can print it as is.  Escaping follows the runner's parser: in the
message ``%``, CR and LF; in property values also ``:`` and ``,``.  Other
control characters and non-UTF-8 bytes are shown escaped first, as in the
text format (``\x1b``, ``\xff``: see ._escape).
"""

from __future__ import annotations

from qlint.analyzer.reporters._escape import inert

COMMANDS = {"error": "error", "warning": "warning", "note": "notice"}


def _data(s: str) -> str:
    s = "\r".join(inert(part) for part in s.split("\r"))  # CR keeps the runner's own escape
    return s.replace("%", "%25").replace("\r", "%0D").replace("\n", "%0A")


def _prop(s: str) -> str:
    return _data(s).replace(":", "%3A").replace(",", "%2C")


def render(report) -> str:
    out = []
    for f in report.findings:
        props = [
            f"file={_prop(f.path)}",
            f"line={f.line}",
            f"endLine={max(f.end_line, f.line)}",
            f"title={_prop(f.rule)}",
        ]
        message = f.message + ("\n\n" + f.details if f.details else "")
        out.append(f"::{COMMANDS[f.severity]} {','.join(props)}::{_data(message)}\n")
    return "".join(out)
