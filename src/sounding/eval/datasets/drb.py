"""DeepResearch Bench: 100 report-writing tasks (50 English, 50 Chinese) with weighted
criteria per task; `query.jsonl` (id, topic, language, prompt) and `criteria.jsonl`
(id, prompt, dimension_weight, criterions) side by side. No gold answer: reports are
scored by `sounding.eval.judges.drb_criteria` and `sounding.eval.judges.citations`."""

from __future__ import annotations

from pathlib import Path

from ...errors import DatasetError
from ...types import JSON, is_cjk
from .base import Item, make_items, read_json_records

__all__ = ["NAME", "load", "load_criteria", "sniff"]

NAME = "drb"
CRITERIA_FILE = "criteria.jsonl"
QUERY_FILE = "query.jsonl"


def sniff(path: Path, keys: frozenset[str]) -> bool:
    return ({"prompt", "language", "topic"} <= keys
            or {"prompt", "criterions", "dimension_weight"} <= keys)


def load_criteria(path: Path) -> dict[str, dict[str, JSON]]:
    """Criteria records by task id (as a string), from `criteria.jsonl`."""
    out: dict[str, dict[str, JSON]] = {}
    for rec in read_json_records(path):
        if "id" not in rec or not isinstance(rec.get("criterions"), dict):
            raise DatasetError(f"{path}: a criteria record needs `id` and `criterions`")
        out[str(rec["id"])] = rec
    return out


def load(path: Path) -> list[Item]:
    """Tasks from `query.jsonl` (criteria from the `criteria.jsonl` beside it, when there)
    or from `criteria.jsonl` alone; a directory holding them may be given too."""
    if path.is_dir():
        path = path / QUERY_FILE if (path / QUERY_FILE).exists() else path / CRITERIA_FILE
    records = read_json_records(path)
    criteria_path = path.with_name(CRITERIA_FILE)
    criteria = load_criteria(criteria_path) if criteria_path.exists() else {}
    items = []
    for n, rec in enumerate(records, 1):
        prompt = str(rec.get("prompt") or "").strip()
        if not prompt:
            raise DatasetError(f"{path}:{n}: no prompt")
        task = str(rec.get("id", n))
        crit = criteria.get(task, rec if "criterions" in rec else {})
        language = str(rec.get("language") or _language(prompt))
        meta: dict[str, JSON] = {"drb_id": task, "language": language,
                                 "topic": str(rec.get("topic") or "")}
        if crit:
            meta["dimension_weight"] = crit.get("dimension_weight")
            meta["criterions"] = crit.get("criterions")
        items.append(Item(f"drb-{task}", prompt, "", meta))
    return make_items(items)


def _language(text: str) -> str:
    return "zh" if is_cjk(text, han_only=True) else "en"
