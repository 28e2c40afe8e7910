"""Trajectory -> training sample: ChatML (Qwen3) token ids with an exact loss mask.

Each message is tokenised on its own, so the mask follows message boundaries exactly:
assistant content and its `<|im_end|>` count; headers, system, user and tool observations
do not. Sampled token ids recorded in the trajectory are used as they are (no drift).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

from ..errors import DatasetError
from ..trace.trajectory import ModelCallRecord, Trajectory
from ..types import Message
from .tokenizers import Tokenizer

__all__ = ["PromptDriftError", "Sample", "conversation_sample", "render_prompt",
           "trajectory_samples"]

PER_ROUND_MODES = ("iter", "resum")


class PromptDriftError(DatasetError):
    """The recorded prompt token ids differ from the re-rendered prompt."""


@dataclass(slots=True)
class Sample:
    """One training sequence: `input_ids`, `loss_mask` (1 = trained) and, where the
    trajectory recorded them, the behaviour log-probs of the trained tokens (0.0 elsewhere)."""

    input_ids: list[int] = field(default_factory=list)
    loss_mask: list[int] = field(default_factory=list)
    logprobs: list[float] = field(default_factory=list)
    trajectory_id: str = ""

    def add(self, ids: Sequence[int], trained: bool, logprobs: Sequence[float] = ()) -> None:
        self.input_ids.extend(ids)
        self.loss_mask.extend([int(trained)] * len(ids))
        lps = list(logprobs) if len(logprobs) == len(ids) else [0.0] * len(ids)
        self.logprobs.extend(lps)

    def trained_ids(self) -> list[list[int]]:
        """The runs of trained tokens, in order (one per assistant turn)."""
        runs: list[list[int]] = []
        prev = 0
        for tid, m in zip(self.input_ids, self.loss_mask, strict=True):
            if m and not prev:
                runs.append([])
            if m:
                runs[-1].append(tid)
            prev = m
        return runs


def _role_text(msg: Message) -> tuple[str, str]:
    """ChatML role and content; a native `tool` message becomes Qwen's user observation."""
    if msg.role == "tool":
        return "user", f"<tool_response>\n{msg.content}\n</tool_response>"
    return msg.role, msg.content


def _assistant_text(msg: Message) -> str:
    """Assistant content plus native tool calls in Qwen's `<tool_call>` form."""
    calls = "".join("\n<tool_call>\n" + json.dumps({"name": c.name, "arguments": c.arguments})
                    + "\n</tool_call>" for c in msg.tool_calls)
    return msg.content + calls


def _header(tok: Tokenizer, role: str) -> list[int]:
    return [tok.special_id("<|im_start|>"), *tok.encode(f"{role}\n")]


def _add_context(sample: Sample, tok: Tokenizer, msg: Message) -> None:
    role, text = _role_text(msg)
    sample.add([*_header(tok, role), *tok.encode(text), tok.special_id("<|im_end|>"),
                *tok.encode("\n")], trained=False)


def render_prompt(tok: Tokenizer, messages: Sequence[Message]) -> list[int]:
    """The prompt as the model sees it, ending with the assistant header (generation prompt)."""
    sample = Sample()
    for msg in messages:
        _add_context(sample, tok, msg)
    return [*sample.input_ids, *_header(tok, "assistant")]


def _add_reply(sample: Sample, tok: Tokenizer, text: str,
               call: ModelCallRecord | None, trained: bool = True) -> None:
    """One assistant turn: header untrained, content and `<|im_end|>` trained."""
    end = tok.special_id("<|im_end|>")
    sample.add(_header(tok, "assistant"), trained=False)
    ids, lps = [*tok.encode(text), end], tuple[float, ...]()
    if call is not None and call.token_ids:
        sampled = list(call.token_ids)
        content = sampled[:-1] if sampled[-1] == end else sampled
        # The sampled ids are the truth when they spell the turn the loop kept (which it
        # strips of surrounding whitespace) or the raw reply (bytes that do not decode alone).
        spelled = tok.decode(content)
        if spelled in (text, call.raw_output) or spelled.strip() == text.strip():
            ids = [*content, end]
            if call.logprobs and len(call.logprobs) == len(sampled):
                lps = (*call.logprobs[:len(content)],
                       call.logprobs[-1] if sampled[-1] == end else 0.0)
    sample.add(ids, trained=trained, logprobs=lps)
    sample.add(tok.encode("\n"), trained=False)


def _check_prompt(tok: Tokenizer, call: ModelCallRecord, prompt: Sequence[Message]) -> None:
    if call.prompt_token_ids is not None and list(call.prompt_token_ids) != render_prompt(
            tok, prompt):
        raise PromptDriftError("the recorded prompt token ids differ from the re-rendered "
                               "prompt: is the tokenizer or chat template the one served?")


def conversation_sample(tok: Tokenizer, messages: Sequence[Message],
                        calls: Sequence[ModelCallRecord | None] = (), *,
                        last_only: bool = False) -> Sample:
    """A whole conversation; assistant turn i may bring its model call `calls[i]`.

    `last_only` trains the final turn alone (an IterResearch workspace quotes the previous
    action, which that round did not write)."""
    sample = Sample()
    turn = 0
    n_assistant = sum(m.role == "assistant" for m in messages)
    for msg in messages:
        if msg.role == "assistant":
            call = calls[turn] if turn < len(calls) else None
            trained = not last_only or turn == n_assistant - 1
            _add_reply(sample, tok, _assistant_text(msg), call, trained)
            turn += 1
        else:
            _add_context(sample, tok, msg)
    return sample


def _turn_calls(traj: Trajectory) -> list[ModelCallRecord]:
    return [c for c in traj.model_calls if c.purpose in ("turn", "forced_answer")
            and c.error is None]


def _match_calls(msgs: Sequence[Message], calls: Sequence[ModelCallRecord]
                 ) -> list[ModelCallRecord | None]:
    """The call that wrote each assistant turn, in order. A call whose output the loop
    discarded (a malformed turn it asked again) wrote none."""
    out: list[ModelCallRecord | None] = []
    pos = 0
    for msg in msgs:
        if msg.role != "assistant":
            continue
        want = msg.content.strip()
        hit = next((i for i in range(pos, len(calls)) if calls[i].output.strip() == want), None)
        out.append(None if hit is None else calls[hit])
        pos = pos if hit is None else hit + 1
    return out


def trajectory_samples(tok: Tokenizer, traj: Trajectory, *,
                       check_prompts: bool = True) -> Iterator[Sample]:
    """ReAct: one sample, the last call's prompt plus its output; iter/resum: one per round
    (the workspace it saw and what it wrote); heavy: each branch on its own."""
    if traj.branches:
        for branch in traj.branches:
            yield from trajectory_samples(tok, branch, check_prompts=check_prompts)
        return
    calls = _turn_calls(traj)
    if not calls:
        return
    if check_prompts:
        for call in calls:
            _check_prompt(tok, call, traj.prompt_of(call))
    if traj.mode in PER_ROUND_MODES:
        for call in calls:
            msgs = [*traj.prompt_of(call), Message("assistant", call.output)]
            n = sum(m.role == "assistant" for m in msgs)
            s = conversation_sample(tok, msgs, [*([None] * (n - 1)), call], last_only=True)
            s.trajectory_id = traj.id
            yield s
        return
    last = calls[-1]
    msgs = [*traj.prompt_of(last), Message("assistant", last.output)]
    s = conversation_sample(tok, msgs, _match_calls(msgs, calls))
    s.trajectory_id = traj.id
    yield s
