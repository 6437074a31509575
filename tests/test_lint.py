"""The project passes ruff with the configuration in pyproject.toml, and that configuration
still catches the kinds of bug it was chosen for."""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _ruff() -> list[str]:
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    found = shutil.which("ruff")
    if found is None:
        pytest.skip("ruff is not installed (python3 -m pip install '.[test]' installs it)")
    return [found]


def _check(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
    # --no-cache: nothing is written into the checkout
    return subprocess.run([*_ruff(), "check", "--no-cache", "--output-format", "concise", *args],
                          cwd=ROOT, input=stdin, capture_output=True, text=True)


def test_the_project_passes_ruff():
    r = _check(".")
    version = subprocess.run([*_ruff(), "--version"], capture_output=True, text=True).stdout.strip()
    assert r.returncode == 0, f"{version} in {ROOT}:\n{r.stdout}{r.stderr}"


# Each snippet holds one bug of a kind the configuration selects; it must be reported.
BUGS = {
    "F821": "def f():\n    return undefined_name\n",
    "B023": "fs = []\nfor i in range(3):\n    fs.append(lambda: i)\n",
    "B006": "def f(x=[]):\n    return x\n",
    "F811": "def f():\n    pass\n\n\ndef f():\n    pass\n",
    "E711": "def f(x):\n    return x == None\n",
}


@pytest.mark.parametrize("code", sorted(BUGS))
def test_the_configuration_reports(code):
    r = _check("--stdin-filename", "analyzer/snippet.py", "-", stdin=BUGS[code])
    assert r.returncode == 1 and f" {code} " in r.stdout, r.stdout + r.stderr
