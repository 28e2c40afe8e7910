"""BrowseComp (English CSV) and BrowseComp-ZH (xlsx), both SHA-256-XOR encrypted."""

from __future__ import annotations

import contextlib
from pathlib import Path

from ...errors import DatasetError
from ...types import JSON
from ._crypto import browsecomp_decrypt
from .base import Item, make_items, question_id, read_csv

__all__ = ["NAME", "NAME_ZH", "load", "load_zh", "sniff", "sniff_zh"]

NAME = "browsecomp"
NAME_ZH = "browsecomp-zh"


def sniff(path: Path, keys: frozenset[str]) -> bool:
    return path.suffix.lower() == ".csv" and {"problem", "answer", "canary"} <= keys


def sniff_zh(path: Path, keys: frozenset[str]) -> bool:
    return path.suffix.lower() == ".xlsx" and {"Question", "Answer", "canary"} <= keys


def load(path: Path) -> list[Item]:
    items = []
    for n, row in enumerate(read_csv(path), 1):
        canary = row.get("canary") or ""
        try:
            question = browsecomp_decrypt(row["problem"], canary)
            answer = browsecomp_decrypt(row["answer"], canary)
        except (KeyError, DatasetError) as exc:
            raise DatasetError(f"{path}: row {n}: {exc}") from exc
        meta: dict[str, JSON] = {"topic": row.get("problem_topic") or "", "row": n}
        items.append(Item(question_id(question), question, answer, meta))
    return make_items(items)


def load_zh(path: Path) -> list[Item]:
    rows = read_xlsx(path)
    items = []
    for n, row in enumerate(rows, 1):
        canary = str(row.get("canary") or "")
        try:
            question = browsecomp_decrypt(str(row["Question"]), canary)
            answer = browsecomp_decrypt(str(row["Answer"]), canary)
        except (KeyError, DatasetError) as exc:
            raise DatasetError(f"{path}: row {n}: {exc}") from exc
        topic = str(row.get("Topic") or "")
        # Some releases keep the topic in clear text.
        with contextlib.suppress(DatasetError):
            topic = browsecomp_decrypt(topic, canary)
        items.append(Item(question_id(question), question, answer, {"topic": topic, "row": n}))
    return make_items(items)


def read_xlsx(path: Path) -> list[dict[str, object]]:
    """Rows of the first sheet as dicts keyed by the header row (openpyxl, `eval` extra)."""
    try:
        import openpyxl
    except ImportError as exc:
        raise DatasetError(
            "reading .xlsx needs openpyxl: pip install 'sounding[eval]'"
        ) from exc
    try:
        wb = openpyxl.load_workbook(path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many unrelated types for a bad file
        raise DatasetError(f"cannot read {path}: {exc}") from exc
    try:
        values = list(wb.worksheets[0].iter_rows(values_only=True))
    finally:
        wb.close()
    if not values:
        return []
    header = [str(h).strip() if h is not None else "" for h in values[0]]
    return [
        dict(zip(header, row, strict=False))
        for row in values[1:]
        if any(c not in (None, "") for c in row)
    ]


def xlsx_header(path: Path) -> frozenset[str]:
    rows = read_xlsx(path)
    return frozenset(rows[0]) if rows else frozenset()
