"""Context growth per mode and heavy-mode parallelism.

    .venv/bin/python benchmarks/modes.py [--rounds 50] [--observation 2000] [--latency 0.3]

Prints:
1. prompt tokens of each research turn over `--rounds` rounds with fixed-size
   observations, for react (grows linearly), resum (saw-tooth: condensed near its
   threshold) and iter (flat), with the ratio of round 50 to round 5;
2. wall time of heavy mode with N = 8 and N = 1 iter branches against a scripted HTTP
   server with a fixed latency per call, and their ratio (target <= 1.3).
"""

from __future__ import annotations

import argparse
import asyncio
import time
from collections.abc import Mapping
from pathlib import Path
from tempfile import TemporaryDirectory

from sounding.agent import arun
from sounding.config import LLMSettings, Settings, load_settings
from sounding.env import Environment
from sounding.llm.base import ChatRequest, ToolSchema
from sounding.llm.openai_client import OpenAIChatModel
from sounding.llm.testing import ScriptedModel, ScriptedServer
from sounding.tools.base import ToolContext, ToolOutput
from sounding.types import JSON, JSONObject

SCHEMA = ToolSchema("search", "Search the web.", {
    "type": "object", "properties": {"query": {"type": "array", "items": {"type": "string"}}},
    "required": ["query"]})
CALL = ('<tool_call>\n{"name": "search", "arguments": {"query": ["step"]}}\n</tool_call>')
REPORT = "<report>" + "Finding backed by https://example.org/page. " * 25 + "</report>\n"
SUMMARY = "<summary>" + "Verified fact with its source. " * 40 + "</summary>"


class FixedSearch:
    """Returns exactly `size` characters per call, instantly."""

    def __init__(self, size: int) -> None:
        self.text = ("lorem ipsum dolor sit amet " * (size // 27 + 1))[:size]

    @property
    def schema(self) -> ToolSchema:
        return SCHEMA

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        return ToolOutput(self.text, sources=("https://example.org/page",))


def settings_for(mode: str, cache: Path, **flags: object) -> Settings:
    base: dict[str, object] = {"llm.base_url": "http://127.0.0.1:9/v1", "llm.model": "bench",
                               "cache_dir": cache, "mode": mode}
    return load_settings({**base, **flags}, environ={}, config_file=None)


def turn_reply(request: ChatRequest) -> str:
    if request.purpose == "summary":
        return f"<think>condense</think>\n{SUMMARY}"
    if request.purpose == "forced_answer":
        return "<answer>done</answer>"
    return f"<think>next step</think>\n{REPORT}{CALL}"


async def growth(mode: str, rounds: int, size: int, cache: Path) -> list[int]:
    """Prompt tokens of each turn of one `rounds`-round run that never answers."""
    flags: dict[str, object] = {"budgets.max_rounds": rounds,
                                "budgets.max_context_tokens": 1_000_000}
    if mode == "resum":  # a context budget small enough that condensing happens
        flags["budgets.max_context_tokens"] = 16_000
    model = ScriptedModel.repeat(turn_reply)
    env = Environment("bench", {"search": FixedSearch(size)})
    traj = await arun("What is the answer?", settings_for(mode, cache, **flags),
                      model=model, environment=env)
    return [c.usage.prompt_tokens for c in traj.model_calls if c.purpose == "turn"]


def print_growth(rounds: int, size: int, cache: Path) -> None:
    print(f"1. prompt tokens per round (as the scripted model estimates them), {rounds} rounds, "
          f"{size}-character observations")
    for mode in ("react", "resum", "iter"):
        series = asyncio.run(growth(mode, rounds, size, cache))
        ratio = series[min(49, len(series) - 1)] / series[4]
        print(f"   {mode:5s} round50/round5 = {ratio:5.2f}  peak {max(series)}  series: {series}")


def server_reply(body: JSONObject) -> str:
    messages = body["messages"]
    assert isinstance(messages, list) and isinstance(messages[0], dict)
    if "synthesis editor" in str(messages[0]["content"]):
        return "<think>w</think>\n<report>merged</report>\n<answer>done</answer>"
    tool_results = sum(1 for m in messages if isinstance(m, dict)
                       and str(m.get("content", "")).startswith("<tool_response>"))
    second = messages[1] if len(messages) > 1 else {}
    user = str(second.get("content", "")) if isinstance(second, dict) else ""
    if "Round 6." in user or tool_results > 5:
        return f"<think>enough</think>\n{REPORT}<answer>done</answer>"
    return f"<think>next step</think>\n{REPORT}{CALL}"


async def heavy_once(n: int, server: ScriptedServer, cache: Path) -> float:
    model = OpenAIChatModel(LLMSettings(base_url=server.base_url, model="bench", api_key="k"))
    env = Environment("bench", {"search": FixedSearch(2000)})
    settings = settings_for("heavy", cache, **{"heavy.branches": n, "sampling.seed": 1})
    started = time.monotonic()
    try:
        traj = await arun("What is the answer?", settings, model=model, environment=env)
    finally:
        await model.aclose()
    assert traj.answer == "done" and len(traj.branches) == n, traj.notes
    return time.monotonic() - started


def print_heavy(latency: float, cache: Path) -> None:
    print(f"2. heavy mode, iter branches of 6 turns + synthesis, {latency} s per model call")
    with ScriptedServer.repeat(server_reply, latency=latency) as server:
        one = asyncio.run(heavy_once(1, server, cache))
        eight = asyncio.run(heavy_once(8, server, cache))
        print(f"   N=1: {one:.2f} s   N=8: {eight:.2f} s   ratio N8/N1 = {eight / one:.2f} "
              f"(target <= 1.3); most calls in flight at once: {server.max_in_flight}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else "")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--observation", type=int, default=2000)
    parser.add_argument("--latency", type=float, default=0.3)
    args = parser.parse_args()
    with TemporaryDirectory() as tmp:
        print_growth(args.rounds, args.observation, Path(tmp))
        print_heavy(args.latency, Path(tmp))


if __name__ == "__main__":
    main()
