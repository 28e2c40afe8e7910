"""Which judge grades a run, and whether its number can stand beside the published one.

`--judge auto` takes the benchmark's official text with the published judge model;
any other text or model is allowed, with a warning that the number is not comparable.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import ConfigError
from ..types import JSONObject
from .datasets import official_judge, published_judge_model
from .judges import DETERMINISTIC, Judge, JudgeClient, JudgeParams, build_judge, check_judge_name

__all__ = ["CONFIDENCE_INSTRUCTION", "JudgeChoice", "JudgeEndpoint", "choose_judge"]


@dataclass
class JudgeChoice:
    judge: Judge
    client: JudgeClient | None
    warnings: list[str] = field(default_factory=list)
    facts: JSONObject = field(default_factory=dict)
    """For the manifest and the report: official judge, published model, comparable."""


@dataclass(frozen=True)
class JudgeEndpoint:
    """Where an LLM judge lives; `base_url` None means no endpoint was given."""

    model: str | None = None
    base_url: str | None = None
    api_key: str | None = None
    params: JudgeParams = field(default_factory=JudgeParams)


def choose_judge(name: str, fmt: str, endpoint: JudgeEndpoint) -> JudgeChoice:
    """Resolve `name` (or `auto`) for format `fmt` and build the judge and its client.

    `auto` with neither a judge model nor a judge endpoint falls back to normalised
    exact match (GAIA's scorer for GAIA), with a warning: there is no judge to ask.
    """
    check_judge_name(name)
    official, published = official_judge(fmt), published_judge_model(fmt)
    warnings: list[str] = []
    if name == "auto":
        if endpoint.model is None and endpoint.base_url is None:
            name = "gaia" if fmt == "gaia" else "exact"
            warnings.append(f"no judge endpoint (--judge-base-url / --judge-model): grading "
                            f"with `{name}`; the published numbers of {fmt} were graded by "
                            f"`{official}` with {published}, so this number is not "
                            "comparable")
        else:
            name = official
    facts: JSONObject = {"official_judge": official, "published_judge_model": published}
    if name in DETERMINISTIC:
        facts["comparable"] = False
        return JudgeChoice(build_judge(name), None, warnings, facts)
    model = endpoint.model or (published if name == official else None)
    if model is None:
        raise ConfigError(f"judge {name!r} needs --judge-model (and --judge-base-url)")
    if not endpoint.base_url:
        raise ConfigError(f"judge {name!r} needs an endpoint: set --judge-base-url (an "
                          f"OpenAI-compatible URL serving {model})")
    client = JudgeClient(endpoint.base_url, model, endpoint.api_key, endpoint.params)
    comparable = name == official and model == published
    if name != official:
        warnings.append(f"judge `{name}` is not the grader of the published {fmt} numbers "
                        f"(`{official}`): this number is not comparable with them")
    elif model != published:
        warnings.append(f"the published {fmt} numbers were graded by {published}; grading "
                        f"with {model} makes this number not comparable with them")
    facts["comparable"] = comparable
    return JudgeChoice(build_judge(name, client), client, warnings, facts)


CONFIDENCE_INSTRUCTION = (
    "End your final answer with a line giving your confidence in it, in this format:\n"
    "Confidence: {your confidence score between 0% and 100% for your answer}"
)
"""HLE's request for a confidence (its system prompt's last line), for calibration error."""
