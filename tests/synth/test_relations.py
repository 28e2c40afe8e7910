"""LLM-typed relations: accepted only when entailed, cached, and queryable afterwards."""

from __future__ import annotations

import json
from pathlib import Path

from sounding.corpus import Corpus
from sounding.llm.base import ChatRequest
from sounding.llm.testing import ScriptedModel
from sounding.synth.executor import Executor, KnowledgeBase
from sounding.synth.graph import build_graph, connect_graph
from sounding.synth.relations import type_relations
from sounding.synth.spec import Const, Spec, Triple, Var


def judge(request: ChatRequest) -> str:
    text = request.messages[0].content
    if request.purpose == "synth_relation":
        if "Entity A: Marie Curie" in text:
            return json.dumps({"relation": "lived_in"})
        return json.dumps({"relation": "capital_of"})
    # the entailment check accepts "lived in" and refuses everything else
    return json.dumps({"entailed": "lived in" in text})


async def test_typed_relations_are_checked_and_cached(tiny_corpus: Corpus,
                                                      tmp_path: Path) -> None:
    build_graph(tiny_corpus, tmp_path / "g", tables=False)
    model = ScriptedModel.cycle([judge])
    counts = await type_relations(tmp_path / "g", model, limit=50, min_words=3)
    assert counts["accepted"] == 1 and counts["not_entailed"] >= 1
    calls = len(model.requests)
    assert counts["llm_calls"] == calls
    again = await type_relations(tmp_path / "g", model, limit=50, min_words=3)
    assert len(model.requests) == calls and again.total() == 0  # all cached
    conn = connect_graph(tmp_path / "g")
    ids = dict(conn.execute("SELECT title, id FROM nodes"))
    kb = KnowledgeBase.load(conn)
    spec = Spec("T", (Triple(Var("T"), "lived_in", Const(ids["Paris"])),))
    assert Executor(kb).answers(spec) == {ids["Marie Curie"]}
    evidence = conn.execute("SELECT evidence FROM typed_relations WHERE accepted = 1"
                            ).fetchone()[0]
    assert "Paris" in evidence
