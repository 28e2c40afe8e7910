"""LLM judges: a prompt template, an optional JSON schema for structured output, a parser.

Official graders render the published text with `str.format`, as upstream does
(package data under `official/`, byte for byte); Sounding's own wordings use the
`${var}` templates under `eval/prompts/`. Structured output is asked for when the
spec has a schema; the client drops it only when the server's error names it.
An unreadable reply raises `LLMResponseError`: the row records a judge error.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from functools import cache
from importlib import resources
from typing import Literal

from ..._templates import load_template, render
from ...config import Sampling
from ...llm.base import ChatModel, ChatRequest
from ...types import JSON, Message
from .base import Verdict

__all__ = ["JUDGE_SAMPLING", "JudgeSpec", "LLMJudge", "official_text"]

JUDGE_SAMPLING = Sampling(temperature=0.0, top_p=1.0, presence_penalty=0.0, max_tokens=4096)
"""Only for `ChatModel`s that need a Sampling; `JudgeClient` sends none of it unless set."""


@cache
def official_text(name: str) -> str:
    """A published judge text, byte for byte, from the package's `official/` folder."""
    path = resources.files("sounding.eval.judges") / "official" / name
    return path.read_bytes().decode("utf-8")


@dataclass(frozen=True)
class JudgeSpec:
    """How one grader talks: its template, output schema and reply parser."""

    name: str
    template: str
    schema: Mapping[str, JSON] | None
    """JSON schema for structured output; None asks for plain text."""
    parse: Callable[[str], Verdict]
    """Turns the reply text into a Verdict; raises LLMResponseError when it cannot."""
    style: Literal["official", "sounding"] = "sounding"
    """`official`: a published text filled with str.format; `sounding`: our ${var} template."""
    description: str = ""

    @property
    def text(self) -> str:
        if self.style == "official":
            return official_text(self.template)
        return load_template("sounding.eval", self.template)

    @property
    def prompt_sha256(self) -> str:
        """SHA-256 of the template text: a resumed run must grade with the same words."""
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def render(self, question: str, gold: str, predicted: str) -> str:
        if self.style == "official":
            return self.text.format(question=question, correct_answer=gold, response=predicted)
        return render("sounding.eval", self.template, question=question, response=predicted,
                      correct_answer=gold)


class LLMJudge:
    """A judge backed by a chat model (separate from the agent's model)."""

    def __init__(self, spec: JudgeSpec, model: ChatModel, *,
                 sampling: Sampling = JUDGE_SAMPLING) -> None:
        self.spec = spec
        self._model = model
        self._sampling = sampling

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def model(self) -> str:
        return self._model.name

    @property
    def prompt_sha256(self) -> str:
        return self.spec.prompt_sha256

    def prompt(self, question: str, gold: str, predicted: str) -> str:
        return self.spec.render(question, gold, predicted)

    async def grade(self, question: str, gold: str, predicted: str) -> Verdict:
        schema = self.spec.schema
        request = ChatRequest(
            messages=[Message("user", self.prompt(question, gold, predicted))],
            sampling=self._sampling,
            purpose="judge",
            response_format=None if schema is None else {
                "type": "json_schema",
                "json_schema": {"name": f"{self.spec.name.replace('-', '_')}_verdict",
                                "strict": True, "schema": dict(schema)},
            },
        )
        completion = await self._model.complete(request)
        verdict = self.spec.parse(completion.text)
        return replace(verdict, raw=completion.text, usage=completion.usage)
