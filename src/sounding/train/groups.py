"""Group arithmetic of the RL recipe, free of torch: leave-one-out advantages, which rollouts
enter the loss (overlong negatives out, zero-variance groups dropped), rollout -> tokens."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from ..errors import DatasetError
from ..trace.trajectory import Trajectory
from .samples import render_prompt, trajectory_samples
from .tokenizers import Tokenizer

__all__ = ["RolloutTokens", "keep_in_loss", "leave_one_out", "loo_reward_scale",
           "rollout_tokens"]


def leave_one_out(rewards: Sequence[float]) -> list[float]:
    """Reward minus the mean of the other rollouts of the same question."""
    n = len(rewards)
    if n < 2:
        return [0.0] * n
    total = sum(rewards)
    return [r - (total - r) / (n - 1) for r in rewards]


def loo_reward_scale(group: int) -> float:
    """r - mean(others) = G/(G-1) * (r - mean(all)): a trainer that subtracts the group mean
    gives the leave-one-out advantage exactly when rewards are scaled by this."""
    return group / (group - 1) if group > 1 else 1.0


def keep_in_loss(rewards: Sequence[float], overlong: Sequence[bool], *,
                 drop_zero_variance: bool = True) -> list[bool]:
    """Which rollouts of one group count: a group whose rollouts all agree teaches nothing
    (dropped), and a rollout cut by the length limit counts only when it was right."""
    agree = drop_zero_variance and len(set(rewards)) <= 1
    return [not agree and not (cut and r <= 0) for r, cut in zip(rewards, overlong, strict=True)]


@dataclass(slots=True)
class RolloutTokens:
    """One rollout as the trainer wants it: prompt ids, then the completion (model turns and
    tool observations), its mask (1 = the model's own tokens) and the sampled log-probs."""

    prompt_ids: list[int]
    completion_ids: list[int]
    env_mask: list[int]
    logprobs: list[float]
    overlong: bool


def rollout_tokens(tok: Tokenizer, traj: Trajectory) -> RolloutTokens:
    """The first model call's prompt is the prompt; all that follows is the completion."""
    samples = list(trajectory_samples(tok, traj, check_prompts=False))
    calls = [c for c in traj.model_calls if c.error is None]
    if not samples or not calls:
        raise DatasetError("a rollout without a model call cannot be trained on")
    sample = samples[-1]
    n = len(render_prompt(tok, traj.prompt_of(calls[0])))
    end = len(sample.input_ids)
    while end > n and not sample.loss_mask[end - 1]:
        end -= 1  # the turn's closing newline and anything after the last reply
    im_end = tok.special_id("<|im_end|>")
    cut = calls[-1].token_ids
    if cut and cut[-1] != im_end and end > n and sample.input_ids[end - 1] == im_end:
        end -= 1  # a reply cut by the length limit: its closing token was never sampled
    overlong = traj.termination in ("max_tokens", "max_rounds", "max_time") or (
        calls[-1].finish_reason == "length")
    return RolloutTokens(sample.input_ids[:n], sample.input_ids[n:end], sample.loss_mask[n:end],
                         sample.logprobs[n:end], overlong)
