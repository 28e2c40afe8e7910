"""The progress display, fed run events one by one."""

from __future__ import annotations

import io

from rich.console import Console

from sounding.cli.progress import EventObserver, ProgressDisplay
from sounding.trace.events import (
    BranchFinished,
    BranchStarted,
    ModelCallFinished,
    ModelCallStarted,
    ModelDelta,
    Note,
    ReportUpdated,
    RoundStarted,
    RunEvent,
    RunFinished,
    RunStarted,
    ToolCallFinished,
    ToolCallStarted,
)
from sounding.trace.trajectory import ModelCallRecord, ToolCallRecord, Trajectory
from sounding.types import ToolCall, Usage


def _show(*events: RunEvent) -> list[str]:
    buffer = io.StringIO()
    display = ProgressDisplay(Console(file=buffer, width=200, color_system=None))
    for event in events:
        display(event)
    return buffer.getvalue().splitlines()


def _model(branch: str | None = None) -> ModelCallRecord:
    return ModelCallRecord(round=1, purpose="turn", prompt=[0], output="x",
                           usage=Usage(1200, 34), latency_s=1.234, retries=2, branch=branch)


def _tool(observation: str = "o" * 1500, error: str | None = None,
          branch: str | None = None) -> ToolCallRecord:
    call = ToolCall(name="search", arguments={"query": ["Eiffel [bold]Tower[/]"]})
    return ToolCallRecord(round=1, call=call, observation=observation, latency_s=0.5,
                          cache_hit=True, error=error, branch=branch)


def test_a_round_with_model_and_tool_calls() -> None:
    lines = _show(
        RunStarted(trajectory_id="t1", question="q", mode="react", protocol="tags", model="m"),
        RoundStarted(round=1),
        ModelCallStarted(round=1, purpose="turn"),
        ModelDelta(round=1, text="thinking…"),
        ModelCallFinished(record=_model()),
        ToolCallStarted(round=1, index=0, name="search", arguments={"query": ["x"]}),
        ToolCallFinished(index=0, record=_tool()),
    )
    assert lines == [
        "react run (tags, m)",
        "round 1",
        "  model (turn) 1.23 s, 1,200 prompt + 34 completion tokens, 2 retries",
        '  search {"query": ["Eiffel [bold]Tower[/]"]} → 1,500 chars in 0.50 s (cached)',
    ]


def test_tool_errors_warnings_and_the_end() -> None:
    trajectory = Trajectory(question="q", rounds=3, seconds=2.5, termination="answer")
    trajectory.model_calls.append(_model())
    lines = _show(
        ToolCallFinished(index=0, record=_tool("", error="ProviderError: [503] down")),
        Note(message="the same search call 3 times in a row\x1b]0;pwned\x07", level="warning",
             round=3),
        Note(message="budget reached (rounds): asking for an answer"),
        ReportUpdated(round=2, report="r" * 2048),
        RunFinished(trajectory=trajectory),
    )
    assert lines[0].endswith("→ ProviderError: [503] down in 0.50 s (cached)")
    assert lines[1] == "  warning: the same search call 3 times in a row\\x1b]0;pwned\\x07"
    assert lines[2] == "  budget reached (rounds): asking for an answer"
    assert lines[3] == "  report updated (2,048 chars)"
    assert lines[4] == ("done: answer after 3 rounds, 2.5 s, 1,200 prompt + 34 completion "
                        "tokens")


def test_heavy_mode_lines_carry_the_branch() -> None:
    branch_run = Trajectory(question="q", termination="answer")
    lines = _show(
        BranchStarted(branch="b1", seed=7),
        RunStarted(trajectory_id="t2", question="q", mode="iter", protocol="tags", model="m",
                   branch="b1"),
        RoundStarted(round=1, branch="b1"),
        ModelCallFinished(record=_model("b1"), branch="b1"),
        ToolCallFinished(index=0, record=_tool(branch="b1"), branch="b1"),
        RunFinished(trajectory=branch_run, branch="b1"),
        BranchFinished(branch="b1", answer="Gustave Eiffel", termination="answer"),
    )
    assert lines[0] == "[b1] started (seed 7)"
    assert lines[1] == "[b1] round 1"
    assert lines[2].startswith("  [b1] model (turn)")
    assert lines[3].startswith("  [b1] search ")
    assert lines[4] == "[b1] finished: answer – Gustave Eiffel"
    assert len(lines) == 5


def test_observer_bridge_turns_callbacks_into_events() -> None:
    seen: list[RunEvent] = []
    bridge = EventObserver(seen.append)
    trajectory = Trajectory(question="q")
    bridge.on_round(trajectory, 1)
    bridge.on_model_call(trajectory, _model("b2"))
    bridge.on_event(trajectory, "b2: round 4")
    bridge.on_event(trajectory, "repeated call: search")
    bridge.on_finish(trajectory)
    assert [e.kind for e in seen] == ["round_started", "model_call_finished", "round_started",
                                      "note", "run_finished"]
    assert isinstance(seen[1], ModelCallFinished) and seen[1].branch == "b2"
    assert isinstance(seen[2], RoundStarted) and (seen[2].round, seen[2].branch) == (4, "b2")
    assert isinstance(seen[3], Note) and seen[3].level == "warning"
    assert list(bridge.seen) == [trajectory.id]
