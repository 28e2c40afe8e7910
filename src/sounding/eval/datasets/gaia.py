"""GAIA JSONL (`task_id, Question, Level, Final answer, file_name`) plus attached files."""

from __future__ import annotations

from pathlib import Path

from ...errors import DatasetError
from ...types import JSON
from .base import Item, make_items, read_json_records

__all__ = ["NAME", "load", "sniff"]

NAME = "gaia"


def sniff(path: Path, keys: frozenset[str]) -> bool:
    return {"task_id", "Question", "Final answer"} <= keys


def load(path: Path, *, text_only: bool = False) -> list[Item]:
    """Items with `files` resolved next to the JSONL; a named file that is absent is an error.

    `text_only`: GAIA's text-only subset, the tasks without an attached file (their
    files need not be present then).
    """
    items = []
    base = path.resolve().parent
    for n, rec in enumerate(read_json_records(path), 1):
        question, answer = rec.get("Question"), rec.get("Final answer")
        if not isinstance(question, str) or answer is None:
            raise DatasetError(f"{path}: record {n} has no Question or Final answer")
        files: tuple[Path, ...] = ()
        name = str(rec.get("file_name") or "").strip()
        if name and text_only:
            continue
        if name:
            file = (base / name).resolve()
            if not file.is_file():
                raise DatasetError(
                    f"{path}: task {rec.get('task_id')} needs attached file {name!r}, "
                    f"not found in {base} (GAIA files go next to the JSONL)"
                )
            files = (file,)
        meta: dict[str, JSON] = {"level": rec.get("Level"), "file_name": name}
        items.append(Item(str(rec["task_id"]), question, str(answer), meta, files))
    return make_items(items)
