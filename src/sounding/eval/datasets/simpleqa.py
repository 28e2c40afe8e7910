"""SimpleQA CSV: `metadata, problem, answer` (metadata is a Python-literal dict)."""

from __future__ import annotations

import ast
from pathlib import Path

from ...errors import DatasetError
from ...types import JSON
from .base import Item, make_items, question_id, read_csv

__all__ = ["NAME", "load", "sniff"]

NAME = "simpleqa"


def sniff(path: Path, keys: frozenset[str]) -> bool:
    return {"metadata", "problem", "answer"} <= keys and "canary" not in keys


def load(path: Path) -> list[Item]:
    items = []
    for n, row in enumerate(read_csv(path), 1):
        question, answer = (row.get("problem") or "").strip(), row.get("answer")
        if not question or answer is None:
            raise DatasetError(f"{path}: row {n} has no problem or answer")
        items.append(Item(question_id(question), question, answer.strip(),
                          _metadata(row.get("metadata") or "")))
    return make_items(items)


def _metadata(text: str) -> dict[str, JSON]:
    try:
        value = ast.literal_eval(text) if text else {}
    except (ValueError, SyntaxError):
        return {"raw": text}
    if not isinstance(value, dict):
        return {"raw": text}
    return {str(k): v if isinstance(v, str | int | float | bool | list) else str(v)
            for k, v in value.items()}
