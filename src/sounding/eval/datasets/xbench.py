"""xbench-DeepSearch CSV: base64 of the text XOR-ed with the row's raw canary bytes."""

from __future__ import annotations

from pathlib import Path

from ...errors import DatasetError
from ._crypto import xbench_decrypt
from .base import Item, make_items, question_id, read_csv

__all__ = ["NAME", "load", "sniff"]

NAME = "xbench"


def sniff(path: Path, keys: frozenset[str]) -> bool:
    return {"prompt", "answer", "canary"} <= keys


def load(path: Path) -> list[Item]:
    items = []
    for n, row in enumerate(read_csv(path), 1):
        canary = row.get("canary") or ""
        try:
            question = xbench_decrypt(row["prompt"], canary)
            answer = xbench_decrypt(row["answer"], canary)
            steps = xbench_decrypt(row["reference_steps"], canary) if row.get(
                "reference_steps") else ""
        except (KeyError, DatasetError) as exc:
            raise DatasetError(f"{path}: row {n}: {exc}") from exc
        raw_id = (row.get("id") or "").strip()
        items.append(Item(
            id=raw_id or question_id(question),
            question=question,
            answer=answer,
            metadata={"reference_steps": steps},
        ))
    return make_items(items)
