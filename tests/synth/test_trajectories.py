"""Rejection sampling with scripted agents, and export files that load with `datasets`."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from sounding.config import Settings
from sounding.env import Environment, build_environment
from sounding.llm.base import ChatRequest
from sounding.llm.testing import ScriptedModel
from sounding.synth.checker import accept, set_f1
from sounding.synth.export import export
from sounding.synth.pipeline import run_formal
from sounding.synth.stage import read_jsonl
from sounding.synth.trajectories import SampleConfig, run_trajectories


def call(name: str, report: bool = False, **arguments: object) -> str:
    body = json.dumps({"name": name, "arguments": arguments})
    rep = "<report>searched so far</report>\n" if report else ""
    return f"<think>look it up</think>\n{rep}<tool_call>\n{body}\n</tool_call>"


def answer(text: str, report: bool = False) -> str:
    rep = "<report>done</report>\n" if report else ""
    return f"<think>found it</think>\n{rep}<answer>{text}</answer>"


def test_checker() -> None:
    assert accept("the  Paris", "Paris").how == "alias"
    assert accept("Lutetia", "Paris", ["Lutetia"]).ok
    assert accept("66,900,000", "66987244", tolerance=0.01).how == "numeric"
    assert not accept("60000000", "66987244").ok
    assert accept("Oslo, Paris and Rome", "Paris, Rome, Oslo").how == "set_f1"
    assert set_f1("Paris, Rome", "Paris, Rome, Oslo") == pytest.approx(0.8)
    assert not accept(None, "Paris").ok


@pytest.fixture
async def environment(settings: Settings) -> Iterator[Environment]:
    env = build_environment(settings, summary_model=None)
    yield env
    await env.aclose()


@pytest.fixture(scope="module")
def items(vital_graph: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("formal")
    run_formal(vital_graph, out, n=30)
    return out / "items.jsonl"


def scripted(gold: str, plan: list[str]) -> ScriptedModel:
    """One search, then the answer the plan says for this run (right, wrong, ...)."""
    runs = iter(plan)

    def reply(request: ChatRequest) -> str:
        iter_mode = "<report>" in request.messages[0].content
        if "<tool_response>" not in request.messages[-1].content:
            return call("search", report=iter_mode, query=["who is it"])
        verdict = next(runs)
        text = {"right": gold, "wrong": "Nobody"}[verdict]
        return answer(text, report=iter_mode)

    return ScriptedModel.cycle([reply])


async def test_rejection_sampling_and_export(items: Path, settings: Settings,
                                            environment: Environment, tmp_path: Path) -> None:
    first = next(read_jsonl(items))
    gold = str(first["answer"])
    model = scripted(gold, ["right", "wrong", "right", "right", "right", "right"] * 4)
    cfg = SampleConfig(k=3, modes=("react", "iter"), concurrency=1)
    stage = await run_trajectories(items, tmp_path / "t", settings, model=model,
                                   environment=environment, config=cfg, limit=1)
    assert stage.kept == 1
    row = next(read_jsonl(tmp_path / "t" / "items.jsonl"))
    assert row["pass_rate"] == {"react": pytest.approx(2 / 3), "iter": 1.0}
    assert row["rejections"] == {"wrong_answer": 1}
    assert stage.llm_calls == 6 * 2  # six runs of two model calls each
    accepted = row["accepted"]
    assert isinstance(accepted, list) and len(accepted) == 5
    assert all(0.0 <= a["evidence_recall"] <= 1.0 for a in accepted)  # type: ignore[index,operator]
    # a resumed run does no new work
    again = await run_trajectories(items, tmp_path / "t", settings, model=ScriptedModel([]),
                                   environment=environment, config=cfg, limit=1)
    assert again.kept == 1
    result = export(tmp_path / "t", tmp_path / "x")
    assert result.kept == 1  # pass rate 5/6: neither always right nor always wrong
    datasets = pytest.importorskip("datasets")
    sft = datasets.load_dataset("json", data_files=str(tmp_path / "x" / "sft.jsonl"),
                                split="train", cache_dir=str(tmp_path / "hf"))
    assert len(sft) == 2
    msgs = sft[0]["messages"]
    assert msgs[0]["role"] == "system" and msgs[-1]["content"].endswith(f"<answer>{gold}</answer>")
    assert any(m["role"] == "user" and m["content"].startswith("<tool_response>") for m in msgs)
    assert sft[0]["provenance"]["pipeline"] == "formal"
    assert "answer_alias" in sft[0]["provenance"]["checks"]
    rounds = datasets.load_dataset("json", data_files=str(tmp_path / "x" / "rounds.jsonl"),
                                   split="train", cache_dir=str(tmp_path / "hf"))
    assert len(rounds) == 3 * 2  # three iter runs, two rounds each
    assert "<report>" in rounds[0]["messages"][-1]["content"]
    rl = datasets.load_dataset("json", data_files=str(tmp_path / "x" / "rl.jsonl"),
                               split="train", cache_dir=str(tmp_path / "hf"))
    assert rl[0]["answer"] == gold and rl[0]["pass_rate"] == pytest.approx(5 / 6)
    assert gold in rl[0]["aliases"] and rl[0]["provenance"]["source_pages"]


async def test_filters_reject_bad_runs(items: Path, settings: Settings,
                                       environment: Environment, tmp_path: Path) -> None:
    gold = str(next(read_jsonl(items))["answer"])
    same = call("search", query=["same"])
    replies = [
        answer(gold),                                   # no tool call at all
        same, same, answer(gold),                       # the same call twice: a loop
        "<tool_call>\n" + json.dumps({"name": "search", "arguments": {"query": ["x"]}})
        + "\n</tool_call>", answer(gold),               # a turn without <think>
    ]
    model = ScriptedModel(replies)
    cfg = SampleConfig(k=3, concurrency=1)
    stage = await run_trajectories(items, tmp_path / "t", settings, model=model,
                                   environment=environment, config=cfg, limit=1)
    model.assert_all_used()
    assert stage.kept == 0
    row = next(read_jsonl(tmp_path / "t" / "rejected.jsonl"))
    assert row["reason"] == "no_run_accepted" and row["pass_rate"] == {"react": 1.0}
    assert row["rejections"] == {"too_few_tool_calls": 1, "loop_repeated_call": 1,
                                 "malformed_turn": 1}
    assert export(tmp_path / "t", tmp_path / "x").reasons == {"always_right": 1}


async def test_run_all_end_to_end(vital_cache: Path, settings: Settings,
                                  environment: Environment, tmp_path: Path) -> None:
    from sounding.corpus import open_default_corpus
    from sounding.synth.run import RunPlan, run_all

    gold: dict[str, str] = {}
    answered: list[str] = []

    def reply(request: ChatRequest) -> str:
        if not gold:  # the questions exist by the time the agents run
            for row in read_jsonl(tmp_path / "run" / "dedup" / "items.jsonl"):
                gold[str(row["question"]["en"])] = str(row["answer"])  # type: ignore[index]
        if "<tool_response>" not in request.messages[-1].content:
            return call("search", query=["clue"])
        asked = request.messages[1].content
        said = next(a for q, a in gold.items() if q in asked)
        answered.append(said)
        return answer(said if len(answered) % 2 else "Nobody")  # right, wrong, right, ...

    plan = RunPlan(formal=20, walks=20, verbalize=False,
                   sample=SampleConfig(k=2, modes=("react",), concurrency=1), limit=3)
    with open_default_corpus(vital_cache) as corpus:
        counts = await run_all(corpus, tmp_path / "run", settings,
                               model=ScriptedModel.cycle([reply]), environment=environment,
                               plan=plan)
    assert counts["formal"]["in"] == 20 and counts["walks"]["in"] == 20  # type: ignore[index]
    assert counts["trajectories"]["in"] == 3  # type: ignore[index]
    for name in ("sft", "rounds", "rl"):
        assert (tmp_path / "run" / "export" / f"{name}.jsonl").is_file()
    sft = list(read_jsonl(tmp_path / "run" / "export" / "sft.jsonl"))
    assert len(sft) == 3 and all("answer_alias" in row["provenance"]["checks"]  # type: ignore[index,operator]
                                 for row in sft)
    rl = list(read_jsonl(tmp_path / "run" / "export" / "rl.jsonl"))
    assert [row["pass_rate"] for row in rl] == [0.5, 0.5, 0.5]


async def test_every_rollout_goes_through_the_given_rollout(settings: Settings,
                                                           tmp_path: Path) -> None:
    from sounding.errors import ConfigError
    from sounding.synth.trajectories import SynthTask
    from sounding.trace.trajectory import Trajectory

    items = tmp_path / "in.jsonl"
    items.write_text("".join(json.dumps({"key": f"k{i}", "question": f"Q{i}?",
                                         "answer": f"A{i}"}) + "\n" for i in range(5)))
    seen: list[tuple[str, str, int]] = []
    in_flight, most = 0, 0

    async def rollout(task: SynthTask, index: int) -> Trajectory:
        nonlocal in_flight, most
        in_flight += 1
        most = max(most, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        seen.append((task.key, task.mode, index))
        traj = Trajectory(question=task.question, model="m")
        # Item k1 is answered wrong in iter mode only.
        traj.answer = "wrong" if (task.key, task.mode) == ("k1", "iter") else \
            task.question.replace("Q", "A").rstrip("?")
        traj.termination = "answer"
        return traj

    cfg = SampleConfig(k=2, modes=("react", "iter"), min_tool_calls=0, concurrency=4)
    stage = await run_trajectories(items, tmp_path / "t", settings, rollout=rollout,
                                   config=cfg, limit=4)
    assert sorted(seen) == sorted((f"k{i}", m, r) for i in range(4)
                                  for m in ("react", "iter") for r in range(2))
    assert most == 4  # two items in flight, two rollouts each
    assert stage.kept == 4 and stage.complete
    rows = {str(r["key"]): r for r in read_jsonl(tmp_path / "t" / "items.jsonl")}
    assert rows["k1"]["pass_rate"] == {"react": 1.0, "iter": 0.0}
    assert rows["k1"]["rejections"] == {"wrong_answer": 2}
    assert len(rows["k0"]["accepted"]) == 4  # type: ignore[arg-type]
    seen.clear()  # resumed: nothing left to run
    assert (await run_trajectories(items, tmp_path / "t", settings, rollout=rollout,
                                   config=cfg, limit=4)).kept == 4 and not seen
    with pytest.raises(ConfigError, match="needs a rollout"):
        await run_trajectories(items, tmp_path / "u", settings, config=cfg)


async def test_a_failed_rollout_stops_the_run_and_resume_finishes_it(settings: Settings,
                                                                     tmp_path: Path) -> None:
    from sounding.synth.trajectories import SynthTask
    from sounding.trace.trajectory import Trajectory

    items = tmp_path / "in.jsonl"
    items.write_text("".join(json.dumps({"key": f"k{i}", "question": f"Q{i}?",
                                         "answer": f"A{i}"}) + "\n" for i in range(4)))
    broken = {"k1"}
    runs: list[str] = []

    async def rollout(task: SynthTask, index: int) -> Trajectory:
        await asyncio.sleep(0.5 if task.key in broken else 0.0)
        if task.key in broken:
            raise RuntimeError("the worker lost it")
        runs.append(task.key)
        traj = Trajectory(question=task.question, model="m")
        traj.answer, traj.termination = "A" + task.question[1:-1], "answer"
        return traj

    cfg = SampleConfig(k=2, min_tool_calls=0, concurrency=4)
    with pytest.raises(RuntimeError, match="lost it"):
        await run_trajectories(items, tmp_path / "t", settings, rollout=rollout, config=cfg)
    first = [str(r["key"]) for r in read_jsonl(tmp_path / "t" / "items.jsonl")]
    # Items that finished while k1 was failing were written; k1 was not.
    assert first == ["k0", "k2", "k3"]
    broken.clear()
    runs.clear()
    stage = await run_trajectories(items, tmp_path / "t", settings, rollout=rollout,
                                   config=cfg)
    assert runs == ["k1", "k1"]  # the written items were not run again
    keys = [str(r["key"]) for r in read_jsonl(tmp_path / "t" / "items.jsonl")]
    assert sorted(keys) == ["k0", "k1", "k2", "k3"] and stage.kept == 4
