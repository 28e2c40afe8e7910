"""Benchmark loaders, one per format, and detection of a file's format.

`load_dataset(path)` returns `Item`s; the format is taken from `fmt` or sniffed from
the file's name and columns. Encrypted sets are decrypted in memory only.
"""

from __future__ import annotations

import csv
import hashlib
import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from ...errors import DatasetError
from . import browsecomp, drb, frames, gaia, generic, hle, simpleqa, webwalker, xbench
from .base import Item, question_id

__all__ = [
    "FORMATS",
    "Item",
    "detect_format",
    "file_sha256",
    "load_dataset",
    "official_judge",
    "published_judge_model",
    "question_id",
]


@dataclass(frozen=True)
class _Format:
    name: str
    sniff: Callable[[Path, frozenset[str]], bool]
    load: Callable[[Path], list[Item]]
    """The official judge of the benchmark (see `sounding.eval.judges`)."""
    judge: str
    judge_model: str
    """The judge model behind the published numbers (judges README)."""


# Order matters: specific formats are tried before the generic one.
_QWEN = "Qwen2.5-72B-Instruct"
_REGISTRY: tuple[_Format, ...] = (
    _Format(browsecomp.NAME, browsecomp.sniff, browsecomp.load, "hle", "gpt-4o-2024-08-06"),
    _Format(browsecomp.NAME_ZH, browsecomp.sniff_zh, browsecomp.load_zh, "hle",
            "gpt-4o-2024-08-06"),
    _Format(xbench.NAME, xbench.sniff, xbench.load, "xbench", "gemini-2.0-flash-001"),
    _Format(hle.NAME, hle.sniff, hle.load, "hle", "o3-mini"),
    _Format(gaia.NAME, gaia.sniff, gaia.load, "equivalence", _QWEN),
    _Format(frames.NAME, frames.sniff, frames.load, "equivalence", _QWEN),
    _Format(simpleqa.NAME, simpleqa.sniff, simpleqa.load, "simpleqa", "gpt-4o"),
    _Format(webwalker.NAME, webwalker.sniff, webwalker.load, "equivalence", _QWEN),
    _Format(drb.NAME, drb.sniff, drb.load, "drb-criteria", "gpt-4o"),  # reports
    _Format(generic.NAME, generic.sniff, generic.load, "equivalence", _QWEN),
)
FORMATS: dict[str, _Format] = {f.name: f for f in _REGISTRY}


def official_judge(fmt: str) -> str:
    """The judge the published numbers of `fmt` were graded with."""
    return FORMATS[fmt].judge


def published_judge_model(fmt: str) -> str:
    """The judge model the published numbers of `fmt` were graded with."""
    return FORMATS[fmt].judge_model


def detect_format(path: Path) -> str:
    """The format name of `path`, from its suffix and header/keys."""
    keys = _keys(path)
    for fmt in _REGISTRY:
        if fmt.sniff(path, keys):
            return fmt.name
    raise DatasetError(
        f"cannot tell the format of {path} (fields: {sorted(keys)[:12]}); "
        f"pass --format with one of: {', '.join(FORMATS)}"
    )


def load_dataset(path: Path, fmt: str | None = None, *,
                 text_only: bool = False) -> tuple[str, list[Item]]:
    """(format name, items) of a benchmark file.

    `text_only` keeps the questions without attachments (GAIA's text-only subset;
    HLE's loader always drops image questions).
    """
    if not path.is_file():
        raise DatasetError(f"dataset {path} does not exist")
    name = fmt or detect_format(path)
    if name not in FORMATS:
        raise DatasetError(f"unknown format {name!r}; choose one of: {', '.join(FORMATS)}")
    if text_only and name == gaia.NAME:
        items = gaia.load(path, text_only=True)  # attachments of skipped tasks may be absent
    else:
        items = [it for it in FORMATS[name].load(path) if not (text_only and it.files)]
    if not items:
        raise DatasetError(f"{path}: no questions found as format {name}"
                           + (" (with --text-only)" if text_only else ""))
    return name, items


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _keys(path: Path) -> frozenset[str]:
    suffix = path.suffix.lower()
    try:
        if suffix == ".xlsx":
            return browsecomp.xlsx_header(path)
        if suffix == ".parquet":
            return hle.parquet_columns(path)
        if suffix in (".csv", ".tsv"):
            with path.open(encoding="utf-8-sig", newline="") as fh:
                header = next(csv.reader(fh, delimiter="\t" if suffix == ".tsv" else ","), [])
            return frozenset(h.strip() for h in header)
        return _json_keys(path)
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read {path}: {exc}") from exc


def _json_keys(path: Path) -> frozenset[str]:
    with path.open(encoding="utf-8-sig") as fh:
        head = fh.read(1 << 16)
    first = head.lstrip()[:1]
    if first == "{" and "\n" in head.strip():
        line = head.strip().splitlines()[0]
        try:
            obj = json.loads(line)
            return frozenset(obj) if isinstance(obj, dict) else frozenset()
        except json.JSONDecodeError:
            pass
    # A JSON list (or a single-object file): parse it whole, once, for the first record.
    from .base import read_json_records

    records = read_json_records(path)
    return frozenset(records[0]) if records else frozenset()
