from __future__ import annotations

from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]
FIXTURES = REPO_ROOT / "fixtures"


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory, monkeypatch):
    """Every test gets an empty fact cache of its own, never the user's ~/.cache/qlint."""
    from qlint.analyzer.tree import cache, index
    from qlint.analyzer.diff import prefilter

    monkeypatch.setenv("QLINT_CACHE_DIR", str(tmp_path_factory.mktemp("qlint-cache")))
    monkeypatch.delenv("QLINT_NO_CACHE", raising=False)
    cache.reset()
    index.clear_memory()
    prefilter._MEMO.clear()
    yield
    cache.reset()
