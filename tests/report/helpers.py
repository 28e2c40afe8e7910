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
                                         "evidence": list(e)}]}
                for t, e in zip(titles, ids, strict=True)]
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


def extraction(prompt: str) -> str:
    """Echo the page's first two sentences as the evidence (verbatim page text)."""
    content = prompt.split("## **Webpage Content**\n", 1)[1].split("\n\n## **User", 1)[0]
    first = " ".join(re.split(r"(?<=[.!?])\s+", content.strip())[:2]) if not re.search(
        r"[\u4e00-\u9fff]", content) else "".join(re.split(r"(?<=。)", content.strip())[:2])
    return json.dumps({"rational": "the lead", "evidence": first, "summary": first[:80]},
                      ensure_ascii=False)


def section_writer(plant_in: int | None = None,
                   planted: str = f"The tower was {PLANTED} in 1999 [E1].") -> Callable[[str], str]:
    """Cite each evidence quote the prompt lists; plant an unsupported claim in one section."""

    def write(prompt: str) -> str:
        number = int(re.search(r"Now write section (\d+)", prompt).group(1))  # type: ignore[union-attr]
        chinese = "简体中文" in prompt
        lines = []
        for eid, quote in re.findall(r"^\[(E\d+)\] .*?: \"(.*)\"$", prompt, re.M):
            if chinese:
                lines.append(f"{quote.split('。')[0][:30]}[{eid}]。")
            else:
                words = quote.rstrip(".").split()[:14]
                lines.append(f"{' '.join(words)} [{eid}].")
        if plant_in == number:
            lines.append(planted)
        return ("" if chinese else " ").join(lines) or "Nothing is known."

    return write


def judge_reply(prompt: str) -> str:
    """Supported unless the claim carries the planted words; those get a rewrite."""
    verdicts = []
    for cid, text in re.findall(r"^Claim (c\d+): (.*)$", prompt, re.M):
        bad = PLANTED in text or "火星" in text
        verdicts.append({"claim": cid, "verdict": "unsupported" if bad else "supported",
                         "reason": "not in the quote" if bad else "stated in the quote",
                         "rewrite": (f"{REWRITE} [E1]." if "火星" not in text else
                                     "埃菲尔铁塔位于巴黎[E1]。") if bad else ""})
    return json.dumps({"verdicts": verdicts}, ensure_ascii=False)


class ReportScript:
    """Answers every stage: planner turns in order (an extra turn fails), the rest computed
    from the prompt. Counts calls by stage. Serves a ScriptedModel or a ScriptedServer."""

    def __init__(self, turns: Sequence[str] = (), *, plant_in: int | None = None,
                 planted: str | None = None,
                 judge: Callable[[str], str] = judge_reply,
                 hook: Callable[[str, str], None] | None = None) -> None:
        self.pending = list(turns)
        self.write = section_writer(plant_in, planted) if planted else section_writer(plant_in)
        self.judge = judge
        self.hook = hook
        self.calls: dict[str, int] = {}
        self.writer_prompts: list[str] = []

    def stage(self, prompt: str) -> str:
        if prompt.startswith("Please process the following webpage"):
            return "extract"
        if prompt.startswith("You are writing one section"):
            return "write"
        if prompt.startswith("You check citations"):
            return "judge"
        return "turn"

    def __call__(self, prompt: str) -> str:
        stage = self.stage(prompt)
        self.calls[stage] = self.calls.get(stage, 0) + 1
        if self.hook is not None:
            self.hook(stage, prompt)
        if stage == "extract":
            return extraction(prompt)
        if stage == "write":
            self.writer_prompts.append(prompt)
            return self.write(prompt)
        if stage == "judge":
            return self.judge(prompt)
        if not self.pending:
            raise AssertionError(f"unexpected planner call: {prompt[:200]}")
        return self.pending.pop(0)

    def model(self) -> ScriptedModel:
        return ScriptedModel.repeat(lambda request: self(_prompt(request)))

    def server_reply(self, body: dict[str, object]) -> str:
        messages = body["messages"]
        assert isinstance(messages, list)
        return self(str(messages[-1]["content"]))
