"""Curriculum filtering before RL and evaluation hooks during training."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from ..eval.judges import Judge
from .rollouts import RLItem, Rollout, grade

__all__ = ["curriculum", "eval_hook", "pass_rates"]


async def pass_rates(items: Sequence[RLItem], rollout: Rollout, judge: Judge,
                     k: int) -> list[float]:
    """Each item's share of `k` rollouts judged correct."""
    rates = []
    for item in items:
        wins = [await grade(judge, item, await rollout(item)) for _ in range(k)]
        rates.append(sum(wins) / k)
    return rates


def curriculum(items: Sequence[RLItem], rates: Sequence[float]) -> list[RLItem]:
    """Keep what the starting model gets sometimes right, never always or never: only those
    give a group with varying rewards, so a gradient."""
    return [it for it, r in zip(items, rates, strict=True) if 0.0 < r < 1.0]


def eval_hook(items: Sequence[RLItem], rollout: Rollout, judge: Judge, every: int) -> Any:
    """A transformers `TrainerCallback`: every `every` steps, roll out the held-out items
    through the same runtime and log `eval/accuracy` into the training log (and TensorBoard).
    `run_sft` / `run_rl` hand it the trainer (its `trainer` attribute)."""
    from transformers import TrainerCallback

    class EvalHook(TrainerCallback):
        def __init__(self) -> None:
            self.trainer: Any = None
            self.history: list[tuple[int, float]] = []

        def on_step_end(self, args: Any, state: Any, control: Any, **kwargs: Any) -> Any:
            if every > 0 and state.global_step % every == 0 and self.trainer is not None:
                rates = asyncio.run(pass_rates(items, rollout, judge, 1))
                acc = sum(rates) / max(1, len(rates))
                self.history.append((state.global_step, acc))
                self.trainer.log({"eval/accuracy": acc})
            return control

    return EvalHook()
