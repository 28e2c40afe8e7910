"""The evaluation `Item` and the small readers that every dataset loader shares."""

from __future__ import annotations

import csv
import hashlib
import json
import sys
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import cast

from ...errors import DatasetError
from ...types import JSON, JSONObject

__all__ = [
    "Item",
    "first_key",
    "make_items",
    "question_id",
    "read_csv",
    "read_json_records",
]

# Benchmark cells (HLE rationales, xbench reference steps) exceed csv's 128 KiB default.
csv.field_size_limit(min(sys.maxsize, 2**31 - 1))


@dataclass(frozen=True, slots=True)
class Item:
    """One benchmark question.

    `id` is stable across runs (the dataset's own id, else a hash of the question),
    so that a resumed run finds its finished rows. `files` are absolute paths of
    attachments the agent reads with `parse_file` (GAIA).
    """

    id: str
    question: str
    answer: str
    metadata: Mapping[str, JSON] = field(default_factory=dict)
    files: tuple[Path, ...] = ()
    instruction: str = ""
    """Appended to what the agent sees, never to what the judge sees (e.g. HLE's request
    for a confidence)."""

    def prompt(self) -> str:
        """The question as the agent sees it: attachments are named after the text."""
        text = self.question
        if self.files:
            text += f"\n\n(Attached file: {', '.join(p.name for p in self.files)})"
        return f"{text}\n\n{self.instruction}" if self.instruction else text

    def to_dict(self) -> JSONObject:
        return {
            "id": self.id,
            "question": self.question,
            "answer": self.answer,
            "metadata": dict(self.metadata),
            "files": [str(p) for p in self.files],
        }


def question_id(question: str) -> str:
    """A stable id for datasets without one: a short hash of the normalised question."""
    norm = " ".join(question.split())
    return "q-" + hashlib.sha256(norm.encode("utf-8")).hexdigest()[:16]


def make_items(rows: Iterable[Item]) -> list[Item]:
    """Items with unique ids: a repeated id gets `-2`, `-3`, ... in file order."""
    seen: dict[str, int] = {}
    out: list[Item] = []
    for item in rows:
        n = seen.get(item.id, 0) + 1
        seen[item.id] = n
        if n > 1:
            item = Item(f"{item.id}-{n}", item.question, item.answer, item.metadata, item.files)
        out.append(item)
    return out


def first_key(record: Mapping[str, object], names: Sequence[str]) -> str | None:
    """The first of `names` present in `record` (case-insensitive), as spelled there."""
    lower = {k.lower().strip(): k for k in record}
    for name in names:
        if name in record:
            return name
        hit = lower.get(name.lower())
        if hit is not None:
            return hit
    return None


def read_csv(path: Path, *, delimiter: str = ",") -> list[dict[str, str]]:
    """Rows of a CSV/TSV file with a header line (BOM tolerated)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as fh:
            return [dict(row) for row in csv.DictReader(fh, delimiter=delimiter)]
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def read_json_records(path: Path) -> list[dict[str, JSON]]:
    """Records of a JSON list (or {"data": [...]}) or of a JSONL file."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    stripped = text.lstrip()
    if path.suffix.lower() != ".jsonl" and stripped[:1] in ("[", "{"):
        try:
            data = json.loads(stripped)
        except json.JSONDecodeError:
            data = None  # maybe JSONL with a .json name; try line by line below
        if isinstance(data, list):
            return _only_objects(data, path)
        if isinstance(data, dict):
            for key in ("data", "rows", "examples", "items"):
                if isinstance(data.get(key), list):
                    return _only_objects(cast(list[JSON], data[key]), path)
            return [data]
    return list(_jsonl(text, path))


def _jsonl(text: str, path: Path) -> Iterator[dict[str, JSON]]:
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as exc:
            raise DatasetError(f"{path}:{n}: not valid JSON ({exc.msg})") from exc
        if not isinstance(obj, dict):
            raise DatasetError(f"{path}:{n}: expected a JSON object per line")
        yield obj


def _only_objects(data: list[JSON], path: Path) -> list[dict[str, JSON]]:
    rows = [r for r in data if isinstance(r, dict)]
    if len(rows) != len(data):
        raise DatasetError(f"{path}: expected a list of JSON objects")
    return rows
