"""Local documents to text: pdf, docx, pptx, xlsx/csv, html, txt/md, json and zip archives.

Zip archives are read recursively with limits on depth, member count and total
uncompressed size, checked against the archive's own directory before anything
is inflated and again while reading (zip bombs lie in their headers).
"""

from __future__ import annotations

import csv
import io
import json
import zipfile
from dataclasses import dataclass
from pathlib import PurePosixPath
from urllib.parse import urlsplit

from ..errors import ProviderError
from .extract import decode_text, html_to_text, pdf_to_text

__all__ = ["SUFFIXES", "ZipLimits", "parse_bytes", "supported_suffix"]

SUFFIXES = (".pdf", ".docx", ".pptx", ".xlsx", ".xlsm", ".csv", ".tsv", ".html", ".htm",
            ".txt", ".md", ".markdown", ".json", ".jsonl", ".xml", ".zip")
_MIME = {
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": ".docx",
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": ".pptx",
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ".xlsx",
    "application/zip": ".zip",
    "text/csv": ".csv",
}


@dataclass(frozen=True)
class ZipLimits:
    max_depth: int = 3
    max_members: int = 500
    max_total_bytes: int = 200_000_000
    max_ratio: float = 200.0
    """Largest compression ratio of one member; real documents stay far below it."""


def supported_suffix(name: str, mime: str = "") -> str | None:
    """The parser suffix for a file name, URL or MIME type; None when none applies."""
    suffix = PurePosixPath(urlsplit(name).path if "://" in name else name).suffix.lower()
    if suffix in SUFFIXES:
        return suffix
    return _MIME.get(mime.lower())


def parse_bytes(data: bytes, suffix: str, *, limits: ZipLimits | None = None,
                depth: int = 0) -> str:
    """The text of a document given its bytes and its suffix (e.g. ".pdf")."""
    suffix = suffix.lower()
    try:
        if suffix == ".pdf":
            return pdf_to_text(data)
        if suffix == ".docx":
            return _docx(data)
        if suffix == ".pptx":
            return _pptx(data)
        if suffix in (".xlsx", ".xlsm"):
            return _xlsx(data)
        if suffix in (".csv", ".tsv"):
            return _csv(decode_text(data), "\t" if suffix == ".tsv" else ",")
        if suffix in (".html", ".htm"):
            return html_to_text(decode_text(data))
        if suffix in (".json", ".jsonl"):
            return _json(decode_text(data))
        if suffix == ".zip":
            return _zip(data, limits or ZipLimits(), depth)
        if suffix in SUFFIXES:
            return decode_text(data)
    except (zipfile.BadZipFile, KeyError, ValueError, OSError) as exc:
        raise ProviderError(f"cannot read the {suffix} file: {exc}", provider="files") from exc
    raise ProviderError(f"unsupported file type {suffix or '(none)'}; supported: "
                        + ", ".join(SUFFIXES), provider="files")


def _docx(data: bytes) -> str:
    import docx

    document = docx.Document(io.BytesIO(data))
    parts = [p.text for p in document.paragraphs if p.text.strip()]
    for table in document.tables:
        rows = [" | ".join(cell.text.strip() for cell in row.cells) for row in table.rows]
        parts.append("\n".join(f"| {r} |" for r in rows))
    return "\n\n".join(parts)


def _pptx(data: bytes) -> str:
    from pptx import Presentation

    slides = []
    for number, slide in enumerate(Presentation(io.BytesIO(data)).slides, 1):
        texts = [shape.text_frame.text for shape in slide.shapes
                 if shape.has_text_frame and shape.text_frame.text.strip()]
        slides.append(f"## Slide {number}\n" + "\n".join(texts))
    return "\n\n".join(slides)


def _xlsx(data: bytes) -> str:
    from openpyxl import load_workbook

    book = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    sheets = []
    for sheet in book.worksheets:
        rows = []
        for row in sheet.iter_rows(values_only=True):
            if any(v is not None for v in row):
                rows.append("| " + " | ".join("" if v is None else str(v) for v in row) + " |")
        sheets.append(f"## Sheet: {sheet.title}\n" + "\n".join(rows))
    book.close()
    return "\n\n".join(sheets)


def _csv(text: str, delimiter: str) -> str:
    rows = csv.reader(io.StringIO(text), delimiter=delimiter)
    return "\n".join("| " + " | ".join(row) + " |" for row in rows if row)


def _json(text: str) -> str:
    try:
        return json.dumps(json.loads(text), ensure_ascii=False, indent=2)
    except json.JSONDecodeError:
        return text  # JSONL or slightly broken JSON still reads fine as text


@dataclass
class _Budget:
    """What is left of the limits for the outermost archive and all archives inside it."""

    members: int
    total_bytes: int


def _zip(data: bytes, limits: ZipLimits, depth: int, budget: _Budget | None = None) -> str:
    if depth >= limits.max_depth:
        raise ProviderError(f"zip archives nested deeper than {limits.max_depth} levels",
                            provider="files")
    # One budget for the whole tree: otherwise each nested archive could inflate to the
    # full limit again, and a zip of zips multiplies it.
    budget = budget or _Budget(limits.max_members, limits.max_total_bytes)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
        budget.members -= len(members)
        if budget.members < 0:
            raise ProviderError(f"zip archive has {len(members)} files, over the limit of "
                                f"{limits.max_members} (nested archives included)",
                                provider="files")
        declared = sum(m.file_size for m in members)
        budget.total_bytes -= declared
        if budget.total_bytes < 0:
            raise ProviderError(f"zip archive inflates to more than {limits.max_total_bytes} "
                                "bytes (counting nested archives)", provider="files")
        parts = []
        for member in members:
            if member.compress_size and member.file_size / member.compress_size > limits.max_ratio:
                raise ProviderError(f"zip member {member.filename} compresses "
                                    f"{member.file_size // member.compress_size}:1, a zip bomb?",
                                    provider="files")
            suffix = supported_suffix(member.filename)
            if suffix is None:
                parts.append(f"# {member.filename}\n(skipped: unsupported file type)")
                continue
            with archive.open(member) as handle:
                content = handle.read(member.file_size + 1)
            if len(content) > member.file_size:
                raise ProviderError(f"zip member {member.filename} is larger than declared",
                                    provider="files")
            if suffix == ".zip":
                text = _zip(content, limits, depth + 1, budget)
            else:
                text = parse_bytes(content, suffix, limits=limits, depth=depth + 1)
            parts.append(f"# {member.filename}\n{text}")
    return "\n\n".join(parts)
