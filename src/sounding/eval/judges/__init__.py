"""Judges: the published LLM graders and deterministic exact match / token F1."""

from __future__ import annotations

from ...errors import ConfigError
from ...llm.base import ChatModel
from .base import Grade, Judge, Verdict
from .deterministic import ExactMatchJudge, TokenF1Judge, exact_match, normalize_answer, token_f1
from .llm import JUDGE_SAMPLING, JudgeSpec, LLMJudge
from .specs import SPECS

__all__ = [
    "DETERMINISTIC",
    "JUDGES",
    "JUDGE_SAMPLING",
    "ExactMatchJudge",
    "Grade",
    "Judge",
    "JudgeSpec",
    "LLMJudge",
    "TokenF1Judge",
    "Verdict",
    "build_judge",
    "exact_match",
    "grade_answer",
    "normalize_answer",
    "token_f1",
]

DETERMINISTIC = ("exact", "f1")
JUDGES = (*DETERMINISTIC, *SPECS)


def build_judge(name: str, model: ChatModel | None = None) -> Judge:
    """The judge called `name`; LLM graders need `model` (the judge's own endpoint)."""
    if name == "exact":
        return ExactMatchJudge()
    if name == "f1":
        return TokenF1Judge()
    if name not in SPECS:
        raise ConfigError(f"unknown judge {name!r}; choose one of: {', '.join(JUDGES)}")
    if model is None:
        raise ConfigError(f"judge {name!r} needs a judge model: set --judge-model and "
                          "--judge-base-url (or use --judge exact / f1)")
    return LLMJudge(SPECS[name], model)


async def grade_answer(judge: Judge, question: str, gold: str, predicted: str | None) -> Verdict:
    """Grade with `judge`; a missing answer is "not attempted" without asking anyone."""
    if predicted is None or not predicted.strip():
        return Verdict(False, "not_attempted", 0.0, extracted=None,
                       reasoning="no answer to grade")
    return await judge.grade(question, gold, predicted)
