"""Any JSONL, JSON or CSV/TSV file with a question and an answer per record."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from ...errors import DatasetError
from ...types import JSON
from .base import Item, first_key, make_items, question_id, read_csv, read_json_records

__all__ = ["ANSWER_KEYS", "ID_KEYS", "NAME", "QUESTION_KEYS", "load", "sniff"]

NAME = "generic"
QUESTION_KEYS = ("question", "query", "prompt", "problem", "input", "instruction")
ANSWER_KEYS = (
    "answer", "final answer", "final_answer", "gold", "gold_answer", "ground_truth",
    "expected_answer", "target", "label", "reference", "output",
)
ID_KEYS = ("id", "task_id", "qid", "question_id", "uid", "_id")


def sniff(path: Path, keys: frozenset[str]) -> bool:
    lower = {k.lower() for k in keys}
    return any(k in lower for k in QUESTION_KEYS) and any(k in lower for k in ANSWER_KEYS)


def load(path: Path) -> list[Item]:
    suffix = path.suffix.lower()
    records: list[Mapping[str, JSON]]
    if suffix in (".csv", ".tsv"):
        records = list(read_csv(path, delimiter="\t" if suffix == ".tsv" else ","))
    else:
        records = list(read_json_records(path))
    if not records:
        raise DatasetError(f"{path}: no records")
    qkey = first_key(records[0], QUESTION_KEYS)
    akey = first_key(records[0], ANSWER_KEYS)
    if qkey is None or akey is None:
        raise DatasetError(
            f"{path}: cannot find question/answer fields among {sorted(records[0])}; "
            f"expected one of {QUESTION_KEYS} and one of {ANSWER_KEYS}, or pass --format"
        )
    ikey = first_key(records[0], ID_KEYS)
    items = []
    for n, rec in enumerate(records, 1):
        question, answer = rec.get(qkey), rec.get(akey)
        if not isinstance(question, str) or not question.strip() or answer is None:
            raise DatasetError(f"{path}: record {n} has no {qkey!r} text or no {akey!r}")
        raw_id = rec.get(ikey) if ikey else None
        meta = {k: v for k, v in rec.items() if k not in (qkey, akey, ikey)}
        items.append(Item(
            id=str(raw_id) if raw_id not in (None, "") else question_id(question),
            question=question.strip(),
            answer=answer if isinstance(answer, str) else _text(answer),
            metadata=meta,
        ))
    return make_items(items)


def _text(value: JSON) -> str:
    if isinstance(value, list):
        return "; ".join(str(v) for v in value)
    return str(value)
