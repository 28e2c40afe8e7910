"""Local documents to text: pdf, docx, pptx, xlsx/csv, html, txt/md, json and zip archives.

Zip archives are read recursively with limits on depth, member count and total
uncompressed size, checked against the archive's own directory before anything
is inflated and again while reading (zip bombs lie in their headers). Office files
(docx, pptx, xlsx) are zip archives too and get the same checks before their XML
is parsed; Python's zipfile never inflates a member past its declared size.
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
from .extract import decode_text, html_to_text, looks_binary, pdf_to_text

__all__ = ["SUFFIXES", "ZipLimits", "check_archive", "parse_bytes", "supported_suffix"]

SUFFIXES = (".pdf", ".docx", ".pptx", ".xlsx", ".xlsm", ".csv", ".tsv", ".html", ".htm",
            ".txt", ".md", ".markdown", ".json", ".jsonl", ".xml", ".zip")
_OFFICE = (".docx", ".pptx", ".xlsx", ".xlsm")
_PLAIN = (".txt", ".md", ".markdown", ".xml")
# What malformed documents make the parsers raise: SyntaxError covers lxml's XMLSyntaxError
# and ElementTree's ParseError; RecursionError (deeply nested JSON or XML) is a RuntimeError.
_PARSE_ERRORS = (zipfile.BadZipFile, zipfile.LargeZipFile, KeyError, ValueError, OSError,
                 SyntaxError, RuntimeError, EOFError, IndexError, TypeError, AttributeError)
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
    """The text of a document given its bytes and its suffix (e.g. ".pdf"); a document that
    is malformed, a bomb or binary where text was promised is a ProviderError saying so."""
    suffix = suffix.lower()
    if suffix not in SUFFIXES:
        raise ProviderError(f"unsupported file type {suffix or '(none)'}; supported: "
                            + ", ".join(SUFFIXES), provider="files")
    try:
        return _parse(data, suffix, limits or ZipLimits(), depth)
    except ProviderError:
        raise
    except RecursionError as exc:
        raise ProviderError(f"cannot read the {suffix} file: it is nested too deeply",
                            provider="files") from exc
    except _PARSE_ERRORS as exc:
        raise ProviderError(f"cannot read the {suffix} file: {type(exc).__name__}: "
                            f"{str(exc)[:300]}", provider="files") from exc


def _parse(data: bytes, suffix: str, limits: ZipLimits, depth: int) -> str:
    if suffix == ".pdf":
        return pdf_to_text(data)
    if suffix in _OFFICE:
        check_archive(data, limits, suffix)
        return _docx(data) if suffix == ".docx" else (
            _pptx(data) if suffix == ".pptx" else _xlsx(data))
    if suffix == ".zip":
        return _zip(data, limits, depth)
    text = decode_text(data)
    if looks_binary(text) or "\x00" in text[:65536]:
        raise ProviderError(f"the {suffix} file is binary data, not text", provider="files")
    if suffix in (".csv", ".tsv"):
        return _csv(text, "\t" if suffix == ".tsv" else ",")
    if suffix in (".html", ".htm"):
        return html_to_text(text)
    if suffix in (".json", ".jsonl"):
        return _json(text)
    return text


def check_archive(data: bytes, limits: ZipLimits, what: str = ".zip") -> None:
    """ProviderError when the archive's directory declares too many members, too many bytes
    or a compression ratio no real document has (checked before anything is inflated)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        members = [m for m in archive.infolist() if not m.is_dir()]
    if len(members) > limits.max_members * 4:  # office files hold many small parts
        raise ProviderError(f"the {what} file has {len(members)} parts, over the limit",
                            provider="files")
    total = sum(m.file_size for m in members)
    if total > limits.max_total_bytes:
        raise ProviderError(f"the {what} file inflates to {total} bytes, over the "
                            f"{limits.max_total_bytes}-byte limit", provider="files")
    for member in members:
        _check_ratio(member, limits, what)


def _check_ratio(member: zipfile.ZipInfo, limits: ZipLimits, what: str) -> None:
    # Tiny members compress absurdly well (a 2 KB run of spaces); only the large ones matter.
    ratio = member.file_size / max(member.compress_size, 1)
    if member.file_size > 1_000_000 and ratio > limits.max_ratio:
        raise ProviderError(f"{what} member {member.filename} compresses {ratio:.0f}:1 "
                            f"({member.file_size} bytes inflated), a zip bomb?",
                            provider="files")


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
