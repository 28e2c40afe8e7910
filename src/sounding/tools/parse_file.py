"""`parse_file`: read the user's own files (only inside the folder they named) as text."""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from pathlib import Path

from ..errors import ToolArgumentError
from ..llm.base import ToolSchema
from ..providers.extract import off_loop
from ..providers.files import SUFFIXES, ZipLimits, parse_bytes, supported_suffix
from ..types import JSON
from .base import ToolContext, ToolOutput, join_observations, string_list

__all__ = ["PARSE_FILE_SCHEMA", "ParseFileTool", "resolve_inside"]

PARSE_FILE_SCHEMA = ToolSchema(
    name="parse_file",
    description="This is a tool that can be used to parse multiple user uploaded local files "
    "such as PDF, DOCX, PPTX, TXT, CSV, XLSX, HTML, JSON, ZIP.",
    parameters={
        "type": "object",
        "properties": {
            "files": {
                "type": "array",
                "items": {"type": "string"},
                "description": "The file name of the user uploaded local files to be parsed.",
            }
        },
        "required": ["files"],
    },
)


def resolve_inside(root: Path, name: str) -> Path:
    """The file `name` under `root`; refuses anything that resolves outside it (.., links)
    and names the file system cannot take (a NUL, too long, a symlink loop)."""
    try:
        return _resolve_inside(root, name)
    except (ValueError, OSError, RuntimeError) as exc:
        # NUL in a name: ValueError; a name too long: OSError; a symlink loop: RuntimeError.
        shown = name if len(name) <= 200 else name[:200] + "..."
        raise ToolArgumentError(f"parse_file: cannot open {shown!r}: "
                                f"{type(exc).__name__}: {str(exc)[:200]}") from exc


def _resolve_inside(root: Path, name: str) -> Path:
    base = root.resolve()
    cleaned = name.strip().removeprefix("file://")
    candidate = Path(cleaned)
    path = (candidate if candidate.is_absolute() else base / candidate).resolve()
    if not path.is_relative_to(base):
        raise ToolArgumentError(f"parse_file: {name!r} is outside the user's files; "
                                "only files in the folder the user gave can be read")
    if not path.is_file():
        listing = sorted(p.name for p in base.iterdir() if p.is_file())[:30]
        raise ToolArgumentError(f"parse_file: no file {name!r}; available files: "
                                + (", ".join(listing) or "(none)"))
    return path


class ParseFileTool:
    """Parses each named file in a worker thread; long texts are cut at `max_chars`."""

    def __init__(self, root: Path, *, max_chars: int = 100_000, max_bytes: int = 100_000_000,
                 zip_limits: ZipLimits | None = None) -> None:
        self.root = root
        self.max_chars = max_chars
        self.max_bytes = max_bytes
        self.zip_limits = zip_limits or ZipLimits()

    @property
    def schema(self) -> ToolSchema:
        return PARSE_FILE_SCHEMA

    def _parse(self, name: str) -> str:
        path = resolve_inside(self.root, name)
        suffix = supported_suffix(path.name)
        if suffix is None:
            raise ToolArgumentError(f"parse_file: cannot read {path.suffix or 'extension-less'}"
                                    f" files; supported: {', '.join(SUFFIXES)}")
        try:
            size = path.stat().st_size
        except OSError as exc:
            raise ToolArgumentError(f"parse_file: cannot open {name!r}: {exc}") from exc
        if size > self.max_bytes:
            raise ToolArgumentError(f"parse_file: {name!r} is larger than {self.max_bytes} "
                                    "bytes")
        try:
            data = path.read_bytes()
        except OSError as exc:
            raise ToolArgumentError(f"parse_file: cannot read {name!r}: {exc}") from exc
        text = parse_bytes(data, suffix, limits=self.zip_limits)
        if len(text) > self.max_chars:
            text = text[: self.max_chars] + (
                f"\n[truncated: {len(text) - self.max_chars} more characters]")
        return f"# File: {path.relative_to(self.root.resolve())}\n{text}"

    async def __call__(
        self, arguments: Mapping[str, JSON], context: ToolContext, *, code: str | None = None
    ) -> ToolOutput:
        names = string_list(arguments, "files")
        if not names:
            raise ToolArgumentError("parse_file needs at least one file name in 'files'")
        stats = context.stats
        stats.requests += len(names)
        stats.used("files")
        # Off the event loop and time-limited: one slow file must not stall other runs.
        texts = await asyncio.gather(*(off_loop(self._parse, n) for n in names))
        return ToolOutput(text=join_observations(list(texts)),
                          sources=tuple(f"file://{n}" for n in names))
