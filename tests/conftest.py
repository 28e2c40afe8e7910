"""Shared fixtures: isolated settings (no user config, no real endpoints, tmp cache)."""

from __future__ import annotations

from pathlib import Path

import pytest

from sounding.config import Settings, load_settings


@pytest.fixture
def isolated_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Path:
    """No SOUNDING_* variables or user config leak into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("SOUNDING_") or name.endswith(("_API_KEY",)):
            monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    return tmp_path


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings for in-process runs: a tmp cache, tiny backoff, no environment read."""
    return load_settings(
        {
            "llm.base_url": "http://127.0.0.1:9/v1",
            "llm.model": "scripted",
            "llm.backoff_base": 0.01,
            "cache_dir": tmp_path / "cache",
        },
        environ={},
        config_file=None,
    )
