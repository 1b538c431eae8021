"""Fixtures shared by every test folder."""

from __future__ import annotations

from pathlib import Path

import pytest


@pytest.fixture
def hyperseal_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """Private cache and key home for a test; returns the folder holding both."""
    monkeypatch.setenv("HYPERSEAL_CACHE", str(tmp_path / "cache"))
    monkeypatch.setenv("HYPERSEAL_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("HYPERSEAL_PASSPHRASE", raising=False)
    return tmp_path
