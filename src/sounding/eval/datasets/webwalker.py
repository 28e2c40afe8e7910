"""WebWalkerQA JSON: a list of `Question, answer, root_url, ...` records."""

from __future__ import annotations

from pathlib import Path

from ...errors import DatasetError
from .base import Item, make_items, question_id, read_json_records

__all__ = ["NAME", "load", "sniff"]

NAME = "webwalkerqa"


def sniff(path: Path, keys: frozenset[str]) -> bool:
    return {"Question", "answer", "root_url"} <= keys


def load(path: Path) -> list[Item]:
    items = []
    for n, rec in enumerate(read_json_records(path), 1):
        question, answer = rec.get("Question"), rec.get("answer")
        if not isinstance(question, str) or not question.strip() or answer is None:
            raise DatasetError(f"{path}: record {n} has no Question or answer")
        meta = {k: v for k, v in rec.items() if k not in ("Question", "answer")}
        items.append(Item(question_id(question), question.strip(), str(answer).strip(), meta))
    return make_items(items)
