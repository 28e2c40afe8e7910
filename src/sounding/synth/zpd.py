"""The zone-of-proximal-development filter: closed-book fails n times, the agent succeeds.

The closed-book solver is one model call with the question alone; the tool agent is
Sounding's own runtime (`arun`) in any mode. Both are graded by the checker.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path

from .._templates import render
from ..agent import arun
from ..config import Sampling, Settings, override_settings
from ..env import Environment
from ..eval.judges._parse import strip_think
from ..llm.base import ChatModel, ChatRequest
from ..llm.protocols.base import find_answer
from ..types import JSON, Message
from .checker import accept
from .items import aliases_of
from .stage import Progress, Stage, passed
from .trajectories import question_of

__all__ = ["ZPDConfig", "closed_book", "run_zpd"]


@dataclass(frozen=True, slots=True)
class ZPDConfig:
    closed_book: int = 3
    """Closed-book attempts; any right answer rejects the item as too easy."""
    agent_tries: int = 2
    """Agent runs; at least one right answer is needed (else too hard or broken)."""
    mode: str = "react"
    lang: str = "en"


async def closed_book(model: ChatModel, question: str) -> str:
    """One answer from memory (the text inside <answer>, else the whole reply)."""
    prompt = render("sounding.synth", "closed_book.txt", question=question)
    completion = await model.complete(ChatRequest(
        messages=[Message("user", prompt)], purpose="synth_closed_book",
        sampling=Sampling(temperature=1.0)))
    text = strip_think(completion.text)
    answer = find_answer(text)
    return text if answer is None else answer


async def run_zpd(items_path: Path, out_dir: Path, settings: Settings, *, solver: ChatModel,
                  agent_model: ChatModel, environment: Environment,
                  config: ZPDConfig | None = None, limit: int | None = None,
                  progress: Progress | None = None) -> Stage:
    """Keep the items the closed-book solver never answers and the agent does."""
    cfg = config or ZPDConfig()
    params: dict[str, JSON] = {"items": str(items_path), **dataclasses.asdict(cfg)}
    agent_settings = override_settings(settings, {"mode": cfg.mode})
    with Stage(out_dir, "zpd", params, progress) as stage:
        for key, item in stage.todo(items_path, limit):
            question = question_of(item, cfg.lang)
            answer = str(item["answer"])
            aliases = aliases_of(item)
            solved = 0
            for _ in range(cfg.closed_book):
                stage.llm_calls += 1
                if accept(await closed_book(solver, question), answer, aliases).ok:
                    solved += 1
                    break  # one right answer is enough to call it too easy
            if solved:
                stage.reject(key, "closed_book_solved")
                continue
            right = 0
            for _ in range(cfg.agent_tries):
                traj = await arun(question, agent_settings, model=agent_model,
                                  environment=environment)
                stage.llm_calls += len(traj.model_calls)
                right += accept(traj.answer, answer, aliases).ok
            if not right:
                stage.reject(key, "agent_failed")
                continue
            stage.keep(key, passed(item, ["zpd"], {"zpd": {
                "closed_book": f"0/{cfg.closed_book}", "agent": f"{right}/{cfg.agent_tries}"}}))
    return stage
