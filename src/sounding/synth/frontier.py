"""WebFrontier-style escalation: abstraction, expansion, cross-validation and computation.

Each step is a code transform of a kept item's spec (so the executor still decides
uniqueness), worded by the LLM with the verbaliser's checks:
- abstraction: an exact entity constant becomes "a <class>" variable;
- expansion: a variable gains one more hop (a linked entity, described by its class);
- computation: the question asks for a number Python computes from the facts
  (lifespan, population density, years between two events), never the LLM;
- cross-validation: literal facts used by the spec are looked up in the page text.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from .._templates import render
from ..llm.base import ChatModel
from ..types import JSON
from .executor import Check, Executor, KnowledgeBase, check
from .items import aliases_of, make_item
from .obfuscate import entity_to_class
from .spec import Const, Spec, Triple, Var
from .stage import Progress, Stage, read_jsonl
from .trajectories import question_of
from .verbalize import LANGUAGES, ask_json, leaks, verbalize

__all__ = ["Escalation", "abstraction", "computation", "cross_validate", "expansion",
           "run_frontier"]

OPS = ("abstraction", "expansion", "computation")


@dataclass
class Escalation:
    """A transformed spec (or a computed question) ready to be worded."""

    op: str
    spec: Spec
    grounding: dict[str, int]
    fuzzed: dict[int, tuple[str, str]] = field(default_factory=dict)
    answer: str = ""
    ask: tuple[str, str] = ("", "")
    """For computation: what to ask for (en, zh)."""


def _load(item: Mapping[str, JSON]) -> tuple[Spec, dict[str, int], dict[int, tuple[str, str]]]:
    spec = Spec.from_json(item["spec"])  # type: ignore[arg-type]
    grounding = {str(k): int(v) for k, v in (item.get("grounding") or {}).items()}  # type: ignore[union-attr,arg-type]
    fuzzed = {int(k): (str(v[0]), str(v[1])) for k, v in (item.get("fuzzed") or {}).items()}  # type: ignore[union-attr,index]
    return spec, grounding, fuzzed


def abstraction(kb: KnowledgeBase, executor: Executor, item: Mapping[str, JSON],
                answer: int) -> Escalation | None:
    """Replace the first exact entity constant by a variable known only by its class."""
    spec, grounding, fuzzed = _load(item)
    for i, t in enumerate(spec.triples):
        if kb.is_entity(t.relation) and isinstance(t.object, Const) and not t.op:
            node = int(t.object.value)
            cls = entity_to_class(kb, node)
            if cls is None:
                continue
            new = f"a{len(grounding)}"
            triples = list(spec.triples)
            triples[i] = Triple(t.subject, t.relation, Var(new))
            fz = dict(fuzzed)
            fz[len(triples)] = (cls.en, cls.zh)
            triples.append(Triple(Var(new), "class", cls.term, cls.op))
            out = Spec(spec.target, tuple(triples))
            if executor.answers(out) == {answer}:
                return Escalation("abstraction", out, {**grounding, new: node}, fz)
    return None


def expansion(kb: KnowledgeBase, executor: Executor, item: Mapping[str, JSON], answer: int,
              rng: random.Random) -> Escalation | None:
    """One more hop from a grounded variable: a linked entity, described by its class."""
    spec, grounding, fuzzed = _load(item)
    used = set(grounding.values())
    for var, node in sorted(grounding.items(), key=lambda kv: (kv[0] == "T", kv[0])):
        links = sorted(o for o in kb.objects(node, "mentions") if isinstance(o, int)
                       and o not in used and entity_to_class(kb, o) is not None)
        if not links:
            continue
        other = rng.choice(links)
        cls = entity_to_class(kb, other)
        assert cls is not None
        new = f"e{len(grounding)}"
        fz = dict(fuzzed)
        fz[len(spec.triples) + 1] = (cls.en, cls.zh)
        out = Spec(spec.target, (*spec.triples, Triple(Var(var), "mentions", Var(new)),
                                 Triple(Var(new), "class", cls.term, cls.op)))
        if executor.answers(out) == {answer}:
            return Escalation("expansion", out, {**grounding, new: other}, fz)
    return None


def computation(kb: KnowledgeBase, item: Mapping[str, JSON], answer: int) -> Escalation | None:
    """A numeric question about the answer entity, computed here from its facts."""
    spec, grounding, fuzzed = _load(item)

    def one(rel: str) -> float | None:
        values = [v for v in kb.objects(answer, rel) if isinstance(v, int | float)]
        return float(values[0]) if len(values) == 1 else None

    born, died = one("birth_year"), one("death_year")
    if born is not None and died is not None:
        return Escalation("computation", spec, grounding, fuzzed, str(int(died - born)),
                          ("how many years X lived (death year minus birth year)",
                           "X活了多少年（逝世年份减去出生年份）"))
    people, area = one("population"), one("area_km2")
    if people is not None and area:
        return Escalation("computation", spec, grounding, fuzzed,
                          f"{people / area:.1f}",
                          ("X's population density in people per square kilometre, "
                           "to one decimal", "X的人口密度（每平方公里人数，保留一位小数）"))
    start, end = one("start_year"), one("end_year")
    if start is not None and end is not None:
        return Escalation("computation", spec, grounding, fuzzed, str(int(end - start)),
                          ("how many years X lasted (end year minus start year)",
                           "X持续了多少年（结束年份减去开始年份）"))
    return None


def cross_validate(kb: KnowledgeBase, texts: Mapping[int, str], spec: Spec,
                   grounding: Mapping[str, int]) -> list[str]:
    """The year facts of the spec whose value the page text of their node states too."""
    agreed = []
    for t in spec.triples:
        node = grounding.get(t.subject.name)
        if node is None or kb.kind.get(t.relation) != "year":
            continue
        values = kb.objects(node, t.relation)
        if values and all(str(int(v)) in texts.get(node, "") for v in values
                          if isinstance(v, int | float)):
            agreed.append(t.relation)
    return agreed


async def _word(model: ChatModel, kb: KnowledgeBase, item: Mapping[str, JSON],
                esc: Escalation, lang: str, answer: int) -> tuple[str | None, str, int]:
    """The question for an escalation in `lang`: (question, reason, LLM calls)."""
    if esc.op != "computation":
        draft = make_item(kb, pipeline="frontier", answer=answer, spec=esc.spec,
                          fuzzed=esc.fuzzed, ops=[], grounding=esc.grounding,
                          result=Check(frozenset({answer})), level=3)
        result = await verbalize(model, draft, lang)
        return result.question, result.reason, result.calls
    reply = await ask_json(model, render(
        "sounding.synth", "rewrite.txt", language=LANGUAGES[lang],
        question=question_of(dict(item), lang),
        constraint="ask instead for " + esc.ask[0 if lang == "en" else 1]), "synth_rewrite")
    question = reply.get("question") if reply else None
    if not isinstance(question, str) or not question.strip():
        return None, "bad_reply", 1
    names = [str(item["answer"]), *aliases_of(item)]
    if leaks(question, [*names, esc.answer]):
        return question, "leak", 1
    return question.strip(), "ok", 1


async def run_frontier(items_path: Path, graph_dir: Path, out_dir: Path, model: ChatModel, *,
                       kb: KnowledgeBase, lang: str = "en", seed: int = 0,
                       limit: int | None = None, progress: Progress | None = None) -> Stage:
    """Escalate each item by every step that applies; one output item per step."""
    from .graph import connect_graph

    conn = connect_graph(graph_dir)
    texts = {int(i): str(lead) for i, lead in conn.execute("SELECT id, lead FROM nodes")}
    conn.close()
    executor = Executor(kb)
    with Stage(out_dir, "frontier", {"items": str(items_path), "lang": lang,
                                     "seed": seed}, progress) as stage:
        for n, item in enumerate(read_jsonl(items_path)):
            if limit is not None and n >= limit:
                break
            await _escalate_item(stage, item, kb, executor, texts, model, lang, seed)
    return stage


async def _escalate_item(stage: Stage, item: dict[str, JSON], kb: KnowledgeBase,
                         executor: Executor, texts: Mapping[int, str], model: ChatModel,
                         lang: str, seed: int) -> None:
    answer = int(item["answer_id"])  # type: ignore[arg-type]
    for op in OPS:
        key = f"{item['key']}/{op}"
        if key in stage.done:
            continue
        rng = random.Random(f"{seed}:{key}")
        esc = (abstraction(kb, executor, item, answer) if op == "abstraction" else
               expansion(kb, executor, item, answer, rng) if op == "expansion" else
               computation(kb, item, answer))
        if esc is None:
            stage.reject(key, f"{op}_not_applicable")
            continue
        question, reason, calls = await _word(model, kb, item, esc, lang, answer)
        stage.llm_calls += calls
        if question is None or reason != "ok":
            stage.reject(key, f"{op}_{reason}")
            continue
        stage.keep(key, _escalated(kb, executor, texts, item, esc, answer, lang, question))


def _escalated(kb: KnowledgeBase, executor: Executor, texts: Mapping[int, str],
               item: Mapping[str, JSON], esc: Escalation, answer: int, lang: str,
               question: str) -> dict[str, JSON]:
    base = item.get("provenance")
    ops = [*(base.get("operators") or [] if isinstance(base, dict) else []), esc.op]  # type: ignore[misc]
    if esc.op == "computation":
        prov = dict(base) if isinstance(base, dict) else {}
        prov["operators"] = ops
        prov["checks"] = [*prov.get("checks", []), "computed_by_python", "no_leak"]  # type: ignore[misc]
        row = {k: v for k, v in item.items() if k not in ("key", "text")}
        return {**row, "answer": esc.answer, "aliases": [esc.answer], "text": {lang: question},
                "compute": {"ask": esc.ask[0], "answer": esc.answer}, "provenance": prov}
    out = make_item(kb, pipeline=f"frontier:{esc.op}", answer=answer, spec=esc.spec,
                    fuzzed=esc.fuzzed, ops=[str(o) for o in ops], grounding=esc.grounding,
                    result=check(executor, esc.spec), level=3)
    made = out["provenance"]
    assert isinstance(made, dict)
    agreed = cross_validate(kb, texts, esc.spec, esc.grounding)
    made["checks"] = [*made["checks"], "no_leak", "readback_match",  # type: ignore[misc]
                      *(f"cross_validated:{r}" for r in agreed)]
    return {**out, "text": {lang: question}}
