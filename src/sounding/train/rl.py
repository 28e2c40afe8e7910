"""Agentic RL on TRL's GRPO trainer: our rollouts, leave-one-out advantage, token-level loss
with clip-higher, overlong negatives out, zero-variance groups dropped or refilled."""

from __future__ import annotations

import asyncio
import random
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..eval.judges import Judge, build_judge
from .groups import RolloutTokens, keep_in_loss, loo_reward_scale, rollout_tokens
from .rollouts import RLItem, Rollout, grade
from .tokenizers import Tokenizer

__all__ = ["RLOptions", "RolloutEngine", "run_rl"]


@dataclass(slots=True)
class RLOptions:
    """Every `sounding train rl` option (see docs/training.md)."""

    group: int = 8
    prompts_per_step: int = 4
    steps: int = 200
    learning_rate: float = 1e-6
    epsilon: float = 0.2
    epsilon_high: float = 0.28
    max_new_tokens: int = 1024
    temperature: float = 1.0
    judge: str = "exact"
    drop_zero_variance: bool = True
    refill: bool = False
    drop_mastered: int = 0
    """Retire a prompt after this many all-right groups in a row, rolling out a fresh one
    from the pool in its place (0: off)."""
    staleness: int = 1
    """Optimizer steps per batch of rollouts: 1 is strictly on-policy."""
    logging_steps: int = 10
    save_steps: int = 100
    report_to: tuple[str, ...] = ("tensorboard",)
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


@dataclass(slots=True)
class _Done:
    item: RLItem
    tokens: RolloutTokens
    reward: float


class RolloutEngine:
    """TRL's `rollout_func`: one rollout per prompt it is given (TRL repeats each prompt
    `group` times, consecutively), graded, masked per the recipe."""

    def __init__(self, tok: Tokenizer, items: Sequence[RLItem], rollout: Rollout,
                 judge: Judge, opts: RLOptions) -> None:
        self.tok, self.rollout, self.judge, self.opts = tok, rollout, judge, opts
        self.items = {it.prompt: it for it in items}
        self.streak: dict[str, int] = {}
        self.mastered: set[str] = set()
        self.mean_rewards: list[float] = []
        self.kept_fraction: list[float] = []
        self._rng = random.Random(opts.seed)

    def __call__(self, prompts: list[Any], trainer: Any = None) -> dict[str, list[Any]]:
        items = [self._item(p) for p in prompts]
        g = self.opts.group
        for i in range(0, len(items), g):  # a whole group moves to the same fresh item
            items[i:i + g] = [self._fresh(items[i])] * len(items[i:i + g])
        done = asyncio.run(self._roll(items))
        if self.opts.drop_mastered:
            self._track(done)
        return self.batch(done)

    def _fresh(self, item: RLItem) -> RLItem:
        """The item itself, or for a mastered one an unmastered item of the pool."""
        if item.prompt not in self.mastered:
            return item
        open_items = [it for it in self.items.values() if it.prompt not in self.mastered]
        return self._rng.choice(open_items) if open_items else item

    def _track(self, done: list[_Done]) -> None:
        g = self.opts.group
        for i in range(0, len(done), g):
            grp = done[i:i + g]
            key = grp[0].item.prompt
            self.streak[key] = self.streak.get(key, 0) + 1 if all(
                d.reward >= 1.0 for d in grp) else 0
            if self.streak[key] >= self.opts.drop_mastered:
                self.mastered.add(key)

    def _item(self, prompt: Any) -> RLItem:
        text = prompt if isinstance(prompt, str) else prompt[-1]["content"]
        return self.items[text]

    async def _roll(self, items: Sequence[RLItem]) -> list[_Done]:
        out = []
        for item in items:  # one at a time: the policy's generate is one model
            traj = await self.rollout(item)
            out.append(_Done(item, rollout_tokens(self.tok, traj),
                             await grade(self.judge, item, traj)))
        return out

    def batch(self, done: list[_Done]) -> dict[str, list[Any]]:
        """The trainer's fields; a dropped rollout keeps its place with an all-zero mask."""
        g = self.opts.group
        groups = [done[i:i + g] for i in range(0, len(done), g)]
        keeps = [keep_in_loss([d.reward for d in grp], [d.tokens.overlong for d in grp],
                              drop_zero_variance=self.opts.drop_zero_variance)
                 for grp in groups]
        if self.opts.refill:
            groups, keeps = self._refill(groups, keeps)
        self.mean_rewards.append(sum(d.reward for d in done) / max(1, len(done)))
        flat = [(d, k) for grp, ks in zip(groups, keeps, strict=True)
                for d, k in zip(grp, ks, strict=True)]
        self.kept_fraction.append(sum(k for _, k in flat) / max(1, len(flat)))
        scale = loo_reward_scale(len(groups[0]) if groups else 1)
        return {"prompt_ids": [d.tokens.prompt_ids for d, _ in flat],
                "completion_ids": [d.tokens.completion_ids or [self._end] for d, _ in flat],
                "logprobs": [d.tokens.logprobs or [0.0] for d, _ in flat],
                "env_mask": [([m if k else 0 for m in d.tokens.env_mask] or [0])
                             for d, k in flat],
                "sounding_reward": [d.reward * scale for d, _ in flat]}

    @property
    def _end(self) -> int:
        return self.tok.special_id("<|im_end|>")

    def _refill(self, groups: list[list[_Done]], keeps: list[list[bool]]
                ) -> tuple[list[list[_Done]], list[list[bool]]]:
        """Zero-variance groups replaced by copies of informative ones (same batch size)."""
        useful = [i for i, ks in enumerate(keeps) if any(ks)]
        if not useful:
            return groups, keeps
        picks = [i if any(keeps[i]) else self._rng.choice(useful) for i in range(len(groups))]
        return [groups[i] for i in picks], [keeps[i] for i in picks]


def sounding_reward(completions: list[Any], **kwargs: Any) -> list[float]:
    """The reward the rollout engine computed (already scaled for leave-one-out)."""
    return [float(r) for r in kwargs["sounding_reward"]]


def _config(out: Path, opts: RLOptions) -> Any:
    import torch
    from trl import GRPOConfig  # type: ignore[attr-defined]

    return GRPOConfig(
        output_dir=str(out), bf16=torch.cuda.is_available(),
        dataloader_pin_memory=torch.cuda.is_available(),
        learning_rate=opts.learning_rate,
        max_steps=opts.steps, num_generations=opts.group,
        per_device_train_batch_size=opts.group * opts.prompts_per_step,
        gradient_accumulation_steps=1, num_iterations=opts.staleness,
        loss_type="dapo", epsilon=opts.epsilon, epsilon_high=opts.epsilon_high, beta=0.0,
        scale_rewards="none", max_completion_length=opts.max_new_tokens,
        temperature=opts.temperature, logging_steps=opts.logging_steps,
        save_steps=opts.save_steps, report_to=list(opts.report_to), seed=opts.seed,
        gradient_checkpointing=False, **opts.extra)


def run_rl(items: Sequence[RLItem], model_path: Path, out: Path, opts: RLOptions,
           make_rollout: Callable[[Any, Tokenizer], Rollout],
           callbacks: Sequence[Any] = ()) -> RolloutEngine:
    """GRPO with our rollouts; `make_rollout(model_getter, tok)` builds the rollout over the
    trainer's current policy. Returns the engine (its reward history)."""
    import os

    from datasets import Dataset
    from trl import GRPOTrainer  # type: ignore[attr-defined]

    from .models import load_model, load_tokenizer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    tok = load_tokenizer(model_path)
    model = load_model(model_path)
    holder: dict[str, Any] = {"model": model}
    engine = RolloutEngine(tok, items, make_rollout(lambda: holder["model"], tok),
                           build_judge(opts.judge), opts)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers renames TRL's defaults
        args = _config(out, opts)
    trainer = GRPOTrainer(model=model, reward_funcs=[sounding_reward],  # type: ignore[list-item]
                          args=args,
                          train_dataset=Dataset.from_dict({"prompt": [it.prompt for it in items]}),
                          processing_class=tok.tok, rollout_func=engine,
                          callbacks=list(callbacks))
    holder["model"] = trainer.model
    for cb in callbacks:
        if hasattr(cb, "trainer"):
            cb.trainer = trainer
    resume = any(out.glob("checkpoint-*")) or None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TRL calls renamed transformers APIs
        trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out / "final"))
    tok.tok.save_pretrained(out / "final")
    return engine
