from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest


@pytest.fixture(autouse=True)
def private_cache(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Path]:
    """Synthetic scenes go to a cache shared by these tests only (child processes too)."""
    folder = tmp_path_factory.getbasetemp() / "bench-cache"
    monkeypatch.setenv("HYPERSEAL_CACHE", str(folder))
    yield folder
