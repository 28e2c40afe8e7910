"""Rollouts for RL: Sounding's agent loop (or one plain turn, for toy tasks) against the
policy, graded by the eval checkers."""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

from ..config import Settings
from ..env import Environment
from ..errors import ConfigError
from ..eval.judges import Judge, grade_answer
from ..llm.base import ChatModel, ChatRequest
from ..trace.trajectory import ModelCallRecord, Trajectory
from ..types import Message
from .data import read_rows

__all__ = ["RLItem", "Rollout", "agent_rollout", "extract_answer", "grade", "load_items",
           "single_turn_rollout"]


@dataclass(frozen=True, slots=True)
class RLItem:
    """One RL prompt: the question, its gold answer and accepted aliases."""

    prompt: str
    answer: str
    aliases: tuple[str, ...] = ()


Rollout = Callable[[RLItem], Awaitable[Trajectory]]


def load_items(path: Path) -> list[RLItem]:
    """`sounding synth export`'s rl.jsonl (`prompt`, `answer`, `aliases`) or eval rows
    (`question`, `answer`)."""
    items = []
    for row in read_rows(path):
        prompt, answer = row.get("prompt", row.get("question")), row.get("answer")
        if not isinstance(prompt, str) or answer is None:
            raise ConfigError(f"an RL row needs `prompt` and `answer`: {json.dumps(row)[:200]}")
        aliases = row.get("aliases")
        items.append(RLItem(prompt, str(answer), tuple(str(a) for a in aliases)
                            if isinstance(aliases, list) else ()))
    return items


def agent_rollout(settings: Settings, model: ChatModel,
                  environment: Callable[[], Environment] | None = None) -> Rollout:
    """Sounding's own loop (the mode `settings` names) in the offline world, or in the
    environment `environment()` builds per rollout."""
    from ..agent import arun

    async def run(item: RLItem) -> Trajectory:
        env = environment() if environment is not None else None
        return await arun(item.prompt, settings, model=model, environment=env, strict=False)

    return run


def extract_answer(text: str) -> str | None:
    """What stands between the last `<answer>` and `</answer>`."""
    start = text.rfind("<answer>")
    if start < 0:
        return None
    end = text.find("</answer>", start)
    return text[start + len("<answer>"):end] if end >= 0 else None


def single_turn_rollout(model: ChatModel, system: str = "") -> Rollout:
    """One turn, no tools: the question, the model's reply, the `<answer>` in it. For toy
    tasks and answer-only training, where the agent's long system prompt would dominate."""

    async def run(item: RLItem) -> Trajectory:
        traj = Trajectory(question=item.prompt, mode="react", model=model.name)
        msgs = ([Message("system", system)] if system else []) + [Message("user", item.prompt)]
        prompt = [traj.add_message(m) for m in msgs]
        t0 = time.monotonic()
        done = await model.complete(ChatRequest(msgs))
        traj.model_calls.append(ModelCallRecord(
            round=1, purpose="turn", prompt=prompt, output=done.text, usage=done.usage,
            latency_s=time.monotonic() - t0, finish_reason=done.finish_reason,
            token_ids=done.token_ids, logprobs=done.logprobs,
            prompt_token_ids=done.prompt_token_ids, raw_output=done.raw_text))
        traj.answer = extract_answer(done.text)
        traj.termination = "answer" if done.finish_reason != "length" else "max_tokens"
        traj.rounds = 1
        return traj

    return run


async def grade(judge: Judge, item: RLItem, traj: Trajectory) -> float:
    """0/1 correctness against the answer or any alias (the checker's score)."""
    best = 0.0
    for gold in (item.answer, *item.aliases):
        verdict = await grade_answer(judge, item.prompt, gold, traj.answer)
        best = max(best, float(verdict.correct))
        if best >= 1.0:
            break
    return best
