"""`sounding synth` end to end on the embedded corpus against a scripted model server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from sounding.llm.testing import ScriptedServer
from sounding.synth.stage import read_jsonl


def cli(args: list[str], env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess[str]:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("SOUNDING_")}
    return subprocess.run([sys.executable, "-m", "sounding", "synth", *args],
                          capture_output=True, text=True, env={**clean, **env}, cwd=cwd,
                          timeout=300, check=False)


def test_synth_end_to_end(vital_cache: Path, tmp_path: Path) -> None:
    env = {"SOUNDING_CACHE_DIR": str(vital_cache)}
    steps = [["graph", "default", "--out", "g"],
             ["formal", "g", "--out", "f", "--n", "30", "-q"],
             ["walks", "g", "--out", "w", "--n", "30", "-q"],
             ["dedup", "w/items.jsonl", "--out", "d"]]
    for step in steps:
        proc = cli(step, env, tmp_path)
        assert proc.returncode == 0, proc.stderr
    manifest = json.loads((tmp_path / "f" / "manifest.json").read_text())
    assert manifest["status"] == "done" and manifest["counts"]["in"] == 30
    assert sum(manifest["counts"]["rejected"].values()) + manifest["counts"]["kept"] == 30
    gold = str(next(read_jsonl(tmp_path / "f" / "items.jsonl"))["answer"])
    verdicts = iter(["right", "wrong"])

    def reply(body: dict[str, object]) -> str:
        messages = body["messages"]
        assert isinstance(messages, list)
        if "<tool_response>" not in str(messages[-1]["content"]):
            query = json.dumps({"name": "search", "arguments": {"query": ["clue"]}})
            return f"<think>search</think>\n<tool_call>\n{query}\n</tool_call>"
        said = gold if next(verdicts) == "right" else "Nobody"
        return f"<think>done</think>\n<answer>{said}</answer>"

    with ScriptedServer.repeat(reply) as llm:
        proc = cli(["trajectories", "f/items.jsonl", "--out", "t", "--k", "2", "--modes",
                    "react", "--limit", "1", "--concurrency", "1"],
                   {**env, "SOUNDING_BASE_URL": llm.base_url, "SOUNDING_MODEL": "m"}, tmp_path)
    assert proc.returncode == 0, proc.stderr
    proc = cli(["export", "t", "--out", "x"], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    rl = [json.loads(line) for line in (tmp_path / "x" / "rl.jsonl").read_text().splitlines()]
    assert rl[0]["answer"] == gold and rl[0]["pass_rate"] == 0.5
    sft = (tmp_path / "x" / "sft.jsonl").read_text().splitlines()
    assert len(sft) == 1 and gold in json.loads(sft[0])["messages"][-1]["content"]
    proc = cli(["status", "."], env, tmp_path)
    assert proc.returncode == 0, proc.stderr
    for stage in ("graph", "formal", "walks", "dedup", "trajectories", "export"):
        assert stage in proc.stdout


def test_graph_on_a_missing_corpus(tmp_path: Path) -> None:
    proc = cli(["graph", str(tmp_path / "nothing"), "--out", "g"], {}, tmp_path)
    assert proc.returncode == 2 and "no corpus" in proc.stderr


def test_help_lists_the_stages(tmp_path: Path) -> None:
    proc = cli(["--help"], {}, tmp_path)
    assert proc.returncode == 0
    for command in ("graph", "relations", "formal", "walks", "verbalize", "frontier", "zpd",
                    "dedup", "trajectories", "export", "run", "web-verify", "web-graph", "status"):
        assert command in proc.stdout
