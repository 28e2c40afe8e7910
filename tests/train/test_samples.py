"""Trajectory -> sample: the trained tokens decode exactly to the assistant turns."""

from __future__ import annotations

import pytest

from sounding.agent import arun
from sounding.config import Settings
from sounding.llm.base import ChatRequest, Completion
from sounding.llm.testing import ScriptedModel
from sounding.train.samples import (
    PromptDriftError,
    Sample,
    render_prompt,
    trajectory_samples,
)
from sounding.train.tokenizers import Tokenizer
from sounding.types import Message
from tests.agent._mode_fakes import answer, configure, fixed_env, search_call

QUESTION = "Which river flows through Vienna?"


def assistant_turns(sample: Sample, tok: Tokenizer) -> list[str]:
    return [tok.decode(run) for run in sample.trained_ids()]


def untrained_text(sample: Sample, tok: Tokenizer) -> str:
    return tok.decode([t for t, m in zip(sample.input_ids, sample.loss_mask, strict=True)
                       if not m])


async def run_mode(settings: Settings, mode: str, replies: list[str | Completion]) -> object:
    model = ScriptedModel(replies)
    return await arun(QUESTION, configure(settings, mode), model=model, environment=fixed_env(300))


async def test_react_mask_is_exactly_the_assistant_turns(settings: Settings,
                                                         tok: Tokenizer) -> None:
    replies: list[str | Completion] = [search_call("tags", "Vienna river", think="look it up"),
                                       search_call("tags", "Danube", think="confirm"),
                                       answer("the Danube")]
    traj = await run_mode(settings, "react", replies)
    [sample] = list(trajectory_samples(tok, traj))  # type: ignore[arg-type]
    outputs = [c.output for c in traj.model_calls]  # type: ignore[attr-defined]
    assert assistant_turns(sample, tok) == [o + "<|im_end|>" for o in outputs]
    rest = untrained_text(sample, tok)
    assert "<tool_response>" in rest and QUESTION in rest and "<|im_start|>assistant\n" in rest
    assert "<think>look it up</think>" not in rest


async def test_iter_gives_one_sample_per_round(settings: Settings, tok: Tokenizer) -> None:
    replies: list[str | Completion] = [search_call("tags", "Vienna", report="starting"),
                                       answer("Danube", report="found it")]
    traj = await run_mode(settings, "iter", replies)
    samples = list(trajectory_samples(tok, traj))  # type: ignore[arg-type]
    assert len(samples) == 2
    for sample, call in zip(samples, traj.model_calls, strict=True):  # type: ignore[attr-defined]
        assert assistant_turns(sample, tok) == [call.output + "<|im_end|>"]


def with_tokens(tok: Tokenizer, text: str, request: ChatRequest) -> Completion:
    """A reply as vLLM would send it: the prompt and sampled ids, log-probs, `<|im_end|>`."""
    ids = [*tok.encode(text), tok.special_id("<|im_end|>")]
    return Completion(text=text, token_ids=tuple(ids), logprobs=tuple(-0.5 for _ in ids),
                      prompt_token_ids=tuple(render_prompt(tok, request.messages)))


async def test_recorded_token_ids_are_used(settings: Settings, tok: Tokenizer) -> None:
    texts = ["<think>a</think>\n<tool_call>\n"
             '{"name": "search", "arguments": {"query": ["x"]}}\n</tool_call>',
             "<think>b</think>\n<answer>Danube</answer>"]
    replies = [lambda r, t=t: with_tokens(tok, t, r) for t in texts]
    traj = await run_mode(settings, "react", replies)  # type: ignore[arg-type]
    [sample] = list(trajectory_samples(tok, traj))  # type: ignore[arg-type]
    assert assistant_turns(sample, tok) == [t + "<|im_end|>" for t in texts]
    trained_lps = [lp for lp, m in zip(sample.logprobs, sample.loss_mask, strict=True) if m]
    assert trained_lps and all(lp == -0.5 for lp in trained_lps)


async def test_drifted_prompt_is_refused(settings: Settings, qwen: Tokenizer) -> None:
    def drifted(request: ChatRequest) -> Completion:
        good = with_tokens(qwen, "<answer>Danube</answer>", request)
        return Completion(text=good.text, token_ids=good.token_ids,
                          prompt_token_ids=(good.prompt_token_ids or ())[:-3])

    traj = await run_mode(settings, "react", [drifted])  # type: ignore[list-item]
    with pytest.raises(PromptDriftError):
        list(trajectory_samples(qwen, traj))  # type: ignore[arg-type]


def test_native_tool_messages_render_as_observations(qwen: Tokenizer) -> None:
    prompt = render_prompt(qwen, [Message("user", "q"), Message("tool", "obs", tool_call_id="1")])
    assert qwen.decode(prompt).endswith(
        "<|im_start|>user\n<tool_response>\nobs\n</tool_response><|im_end|>\n"
        "<|im_start|>assistant\n")
