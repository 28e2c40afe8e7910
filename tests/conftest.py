"""Shared fixtures: isolated settings (no user config, no real endpoints, tmp cache)."""

from __future__ import annotations

from collections.abc import Iterator
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


@pytest.fixture(scope="session")
def vital_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A cache directory holding the embedded corpus index, built once per session."""
    from sounding.corpus.vital import open_default_corpus

    cache = tmp_path_factory.mktemp("vital-cache")
    open_default_corpus(cache).close()
    return cache


@pytest.fixture
def settings(vital_cache: Path) -> Settings:
    """Settings for in-process runs: the shared corpus cache, tiny backoff, no env read."""
    return load_settings(
        {
            "llm.base_url": "http://127.0.0.1:9/v1",
            "llm.model": "scripted",
            "llm.backoff_base": 0.01,
            "cache_dir": vital_cache,
        },
        environ={},
        config_file=None,
    )


@pytest.fixture(autouse=True)
def _no_real_model_requests() -> object:
    """No test may reach a model endpoint off this machine."""
    from sounding.llm.testing import forbid_real_requests

    with forbid_real_requests():
        yield


@pytest.fixture(autouse=True)
def _strict(monkeypatch: pytest.MonkeyPatch) -> object:
    """A bug of ours fails the test: in a run (raised after the run closed its record) and
    in a tool called outside a run (an Environment's own default)."""
    from sounding.agent import strict_runs
    from sounding.env import Environment

    monkeypatch.setattr(Environment, "strict_default", True)
    with strict_runs():
        yield


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """One real Ray cluster on loopback (2 CPUs, no dashboard) for every test that asks,
    started once since Ray takes seconds to start: its GCS address, for drivers in other
    processes. Executors in this process find it initialised and use it."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install "
                              "'sounding[ray]')")
    context = ray.init(address="local", num_cpus=2, include_dashboard=False,
                       namespace="sounding", log_to_driver=False,
                       _node_ip_address="127.0.0.1")
    try:
        yield str(context.address_info["gcs_address"])
    finally:
        ray.shutdown()
