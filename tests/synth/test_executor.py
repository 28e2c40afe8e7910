"""The executor: knowledge projections, R-union, intersection and the checks by code."""

from __future__ import annotations

import sqlite3

from sounding.synth.executor import Executor, KnowledgeBase, check, invariants
from sounding.synth.spec import Const, OneOf, Range, Spec, Triple, Var
from sounding.synth.verify import sql_answers

T, Y = Var("T"), Var("y")


def spec(*triples: Triple) -> Spec:
    return Spec("T", triples)


def test_projection_union_and_intersection(kb: KnowledgeBase) -> None:
    ex = Executor(kb)
    # one projection: everyone whose article mentions London
    assert ex.answers(spec(Triple(T, "mentions", Const(10)))) == {1, 2, 3}
    # R-union over a constant set and over a range
    assert ex.answers(spec(Triple(T, "birth_year", OneOf((1815, 1882))))) == {1, 4}
    assert ex.answers(spec(Triple(T, "birth_year", Range(1900, 1919)))) == {2, 3}
    # intersection: several triples on one variable
    both = spec(Triple(T, "birth_year", Range(1900, 1919)), Triple(T, "initial", Const("A")))
    assert ex.answers(both) == {2}
    # a nested projection: mentions a city in a country of 80-90 million people
    nested = spec(Triple(T, "mentions", Var("c")), Triple(Var("c"), "country", Var("k")),
                  Triple(Var("k"), "population", Range(8e7, 9e7)))
    assert ex.answers(nested) == {4}
    # the object side: the city that some person born in the 1810s mentions
    inverse = Spec("T", (Triple(Var("p"), "mentions", T), Triple(Var("p"), "birth_year",
                                                                  Range(1810, 1819))))
    assert ex.answers(inverse) == {10}


def test_uniqueness_redundancy_and_shortcut(kb: KnowledgeBase) -> None:
    ex = Executor(kb)
    good = spec(Triple(T, "birth_year", Range(1900, 1919), "year_decade"),
                Triple(T, "initial", Const("A"), "name_initial"))
    verdict = check(ex, good, near=0)
    assert verdict.unique and verdict.ok and verdict.reason == "ok"
    loose = spec(Triple(T, "birth_year", Range(1900, 1919), "year_decade"))
    assert check(ex, loose, near=0).reason == "not_unique"
    # the class triple adds nothing: dropping it still leaves one answer
    padded = spec(*good.triples, Triple(T, "class", Const("mathematician"), "entity_class"))
    assert check(ex, padded, near=0).redundant == [2]
    # one branch alone (born 1815) pins the answer: a shortcut
    short = spec(Triple(T, "birth_year", Const(1815), "x"),
                 Triple(T, "mentions", Const(10), "y"))
    result = check(ex, short, near=0)
    assert result.shortcut == [0] and result.reason == "shortcut"


def test_invariants() -> None:
    exact_on_target = spec(Triple(T, "mentions", Const(10)))
    assert invariants(exact_on_target, near=1)
    deep = spec(Triple(T, "mentions", Y), Triple(Y, "country", Const(20)))
    assert invariants(deep, near=1) == []
    dangling = spec(Triple(T, "mentions", Y), Triple(T, "birth_year", Range(1, 2), "op"))
    assert any("no constraint of its own" in p for p in invariants(dangling))


def test_sql_executor_agrees(kb: KnowledgeBase, tmp_path: object) -> None:
    conn = sqlite3.connect(":memory:")
    from sounding.synth.graph import SCHEMA

    conn.executescript(SCHEMA)
    for node, title in kb.titles.items():
        conn.execute("INSERT INTO nodes VALUES (?, ?, ?, '', '', '', '')", (node, title, title))
    for rel, table in kb.fwd.items():
        if rel in ("initial", "word_count"):
            continue
        for s, values in table.items():
            for v in values:
                if kb.is_entity(rel):
                    conn.execute("INSERT INTO edges VALUES (?, ?, ?, '', '')", (s, v, rel))
                else:
                    num = v if isinstance(v, int | float) else None
                    text = None if num is not None else v
                    conn.execute("INSERT INTO facts VALUES (?, ?, ?, ?, ?, '', '')",
                                 (s, rel, kb.kind[rel], num, text))
    ex = Executor(kb)
    specs = [
        spec(Triple(T, "mentions", Var("c")), Triple(Var("c"), "country", Var("k")),
             Triple(Var("k"), "population", Range(8e7, 9e7))),
        spec(Triple(T, "birth_year", OneOf((1815, 1882))), Triple(T, "initial", Const("E"))),
        Spec("T", (Triple(Var("p"), "mentions", T), Triple(Var("p"), "word_count", Const(2)))),
        spec(Triple(T, "class", Const("city"))),
    ]
    for s in specs:
        assert sql_answers(conn, s) == set(ex.answers(s)), s


def test_spec_round_trip_and_webshaper_form() -> None:
    s = spec(Triple(T, "mentions", Y), Triple(Y, "country", Const(20)),
             Triple(T, "birth_year", Range(1900, 1909), "year_decade"),
             Triple(Y, "class", OneOf(("city", "town")), "entity_one_of"))
    assert Spec.from_json(s.to_json()) == s
    rows = s.webshaper(lambda n: {20: "United Kingdom"}[n])
    assert rows[0] == ["?", "mentions", "V@y"]
    assert rows[1] == ["V@y", "country", "C@United Kingdom"]
    assert rows[2] == ["?", "birth_year", "C@[1900..1909]"]
    assert rows[3] == ["V@y", "class", "C@city or C@town"]
