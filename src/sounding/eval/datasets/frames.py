"""FRAMES TSV: `Prompt, Answer, wikipedia_link_*, reasoning_types`."""

from __future__ import annotations

from pathlib import Path

from ...errors import DatasetError
from ...types import JSON
from .base import Item, make_items, question_id, read_csv

__all__ = ["NAME", "load", "sniff"]

NAME = "frames"


def sniff(path: Path, keys: frozenset[str]) -> bool:
    return {"Prompt", "Answer"} <= keys and any(k.startswith("wikipedia_link") for k in keys)


def load(path: Path) -> list[Item]:
    delimiter = "," if path.suffix.lower() == ".csv" else "\t"
    items = []
    for n, row in enumerate(read_csv(path, delimiter=delimiter), 1):
        question, answer = (row.get("Prompt") or "").strip(), row.get("Answer")
        if not question or answer is None:
            raise DatasetError(f"{path}: row {n} has no Prompt or Answer")
        links: list[JSON] = [
            v for k, v in sorted(row.items()) if k.startswith("wikipedia_link") and v
        ]
        index = row.get("") or row.get("Unnamed: 0") or ""
        meta: dict[str, JSON] = {
            "wikipedia_links": links,
            "reasoning_types": row.get("reasoning_types") or "",
        }
        items.append(Item(
            f"frames-{index.strip()}" if index.strip() else question_id(question),
            question, answer.strip(), meta,
        ))
    return make_items(items)
