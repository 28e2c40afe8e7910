"""The curriculum during training: a mastered prompt is retired and a background task refills
its place from the pool while the steps go on."""

from __future__ import annotations

import asyncio
import itertools
import threading
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl", reason="training needs the train extra")

from sounding.eval.judges import build_judge
from sounding.train.models import load_model, load_tokenizer, make_tiny_model
from sounding.train.policy import PolicyChatModel
from sounding.train.rl import RLOptions, RolloutEngine
from sounding.train.rollouts import RLItem, single_turn_rollout
from sounding.train.sampling import BACKGROUND, Batcher, Sampled


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model")


def test_refresh_runs_in_the_background_and_refills_a_retired_place(tiny_model: Path) -> None:
    tok, model = load_tokenizer(tiny_model), load_model(tiny_model)
    policy = PolicyChatModel(lambda: model, tok, max_new_tokens=2)
    turn = single_turn_rollout(policy)
    # easy: always right (mastered); hard: half right; in the pool, never: always wrong
    # (goes back to the pool), learn: half right (takes the retired place).
    answers = {"easy": itertools.cycle(["x"]), "hard": itertools.cycle(["x", "y"]),
               "never": itertools.cycle(["y"]), "learn": itertools.cycle(["x", "y"])}
    gate = asyncio.Event()  # holds every pool candidate's rollouts until the test opens it
    seen: list[str] = []

    async def rollout(item: RLItem) -> Any:
        if item.prompt in ("never", "learn"):
            await gate.wait()
        traj = await turn(item)
        seen.append(item.prompt)
        traj.answer = next(answers[item.prompt])
        return traj

    items = [RLItem(p, "x") for p in ("easy", "hard")]
    pool = [RLItem(p, "x") for p in ("never", "learn")]
    engine = RolloutEngine(tok, items, rollout, build_judge("exact"),
                           RLOptions(group=2, drop_mastered=1, refresh_rollouts=2), pool=pool)
    step = ["easy", "easy", "hard", "hard"]
    try:
        engine(step)
        assert engine.mastered == {"easy"} and engine.prompts.refreshing == {"easy"}
        # The refresh waits on its candidates' rollouts; steps go on without it, the
        # retired place lent to an open prompt.
        seen.clear()
        for _ in range(3):
            engine(step)
        assert seen == ["hard"] * 12
        assert not engine.prompts.tasks[0].done()  # type: ignore[attr-defined]
        engine.loop.loop.call_soon_threadsafe(gate.set)
        engine.prompts.tasks[0].result(timeout=60)  # type: ignore[attr-defined]
        assert [it.prompt for it in engine.prompts.refreshed] == ["learn"]
        assert [it.prompt for it in engine.prompts.pool] == ["never"]  # too hard for now
        seen.clear()
        engine(step)
        assert sorted(seen) == ["hard", "hard", "learn", "learn"]
    finally:
        engine.close()


class Recorder:
    """A sampler that records what it samples, in order; the first batch waits for `go`."""

    max_batch = 1

    def __init__(self) -> None:
        self.order: list[int] = []
        self.go = threading.Event()

    def generate(self, prompts: Any, max_tokens: int) -> list[Sampled]:
        self.go.wait(30)
        self.order += [p[0] for p in prompts]
        return [Sampled([1], [-0.5]) for _ in prompts]


async def test_a_steps_requests_go_before_background_ones() -> None:
    sampler = Recorder()
    batcher = Batcher(sampler)

    async def background(n: int) -> Sampled:
        BACKGROUND.set(True)  # as the refresh task does, in its own context
        return await batcher.sample([n], 4)

    first = asyncio.create_task(background(1))
    await asyncio.sleep(0.05)  # sampling 1; 2 and 3 (background) then 4 (a step's) queue
    queued = [asyncio.create_task(background(2)), asyncio.create_task(background(3))]
    await asyncio.sleep(0.01)
    step = asyncio.create_task(batcher.sample([4], 4))
    await asyncio.sleep(0.01)
    sampler.go.set()
    await asyncio.gather(first, step, *queued)
    assert sampler.order == [1, 4, 2, 3]
