"""LLM judges: a prompt template, a JSON schema for structured output, and a parser.

The judge asks for structured output (`response_format: json_schema`) first; if
the server refuses it (a 4xx), the same judge falls back to plain text for the rest
of the run and parses tolerantly. An unreadable reply raises `LLMResponseError`,
which the runner records as a judge failure (retried on resume, never "wrong").
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

from ..._templates import render
from ...config import Sampling
from ...errors import LLMResponseError
from ...llm.base import ChatModel, ChatRequest, Completion
from ...types import JSON, Message
from .base import Verdict

__all__ = ["JUDGE_SAMPLING", "JudgeSpec", "LLMJudge"]

JUDGE_SAMPLING = Sampling(temperature=0.0, top_p=1.0, presence_penalty=0.0, max_tokens=4096)


@dataclass(frozen=True)
class JudgeSpec:
    """How one grader talks: its template, output schema and reply parser."""

    name: str
    template: str
    schema: Mapping[str, JSON]
    parse: Callable[[str], Verdict]
    """Turns the reply text into a Verdict; raises LLMResponseError when it cannot."""


class LLMJudge:
    """A judge backed by a chat model (separate from the agent's model)."""

    def __init__(self, spec: JudgeSpec, model: ChatModel, *,
                 sampling: Sampling = JUDGE_SAMPLING, structured: bool = True) -> None:
        self.spec = spec
        self._model = model
        self._sampling = sampling
        self._structured = structured
        self._fallback_lock = asyncio.Lock()

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def model(self) -> str:
        return self._model.name

    def prompt(self, question: str, gold: str, predicted: str) -> str:
        return render("sounding.eval", self.spec.template, question=question,
                      response=predicted, correct_answer=gold)

    async def grade(self, question: str, gold: str, predicted: str) -> Verdict:
        request = ChatRequest(
            messages=[Message("user", self.prompt(question, gold, predicted))],
            sampling=self._sampling,
            purpose="judge",
        )
        completion = await self._complete(request)
        verdict = self.spec.parse(completion.text)
        return replace(verdict, raw=completion.text, usage=completion.usage)

    async def _complete(self, request: ChatRequest) -> Completion:
        if not self._structured:
            return await self._model.complete(request)
        structured = replace(request, response_format={
            "type": "json_schema",
            "json_schema": {"name": f"{self.spec.name}_verdict", "strict": True,
                            "schema": dict(self.spec.schema)},
        })
        try:
            return await self._model.complete(structured)
        except LLMResponseError as exc:
            if exc.status is None or not 400 <= exc.status < 500 or exc.status == 429:
                raise
            # The server does not do json_schema: remember it, and parse text from now on.
            async with self._fallback_lock:
                self._structured = False
            return await self._model.complete(request)
