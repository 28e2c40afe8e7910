"""`sounding report`: writer context per section, claim-check throughput, and the model
calls of a 6-section report on the embedded offline corpus with a scripted model.

    .venv/bin/python benchmarks/report.py [--sections 12] [--claims 1000] [--latency 0.2]

Prints:
1. writer prompt tokens for each section of a 12-section report with 4 quotes per
   section (a digest of earlier sections, not their text): section 12 / section 3
   (target <= 1.3: the writer's context stays flat however long the report);
2. claims checked per second by the LLM claim judge (8 claims a call, 8 calls in flight)
   against a scripted OpenAI-compatible server on loopback with a fixed latency per call
   (target >= 50 claims/s);
3. model calls of a 6-section report (planner turns, visit extraction, sections, judge
   batches) on the embedded corpus with a scripted model; the CLI's closing note reports
   the same count.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import tempfile
import time
from pathlib import Path

from sounding.config import LLMSettings, load_settings
from sounding.llm.base import ChatRequest
from sounding.llm.openai_client import OpenAIChatModel
from sounding.llm.testing import ScriptedModel, ScriptedServer
from sounding.report import EvidenceBank, LLMClaimJudge, ReportOptions, generate_report
from sounding.report.check import Claim
from sounding.report.outline import Outline, Point, Section
from sounding.report.writer import WrittenSection, section_prompt
from sounding.types import estimate_tokens

WORDS = ["tower", "lattice", "iron", "engineer", "exposition", "structure", "visitors",
         "height", "paris", "century", "design", "wind", "load", "rivet", "girder",
         "foundation", "paint", "elevator", "antenna", "broadcast"]


def _text(seed: int, words: int) -> str:
    return " ".join(WORDS[(seed * 7 + i * 3) % len(WORDS)] for i in range(words)).capitalize()


def writer_context(n_sections: int) -> list[int]:
    bank = EvidenceBank()
    sections = []
    for s in range(n_sections):
        ids = [bank.add(f"https://example.org/{s}/{q}", f"Page {s}.{q}",
                        _text(s * 4 + q, 55) + ".").id for q in range(4)]
        sections.append(Section(f"Section {s + 1}: {_text(s, 5)}",
                                (Point(_text(s + 1, 12), tuple(ids[:2])),
                                 Point(_text(s + 2, 12), tuple(ids[2:])))))
    outline = Outline("The engineering history of lattice towers", tuple(sections))
    done: list[WrittenSection] = []
    tokens = []
    for n in range(1, n_sections + 1):
        prompt = section_prompt(outline, n, bank, done)
        tokens.append(estimate_tokens(prompt))
        body = " ".join(f"{_text(n + k, 20)} [E{(n - 1) * 4 + 1}]." for k in range(20))
        done.append(WrittenSection(sections[n - 1].key(), sections[n - 1].title, body))
    return tokens


def _judge_reply(body: dict[str, object]) -> str:
    messages = body["messages"]
    assert isinstance(messages, list)
    ids = re.findall(r"^Claim (c\d+):", str(messages[-1]["content"]), re.M)
    return json.dumps({"verdicts": [{"claim": c, "verdict": "supported", "reason": "",
                                     "rewrite": ""} for c in ids]})


async def judge_throughput(n_claims: int, latency: float) -> tuple[float, int]:
    bank = EvidenceBank()
    ev = bank.add("https://example.org/a", "A", "The tower is 330 metres tall.")
    claims = [Claim(f"c{i}", 0, 0, i, f"The tower is {i} metres tall [{ev.id}].", (ev.id,))
              for i in range(1, n_claims + 1)]
    with ScriptedServer.repeat(_judge_reply, latency=latency) as server:
        model = OpenAIChatModel(LLMSettings(base_url=server.base_url, model="judge"))
        try:
            judge = LLMClaimJudge(model, batch=8, concurrency=8)
            started = time.perf_counter()
            verdicts = await judge.judge(claims, bank)
            seconds = time.perf_counter() - started
        finally:
            await model.aclose()
    assert all(v.label == "supported" for v in verdicts)
    return n_claims / seconds, server.max_in_flight


def _tool(name: str, **arguments: object) -> str:
    return f"<tool_call>\n{json.dumps({'name': name, 'arguments': arguments})}\n</tool_call>"


def _report_model() -> ScriptedModel:
    sections = [{"title": f"Aspect {i}", "points": [{"text": "what the sources say",
                                                     "evidence": [f"E{i}", f"E{i + 1}"]}]}
                for i in range(1, 7)]
    turns = [_tool("search", query=["Eiffel Tower"]),
             _tool("visit", url=["https://en.wikipedia.org/wiki/Eiffel_Tower"], goal="history"),
             _tool("write_outline", sections=sections), "<answer>done</answer>"]

    def reply(request: ChatRequest) -> str:
        prompt = request.messages[-1].content
        if request.purpose == "extract":
            page = prompt.split("## **Webpage Content**\n", 1)[1].split("\n\n## **User", 1)[0]
            return json.dumps({"rational": "", "evidence": page.split(". ")[0] + ".",
                               "summary": ""})
        if request.purpose == "write_section":
            found = re.findall(r"^\[(E\d+)\] .*?: \"(.*)\"$", prompt, re.M)
            return " ".join(f"{' '.join(q.split()[:12])} [{e}]." for e, q in found)
        if request.purpose == "claim_check":
            return _judge_reply({"messages": [{"content": prompt}]})
        return turns.pop(0)

    return ScriptedModel.repeat(reply)


async def six_sections() -> dict[str, int]:
    settings = load_settings({"llm.base_url": "http://127.0.0.1:9/v1", "llm.model": "m"},
                             environ={}, config_file=None)
    with tempfile.TemporaryDirectory() as tmp:
        result = await generate_report("History of the Eiffel Tower", settings, Path(tmp),
                                       ReportOptions(max_sections=6), model=_report_model())
    return result.calls


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sections", type=int, default=12)
    parser.add_argument("--claims", type=int, default=1000)
    parser.add_argument("--latency", type=float, default=0.2)
    args = parser.parse_args()
    tokens = writer_context(args.sections)
    print("1. writer prompt tokens by section: " + ", ".join(map(str, tokens)))
    ratio = tokens[-1] / tokens[2]
    print(f"   section {args.sections} / section 3 = {ratio:.2f} (target <= 1.3)"
          f" {'OK' if ratio <= 1.3 else 'MISSED'}")
    rate, in_flight = asyncio.run(judge_throughput(args.claims, args.latency))
    print(f"2. claim check: {rate:.0f} claims/s with a {args.latency:g} s scripted judge "
          f"({in_flight} calls in flight at most; target >= 50) "
          f"{'OK' if rate >= 50 else 'MISSED'}")
    calls = asyncio.run(six_sections())
    print(f"3. 6-section report on the offline corpus: {sum(calls.values())} model calls "
          f"({', '.join(f'{k} {v}' for k, v in sorted(calls.items()))})")


if __name__ == "__main__":
    main()
