"""GAIA: the text-only subset, missing attachments, and attachments handed to parse_file."""

from __future__ import annotations

import dataclasses
import json
import re
from pathlib import Path

import pytest

from sounding.agent import open_agent
from sounding.config import Settings
from sounding.errors import DatasetError
from sounding.eval.agent_rollout import agent_rollout, files_settings
from sounding.eval.datasets import load_dataset
from sounding.eval.judges import ExactMatchJudge
from sounding.eval.rows import read_rows
from sounding.eval.runner import RunConfig, build_manifest, run_eval
from sounding.llm.base import ChatRequest
from sounding.llm.testing import ScriptedModel

from .test_e2e import corpus


def gaia_file(folder: Path) -> Path:
    rows = [{"task_id": "t1", "Question": "What is the code word in the notes?", "Level": 1,
             "Final answer": "heliotrope", "file_name": "notes.txt"},
            {"task_id": "t2", "Question": "Who wrote the first program?", "Level": 1,
             "Final answer": "Ada Lovelace", "file_name": ""}]
    path = folder / "metadata.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    (folder / "notes.txt").write_text("Meeting notes. The code word is heliotrope.\n")
    return path


def test_text_only_subset_and_missing_attachment(tmp_path: Path) -> None:
    path = gaia_file(tmp_path)
    assert [i.id for i in load_dataset(path)[1]] == ["t1", "t2"]
    assert [i.id for i in load_dataset(path, text_only=True)[1]] == ["t2"]
    (tmp_path / "notes.txt").unlink()
    assert [i.id for i in load_dataset(path, text_only=True)[1]] == ["t2"]
    with pytest.raises(DatasetError, match=r"task t1 needs attached file 'notes\.txt'"):
        load_dataset(path)


def reply(request: ChatRequest) -> str:
    last = request.messages[-1].content
    if "<tool_response>" in last:
        word = re.search(r"code word is (\w+)", last)
        return f"<think>read it</think>\n<answer>{word.group(1) if word else 'none'}</answer>"
    if "Attached file: notes.txt" in last:
        return ('<think>open the file</think>\n<tool_call>\n{"name": "parse_file", '
                '"arguments": {"files": ["notes.txt"]}}\n</tool_call>')
    return "<think>I know this</think>\n<answer>Ada Lovelace</answer>"


async def test_attachments_reach_parse_file(tmp_path: Path, settings: Settings) -> None:
    data = tmp_path / "gaia"
    data.mkdir()
    _fmt, items = load_dataset(gaia_file(data))
    run = tmp_path / "run"
    s = files_settings(dataclasses.replace(settings, corpus=corpus(tmp_path)), items,
                       run / "attachments")
    assert s.web.files_dir == (run / "attachments").resolve()
    # The agent gets the attachments only, not the folder that holds the gold answers.
    assert sorted(p.name for p in s.web.files_dir.iterdir()) == ["notes.txt"]
    model = ScriptedModel.cycle([reply])
    async with open_agent(s, model=model) as resources:
        assert "parse_file" in resources.environment.tools
        manifest = build_manifest(dataset=data / "metadata.jsonl", dataset_sha256="h",
                                  fmt="gaia", judge=ExactMatchJudge(), agent={}, rollouts=1,
                                  limit=None, item_ids=[i.id for i in items])
        out = await run_eval(items, manifest, config=RunConfig(run, rollouts=1, fsync=False),
                             rollout=agent_rollout(s, resources), judge=ExactMatchJudge())
    rows = read_rows(run)
    assert rows[("t1", 0)].tool_counts == {"parse_file": 1}
    assert rows[("t1", 0)].answer == "heliotrope" and rows[("t1", 0)].correct
    assert out.metrics["avg_at_k"] == 1.0 and len(model.requests) == 3
