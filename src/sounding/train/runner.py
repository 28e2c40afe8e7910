"""`sounding train rl` end to end: prompts, optional curriculum, eval hooks, GRPO."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from .backends import MakeRollout
from .dispatch import Dispatch
from .rl import RLOptions, run_rl
from .rollouts import load_items

__all__ = ["RLRun", "run_rl_command"]

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
    curriculum: int = _RL.curriculum
    drop_mastered: int = _RL.drop_mastered
    refresh_rollouts: int = _RL.refresh_rollouts
    pool: Path | None = None
    eval_data: Path | None = None
    eval_every: int = _RL.eval_every
    vllm: str = _RL.vllm
    vllm_url: str = _RL.vllm_url
    vllm_memory: float = _RL.vllm_memory
    save_steps: int = _RL.save_steps
    report_to: tuple[str, ...] = _RL.report_to


def run_rl_command(run: RLRun, rollouts: MakeRollout | Dispatch,
                   say: Callable[[str], None]) -> list[float]:
    """Returns the mean reward of each rollout batch."""
    items = load_items(run.prompts)
    if not items:
        raise ConfigError("no RL prompt to train on")
    opts = RLOptions(group=run.group, prompts_per_step=run.prompts_per_step, steps=run.steps,
                     learning_rate=run.lr, max_new_tokens=run.max_new_tokens, judge=run.judge,
                     refill=run.refill, staleness=run.staleness, curriculum=run.curriculum,
                     drop_mastered=run.drop_mastered, refresh_rollouts=run.refresh_rollouts,
                     eval_every=run.eval_every, vllm=run.vllm, vllm_url=run.vllm_url,
                     vllm_memory=run.vllm_memory,
                     save_steps=run.save_steps, report_to=run.report_to)
    engine = run_rl(items, run.model, run.out, opts, rollouts,
                    pool=load_items(run.pool) if run.pool is not None else (),
                    held_out=load_items(run.eval_data) if run.eval_data is not None else (),
                    say=say)
    if engine.executor_stats is not None and len(engine.executor_stats.workers) > 1:
        for line in engine.executor_stats.lines():
            say(line)
    if engine.prompts.refreshed:
        say(f"refresh: {len(engine.prompts.retired)} prompts retired, "
            f"{len(engine.prompts.refreshed)} refreshed from the pool")
    return engine.mean_rewards
