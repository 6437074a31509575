"""Every source package directory is installed under the qlint namespace."""

from __future__ import annotations

import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _declared():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    return conf["package-dir"], set(conf["packages"])


def test_every_package_directory_is_listed():
    pkg_dir, packages = _declared()
    for name, rel in pkg_dir.items():
        base = ROOT / rel
        for init in base.rglob("__init__.py"):
            sub = init.parent.relative_to(base)
            dotted = ".".join((name, *sub.parts)) if sub.parts else name
            assert dotted in packages, f"{init.parent} is a package but {dotted} is not in pyproject packages"


def test_nothing_generic_in_site_packages():
    pkg_dir, packages = _declared()
    for name in packages | set(pkg_dir):
        assert name.split(".")[0] == "qlint", f"{name} would land outside the qlint namespace"


def test_fixtures_are_package_data():
    conf = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]
    assert "qlint.fixtures" in conf["packages"]
    assert any("**" in g for g in conf["package-data"]["qlint.fixtures"])
