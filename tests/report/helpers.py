"""Scripted models for report tests: the planner's turns in order, and writer, extraction
and judge replies computed from each request (so one script serves any outline)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Sequence

from sounding.llm.base import ChatRequest
from sounding.llm.testing import ScriptedModel

EIFFEL = "https://en.wikipedia.org/wiki/Eiffel_Tower"
PLANTED = "painted gold by visitors from Mars"
REWRITE = "The Eiffel Tower is a lattice tower in Paris"


def tags_call(name: str, **arguments: object) -> str:
    return (f"<think>next step</think>\n<tool_call>\n"
            f"{json.dumps({'name': name, 'arguments': arguments}, ensure_ascii=False)}"
            "\n</tool_call>")


def outline_call(titles: Sequence[str], ids: Sequence[Sequence[str]]) -> str:
    sections = [{"title": t, "points": [{"text": f"What the sources say about {t}",
                                         "evidence": list(e)}]} for t, e in zip(titles, ids)]
    return tags_call("write_outline", sections=sections)


def planner_turns(n_sections: int = 6, query: str = "Eiffel Tower") -> list[str]:
    titles = [f"Aspect {i}" for i in range(1, n_sections + 1)]
    ids = [[f"E{i}", f"E{i + 1}"] for i in range(1, n_sections + 1)]
    return [tags_call("search", query=[query]),
            tags_call("visit", url=[EIFFEL], goal="history of the tower"),
            outline_call(titles, ids),
            "<answer>done</answer>"]


def _prompt(request: ChatRequest) -> str:
    return request.messages[-1].content


def extraction(request: ChatRequest) -> str:
    """Echo the page's first two sentences as the evidence (verbatim page text)."""
    content = _prompt(request).split("## **Webpage Content**\n", 1)[1].split("\n\n## **User", 1)[0]
    first = " ".join(re.split(r"(?<=[.!?。])\s*", content.strip())[:2])
    return json.dumps({"rational": "the lead", "evidence": first, "summary": first[:80]})


def section_writer(plant_in: int | None = None) -> Callable[[ChatRequest], str]:
    """Cite each evidence quote the prompt lists; plant an unsupported claim in one section."""

    def write(request: ChatRequest) -> str:
        prompt = _prompt(request)
        number = int(re.search(r"Now write section (\d+)", prompt).group(1))  # type: ignore[union-attr]
        lines = []
        for eid, quote in re.findall(r"^\[(E\d+)\] .*?: \"(.*)\"$", prompt, re.M):
            words = quote.rstrip(".").split()[:14]
            lines.append(f"{' '.join(words)} [{eid}].")
        if plant_in == number:
            lines.append(f"The tower was {PLANTED} in 1999 [E1].")
        return " ".join(lines) or "Nothing is known."

    return write


def judge_reply(request: ChatRequest) -> str:
    """Supported unless the claim carries the planted words; those get a rewrite."""
    verdicts = []
    for cid, text in re.findall(r"^Claim (c\d+): (.*)$", _prompt(request), re.M):
        bad = PLANTED in text or "火星" in text
        verdicts.append({"claim": cid, "verdict": "unsupported" if bad else "supported",
                         "reason": "not in the quote" if bad else "stated in the quote",
                         "rewrite": f"{REWRITE} [E1]." if bad else ""})
    return json.dumps({"verdicts": verdicts})


def report_model(turns: Sequence[str], *, plant_in: int | None = None,
                 judge: Callable[[ChatRequest], str] = judge_reply) -> ScriptedModel:
    """One model for every stage: turns in order (strict), the rest computed."""
    pending = list(turns)
    write = section_writer(plant_in)

    def reply(request: ChatRequest) -> str:
        if request.purpose == "extract":
            return extraction(request)
        if request.purpose == "write_section":
            return write(request)
        if request.purpose == "claim_check":
            return judge(request)
        if not pending:
            raise AssertionError(f"unexpected planner call: {_prompt(request)[:200]}")
        return pending.pop(0)

    model = ScriptedModel.repeat(reply)
    model.pending = pending  # type: ignore[attr-defined]
    return model
