"""Heavy mode: concurrent branches, shared budgets, early stop, synthesis and its fallback."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sounding.agent import arun
from sounding.agent.heavy import BranchOutcome, majority_vote, normalise_answer
from sounding.config import LLMSettings, Settings
from sounding.errors import LLMError
from sounding.llm.base import ChatRequest, Completion
from sounding.llm.openai_client import OpenAIChatModel
from sounding.llm.testing import ScriptedModel, ScriptedServer
from sounding.trace import Trajectory
from sounding.types import JSONObject, Usage

from ._mode_fakes import answer, configure, fixed_env, search_call, text_of

QUESTION = "What is the capital of France?"
SYNTHESIS = "<think>weigh</think>\n<report>merged report</report>\n<answer>Paris</answer>"


def is_synthesis(request: ChatRequest) -> bool:
    return bool(request.purpose == "synthesis")


def server_router(protocol: str) -> object:
    """Search once, then answer; answer synthesis requests with SYNTHESIS."""
    def reply(body: JSONObject) -> object:
        messages = body["messages"]
        assert isinstance(messages, list)
        system = str(messages[0]["content"])
        if "synthesis editor" in system:
            return SYNTHESIS
        last = messages[-1]
        assert isinstance(last, dict)
        if last["role"] == "tool" or str(last["content"]).startswith("<tool_response>"):
            return answer("Paris", report="Paris is the capital https://example.org/1")
        return search_call(protocol, "capital of France", report="searching")
    return reply


@pytest.mark.parametrize("protocol", ["tags", "native"])
async def test_branches_run_concurrently_against_a_server(
    settings: Settings, protocol: str
) -> None:
    latency, n = 0.3, 4
    with ScriptedServer.repeat(server_router(protocol), latency=latency) as server:
        model = OpenAIChatModel(LLMSettings(base_url=server.base_url, model="scripted",
                                            api_key="k", backoff_base=0.01))
        cfg = configure(settings, "heavy", protocol, **{"heavy.branches": n,
                                                        "sampling.seed": 7})
        started = time.monotonic()
        try:
            traj = await arun(QUESTION, cfg, model=model, environment=fixed_env())
        finally:
            await model.aclose()
        elapsed = time.monotonic() - started
        requests = list(server.requests)
    # All N first turns were in flight at once; the run took about one branch's time
    # (two turns + synthesis), far from the N * 2 + 1 calls of a sequential run.
    assert server.max_in_flight >= n
    assert elapsed < 3 * latency * 2.0
    assert len(requests) == 2 * n + 1
    assert sorted({r["seed"] for r in requests if "seed" in r}) == [7, 8, 9, 10]
    assert traj.answer == "Paris" and traj.termination == "answer"
    assert [b.mode for b in traj.branches] == ["iter"] * n
    for i, branch in enumerate(traj.branches, 1):
        assert branch.answer == "Paris" and branch.termination == "answer"
        assert {c.branch for c in branch.model_calls} == {f"b{i}"}
        assert {t.branch for t in branch.tool_calls} == {f"b{i}"}
    assert traj.notes["agreement"] == {"agree": n, "answered": n, "branches": n}
    assert traj.notes["report"] == "merged report" and traj.notes["fused_by"] == "synthesis"
    assert traj.rounds == 2 * n
    again = Trajectory.from_json(traj.to_json())
    assert len(again.branches) == n and again.branches[0].model_calls[0].branch == "b1"


class GatedModel:
    """Turns of branches whose seed is in `blocked` wait on an event that never fires."""

    def __init__(self, inner: ScriptedModel, blocked: set[int]) -> None:
        self.inner = inner
        self.blocked = blocked
        self.gate = asyncio.Event()
        self.cancelled = 0

    @property
    def name(self) -> str:
        return "gated"

    async def aclose(self) -> None:
        pass

    async def complete(self, request: ChatRequest) -> Completion:
        if request.purpose == "turn" and request.sampling.seed in self.blocked:
            try:
                await self.gate.wait()
            except asyncio.CancelledError:
                self.cancelled += 1
                raise
        return await self.inner.complete(request)


def by_seed(answers: dict[int, str], synthesis: object = SYNTHESIS) -> ScriptedModel:
    def reply(request: ChatRequest) -> str | Completion:
        if is_synthesis(request):
            if isinstance(synthesis, Exception):
                raise synthesis
            return str(synthesis)
        seed = request.sampling.seed
        assert seed is not None
        return answer(answers[seed], report=f"report of seed {seed}")
    return ScriptedModel.repeat(reply)


async def test_early_stop_cancels_the_rest(settings: Settings) -> None:
    inner = by_seed({100: "Paris", 101: "paris!"})
    model = GatedModel(inner, blocked={102, 103})
    cfg = configure(settings, "heavy", **{"heavy.branches": 4, "sampling.seed": 100,
                                          "heavy.early_stop_majority": 0.5})
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env())
    assert model.cancelled == 2 and not model.gate.is_set()
    assert [b.termination for b in traj.branches] == ["answer", "answer", "cancelled",
                                                      "cancelled"]
    assert traj.notes["early_stop"] is True
    assert traj.notes["agreement"] == {"agree": 2, "answered": 2, "branches": 4}
    synthesis = [r for r in inner.requests if is_synthesis(r)]
    assert len(synthesis) == 1
    assert "report of seed 100" in text_of(synthesis[0])
    assert "Researcher b3" not in text_of(synthesis[0])
    assert traj.answer == "Paris" and traj.termination == "answer"


async def test_no_early_stop_without_agreement(settings: Settings) -> None:
    model = by_seed({0: "Paris", 1: "Lyon", 2: "Nice"})
    cfg = configure(settings, "heavy", **{"heavy.branches": 3, "sampling.seed": 0,
                                          "heavy.early_stop_majority": 0.5})
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env())
    assert [b.termination for b in traj.branches] == ["answer"] * 3
    assert traj.notes["early_stop"] is False
    assert traj.notes["agreement"] == {"agree": 1, "answered": 3, "branches": 3}


async def test_token_ceiling_forces_answers_then_synthesis(settings: Settings) -> None:
    def reply(request: ChatRequest) -> str | Completion:
        if is_synthesis(request):
            return SYNTHESIS
        if request.purpose == "forced_answer":
            return answer(f"guess {request.sampling.seed}")
        turn = search_call("tags", "q", report=f"partial {request.sampling.seed}")
        assert isinstance(turn, str)
        return Completion(turn, usage=Usage(1000, 100))

    model = ScriptedModel.repeat(reply)
    cfg = configure(settings, "heavy", **{"heavy.branches": 3, "sampling.seed": 0,
                                          "budgets.max_total_tokens": 5000})
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env(size=100))
    assert [b.termination for b in traj.branches] == ["forced_answer"] * 3
    turns = [r for r in model.requests if r.purpose == "turn"]
    # Each branch saw the shared total: no turn started once 5,000 tokens were spent.
    assert len(turns) == 5
    forced = [r for r in model.requests if r.purpose == "forced_answer"]
    assert len(forced) == 3
    synthesis = next(r for r in model.requests if is_synthesis(r))
    body = text_of(synthesis)
    assert all(f"guess {s}" in body and f"partial {s}" in body for s in range(3))
    assert traj.answer == "Paris" and traj.termination == "forced_answer"
    assert model.requests[-1] is synthesis


@pytest.mark.parametrize("failure", [LLMError("synthesis endpoint down"),
                                     "<think>hmm</think>I cannot decide."])
async def test_synthesis_failure_falls_back_to_vote(settings: Settings, failure: object) -> None:
    model = by_seed({0: "Lyon", 1: "Paris", 2: "the paris"}, synthesis=failure)
    cfg = configure(settings, "heavy", **{"heavy.branches": 3, "sampling.seed": 0})
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env())
    assert traj.answer == "Paris" and traj.termination == "answer"
    assert traj.notes["fused_by"] == "vote"
    assert "synthesis_error" in traj.notes
    assert traj.notes["agreement"] == {"agree": 2, "answered": 3, "branches": 3}
    assert traj.notes["report"] == "report of seed 1"


async def test_react_branches_in_native_protocol(settings: Settings) -> None:
    model = ScriptedModel.repeat(lambda r: SYNTHESIS if is_synthesis(r) else (
        answer("Paris") if any(m.role == "tool" for m in r.messages)
        else search_call("native", "capital")))
    cfg = configure(settings, "heavy", "native", **{"heavy.branches": 2,
                                                    "heavy.branch_mode": "react"})
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env(size=100))
    assert [b.mode for b in traj.branches] == ["react", "react"]
    assert [b.termination for b in traj.branches] == ["answer", "answer"]
    seeds = traj.notes["seeds"]
    assert isinstance(seeds, list) and len(set(seeds)) == 2
    assert traj.answer == "Paris"
    assert traj.usage.total_tokens == sum(b.usage.total_tokens for b in traj.branches) + sum(
        c.usage.total_tokens for c in traj.model_calls)


async def test_shared_deadline_forces_every_branch(settings: Settings) -> None:
    inner = ScriptedModel.repeat(lambda r: SYNTHESIS if is_synthesis(r) else answer("late"))
    model = GatedModel(inner, blocked={0, 1, 2})
    cfg = configure(settings, "heavy", **{"heavy.branches": 3, "sampling.seed": 0,
                                          "budgets.max_seconds": 0.3})
    started = time.monotonic()
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env())
    assert time.monotonic() - started < 3.0
    assert [b.termination for b in traj.branches] == ["forced_answer"] * 3
    # Every branch answered "late": the answer is theirs, and the synthesis that said
    # otherwise is flagged.
    assert traj.answer == "late" and traj.termination == "forced_answer"
    assert traj.notes["fused_by"] == "unanimous"
    assert traj.notes["synthesis_contradicts"] == {
        "synthesis": "Paris", "branches": "late", "votes": 3, "answering": 3,
        "kind": "unanimous"}


def test_vote_and_normalisation() -> None:
    assert normalise_answer("The  Eiffel-Tower.") == "eiffel tower"
    outcomes = [BranchOutcome("b1", "Lyon", "", "answer"),
                BranchOutcome("b2", None, "", "error"),
                BranchOutcome("b3", "Nice", "", "answer"),
                BranchOutcome("b4", "nice", "", "answer")]
    assert majority_vote(outcomes) == "Nice"
    assert majority_vote(outcomes[:1]) == "Lyon"
    assert majority_vote([BranchOutcome("b1", None, "", "error")]) is None


def cli_reply(body: JSONObject) -> str:
    messages = body["messages"]
    assert isinstance(messages, list) and isinstance(messages[0], dict)
    last = messages[-1]
    assert isinstance(last, dict)
    if "synthesis editor" in str(messages[0]["content"]):
        return SYNTHESIS
    if "<tool_response>" in str(last["content"]):
        return answer("Paris", report="Paris is the capital")
    return str(search_call("tags", "capital of France", report="starting"))


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["iter", "resum", "heavy"])
def test_modes_from_the_cli(mode: str, tmp_path: Path) -> None:
    """`sounding ask --mode ...` end to end: subprocess, scripted server, offline corpus."""
    with ScriptedServer.repeat(cli_reply) as server:
        env = {k: v for k, v in os.environ.items() if not k.startswith("SOUNDING_")}
        env.update(SOUNDING_BASE_URL=server.base_url, SOUNDING_MODEL="tongyi",
                   SOUNDING_CACHE_DIR=str(tmp_path / "cache"))
        proc = subprocess.run(
            [sys.executable, "-m", "sounding", "ask", QUESTION, "--mode", mode, "--json",
             "--branches", "2"], capture_output=True, text=True, env=env, cwd=tmp_path,
            timeout=120, check=False)
    assert proc.returncode == 0, proc.stderr
    result = json.loads(proc.stdout)
    assert result["mode"] == mode and result["answer"] == "Paris"
    assert result["termination"] == "answer"
    branches = 2 if mode == "heavy" else 1
    assert result["tool_calls"] == {"search": branches}
    assert len(result["trajectory"]["branches"]) == (2 if mode == "heavy" else 0)
