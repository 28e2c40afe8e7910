"""Judges: the published LLM graders (official texts), Sounding's wordings, and
deterministic scorers (GAIA's own, normalised exact match, token F1)."""

from __future__ import annotations

from ...errors import ConfigError
from ...llm.base import ChatModel
from .base import Grade, Judge, Verdict
from .client import JudgeClient, JudgeParams
from .deterministic import (
    ExactMatchJudge,
    GaiaScorerJudge,
    TokenF1Judge,
    exact_match,
    normalize_answer,
    token_f1,
)
from .gaia_scorer import gaia_score
from .llm import JUDGE_SAMPLING, JudgeSpec, LLMJudge
from .specs import SPECS

__all__ = [
    "DETERMINISTIC",
    "JUDGES",
    "JUDGE_SAMPLING",
    "ExactMatchJudge",
    "GaiaScorerJudge",
    "Grade",
    "Judge",
    "JudgeClient",
    "JudgeParams",
    "JudgeSpec",
    "LLMJudge",
    "TokenF1Judge",
    "Verdict",
    "build_judge",
    "check_judge_name",
    "exact_match",
    "gaia_score",
    "grade_answer",
    "normalize_answer",
    "token_f1",
]

DETERMINISTIC = ("exact", "gaia", "f1")
JUDGES = (*DETERMINISTIC, *SPECS)


def check_judge_name(name: str) -> None:
    """Refuse an unknown judge name before any work starts."""
    if name != "auto" and name not in JUDGES:
        raise ConfigError(f"unknown judge {name!r}; choose auto or one of: {', '.join(JUDGES)}")


def build_judge(name: str, model: ChatModel | None = None) -> Judge:
    """The judge called `name`; LLM graders need `model` (the judge's own endpoint)."""
    check_judge_name(name)
    if name == "exact":
        return ExactMatchJudge()
    if name == "gaia":
        return GaiaScorerJudge()
    if name == "f1":
        return TokenF1Judge()
    if model is None:
        raise ConfigError(f"judge {name!r} needs a judge model: set --judge-model and "
                          "--judge-base-url (or use --judge exact / gaia / f1)")
    return LLMJudge(SPECS[name], model)


async def grade_answer(judge: Judge, question: str, gold: str, predicted: str | None) -> Verdict:
    """Grade with `judge`; a missing answer is "not attempted" without asking anyone."""
    if predicted is None or not predicted.strip():
        return Verdict(False, "not_attempted", 0.0, extracted=None,
                       reasoning="no answer to grade")
    return await judge.grade(question, gold, predicted)
