"""The crash rule: a run that ends for any reason closes its record, with the error."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from sounding.agent import arun, run_events
from sounding.config import Settings, override_settings
from sounding.errors import LLMError
from sounding.llm.base import ChatRequest, Completion
from sounding.llm.testing import ScriptedModel
from sounding.trace.events import RoundStarted, RunEvent, RunFinished
from sounding.trace.trajectory import Trajectory

from ._mode_fakes import configure, fixed_env, search_call

QUESTION = "Who built it?"


def finished_of(events: list[RunEvent]) -> Trajectory:
    last = events[-1]
    assert isinstance(last, RunFinished) and last.branch is None
    return last.trajectory


@pytest.mark.parametrize("mode", ["react", "iter", "heavy"])
async def test_a_bug_of_ours_closes_the_record(settings: Settings, mode: str) -> None:
    """Not strict (a user's run): the trajectory comes back, in `error`, with the
    traceback; strict (the test suite): the same record is closed, then the bug raised."""
    def buggy(request: ChatRequest) -> str | Completion:
        if len(model.requests) > 1 and request.purpose == "turn":
            raise KeyError("a bug of ours")
        return search_call("tags", "first")

    model = ScriptedModel.repeat(buggy)
    cfg = configure(settings, mode, **{"heavy.branches": 1})
    traj = await arun(QUESTION, cfg, model=model, environment=fixed_env(), strict=False)
    assert traj.termination == "error" and traj.answer is None
    assert traj.error is not None and traj.error.type == "KeyError"
    assert "a bug of ours" in traj.error.traceback and "Traceback" in traj.error.traceback
    assert traj.all_tool_calls().__next__().call.name == "search"  # partial, not empty

    seen: list[RunEvent] = []
    model = ScriptedModel.repeat(buggy)
    with pytest.raises(KeyError, match="a bug of ours"):
        await arun(QUESTION, cfg, model=model, environment=fixed_env(), strict=True,
                   on_event=seen.append)
    closed = finished_of(seen)
    assert closed.termination == "error" and closed.error is not None


async def test_llm_error_ends_in_error_with_the_failed_call(settings: Settings) -> None:
    model = ScriptedModel([search_call("tags", "q"), LLMError("endpoint down", status=503)])
    traj = await arun(QUESTION, configure(settings, "react"), model=model,
                      environment=fixed_env())
    assert traj.termination == "error"
    assert traj.error is not None and traj.error.type == "LLMError"
    assert "endpoint down" in traj.error.message and traj.error.traceback
    assert [c.error for c in traj.model_calls] == [None, "LLMError: endpoint down"]
    assert traj.rounds == 2 and len(traj.tool_calls) == 1
    assert any("run failed" in w for w in traj.notes["warnings"])  # type: ignore[union-attr]


async def test_cancel_closes_the_record_then_raises(settings: Settings) -> None:
    gate = asyncio.Event()
    in_second_call = asyncio.Event()

    async def hang(request: ChatRequest) -> None:
        in_second_call.set()
        await gate.wait()

    class Hanging(ScriptedModel):
        async def complete(self, request: ChatRequest) -> Completion:
            if self.requests:
                self.requests.append(request)
                await hang(request)
            return await super().complete(request)

    seen: list[RunEvent] = []
    model = Hanging([search_call("tags", "q")])
    task = asyncio.create_task(arun(QUESTION, configure(settings, "react"), model=model,
                                    environment=fixed_env(), on_event=seen.append))
    await in_second_call.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    traj = finished_of(seen)
    assert traj.termination == "error"
    assert traj.error is not None and traj.error.type == "CancelledError"
    assert "cancelled" in traj.error.message
    assert len(traj.tool_calls) == 1 and traj.rounds == 2


async def test_stopping_the_stream_stops_the_run(settings: Settings) -> None:
    cancelled = asyncio.Event()

    class Slow(ScriptedModel):
        async def complete(self, request: ChatRequest) -> Completion:
            try:
                await asyncio.Event().wait()
            except asyncio.CancelledError:
                cancelled.set()
                raise
            raise AssertionError("unreachable")

    events = run_events(QUESTION, configure(settings, "react"), model=Slow([]),
                        environment=fixed_env())
    async for event in events:
        if isinstance(event, RoundStarted):
            break
    await events.aclose()  # type: ignore[attr-defined]
    assert cancelled.is_set()


async def test_resources_that_cannot_open_give_a_closed_record(settings: Settings,
                                                               tmp_path: Path) -> None:
    cfg = override_settings(settings, {"corpus": tmp_path / "missing"})
    events = [e async for e in run_events(QUESTION, cfg, model=ScriptedModel([]))]
    assert [e.kind for e in events] == ["run_started", "note", "run_finished"]
    traj = finished_of(events)
    assert traj.termination == "error"
    assert traj.error is not None and traj.error.type == "CorpusError"
    assert "sounding corpus build" in traj.error.message
