"""A synthesized question as one JSON row: answer, aliases, spec, wording and provenance.

Formal items and walk items share this shape, so verbalisation, the trajectory stage
and export read one format. `provenance` has the same keys on every item (a file of
them loads with `datasets` without schema surprises).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from ..types import JSON
from .executor import Check, KnowledgeBase
from .render import constraint_phrases, template_question
from .spec import Const, OneOf, Spec, Var

__all__ = ["aliases_of", "make_item", "provenance"]


def aliases_of(item: Mapping[str, JSON]) -> list[str]:
    """The item's aliases of its answer, as strings."""
    aliases = item.get("aliases")
    return [str(a) for a in aliases] if isinstance(aliases, list) else []


def _names(kb: KnowledgeBase, spec: Spec, grounding: Mapping[str, int]) -> list[str]:
    """Titles of every page the item rests on: grounded variables and entity constants."""
    nodes = list(grounding.values())
    for t in spec.triples:
        if kb.is_entity(t.relation) and isinstance(t.object, Const | OneOf):
            values = t.object.values if isinstance(t.object, OneOf) else (t.object.value,)
            nodes.extend(v for v in values if isinstance(v, int))
    return list(dict.fromkeys(kb.titles[n] for n in nodes if n in kb.titles))


def _subgraph(kb: KnowledgeBase, spec: Spec, grounding: Mapping[str, int]) -> list[list[str]]:
    out = []
    for t in spec.triples:
        s = kb.titles.get(grounding.get(t.subject.name, -1), t.subject.name)
        o = t.object
        if isinstance(o, Var):
            obj = kb.titles.get(grounding.get(o.name, -1), o.name)
        elif isinstance(o, Const) and kb.is_entity(t.relation) and isinstance(o.value, int):
            obj = kb.titles[o.value]
        else:
            obj = spec.webshaper(lambda n: kb.titles.get(n, str(n)), kb.is_entity)[
                spec.triples.index(t)][2]
        out.append([s, t.relation, obj])
    return out


def provenance(kb: KnowledgeBase, *, pipeline: str, spec: Spec, grounding: Mapping[str, int],
               ops: Sequence[str], result: Check, level: int) -> dict[str, JSON]:
    checks = ["unique"] if result.unique else []
    checks += ["no_shortcut"] if not result.shortcut else []
    checks += ["no_redundancy"] if not result.redundant else []
    checks += ["invariants"] if not result.invariant else []
    return {
        "pipeline": pipeline,
        "source_pages": _names(kb, spec, grounding),  # type: ignore[dict-item]
        "subgraph": _subgraph(kb, spec, grounding),  # type: ignore[dict-item]
        "formal": spec.webshaper(lambda n: kb.titles.get(n, str(n)), kb.is_entity),  # type: ignore[dict-item]
        "operators": list(ops),
        "checks": checks,  # type: ignore[dict-item]
        "level": level,
    }


def make_item(kb: KnowledgeBase, *, pipeline: str, answer: int, spec: Spec,
              fuzzed: Mapping[int, tuple[str, str]], ops: Sequence[str],
              grounding: Mapping[str, int], result: Check, level: int) -> dict[str, JSON]:
    """The row written to items.jsonl for a kept question."""
    en = constraint_phrases(kb, spec, "en", fuzzed)
    zh = constraint_phrases(kb, spec, "zh", fuzzed)
    aliases = list(dict.fromkeys([kb.titles[answer], *kb.aliases.get(answer, [])]))
    return {
        "answer": kb.titles[answer],
        "answer_id": answer,
        "aliases": aliases,  # type: ignore[dict-item]
        "spec": spec.to_json(),
        "fuzzed": {str(k): list(v) for k, v in fuzzed.items()},
        "constraints": {"en": en, "zh": zh},  # type: ignore[dict-item]
        "question": {"en": template_question(en, "en"), "zh": template_question(zh, "zh")},
        "grounding": dict(grounding),
        "provenance": provenance(kb, pipeline=pipeline, spec=spec, grounding=grounding,
                                 ops=ops, result=result, level=level),
    }
