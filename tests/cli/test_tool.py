"""`sounding tool`: the same environment as `ask` by default, and helpful key errors."""

from __future__ import annotations

import json
from pathlib import Path

from .test_ask import run_cli


def test_tool_defaults_to_the_offline_environment(vital_cache: Path, tmp_path: Path) -> None:
    proc = run_cli(["tool", "search", '{"query": ["Eiffel Tower"]}', "--json"],
                   {"SOUNDING_CACHE_DIR": str(vital_cache)}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    out = json.loads(proc.stdout)
    assert out["provider"] == "corpus"
    assert "https://en.wikipedia.org/wiki/Eiffel_Tower" in out["observation"]


def test_tool_follows_sounding_env_like_ask(tmp_path: Path) -> None:
    proc = run_cli(["tool", "search", '{"query": ["x"]}'],
                   # serper alone: the default chain would fall back to keyless ddgs
                   {"SOUNDING_ENV": "web", "SERPER_API_KEY": "", "SOUNDING_WEB__SEARCH": "serper"},
                   tmp_path)
    assert proc.returncode == 2
    line = proc.stderr.strip()
    assert "\n" not in line
    assert "set SERPER_API_KEY (for serper)" in line
    assert "--env offline" in line and "needs no key" in line


def test_tool_checks_its_paths_first(tmp_path: Path) -> None:
    proc = run_cli(["tool", "parse_file", '{"files": ["a.pdf"]}', "--files",
                    str(tmp_path / "[docs]")], {}, tmp_path)
    assert proc.returncode == 2
    assert f"--files (web.files_dir): {tmp_path / '[docs]'} does not exist" in proc.stderr
