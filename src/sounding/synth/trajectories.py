"""Rejection sampling: K agent runs per question and mode, kept only when every filter passes.

Filters, in order: the checker accepts the answer (aliases, numbers, set F1, LLM judge
as fallback); every assistant turn is well formed; at least `min_tool_calls` tool
calls; no loop (the same call twice, or repeated tool errors); the run fits the
largest length bucket. Each item records its pass rate over K per mode.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import itertools
import json
import re
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..agent import arun
from ..agent.resources import open_agent
from ..config import Settings, override_settings
from ..env import Environment
from ..errors import ConfigError
from ..eval.judges import Judge
from ..executors import OpenRollout
from ..llm.base import ChatModel
from ..trace.trajectory import Trajectory
from ..types import JSON, estimate_tokens
from .checker import accept_with_judge
from .items import aliases_of
from .stage import Progress, Stage

__all__ = [
    "SampleConfig",
    "SynthRollout",
    "SynthRolloutFactory",
    "SynthTask",
    "filter_trajectory",
    "question_of",
    "run_trajectories",
]

_THINK = re.compile(r"<think>.*?</think>", re.S)
_CALL = re.compile(r"<tool_call>\s*(.*?)\s*</tool_call>", re.S)
_ANSWER = re.compile(r"<answer>.*?</answer>", re.S)


@dataclass(frozen=True, slots=True)
class SampleConfig:
    k: int = 4
    """Runs per question and mode."""
    modes: tuple[str, ...] = ("react",)
    min_tool_calls: int = 1
    buckets: tuple[int, ...] = (8_000, 32_000, 128_000)
    """Length buckets in tokens; runs longer than the last are dropped."""
    lang: str = "en"
    concurrency: int = 4


def question_of(item: dict[str, JSON], lang: str) -> str:
    """The verbalised question when there is one, else the template question."""
    text = item.get("text")
    if isinstance(text, dict) and isinstance(text.get(lang), str):
        return str(text[lang])
    question = item.get("question")
    if isinstance(question, dict):
        return str(question.get(lang) or question.get("en"))
    return str(question)


def _well_formed(content: str) -> bool:
    if len(_THINK.findall(content)) != 1:
        return False
    calls = _CALL.findall(content)
    if calls:
        if len(calls) != 1 or _ANSWER.search(content):
            return False
        try:
            body = json.loads(calls[0].split("<code>")[0].strip() or "{}")
        except json.JSONDecodeError:
            return False
        return isinstance(body, dict) and isinstance(body.get("name"), str)
    return _ANSWER.search(content) is not None


def filter_trajectory(traj: Trajectory, cfg: SampleConfig) -> str | None:
    """Why the run is rejected (None: keep), after the answer has been accepted."""
    if traj.termination != "answer":
        return f"termination_{traj.termination}"
    # Model outputs, not the messages: iter's workspace replays the last action alone.
    if not all(_well_formed(c.output) for c in traj.model_calls):
        return "malformed_turn"
    calls = list(traj.all_tool_calls())
    if len(calls) < cfg.min_tool_calls:
        return "too_few_tool_calls"
    seen = Counter(json.dumps([c.call.name, c.call.arguments], sort_keys=True) for c in calls)
    if seen and max(seen.values()) > 1:
        return "loop_repeated_call"
    errors = [c.error is not None for c in calls]
    if any(a and b for a, b in itertools.pairwise(errors)):
        return "loop_repeated_errors"
    if _tokens(traj) > cfg.buckets[-1]:
        return "too_long"
    return None


def _tokens(traj: Trajectory) -> int:
    return sum(estimate_tokens(m.content) for m in traj.messages)


def evidence_recall(traj: Trajectory, item: dict[str, JSON]) -> float | None:
    """Share of the item's source pages the agent saw in any observation (by title), as
    BrowseComp-Plus scores retrieval; None when the item names no pages."""
    prov = item.get("provenance")
    pages = prov.get("source_pages") if isinstance(prov, dict) else None
    if not isinstance(pages, list) or not pages:
        return None
    seen = "\n".join(c.observation for c in traj.all_tool_calls()).lower()
    return round(sum(str(p).lower() in seen for p in pages) / len(pages), 4)


def bucket_of(traj: Trajectory, buckets: Sequence[int]) -> int:
    n = _tokens(traj)
    return next((b for b in buckets if n <= b), buckets[-1])


@dataclass(frozen=True, slots=True)
class SynthTask:
    """One question to research in one mode: what crosses to an executor's worker."""

    key: str
    question: str
    mode: str


SynthRollout = Callable[[SynthTask, int], Awaitable[Trajectory]]
"""Runs rollout `index` of a task: in this process, or `Executor.rollout` (Ray workers)."""


def local_rollout(settings: Settings, model: ChatModel, environment: Environment) -> SynthRollout:
    """Today's in-process rollout: `arun` in the task's mode with the shared model and env."""

    async def rollout(task: SynthTask, index: int) -> Trajectory:
        return await arun(task.question, override_settings(settings, {"mode": task.mode}),
                          model=model, environment=environment)

    return rollout


@dataclass(frozen=True)
class SynthRolloutFactory:
    """The recipe a synthesis executor's workers open: one model client and one Environment
    per worker (picklable: settings are plain frozen data; the mode comes with each task)."""

    settings: Settings

    async def open(self) -> OpenRollout[SynthTask]:
        stack = contextlib.AsyncExitStack()
        resources = await stack.enter_async_context(open_agent(self.settings))
        return OpenRollout(local_rollout(self.settings, resources.model,
                                         resources.environment), stack.aclose)

    def for_cluster(self, limiter: str) -> SynthRolloutFactory:
        web = dataclasses.replace(self.settings.web, shared_limiter=limiter)
        return dataclasses.replace(self, settings=dataclasses.replace(self.settings, web=web))


_Sampled = tuple[list[dict[str, JSON]], dict[str, JSON], Counter[str]]


async def _sample_item(item: dict[str, JSON], cfg: SampleConfig, rollout: SynthRollout,
                       gate: asyncio.Semaphore, judge: Judge | None) -> _Sampled:
    question = question_of(item, cfg.lang)
    answer = str(item["answer"])
    aliases = aliases_of(item)

    async def one(mode: str, index: int) -> Trajectory:
        async with gate:
            return await rollout(SynthTask(str(item["key"]), question, mode), index)

    kept: list[dict[str, JSON]] = []
    rates: dict[str, JSON] = {}
    reasons: Counter[str] = Counter()
    for mode in cfg.modes:
        runs = [await one(mode, i) for i in range(cfg.k)] if cfg.concurrency == 1 else \
            await asyncio.gather(*(one(mode, i) for i in range(cfg.k)))
        right = 0
        reasons["_llm_calls"] += sum(len(t.model_calls) for t in runs)
        for traj in runs:
            verdict = await accept_with_judge(question, traj.answer, answer, aliases, judge)
            right += verdict.ok
            reason = ("wrong_answer" if not verdict.ok else filter_trajectory(traj, cfg))
            if reason:
                reasons[reason] += 1
                continue
            kept.append({"mode": mode, "accepted_by": verdict.how, "question": question,
                         "bucket": bucket_of(traj, cfg.buckets),
                         "evidence_recall": evidence_recall(traj, item),
                         "trajectory": traj.to_dict()})
        rates[mode] = right / cfg.k
    return kept, rates, reasons


def _record(stage: Stage, item: dict[str, JSON], cfg: SampleConfig, sampled: _Sampled) -> None:
    """The driver's one write per item: kept or rejected, then a checkpoint."""
    kept, rates, reasons = sampled
    stage.llm_calls += reasons.pop("_llm_calls", 0)
    row: dict[str, JSON] = {"item": item, "question": question_of(item, cfg.lang),
                            "pass_rate": rates, "rejections": dict(reasons)}
    if kept:
        stage.keep(str(item["key"]), {**row, "accepted": kept})  # type: ignore[dict-item]
    else:
        stage.reject(str(item["key"]), "no_run_accepted", row)
    stage.checkpoint()


async def run_trajectories(items_path: Path, out_dir: Path, settings: Settings, *,
                           model: ChatModel | None = None,
                           environment: Environment | None = None,
                           rollout: SynthRollout | None = None,
                           config: SampleConfig | None = None, judge: Judge | None = None,
                           limit: int | None = None,
                           progress: Progress | None = None) -> Stage:
    """Sample every item of `items_path` (a stage's items.jsonl); resumable per item.

    Each rollout goes through `rollout` (an executor's, e.g. Ray workers), else through
    `model` and `environment` in this process. This coroutine stays the one writer of the
    stage files. With `config.concurrency` above K, several items are sampled at once.
    """
    cfg = config or SampleConfig()
    if rollout is None:
        if model is None or environment is None:
            raise ConfigError("run_trajectories needs a rollout, or a model and an environment")
        rollout = local_rollout(settings, model, environment)
    params: dict[str, JSON] = {"items": str(items_path), **{
        k: list(v) if isinstance(v, tuple) else v
        for k, v in dataclasses.asdict(cfg).items() if k != "concurrency"}}
    gate = asyncio.Semaphore(cfg.concurrency)
    ahead = max(1, cfg.concurrency // cfg.k)  # items in flight; 1 keeps today's order
    with Stage(out_dir, "trajectories", params, progress) as stage:
        pending: dict[asyncio.Task[_Sampled], dict[str, JSON]] = {}
        try:
            for _key, item in stage.todo(items_path, limit):
                while len(pending) >= ahead:
                    await _write_finished(stage, cfg, pending)
                pending[asyncio.create_task(_sample_item(item, cfg, rollout, gate,
                                                         judge))] = item
            while pending:
                await _write_finished(stage, cfg, pending)
        finally:
            for task in pending:
                task.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
    return stage


async def _write_finished(stage: Stage, cfg: SampleConfig,
                          pending: dict[asyncio.Task[_Sampled], dict[str, JSON]]) -> None:
    """Wait for the next items to finish and write them; then a failed one raises (the
    items that finished with it are written first: a resumed run need not redo them)."""
    finished, _ = await asyncio.wait(pending, return_when=asyncio.FIRST_COMPLETED)
    failed: BaseException | None = None
    for task in finished:
        item = pending.pop(task)
        if (exc := task.exception()) is not None:
            failed = failed or exc
        else:
            _record(stage, item, cfg, task.result())
    if failed is not None:
        raise failed
