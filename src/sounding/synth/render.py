"""Wording of a spec's constraints (English and Chinese) and the template question.

The LLM verbaliser starts from these phrases; without a model the template question
is used as is. Each phrase names variables X (the target), Y1, Y2, ...
"""

from __future__ import annotations

from collections.abc import Mapping

from .executor import KnowledgeBase
from .spec import Const, OneOf, Range, Spec, Triple, Var

__all__ = ["Lang", "constraint_phrases", "template_question", "var_labels"]

Lang = str  # "en" | "zh"

REL: dict[str, tuple[str, str]] = {
    "mentions": ("{s}'s article mentions {o}", "{s}的条目提到了{o}"),
    "capital": ("the capital of {s} is {o}", "{s}的首都是{o}"),
    "borders": ("{s} borders {o}", "{s}与{o}接壤"),
    "continent": ("{s} lies in {o}", "{s}位于{o}"),
    "country": ("{s} is in {o}", "{s}位于{o}"),
    "birth_year": ("{s} was born {o}", "{s}出生于{o}"),
    "death_year": ("{s} died {o}", "{s}逝世于{o}"),
    "year": ("{s} appeared {o}", "{s}问世于{o}"),
    "start_year": ("{s} began {o}", "{s}始于{o}"),
    "end_year": ("{s} ended {o}", "{s}终于{o}"),
    "founded_year": ("{s} was founded {o}", "{s}成立于{o}"),
    "population": ("{s} has a population {o}", "{s}的人口{o}"),
    "area_km2": ("{s} has an area in square kilometres {o}", "{s}的面积（平方公里）{o}"),
    "atomic_number": ("{s} has an atomic number {o}", "{s}的原子序数{o}"),
    "class": ("{s} is {o}", "{s}是{o}"),
    "initial": ("{s} is an entity {o}", "{s}的{o}"),
    "word_count": ("{s} is an entity {o}", "{s}的{o}"),
    "currency": ("{s} uses the currency {o}", "{s}使用的货币是{o}"),
    "subregion": ("{s} lies in the region {o}", "{s}位于{o}地区"),
    "demonym": ("people of {s} are called {o}", "{s}的居民称为{o}"),
}


def var_labels(spec: Spec) -> dict[str, str]:
    """X for the target, Y1, Y2, ... for the other variables in depth order."""
    depth = spec.depth()
    others = sorted((d, v) for v, d in depth.items() if v != spec.target)
    labels = {spec.target: "X"}
    labels.update({v: f"Y{i + 1}" for i, (_, v) in enumerate(others)})
    return labels


def _object(kb: KnowledgeBase, t: Triple, labels: Mapping[str, str], lang: Lang) -> str:
    o = t.object
    if isinstance(o, Var):
        return labels[o.name]
    if isinstance(o, Range):
        lo, hi = (f"{x:g}" for x in (o.lo, o.hi))
        return f"between {lo} and {hi}" if lang == "en" else f"介于{lo}和{hi}之间"
    values = o.values if isinstance(o, OneOf) else (o.value,)
    names = [kb.titles[v] if kb.is_entity(t.relation) and isinstance(v, int) else str(v)
             for v in values]
    if isinstance(o, Const):
        if kb.kind.get(t.relation) == "year":
            return f"in {names[0]}" if lang == "en" else f"{names[0]}年"
        return names[0]
    return ("one of " + ", ".join(names)) if lang == "en" else "以下之一：" + "、".join(names)


def constraint_phrases(kb: KnowledgeBase, spec: Spec, lang: Lang,
                       fuzzed: Mapping[int, tuple[str, str]] | None = None) -> list[str]:
    """One phrase per triple; `fuzzed` holds an operator's own wording of an object."""
    labels = var_labels(spec)
    out = []
    for i, t in enumerate(spec.triples):
        en, zh = REL.get(t.relation, ("{s}'s " + t.relation + " is {o}",
                                      "{s}的" + t.relation + "是{o}"))
        if fuzzed and i in fuzzed:
            obj = fuzzed[i][0 if lang == "en" else 1]
        else:
            obj = _object(kb, t, labels, lang)
        out.append((en if lang == "en" else zh).format(s=labels[t.subject.name], o=obj))
    return out


def template_question(phrases: list[str], lang: Lang) -> str:
    """A plain question from the phrases (what the verbaliser rewrites)."""
    if lang == "zh":
        return "请找出X：" + "；".join(phrases) + "。X是什么？"
    return "Find X, given that " + "; ".join(phrases) + ". What is X?"

