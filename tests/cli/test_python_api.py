"""`sounding.ask()` takes the CLI's names, and the README's Python example runs as written."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

import sounding
from sounding.config import Settings
from sounding.errors import ConfigError
from sounding.llm.testing import ScriptedModel, ScriptedServer
from sounding.trace import read_trajectories

from .test_ask import tags_call

README = Path(__file__).resolve().parents[2] / "README.md"


def test_ask_takes_the_cli_names_with_str_or_path(settings: Settings, tmp_path: Path) -> None:
    papers = tmp_path / "papers"
    papers.mkdir()
    role = tmp_path / "role.txt"
    role.write_text("You are a patient archivist.", encoding="utf-8")
    model = ScriptedModel(["<answer>a</answer>"])
    result = sounding.ask("q", settings=settings, model=model, max_rounds=7, mode="resum",
                          files=str(papers), system_prompt=role, temperature=0.25,
                          no_cache=True)
    recorded = result.trajectory.settings
    assert (result.answer, result.mode) == ("a", "resum")
    assert recorded["budgets"]["max_rounds"] == 7  # type: ignore[index]
    assert recorded["web"]["files_dir"] == str(papers)  # type: ignore[index]
    assert recorded["web"]["no_cache"] is True  # type: ignore[index]
    assert model.requests[0].sampling.temperature == 0.25
    assert "patient archivist" in str(model.requests[0].messages[0].content)


def test_unknown_names_and_bad_paths_fail_before_any_call(settings: Settings,
                                                          tmp_path: Path) -> None:
    model = ScriptedModel([])
    with pytest.raises(ConfigError) as info:
        sounding.ask("q", settings=settings, model=model, max_round=5)
    assert "did you mean 'max_rounds'?" in str(info.value)
    assert "valid options: base_url, model, api_key" in str(info.value)
    with pytest.raises(ConfigError, match="--files"):
        sounding.ask("q", settings=settings, model=model, files=tmp_path / "missing")
    assert model.requests == []


def _python_examples() -> list[str]:
    return re.findall(r"```python\n(.*?)```", README.read_text(encoding="utf-8"), re.S)


def test_readme_python_example_runs_as_written(vital_cache: Path, tmp_path: Path) -> None:
    examples = _python_examples()
    assert examples, "the README has a Python example"
    turns = iter([tags_call("search", query=["Eiffel Tower"]),
                  "<think>done</think>\n<answer>Gustave Eiffel</answer>"])
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOUNDING_")}
    for code in examples:
        with ScriptedServer.repeat(lambda body: next(turns, "<answer>Gustave Eiffel</answer>")
                                   ) as server:
            env = {**clean, "SOUNDING_BASE_URL": server.base_url, "SOUNDING_MODEL": "tongyi",
                   "SOUNDING_CACHE_DIR": str(vital_cache)}
            proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                                  env=env, cwd=tmp_path, timeout=120, check=False)
        assert proc.returncode == 0, proc.stderr
        assert proc.stdout.startswith("Gustave Eiffel")
    (saved,) = read_trajectories(tmp_path / "runs.jsonl")
    assert saved.answer == "Gustave Eiffel"
    assert json.loads(saved.to_json())["settings"]["budgets"]["max_rounds"] == 5
