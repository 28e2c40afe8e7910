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

from ..eval.judges import Judge
from ..executors import ExecutorStats
from .backends import MakeRollout
from .dispatch import Dispatch
from .groups import RolloutTokens, keep_in_loss, loo_reward_scale, rollout_tokens
from .refresh import PromptPool
from .rollouts import RLItem, Rollout, grade
from .runtime import LoopThread
from .tokenizers import Tokenizer

__all__ = ["VLLM_MODES", "RLOptions", "RolloutEngine", "run_rl"]

VLLM_MODES = ("off", "colocate", "server")


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
    """Retire a prompt after this many all-right groups in a row; a background task rolls
    out pool candidates and puts a learnable one in its place (0: off)."""
    refresh_rollouts: int = 4
    """Rollouts per pool candidate when refreshing a retired prompt's place."""
    curriculum: int = 0
    """Before training, roll out each prompt this many times and keep those neither always
    right nor always wrong; the others join the refresh pool (0: off)."""
    eval_every: int = 50
    vllm: str = "off"
    """Who samples: `off` (the trainer's HF generate), `colocate` (vLLM in the trainer's
    process) or `server` (a `trl vllm-serve` server); TRL syncs the weights either way."""
    vllm_url: str = "http://127.0.0.1:8000"
    """The vLLM server (`--vllm server`)."""
    vllm_memory: float = 0.3
    """The share of GPU memory colocated vLLM takes (weights, KV cache)."""
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
    `group` times, consecutively), run concurrently on the rollouts' loop, graded and
    masked per the recipe. Mastered prompts are retired and refreshed in the background."""

    def __init__(self, tok: Tokenizer, items: Sequence[RLItem], rollout: Rollout,
                 judge: Judge, opts: RLOptions, *, pool: Sequence[RLItem] = (),
                 loop: LoopThread | None = None, concurrency: int = 256) -> None:
        self.tok, self.rollout, self.judge, self.opts = tok, rollout, judge, opts
        self.loop = loop or LoopThread()
        self._owns_loop = loop is None
        self.concurrency = concurrency
        self.prompts = PromptPool(items, pool, rollout, judge, retire_after=opts.drop_mastered,
                                  k=opts.refresh_rollouts, spawn=self.loop.spawn,
                                  seed=opts.seed)
        self.mean_rewards: list[float] = []
        self.kept_fraction: list[float] = []
        self.last_batch: dict[str, list[Any]] = {}
        """The fields of the latest batch handed to the trainer (operations, tests)."""
        self.executor_stats: ExecutorStats | None = None
        """Per-worker counts of an executor's rollouts, taken when the run ends."""
        self._rng = random.Random(opts.seed)

    @property
    def mastered(self) -> set[str]:
        return self.prompts.mastered

    def __call__(self, prompts: list[Any], trainer: Any = None) -> dict[str, list[Any]]:
        rows = [p if isinstance(p, str) else p[-1]["content"] for p in prompts]
        g = self.opts.group
        items: list[RLItem] = []
        for i in range(0, len(rows), g):  # a whole group moves to the same item
            items += [self.prompts.item_for(rows[i])] * len(rows[i:i + g])
        done = self.loop.run(self._roll(items))
        for i in range(0, len(done), g):
            self.prompts.record(done[i].item, [d.reward for d in done[i:i + g]])
        self.last_batch = self.batch(done)
        return self.last_batch

    async def _roll(self, items: Sequence[RLItem]) -> list[_Done]:
        gate = asyncio.Semaphore(max(1, self.concurrency))

        async def one(item: RLItem) -> _Done:
            async with gate:
                traj = await self.rollout(item)
            return _Done(item, rollout_tokens(self.tok, traj),
                         await grade(self.judge, item, traj))

        return list(await asyncio.gather(*(one(item) for item in items)))

    def close(self) -> None:
        if self._owns_loop:
            self.loop.close()

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

    vllm: dict[str, Any] = {"use_vllm": opts.vllm != "off"}
    if opts.vllm != "off":
        vllm["vllm_mode"] = opts.vllm
        if opts.vllm == "server":
            vllm["vllm_server_base_url"] = opts.vllm_url
        else:
            vllm["vllm_gpu_memory_utilization"] = opts.vllm_memory
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
        gradient_checkpointing=False, **vllm, **opts.extra)


def _dataset(items: Sequence[RLItem]) -> Any:
    from datasets import Dataset

    return Dataset.from_dict({"prompt": [it.prompt for it in items]})


def _keep_learnable(items: Sequence[RLItem], rollout: Rollout, judge: Judge, opts: RLOptions,
                    loop: LoopThread, concurrency: int) -> tuple[list[RLItem], list[RLItem]]:
    """The curriculum before training: (kept, the rest), rolled out with the start policy."""
    from ..errors import ConfigError
    from .hooks import curriculum, pass_rates

    rates = loop.run(pass_rates(items, rollout, judge, opts.curriculum,
                                concurrency=concurrency))
    kept = curriculum(items, rates)
    if not kept:
        raise ConfigError(f"no RL prompt left to train on: the curriculum kept none of "
                          f"{len(items)} (each right in none or all of {opts.curriculum} "
                          "rollouts)")
    return kept, [it for it in items if it not in kept]


def run_rl(items: Sequence[RLItem], model_path: Path, out: Path, opts: RLOptions,
           rollouts: MakeRollout | Dispatch, callbacks: Sequence[Any] = (), *,
           pool: Sequence[RLItem] = (), held_out: Sequence[RLItem] = (),
           say: Callable[[str], None] = lambda msg: None) -> RolloutEngine:
    """GRPO with our rollouts, in the trainer's process (`make_rollout(policy, tok)` over
    the policy's ChatModel) or through an executor (`Dispatch`). Returns the engine (its
    reward history)."""
    import os

    from trl import GRPOTrainer  # type: ignore[attr-defined]

    from ..eval.judges import build_judge
    from .backends import policy_sampler, start_rollouts
    from .hooks import eval_hook
    from .models import load_model, load_tokenizer

    os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")
    tok, judge = load_tokenizer(model_path), build_judge(opts.judge)
    engines: list[RolloutEngine] = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # transformers renames TRL's defaults
        args = _config(out, opts)
    trainer = GRPOTrainer(model=load_model(model_path),
                          reward_funcs=[sounding_reward],  # type: ignore[list-item]
                          args=args, train_dataset=_dataset(items), processing_class=tok.tok,
                          rollout_func=lambda prompts, tr: engines[0](prompts, tr),
                          callbacks=list(callbacks))
    loop = LoopThread()
    try:
        started = loop.run(start_rollouts(rollouts, policy_sampler(trainer, tok, opts), tok,
                                          opts))
        try:
            if opts.curriculum > 0:
                n = len(items)
                items, rest = _keep_learnable(items, started.rollout, judge, opts, loop,
                                              started.concurrency)
                pool = [*rest, *pool]
                trainer.train_dataset = _dataset(items)
                say(f"curriculum: kept {len(items)} of {n} prompts (pass rate strictly "
                    f"between 0 and 1 over {opts.curriculum} rollouts)")
            engines.append(RolloutEngine(tok, items, started.rollout, judge, opts, pool=pool,
                                         loop=loop, concurrency=started.concurrency))
            hooks = list(callbacks)
            if held_out:
                hooks.append(eval_hook(held_out, started.rollout, judge, opts.eval_every,
                                       run=loop.run))
                trainer.add_callback(hooks[-1])
            _train(trainer, hooks, out, tok)
        finally:
            if engines and started.executor is not None:
                engines[0].executor_stats = started.executor.stats()
            loop.run(started.close())
    finally:
        loop.close()
    return engines[0]


def _train(trainer: Any, hooks: Sequence[Any], out: Path, tok: Any) -> None:
    for cb in hooks:
        if hasattr(cb, "trainer"):
            cb.trainer = trainer
    resume = any(out.glob("checkpoint-*")) or None
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # TRL calls renamed transformers APIs
        trainer.train(resume_from_checkpoint=resume)
    trainer.save_model(str(out / "final"))
    tok.tok.save_pretrained(out / "final")
