"""parse_file: real documents generated here, zip limits, and paths that try to escape."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from sounding.errors import ProviderError, ToolArgumentError
from sounding.providers.files import ZipLimits, parse_bytes
from sounding.tools.base import ToolContext
from sounding.tools.parse_file import PARSE_FILE_SCHEMA, ParseFileTool
from tests.providers.documents import (
    ARTICLE_HTML,
    make_docx,
    make_pdf,
    make_pptx,
    make_xlsx,
    make_zip,
)


@pytest.fixture
def files(tmp_path: Path) -> Path:
    root = tmp_path / "user-files"
    root.mkdir()
    (root / "paper.pdf").write_bytes(make_pdf(["Quarterly revenue rose 12 percent",
                                               "Prepared by the finance team"]))
    (root / "memo.docx").write_bytes(make_docx(["The launch moves to March."],
                                               table=[["Item", "Cost"], ["Rocket", "90"]]))
    (root / "deck.pptx").write_bytes(make_pptx(["Slide about otters", "Slide about beavers"]))
    (root / "sheet.xlsx").write_bytes(make_xlsx([["City", "Population"], ["Oslo", 709037]]))
    (root / "table.csv").write_text("name,score\nada,99\n")
    (root / "page.html").write_text(ARTICLE_HTML)
    (root / "data.json").write_text(json.dumps({"key": "value", "n": [1, 2]}))
    (root / "readme.md").write_text("# Title\nMarkdown body")
    inner = make_zip({"inner/notes.txt": b"deep note"})
    (root / "bundle.zip").write_bytes(make_zip({"a.txt": b"alpha", "nested.zip": inner,
                                                "image.bin": b"\x00\x01"}))
    return root


async def test_every_format(files: Path) -> None:
    tool = ParseFileTool(files)
    assert tool.schema is PARSE_FILE_SCHEMA
    names = ["paper.pdf", "memo.docx", "deck.pptx", "sheet.xlsx", "table.csv", "page.html",
             "data.json", "readme.md", "bundle.zip"]
    out = await tool({"files": names}, ToolContext())
    parts = out.text.split("\n=======\n")
    assert len(parts) == len(names)
    pdf, docx, pptx, xlsx, csv, html, data, md, bundle = parts
    assert pdf.startswith("# File: paper.pdf\n") and "Quarterly revenue rose 12" in pdf
    assert "The launch moves to March." in docx and "| Rocket | 90 |" in docx
    assert "## Slide 2" in pptx and "beavers" in pptx
    assert "## Sheet: Data" in xlsx and "| Oslo | 709037 |" in xlsx
    assert "| ada | 99 |" in csv
    assert "hexagonally jointed basalt" in html and "72 metres" in html
    assert '"key": "value"' in data
    assert "Markdown body" in md
    assert "# a.txt\nalpha" in bundle and "# inner/notes.txt\ndeep note" in bundle
    assert "image.bin\n(skipped" in bundle


@pytest.mark.parametrize("name", ["../outside.txt", "/etc/passwd", "sub/../../outside.txt",
                                  "link.txt"])
async def test_paths_that_escape_are_refused(files: Path, name: str) -> None:
    (files.parent / "outside.txt").write_text("private")
    (files / "link.txt").symlink_to(files.parent / "outside.txt")
    with pytest.raises(ToolArgumentError, match="outside the user's files"):
        await ParseFileTool(files)({"files": [name]}, ToolContext())


async def test_missing_file_lists_what_exists(files: Path) -> None:
    with pytest.raises(ToolArgumentError, match=r"available files: .*memo\.docx"):
        await ParseFileTool(files)({"files": ["nope.pdf"]}, ToolContext())


async def test_long_text_is_cut(files: Path) -> None:
    (files / "long.txt").write_text("word " * 10_000)
    out = await ParseFileTool(files, max_chars=1000)({"files": ["long.txt"]}, ToolContext())
    assert "[truncated: 49000 more characters]" in out.text


def test_zip_bomb_limits() -> None:
    bomb = make_zip({"zeros.txt": b"\0" * 5_000_000})
    with pytest.raises(ProviderError, match="zip bomb"):
        parse_bytes(bomb, ".zip")
    many = make_zip({f"f{i}.txt": b"x" for i in range(20)})
    with pytest.raises(ProviderError, match="20 files"):
        parse_bytes(many, ".zip", limits=ZipLimits(max_members=10))
    big = make_zip({"a.txt": b"abc" * 1000})
    with pytest.raises(ProviderError, match="inflates"):
        parse_bytes(big, ".zip", limits=ZipLimits(max_total_bytes=100))
    nested = make_zip({"x.zip": make_zip({"y.zip": make_zip({"z.txt": b"z"})})})
    with pytest.raises(ProviderError, match="nested deeper"):
        parse_bytes(nested, ".zip", limits=ZipLimits(max_depth=2))
    # The limits hold for the archive tree as a whole, not afresh in each nested zip.
    inner = make_zip({"a.txt": b"a" * 600})
    zips = make_zip({f"z{i}.zip": inner for i in range(3)})
    parse_bytes(zips, ".zip", limits=ZipLimits(max_total_bytes=5000))
    with pytest.raises(ProviderError, match="inflates"):
        parse_bytes(zips, ".zip", limits=ZipLimits(max_total_bytes=1500))
    with pytest.raises(ProviderError, match="nested archives included"):
        parse_bytes(zips, ".zip", limits=ZipLimits(max_members=5))


def test_lying_zip_header_is_caught(tmp_path: Path) -> None:
    path = tmp_path / "liar.zip"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_STORED) as archive:
        archive.writestr("a.txt", b"0123456789" * 10)
    raw = bytearray(path.read_bytes())
    # Shrink the declared size in the central directory: reading must not trust it.
    central = raw.rfind(b"PK\x01\x02")
    raw[central + 24:central + 28] = (10).to_bytes(4, "little")
    with pytest.raises(ProviderError):
        parse_bytes(bytes(raw), ".zip")


def test_unsupported_and_corrupt_files() -> None:
    with pytest.raises(ProviderError, match=r"unsupported file type \.exe"):
        parse_bytes(b"MZ", ".exe")
    with pytest.raises(ProviderError):
        parse_bytes(b"not a docx", ".docx")
    with pytest.raises(ProviderError):
        parse_bytes(b"%PDF-1.4 garbage", ".pdf")
