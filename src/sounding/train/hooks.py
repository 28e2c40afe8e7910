"""Curriculum filtering before RL and evaluation hooks during training."""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

from ..eval.judges import Judge
from .rollouts import RLItem, Rollout, grade

__all__ = ["curriculum", "eval_hook", "pass_rates"]


async def pass_rates(items: Sequence[RLItem], rollout: Rollout, judge: Judge,
                     k: int, *, concurrency: int = 64) -> list[float]:
    """Each item's share of `k` rollouts judged correct (`concurrency` rollouts at once)."""
    gate = asyncio.Semaphore(max(1, concurrency))

    async def win(item: RLItem) -> float:
        async with gate:
            return await grade(judge, item, await rollout(item))

    wins = await asyncio.gather(*(win(item) for item in items for _ in range(k)))
    return [sum(wins[i * k:(i + 1) * k]) / k for i in range(len(items))]


def curriculum(items: Sequence[RLItem], rates: Sequence[float]) -> list[RLItem]:
    """Keep what the starting model gets sometimes right, never always or never: only those
    give a group with varying rewards, so a gradient."""
    return [it for it, r in zip(items, rates, strict=True) if 0.0 < r < 1.0]


def eval_hook(items: Sequence[RLItem], rollout: Rollout, judge: Judge, every: int,
              run: Callable[[Coroutine[Any, Any, list[float]]], list[float]] = asyncio.run
              ) -> Any:
    """A transformers `TrainerCallback`: every `every` steps, roll out the held-out items
    through the same runtime (`run` waits for them on the rollouts' loop) and log
    `eval/accuracy` into the training log (and TensorBoard). `run_sft` / `run_rl` hand it
    the trainer (its `trainer` attribute)."""
    from transformers import TrainerCallback

    class EvalHook(TrainerCallback):
        def __init__(self) -> None:
            self.trainer: Any = None
            self.history: list[tuple[int, float]] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if every > 0 and state.global_step % every == 0 and self.trainer is not None:
                rates = run(pass_rates(items, rollout, judge, 1))
                acc = sum(rates) / max(1, len(rates))
                self.history.append((state.global_step, acc))
                self.trainer.log({"eval/accuracy": acc})
            return control

    return EvalHook()
