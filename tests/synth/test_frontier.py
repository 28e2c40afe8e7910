"""WebFrontier escalation: abstraction, expansion, computation by Python, cross-validation."""

from __future__ import annotations

import json
import random
from pathlib import Path

from sounding.llm.testing import ScriptedModel
from sounding.synth.executor import Executor, KnowledgeBase
from sounding.synth.frontier import (
    abstraction,
    computation,
    cross_validate,
    expansion,
    run_frontier,
)
from sounding.synth.spec import Const, OneOf, Range, Spec, Triple, Var

T, Y = Var("T"), Var("y")


def item_of(spec: Spec, grounding: dict[str, int], answer: int) -> dict[str, object]:
    return {"key": "k", "answer_id": answer, "answer": "Alan Turing", "aliases": [],
            "spec": spec.to_json(), "grounding": grounding, "fuzzed": {},
            "question": {"en": "Find X.", "zh": "请找出X。"},
            "provenance": {"pipeline": "formal", "operators": [], "checks": ["unique"]}}


def test_abstraction_expansion_computation(kb: KnowledgeBase) -> None:
    for node in (5, 6, 7, 8):  # enough cities for "a city" to count as fuzzy
        kb.titles[node] = f"Town {node}"
        kb.add(node, "class", "city", "string")
    kb.add(2, "death_year", 1954, "year")
    ex = Executor(kb)
    spec = Spec("T", (Triple(T, "birth_year", Range(1910, 1919), "year_decade"),
                      Triple(T, "mentions", Const(10))))
    item = item_of(spec, {"T": 2}, 2)
    up = abstraction(kb, ex, item, 2)
    assert up is not None and up.grounding["a1"] == 10
    assert up.spec.triples[1] == Triple(T, "mentions", Var("a1"))
    assert up.spec.triples[2] == Triple(Var("a1"), "class", Const("city"), "entity_class")
    assert ex.answers(up.spec) == {2}
    out = expansion(kb, ex, item, 2, random.Random(0))
    assert out is not None and out.spec.triples[-2] == Triple(T, "mentions", Var("e1"))
    calc = computation(kb, item, 2)
    assert calc is not None and calc.answer == "42"  # 1954 - 1912, by Python
    kb.add(20, "area_km2", 242_495, "number")
    country = computation(kb, item_of(spec, {"T": 20}, 20), 20)
    assert country is not None and country.answer == f"{67_000_000 / 242_495:.1f}"
    assert computation(kb, item_of(spec, {"T": 10}, 10), 10) is None


def test_cross_validation(kb: KnowledgeBase) -> None:
    spec = Spec("T", (Triple(T, "birth_year", OneOf((1912,))), Triple(T, "mentions", Y),
                      Triple(Y, "class", Const("city"))))
    texts = {2: "Alan Turing (23 June 1912 – 7 June 1954) was a mathematician."}
    assert cross_validate(kb, texts, spec, {"T": 2, "y": 10}) == ["birth_year"]
    assert cross_validate(kb, {2: "a mathematician"}, spec, {"T": 2, "y": 10}) == []


def reply(data: object) -> str:
    return json.dumps(data, ensure_ascii=False)


async def test_run_frontier(vital_graph: Path, tmp_path: Path) -> None:
    from sounding.synth.pipeline import load_kb, run_formal
    from sounding.synth.stage import read_jsonl

    kb = load_kb(vital_graph)
    run_formal(vital_graph, tmp_path / "f", n=60, kb=kb)
    ex = Executor(kb)
    rows = list(read_jsonl(tmp_path / "f" / "items.jsonl"))
    chosen = next(r for r in rows if abstraction(kb, ex, r, int(r["answer_id"])) is not None)
    items = tmp_path / "one.jsonl"
    items.write_text(json.dumps(chosen, ensure_ascii=False) + "\n")
    answer = int(chosen["answer_id"])  # type: ignore[arg-type]
    replies: list[str] = []
    for op in ("abstraction", "expansion"):
        esc = abstraction(kb, ex, chosen, answer) if op == "abstraction" else expansion(
            kb, ex, chosen, answer, random.Random(f"0:{chosen['key']}/{op}"))
        if esc is not None:
            replies += [reply({"question": f"A harder question ({op})?"}),
                        reply({"constraints": [
                            {"relation": t.relation, "value": row[2].removeprefix("C@")}
                            for t, row in zip(esc.spec.triples,
                                              esc.spec.webshaper(kb.titles.__getitem__,
                                                                 kb.is_entity),
                                              strict=True)]})]
    calc = computation(kb, chosen, answer)
    if calc is not None:
        replies.append(reply({"question": "How long did that person live?"}))
    model = ScriptedModel(replies)
    stage = await run_frontier(items, vital_graph, tmp_path / "fr", model, kb=kb)
    model.assert_all_used()
    out = {str(r["key"]).split("/")[1]: r for r in read_jsonl(tmp_path / "fr" / "items.jsonl")}
    assert "abstraction" in out
    abstracted = out["abstraction"]
    assert abstracted["text"] == {"en": "A harder question (abstraction)?"}
    assert "abstraction" in abstracted["provenance"]["operators"]  # type: ignore[index]
    spec = Spec.from_json(abstracted["spec"])  # type: ignore[arg-type]
    assert ex.answers(spec) == {answer}
    if calc is not None:
        assert out["computation"]["answer"] == calc.answer
    assert stage.llm_calls == len(replies)
