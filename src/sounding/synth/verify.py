"""An independent executor in SQL: each spec becomes nested semi-joins over graph.sqlite.

It shares no code with `executor.py` (which works on in-memory indexes), so a kept
item re-verified here has its unique answer confirmed twice, by two implementations.
"""

from __future__ import annotations

import sqlite3

from .spec import Const, Range, Spec, Term, Var

__all__ = ["sql_answers"]

_PSEUDO_SQL = {
    "initial": "upper(substr(n.title, 1, 1))",
    "word_count": "(length(trim(n.title)) - length(replace(trim(n.title), ' ', '')) + 1)",
}


def sql_answers(conn: sqlite3.Connection, spec: Spec) -> set[int]:
    """The node ids that satisfy `spec`, by one SQL query."""
    sql, params = _var_sql(conn, spec, spec.target, None)
    return {row[0] for row in conn.execute(sql, params)}


def _is_entity(conn: sqlite3.Connection, relation: str) -> bool:
    return conn.execute("SELECT 1 FROM edges WHERE relation = ? LIMIT 1",
                        (relation,)).fetchone() is not None


def _var_sql(conn: sqlite3.Connection, spec: Spec, var: str,
             parent: int | None) -> tuple[str, list[object]]:
    where: list[str] = []
    params: list[object] = []
    for i, t in enumerate(spec.triples):
        if i == parent or var not in t.vars():
            continue
        if t.subject.name == var:
            clause, args = _object_clause(conn, spec, t.relation, t.object, i)
        else:
            inner, args = _var_sql(conn, spec, t.subject.name, i)
            clause = (f"n.id IN (SELECT dst FROM edges WHERE relation = ? AND src IN ({inner}))")
            args = [t.relation, *args]
        where.append(clause)
        params.extend(args)
    cond = " AND ".join(where) or "1"
    return f"SELECT n.id FROM nodes n WHERE {cond}", params


def _object_clause(conn: sqlite3.Connection, spec: Spec, relation: str, obj: Term,
                   index: int) -> tuple[str, list[object]]:
    if isinstance(obj, Var):
        inner, args = _var_sql(conn, spec, obj.name, index)
        return (f"n.id IN (SELECT src FROM edges WHERE relation = ? AND dst IN ({inner}))",
                [relation, *args])
    values: list[object]
    if isinstance(obj, Range):
        test, values = "BETWEEN ? AND ?", [obj.lo, obj.hi]
    else:
        values = [obj.value] if isinstance(obj, Const) else list(obj.values)
        test = f"IN ({','.join('?' * len(values))})"
    if relation in _PSEUDO_SQL:
        return f"{_PSEUDO_SQL[relation]} {test}", values
    if _is_entity(conn, relation):
        return (f"n.id IN (SELECT src FROM edges WHERE relation = ? AND dst {test})",
                [relation, *values])
    column = "num" if isinstance(obj, Range) or all(
        isinstance(v, int | float) for v in values) else "text"
    return (f"n.id IN (SELECT node FROM facts WHERE relation = ? AND {column} {test})",
            [relation, *values])
