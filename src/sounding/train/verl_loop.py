"""verl's agent loop `sounding_agent`: Sounding's own loop (react mode, tags protocol) against
verl's token-in/token-out servers, graded by the eval checker. Needs the `verl` extra (0.9).
"""

from __future__ import annotations

import dataclasses
import time
import uuid
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..config import Settings, load_settings
from ..errors import ConfigError, LLMError
from ..eval.judges import build_judge
from ..llm.base import ChatRequest, Completion
from ..types import Message
from .rollouts import RLItem, agent_rollout, grade
from .samples import render_prompt
from .sampling import completion
from .tokenizers import HFTokenizer, Tokenizer

with warnings.catch_warnings():
    # verl's Ray helpers import `ray.experimental.state`, which Ray reports as deprecated.
    warnings.simplefilter("ignore", DeprecationWarning)
    from verl.experimental.agent_loop.agent_loop import (
        AgentLoopBase,
        AgentLoopMetrics,
        AgentLoopOutput,
        register,
    )

__all__ = ["SoundingAgentLoop", "TokenRecord", "TokenServerChatModel", "verl_rows"]

_DEFAULTS: dict[str, object] = {"env": "offline", "protocol": "tags", "mode": "react"}
_SEQUENCE_PURPOSES = ("turn", "forced_answer")
_NO_WINDOW = 1 << 30
"""Sounding's context window, lifted: verl's exact `response_length` bounds the sequence, and
the loop's own estimate must never trim a context that one sequence has to keep whole."""


class BudgetSpent(LLMError):
    """The rollout's `rollout.response_length` is used up: the run ends here, as verl's
    own tool agent ends at that length."""


@dataclasses.dataclass(slots=True)
class TokenRecord:
    """The rollout as one growing token sequence, exactly as the server saw and sampled it:
    the first prompt, then model turns (mask 1, their log-probs) and whatever the loop
    appended between them (mask 0: turn ends, tool observations, feedback)."""

    prompt_ids: list[int] = dataclasses.field(default_factory=list)
    response_ids: list[int] = dataclasses.field(default_factory=list)
    response_mask: list[int] = dataclasses.field(default_factory=list)
    response_logprobs: list[float] = dataclasses.field(default_factory=list)
    messages: list[Message] = dataclasses.field(default_factory=list)
    """The messages the sequence holds so far (the last turn's reply not among them)."""
    turns: int = 0
    """Chat turns in verl's sense (user, assistant and tool messages) so far."""
    ends: list[tuple[int, int]] = dataclasses.field(default_factory=list)
    """After each reply: the response's length and the turns so far."""
    has_logprobs: bool = True

    def add(self, ids: Sequence[int], trained: bool, logprobs: Sequence[float] = ()) -> None:
        self.response_ids.extend(ids)
        self.response_mask.extend([int(trained)] * len(ids))
        self.response_logprobs.extend(logprobs if trained else [0.0] * len(ids))

    def reply(self, ids: Sequence[int], logprobs: Sequence[float]) -> None:
        self.add(ids, trained=True, logprobs=logprobs)
        self.turns += 1
        self.ends.append((len(self.response_ids), self.turns))

    def drop_reply(self, start: int) -> None:
        """Forget the last reply (the loop discarded it and asked again)."""
        self.ends.pop()
        self.turns -= 1
        del self.response_ids[start:], self.response_mask[start:], self.response_logprobs[start:]

    def finish(self, first_turns: int) -> None:
        """End the sequence with the last reply, as verl's tool agent does: context added
        after it (an observation that met the length limit) is no one's turn."""
        n, self.turns = self.ends[-1] if self.ends else (0, first_turns)
        del self.response_ids[n:], self.response_mask[n:], self.response_logprobs[n:]


class TokenServerChatModel:
    """A `ChatModel` over verl's `server_manager.generate(request_id, prompt_ids=,
    sampling_params=)` (a `TokenOutput` back).

    The context is never re-tokenised: each call sends the previous sequence, the sampled
    ids of the last reply and the new messages rendered with the ChatML template (verl's
    continuous-token rule), so the trainer sees exactly what the policy saw. One request
    id per rollout keeps its turns on one server (prefix cache). Each turn may sample at
    most what is left of `response_length`; once it is spent the run ends (`BudgetSpent`).
    """

    def __init__(self, server: Any, tok: Tokenizer, sampling_params: Mapping[str, Any], *,
                 prompt_length: int, response_length: int, request_id: str | None = None,
                 priority: int = 0, name: str = "verl") -> None:
        self.server, self.tok, self.name = server, tok, name
        self.sampling_params = dict(sampling_params)
        self.prompt_length, self.response_length = prompt_length, response_length
        self.request_id = request_id or uuid.uuid4().hex
        self.priority = priority
        self.record = TokenRecord()
        self.first_turns = 0
        self.problem: ConfigError | None = None
        """A misconfiguration met inside the loop (which would only end the run quietly);
        the agent loop raises it after the run."""
        self.spent = False
        self.generate_s = 0.0
        self.num_preempted = 0
        self.extra_fields: dict[str, Any] = {}
        self._reply: tuple[int, list[int]] | None = None  # (response length before it, ids)
        self.end = tok.special_id("<|im_end|>")

    async def aclose(self) -> None:
        return None

    async def complete(self, request: ChatRequest) -> Completion:
        if request.purpose not in _SEQUENCE_PURPOSES:
            return await self._aside(request)
        if not self.spent:  # (a spent budget keeps the last reply, even one asked again)
            prompt = self._extend(list(request.messages), bool(request.tools))
            left = self.response_length - len(self.record.response_ids)
            self.spent = left <= 0
        if self.spent:
            raise BudgetSpent(f"the rollout used its {self.response_length} response tokens "
                              "(rollout.response_length)")
        params = {**self.sampling_params, "max_tokens": min(left, request.sampling.max_tokens)}
        t0 = time.monotonic()
        out = await self.server.generate(request_id=self.request_id, prompt_ids=prompt,
                                         sampling_params=params, priority=self.priority)
        self.generate_s += time.monotonic() - t0
        return self._sampled(prompt, out, left)

    async def _aside(self, request: ChatRequest) -> Completion:
        """A call outside the agent's turns (a tool's page extraction, when no `[summary]`
        model is set): served by the policy, but no part of the trained sequence."""
        prompt = render_prompt(self.tok, request.messages)
        params = {**self.sampling_params, "max_tokens": request.sampling.max_tokens}
        out = await self.server.generate(request_id=uuid.uuid4().hex, prompt_ids=prompt,
                                         sampling_params=params, priority=self.priority)
        return completion(self.tok, prompt, list(out.token_ids), None)

    def _extend(self, messages: list[Message], native_tools: bool) -> list[int]:
        """The prompt of this call: the first one rendered, later ones the sequence so far
        plus the new messages; a turn asked again drops the reply it replaces."""
        rec = self.record
        if native_tools:
            self._refuse("the verl loop renders ChatML prompts itself, without tool "
                         "schemas: set protocol = \"tags\"")
        if not rec.prompt_ids:
            rec.prompt_ids = render_prompt(self.tok, messages)
            rec.messages = messages
            rec.turns = self.first_turns = sum(m.role != "system" for m in messages)
            if len(rec.prompt_ids) > self.prompt_length:
                self._refuse(f"Sounding's first prompt is {len(rec.prompt_ids)} tokens, more "
                             f"than rollout.prompt_length = {self.prompt_length}: raise "
                             "data.max_prompt_length")
            return rec.prompt_ids
        seen = len(rec.messages)
        if messages[:seen] != rec.messages:
            self._refuse("the loop rewrote earlier messages (trimmed or summarised context); "
                         "one verl sequence holds only a context that grows")
        if self._reply is not None:
            start, ids = self._reply
            if len(messages) == seen:  # the reply was discarded and the turn asked again
                rec.drop_reply(start)
            else:
                if messages[seen].role != "assistant":
                    self._refuse("the loop did not keep the model's reply in its context")
                if ids[-1:] != [self.end]:  # cut by max_tokens: close the turn, untrained
                    rec.add([self.end], trained=False)
                new = messages[seen + 1:]
                rec.add([*self.tok.encode("\n"), *render_prompt(self.tok, new)], trained=False)
                rec.messages = messages
                rec.turns += sum(m.role != "system" for m in new)
            self._reply = None
        return [*rec.prompt_ids, *rec.response_ids]

    def _sampled(self, prompt: list[int], out: Any, left: int) -> Completion:
        ids, lps = list(out.token_ids), out.log_probs
        if lps is None or len(lps) != len(ids):
            self.record.has_logprobs, lps = False, [0.0] * len(ids)
        self._reply = (len(self.record.response_ids), ids)
        self.record.reply(ids, lps)
        self.num_preempted += out.num_preempted or 0
        # Staleness bookkeeping as verl's tool agent keeps it: the first turn's fields, the
        # last turn's `max_global_steps`.
        extra = dict(out.extra_fields or {})
        self.extra_fields = {**extra, **self.extra_fields}
        if extra.get("max_global_steps") is not None:
            self.extra_fields["max_global_steps"] = extra["max_global_steps"]
        # verl's own loops stop at this length; a reply that fills the budget is the last
        self.spent = ids[-1:] != [self.end] and len(ids) >= left
        return completion(self.tok, prompt, ids, lps)

    def _refuse(self, why: str) -> None:
        self.problem = ConfigError(f"sounding_agent: {why}")
        raise self.problem


_OVER_BUDGET = ("max_tokens", "max_rounds", "max_time")


@register("sounding_agent")
class SoundingAgentLoop(AgentLoopBase):  # type: ignore[misc,unused-ignore]
    """One rollout per dataset row: the row's last user message through Sounding's loop,
    rewarded by the eval checker (`reward_model.ground_truth`), observations masked out.

    Options come from the loop's entry in `agent_loop_config_path`: `config_file` (a
    sounding.toml), `overrides` (dotted settings keys), `judge` (exact, gaia or f1) and
    `exclude_overlong_negatives` (a wrong rollout cut by a length or budget limit keeps its
    reward in the group's baseline but none of its tokens in the loss, as on one node).
    """

    def __init__(self, *args: Any, config_file: str | None = None,
                 overrides: Mapping[str, Any] | None = None, judge: str = "exact",
                 exclude_overlong_negatives: bool = True, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        flags = {**_DEFAULTS, **dict(overrides or {})}
        settings = load_settings(flags, config_file=Path(config_file) if config_file else None)
        self.settings: Settings = dataclasses.replace(
            settings, llm=dataclasses.replace(settings.llm, context_window=_NO_WINDOW))
        if self.settings.mode != "react" or self.settings.protocol != "tags":
            raise ConfigError("sounding_agent runs mode = react with protocol = tags: one "
                              "context that only grows, as one verl sequence must")
        self.judge = build_judge(judge)
        self.exclude_overlong_negatives = exclude_overlong_negatives

    async def run(self, sampling_params: dict[str, Any], **kwargs: Any) -> AgentLoopOutput:
        item = _item(kwargs)
        rollout, priority = self.rollout_config, int(kwargs.get("priority", 0))
        model = TokenServerChatModel(
            self.server_manager, HFTokenizer(self.tokenizer), sampling_params,
            prompt_length=int(rollout.prompt_length),
            response_length=int(rollout.response_length), priority=priority,
            request_id=f"det-{priority}" if rollout.get("full_determinism") else None)
        t0 = time.monotonic()
        traj = await agent_rollout(self.settings, model)(item)
        t1 = time.monotonic()
        if model.problem is not None:
            raise model.problem
        reward = await grade(self.judge, item, traj)
        metrics = AgentLoopMetrics(generate_sequences=model.generate_s,
                                   tool_calls=max(t1 - t0 - model.generate_s, 0.0),
                                   compute_score=time.monotonic() - t1,
                                   num_preempted=model.num_preempted)
        return self._output(model, reward, metrics, traj.termination)

    def _output(self, model: TokenServerChatModel, reward: float, metrics: AgentLoopMetrics,
                termination: str | None) -> AgentLoopOutput:
        rec, limit = model.record, int(self.rollout_config.response_length)
        rec.finish(model.first_turns)
        cut = bool(rec.response_ids) and rec.response_ids[-1] != model.end
        overlong = model.spent or cut or termination in _OVER_BUDGET
        mask = rec.response_mask[:limit]
        if overlong and reward <= 0 and self.exclude_overlong_negatives:
            mask = [0] * len(mask)
        return AgentLoopOutput(
            prompt_ids=rec.prompt_ids, response_ids=rec.response_ids[:limit],
            response_mask=mask,
            response_logprobs=rec.response_logprobs[:limit] if rec.has_logprobs else None,
            reward_score=reward, num_turns=rec.turns, metrics=metrics,
            extra_fields={**model.extra_fields, "turn_scores": [], "tool_rewards": [],
                          "termination": termination, "overlong": overlong})


def verl_rows(items: Sequence[RLItem], data_source: str = "sounding") -> list[dict[str, Any]]:
    """RL items as verl's dataset rows (write them with `pandas.DataFrame(rows).to_parquet`):
    the question as a chat `prompt`, the answer then its aliases as the ground truth."""
    return [{"data_source": data_source, "prompt": [{"role": "user", "content": it.prompt}],
             "reward_model": {"ground_truth": [it.answer, *it.aliases]}} for it in items]


def _item(kwargs: Mapping[str, Any]) -> RLItem:
    """The RL item of a verl row: the last message of `raw_prompt` (the dataset's `prompt`
    column) and `reward_model.ground_truth` (the answer, or the answer then its aliases)."""
    messages = list(kwargs.get("raw_prompt") or [])
    truth = (kwargs.get("reward_model") or {}).get("ground_truth")
    if not messages or truth is None:
        raise ConfigError("sounding_agent needs rows with `prompt` and "
                          "`reward_model.ground_truth`")
    truth = truth.tolist() if hasattr(truth, "tolist") else truth  # parquet lists: numpy
    answers = [str(truth)] if isinstance(truth, str) else [str(a) for a in truth]
    return RLItem(str(messages[-1]["content"]), answers[0], tuple(answers[1:]))
