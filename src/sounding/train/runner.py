"""`sounding train rl` end to end: prompts, optional curriculum, eval hooks, GRPO."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..eval.judges import build_judge
from .hooks import curriculum as keep_learnable
from .hooks import eval_hook, pass_rates
from .models import load_model, load_tokenizer
from .rl import RLOptions, run_rl
from .rollouts import Rollout, load_items
from .tokenizers import Tokenizer

__all__ = ["RLRun", "run_rl_command"]

MakeRollout = Callable[[Any, Tokenizer], Rollout]
_RL = RLOptions()  # the defaults the two share are RLOptions'


@dataclass(slots=True)
class RLRun:
    """The options of one `sounding train rl` command."""

    prompts: Path
    model: Path
    out: Path
    mode: str = "react"
    group: int = _RL.group
    prompts_per_step: int = _RL.prompts_per_step
    steps: int = _RL.steps
    lr: float = _RL.learning_rate
    max_new_tokens: int = _RL.max_new_tokens
    max_rounds: int = 20
    judge: str = _RL.judge
    refill: bool = _RL.refill
    staleness: int = _RL.staleness
    curriculum: int = 0
    drop_mastered: int = _RL.drop_mastered
    eval_data: Path | None = None
    eval_every: int = 50
    save_steps: int = _RL.save_steps
    report_to: tuple[str, ...] = _RL.report_to


def run_rl_command(run: RLRun, make: MakeRollout, say: Callable[[str], None]) -> list[float]:
    """Returns the mean reward of each rollout batch."""
    items = load_items(run.prompts)
    judge = build_judge(run.judge)
    if run.curriculum > 0:
        tok, model = load_tokenizer(run.model), load_model(run.model)
        rates = asyncio.run(pass_rates(items, make(lambda: model, tok), judge, run.curriculum))
        kept = keep_learnable(items, rates)
        say(f"curriculum: kept {len(kept)} of {len(items)} prompts (pass rate strictly "
            f"between 0 and 1 over {run.curriculum} rollouts)")
        items = kept
    if not items:
        raise ConfigError("no RL prompt left to train on")
    opts = RLOptions(group=run.group, prompts_per_step=run.prompts_per_step, steps=run.steps,
                     learning_rate=run.lr, max_new_tokens=run.max_new_tokens, judge=run.judge,
                     refill=run.refill, staleness=run.staleness,
                     drop_mastered=run.drop_mastered, save_steps=run.save_steps,
                     report_to=run.report_to)
    hooks: list[Any] = []
    policy: dict[str, Any] = {}

    def make_and_keep(model: Any, tok: Tokenizer) -> Rollout:
        policy["rollout"] = make(model, tok)
        return policy["rollout"]  # type: ignore[no-any-return]

    if run.eval_data is not None:
        held_out = load_items(run.eval_data)

        async def through_policy(item: Any) -> Any:
            return await policy["rollout"](item)

        hooks.append(eval_hook(held_out, through_policy, judge, run.eval_every))
    engine = run_rl(items, run.model, run.out, opts, make_and_keep, callbacks=hooks)
    return engine.mean_rewards
