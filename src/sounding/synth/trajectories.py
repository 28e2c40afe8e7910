"""Rejection sampling: K agent runs per question and mode, kept only when every filter passes.

Filters, in order: the checker accepts the answer (aliases, numbers, set F1, LLM judge
as fallback); every assistant turn is well formed; at least `min_tool_calls` tool
calls; no loop (the same call twice, or repeated tool errors); the run fits the
largest length bucket. Each item records its pass rate over K per mode.
"""

from __future__ import annotations

import asyncio
import dataclasses
import itertools
import json
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from ..agent import arun
from ..config import Settings, override_settings
from ..env import Environment
from ..eval.judges import Judge
from ..llm.base import ChatModel
from ..trace.trajectory import Trajectory
from ..types import JSON, estimate_tokens
from .checker import accept_with_judge
from .stage import Progress, Stage, read_jsonl

__all__ = ["SampleConfig", "filter_trajectory", "question_of", "run_trajectories"]

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


async def _sample_item(item: dict[str, JSON], settings: Settings, cfg: SampleConfig,
                       model: ChatModel, env: Environment,
                       judge: Judge | None) -> tuple[list[dict[str, JSON]], dict[str, JSON],
                                                     Counter[str]]:
    question = question_of(item, cfg.lang)
    answer = str(item["answer"])
    aliases = [str(a) for a in item.get("aliases") or []]  # type: ignore[union-attr]
    gate = asyncio.Semaphore(cfg.concurrency)

    async def one(mode: str) -> Trajectory:
        async with gate:
            return await arun(question, override_settings(settings, {"mode": mode}),
                              model=model, environment=env)

    kept: list[dict[str, JSON]] = []
    rates: dict[str, JSON] = {}
    reasons: Counter[str] = Counter()
    for mode in cfg.modes:
        runs = [await one(mode) for _ in range(cfg.k)] if cfg.concurrency == 1 else \
            await asyncio.gather(*(one(mode) for _ in range(cfg.k)))
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


async def run_trajectories(items_path: Path, out_dir: Path, settings: Settings, *,
                           model: ChatModel, environment: Environment,
                           config: SampleConfig | None = None, judge: Judge | None = None,
                           limit: int | None = None,
                           progress: Progress | None = None) -> Stage:
    """Sample every item of `items_path` (a stage's items.jsonl); resumable per item."""
    cfg = config or SampleConfig()
    params: dict[str, JSON] = {"items": str(items_path), **{
        k: list(v) if isinstance(v, tuple) else v
        for k, v in dataclasses.asdict(cfg).items() if k != "concurrency"}}
    with Stage(out_dir, "trajectories", params, progress) as stage:
        for n, item in enumerate(read_jsonl(items_path)):
            if limit is not None and n >= limit:
                break
            key = str(item["key"])
            if key in stage.done:
                continue
            kept, rates, reasons = await _sample_item(item, settings, cfg, model,
                                                      environment, judge)
            stage.llm_calls += reasons.pop("_llm_calls", 0)
            row: dict[str, JSON] = {"item": item, "question": question_of(item, cfg.lang),
                                    "pass_rate": rates,
                                    "rejections": dict(reasons)}
            if kept:
                stage.keep(key, {**row, "accepted": kept})  # type: ignore[dict-item]
            else:
                stage.reject(key, "no_run_accepted", row)
            stage.checkpoint()
    return stage
