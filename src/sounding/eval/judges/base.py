"""What a judge returns (`Verdict`) and the interface every judge implements."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal, Protocol, runtime_checkable

from ...types import JSONObject, Usage

__all__ = ["Grade", "Judge", "Verdict"]

Grade = Literal["correct", "incorrect", "not_attempted"]


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judge's decision on one predicted answer.

    `correct` is what accuracy counts. `score` is 1.0/0.0 for graders and the
    F1 value for the token-F1 judge. `raw` keeps the judge model's reply.
    """

    correct: bool
    grade: Grade
    score: float
    extracted: str | None = None
    reasoning: str = ""
    confidence: float | None = None
    raw: str = ""
    usage: Usage = field(default_factory=Usage)

    def to_dict(self) -> JSONObject:
        return {
            "correct": self.correct,
            "grade": self.grade,
            "score": round(self.score, 6),
            "extracted": self.extracted,
            "reasoning": self.reasoning,
            "confidence": self.confidence,
            "raw": self.raw,
            "usage": self.usage.to_dict(),
        }


@runtime_checkable
class Judge(Protocol):
    """Grades a predicted answer against the gold answer.

    Raises `SoundingError` (typically `LLMError`) when no verdict can be had; the
    runner records that as a judge failure, which a resumed run retries.
    """

    @property
    def name(self) -> str: ...

    @property
    def model(self) -> str:
        """The judging model's name; empty for deterministic judges."""
        ...

    @property
    def prompt_sha256(self) -> str | None:
        """SHA-256 of the judge prompt's template; None for judges without a prompt."""
        ...

    async def grade(self, question: str, gold: str, predicted: str) -> Verdict: ...
