"""Output formats: one module each, rendering a Report and computing nothing.

A module here defines ``NAME`` and ``render(report) -> str``; it is found by
name, so adding a format touches nothing else.
"""

from __future__ import annotations

import importlib
import pkgutil


def formats() -> list[str]:
    return sorted(i.name.replace("_", "-") for i in pkgutil.iter_modules(__path__) if not i.name.startswith("_"))


def get(name: str):
    if name not in formats():
        raise KeyError(name)
    return importlib.import_module(f"{__name__}.{name.replace('-', '_')}")
