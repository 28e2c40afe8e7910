"""The context edge: a run that reaches the model's window ends with an answer, in both
protocols, whether the loop sees it coming or the server refuses the prompt (vLLM's 400)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from sounding.agent import arun
from sounding.agent._context import fit_messages, prompt_tokens, shrink_factor
from sounding.agent.loop import OVERFLOW_SENTENCE
from sounding.config import Settings
from sounding.env import Environment
from sounding.errors import ContextLengthError
from sounding.llm.base import ChatRequest, Completion
from sounding.llm.testing import ModelReply, ScriptedModel
from sounding.tools.base import ToolContext, ToolOutput
from sounding.types import JSON, Message

from ._mode_fakes import SEARCH_SCHEMA, answer, configure, search_call

PROTOCOLS = ["tags", "native"]
QUESTION = "What is the checksum of the table?"
MAX_TOKENS = 500


def server_tokens(text: str) -> int:
    """How the 'server' counts: every digit is a token (as in Qwen), other text by 3 chars."""
    digits = sum(ch.isdigit() for ch in text)
    return digits + (len(text) - digits + 2) // 3


class WindowedModel(ScriptedModel):
    """A scripted model that enforces a context window as vLLM does, with its 400 text."""

    def __init__(self, replies: list[ModelReply], window: int, *, cycle: bool = False) -> None:
        super().__init__(replies, cycle=cycle)
        self.window = window
        self.refused: list[ChatRequest] = []

    def size(self, request: ChatRequest) -> int:
        return sum(server_tokens(m.content) + 4 for m in request.messages) + sum(
            server_tokens(str(c.arguments)) for m in request.messages for c in m.tool_calls)

    async def complete(self, request: ChatRequest) -> Completion:
        asked = self.size(request) + request.sampling.max_tokens
        if asked > self.window:
            self.refused.append(request)
            raise ContextLengthError(
                f"This model's maximum context length is {self.window} tokens. However, you "
                f"requested {asked} tokens ({asked - request.sampling.max_tokens} in the "
                f"messages, {request.sampling.max_tokens} in the completion). Please reduce "
                "the length of the messages or completion.", status=400)
        return await super().complete(request)


class TextSearch:
    """A search tool that returns `text` (the same every call)."""

    schema = SEARCH_SCHEMA

    def __init__(self, text: str) -> None:
        self.text = text

    async def __call__(self, arguments: Mapping[str, JSON], context: ToolContext, *,
                       code: str | None = None) -> ToolOutput:
        return ToolOutput(self.text)


def env_of(text: str) -> Environment:
    return Environment("fake", {"search": TextSearch(text)})


def settings_for(settings: Settings, protocol: str, window: int) -> Settings:
    return configure(settings, "react", protocol, **{"llm.context_window": window,
                                                     "sampling.max_tokens": MAX_TOKENS})


def check_forced(model: WindowedModel, protocol: str, head: str) -> ChatRequest:
    """The forced answer was sent within the window, kept the observation's head, and
    asked in upstream's words in `tags`."""
    final = model.requests[-1]
    assert final.purpose == "forced_answer"
    assert model.size(final) + MAX_TOKENS <= model.window
    body = "\n".join(m.content for m in final.messages)
    assert head in body
    if protocol == "tags":
        assert final.messages[-1] == Message("user", OVERFLOW_SENTENCE)
    else:
        assert "maximum context length" in final.messages[-1].content
    return final


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_numbers_heavy_observation_ends_in_an_answer(settings: Settings,
                                                           protocol: str) -> None:
    # 7,000 digits: ~1,750 tokens by a characters/4 rule, 7,000 by the server's count.
    table = "TABLE " + "".join(str(i % 10) for i in range(7000))
    model = WindowedModel([search_call(protocol, "table"), answer("4711")], window=6000)
    traj = await arun(QUESTION, settings_for(settings, protocol, 6000), model=model,
                      environment=env_of(table))
    assert (traj.answer, traj.termination) == ("4711", "forced_answer")
    assert traj.error is None
    final = check_forced(model, protocol, "TABLE 0123456789")
    assert "[... truncated" in "\n".join(m.content for m in final.messages)


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_a_400_mid_run_leads_to_the_forced_answer(settings: Settings,
                                                        protocol: str) -> None:
    # Prose the server counts denser than our estimate: the window is reached in round 4
    # by its count while ours still says it fits; the 400 ends in a forced answer.
    page = "Evidence about the checksum. " * 60
    def reply(request: ChatRequest) -> str | Completion:
        if request.purpose == "forced_answer":
            return answer("4711")
        return search_call(protocol, f"q{len(model.requests)}")

    model = WindowedModel([reply], window=3400, cycle=True)
    traj = await arun(QUESTION, settings_for(settings, protocol, 3400), model=model,
                      environment=env_of(page))
    assert model.refused, "the server must have refused a prompt"
    assert model.refused[0].purpose == "turn"
    assert (traj.answer, traj.termination) == ("4711", "forced_answer")
    assert traj.error is None
    assert any("refused the prompt as too long" in w
               for w in traj.notes["warnings"])  # type: ignore[union-attr]
    final = check_forced(model, protocol, "Evidence about the checksum.")
    assert model.size(final) < model.size(model.refused[0])


@pytest.mark.parametrize("protocol", PROTOCOLS)
async def test_observation_larger_than_the_window(settings: Settings, protocol: str) -> None:
    huge = "HEAD of the page. " + "words and more words " * 5000  # ~26,000 tokens
    model = WindowedModel([search_call(protocol, "page"), answer("4711")], window=4000)
    traj = await arun(QUESTION, settings_for(settings, protocol, 4000), model=model,
                      environment=env_of(huge))
    assert (traj.answer, traj.termination) == ("4711", "forced_answer")
    # The loop saw it coming: no request ever carried the whole observation.
    sent = [*model.requests, *model.refused]
    assert not any(huge in m.content for r in sent for m in r.messages)
    assert all(r.purpose == "forced_answer" for r in model.refused)
    final = check_forced(model, protocol, "HEAD of the page.")
    assert "[... truncated" in "\n".join(m.content for m in final.messages)
    # The record keeps the whole observation; only the prompt was trimmed.
    assert traj.tool_calls[0].observation == huge


def test_fit_keeps_trims_then_replaces() -> None:
    system, question = Message("system", "role " * 50), Message("user", "question")
    old = Message("user", "<tool_response>\n" + "old evidence " * 300 + "\n</tool_response>")
    new = Message("user", "<tool_response>\n" + "new evidence " * 300 + "\n</tool_response>")
    ask = Message("user", OVERFLOW_SENTENCE)
    call = Message("assistant", "<tool_call>{}</tool_call>")
    messages = [system, question, call, old, call, new, ask]
    total = prompt_tokens(messages)
    assert fit_messages(messages, total) == messages  # fits: untouched
    trimmed = fit_messages(messages, total - 300)
    assert trimmed[3] == old and trimmed[5] != new  # the newest is trimmed first...
    assert trimmed[5].content.startswith("<tool_response>\nnew evidence")
    assert trimmed[5].content.endswith("\n</tool_response>") and "truncated" in trimmed[5].content
    assert prompt_tokens(trimmed) <= total - 300
    tight = fit_messages(messages, prompt_tokens([system, question, call, call, ask]) + 200)
    assert "removed" in tight[5].content  # ...replaced only as a last resort
    assert tight[-1] == ask and tight[:2] == [system, question]


def test_shrink_factor_reads_vllm_numbers() -> None:
    message = ("This model's maximum context length is 1000 tokens. However, you requested "
               "2000 tokens (1500 in the messages, 500 in the completion).")
    assert shrink_factor(message) == pytest.approx(0.475)
    assert shrink_factor("context_length_exceeded") == 0.75



def test_a_named_tokenizer_counts_the_prompt_exactly(settings: Settings) -> None:
    """With `llm.tokenizer` the check before each call counts with the real vocabulary."""
    from pathlib import Path

    from sounding.agent._context import PER_MESSAGE_TOKENS
    from sounding.agent.loop import RunContext
    from sounding.llm.tokens import TiktokenCounter, estimate_tokens
    from sounding.trace.trajectory import Trajectory

    ranks = Path(__file__).resolve().parents[1] / "llm" / "data" / "qwen.tiktoken"
    text = "the table lists every engineer of the tower, 1887-1889 " * 300
    for spec, expected in ((str(ranks), None), (None, estimate_tokens(text))):
        cfg = configure(settings, "react", "tags", **{"llm.tokenizer": spec})
        ctx = RunContext(Trajectory(QUESTION), cfg, ScriptedModel([]), env_of(text))
        if spec is not None:
            assert isinstance(ctx.counter, TiktokenCounter)
            expected = ctx.counter.count(text)
            assert expected != estimate_tokens(text)
        size = ctx._sizes.prompt([Message("user", text)])
        assert size == expected + PER_MESSAGE_TOKENS
