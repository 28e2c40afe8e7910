"""Humanity's Last Exam (parquet or JSON/JSONL), keeping only the text-only questions."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ...errors import DatasetError
from ...types import JSON
from .base import Item, make_items, question_id, read_json_records

__all__ = ["HLE_TEXT_ONLY", "NAME", "load", "read_parquet", "sniff"]

NAME = "hle"
HLE_TEXT_ONLY = 2154
"""Questions without an image in the full 2,500-question file (what agents are scored on)."""
_META = ("answer_type", "category", "raw_subject", "author_name")


def sniff(path: Path, keys: frozenset[str]) -> bool:
    return {"question", "answer", "answer_type"} <= keys or (
        path.suffix.lower() == ".parquet" and {"question", "answer", "image"} <= keys
    )


def load(path: Path, *, text_only: bool = True) -> list[Item]:
    """Items of an HLE file; rows with a non-empty `image` are skipped when `text_only`."""
    if path.suffix.lower() == ".parquet":
        records: list[Mapping[str, object]] = list(read_parquet(path))
    else:
        records = list(read_json_records(path))
    items = []
    for n, rec in enumerate(records, 1):
        if text_only and rec.get("image"):
            continue
        question, answer = rec.get("question"), rec.get("answer")
        if not isinstance(question, str) or answer is None:
            raise DatasetError(f"{path}: row {n} has no question or answer")
        meta: dict[str, JSON] = {k: str(rec[k]) for k in _META if rec.get(k) is not None}
        raw_id = rec.get("id")
        items.append(Item(
            id=str(raw_id) if raw_id else question_id(question),
            question=question,
            answer=str(answer),
            metadata=meta,
        ))
    if text_only and len(records) == 2500 and len(items) != HLE_TEXT_ONLY:
        raise DatasetError(f"HLE's text-only subset has {HLE_TEXT_ONLY:,} questions; this "
                           f"2,500-row file gives {len(items)} (is the image column intact?)")
    return make_items(items)


def read_parquet(path: Path) -> list[dict[str, object]]:
    """Rows of a parquet file; pyarrow is an optional extra (`hle`)."""
    try:
        import pyarrow.parquet as pq
    except ImportError as exc:
        raise DatasetError(
            f"{path} is parquet, which needs pyarrow: pip install 'sounding[hle]' "
            "(or convert the file to JSON/JSONL, which needs nothing)"
        ) from exc
    try:
        table = pq.read_table(path)
    except Exception as exc:  # pyarrow's error types vary by version
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    rows: list[dict[str, object]] = table.to_pylist()
    return rows


def parquet_columns(path: Path) -> frozenset[str]:
    try:
        import pyarrow.parquet as pq
    except ImportError:
        return frozenset({"question", "answer", "image"})  # assume HLE; load() explains
    return frozenset(pq.read_schema(path).names)
