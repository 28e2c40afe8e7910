"""Hostile documents: office zip bombs, malformed XML, deep JSON, binary text, bad names."""

from __future__ import annotations

import asyncio
import os
import time
import tracemalloc
from pathlib import Path

import pytest

from sounding.errors import ProviderError, ToolArgumentError
from sounding.providers import extract
from sounding.providers.files import parse_bytes
from sounding.tools.base import ToolContext
from sounding.tools.parse_file import ParseFileTool

from ..providers.documents import make_docx, make_pptx, make_xlsx
from .bombs import deep_json, docx_bomb, docx_with_broken_xml, office_bomb


def _peak_mb(fn: object) -> tuple[BaseException | None, float]:
    """Run fn, return (the exception it raised, peak Python allocation in MB)."""
    tracemalloc.start()
    error: BaseException | None = None
    try:
        fn()  # type: ignore[operator]
    except BaseException as exc:
        error = exc
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return error, peak / 2**20


def test_docx_bomb_is_refused_before_its_xml_is_inflated() -> None:
    bomb = docx_bomb(64)  # 64 MB of XML in a file of a few hundred KB
    assert len(bomb) < 1_000_000
    error, peak = _peak_mb(lambda: parse_bytes(bomb, ".docx"))
    assert isinstance(error, ProviderError) and "zip bomb" in str(error)
    assert peak < 16  # stated limit: the refusal reads the directory, never the member


@pytest.mark.parametrize(("maker", "suffix", "member"), [
    (lambda: make_pptx(["slide"]), ".pptx", "ppt/slides/slide1.xml"),
    (lambda: make_xlsx([["a", "b"]]), ".xlsx", "xl/worksheets/sheet1.xml"),
])
def test_pptx_and_xlsx_bombs_are_refused(maker: object, suffix: str, member: str) -> None:
    bomb = office_bomb(maker(), member, 16)  # type: ignore[operator]
    error, peak = _peak_mb(lambda: parse_bytes(bomb, suffix))
    assert isinstance(error, ProviderError) and "zip bomb" in str(error)
    assert peak < 16


def test_real_office_files_still_parse() -> None:
    assert "quartz" in parse_bytes(make_docx(["quartz veins"]), ".docx")
    assert "granite" in parse_bytes(make_pptx(["granite"]), ".pptx")
    assert "basalt" in parse_bytes(make_xlsx([["basalt", "3"]]), ".xlsx")


@pytest.mark.parametrize(("data", "suffix", "reason"), [
    (docx_with_broken_xml(), ".docx", "XMLSyntaxError"),
    (b"PK\x03\x04 not really a zip", ".xlsx", "BadZipFile"),
    (deep_json(), ".json", "nested too deeply"),
    (b"<a>" * 100_000, ".html", ""),
    (os.urandom(20_000), ".txt", "binary"),
    (b"col1,col2\n\x00\x00\x00\x01\x02\x03" * 50, ".csv", "binary"),
])
def test_malformed_documents_are_clean_provider_errors(data: bytes, suffix: str,
                                                       reason: str) -> None:
    try:
        text = parse_bytes(data, suffix)
    except ProviderError as exc:
        assert reason in str(exc)
    else:
        assert not reason and isinstance(text, str)  # html: extracted or empty, never a crash


def test_random_bytes_in_txt_are_detected_as_binary_every_time() -> None:
    for _ in range(50):
        with pytest.raises(ProviderError, match="binary"):
            parse_bytes(os.urandom(4096), ".txt")


@pytest.mark.parametrize("name", ["a\x00b.txt", "x" * 5000 + ".txt", "loop.txt"])
async def test_bad_names_are_tool_argument_errors(tmp_path: Path, name: str) -> None:
    (tmp_path / "loop.txt").symlink_to(tmp_path / "loop2.txt")
    (tmp_path / "loop2.txt").symlink_to(tmp_path / "loop.txt")
    tool = ParseFileTool(tmp_path)
    with pytest.raises(ToolArgumentError, match="parse_file"):
        await tool({"files": [name]}, ToolContext())


async def test_a_slow_parse_does_not_stall_the_event_loop(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    release = asyncio.Event()
    loop = asyncio.get_running_loop()

    def slow_parse(self: ParseFileTool, name: str) -> str:
        while not release.is_set():  # stands in for a parser stuck on a hostile file
            time.sleep(0.01)
        return "done"

    monkeypatch.setattr(ParseFileTool, "_parse", slow_parse)
    task = asyncio.ensure_future(ParseFileTool(tmp_path)({"files": ["a.txt"]}, ToolContext()))
    ticks = 0
    for _ in range(20):  # the loop keeps turning while the parse runs
        await asyncio.sleep(0)
        ticks += 1
    loop.call_soon(release.set)
    output = await task
    assert ticks == 20 and "done" in output.text


async def test_a_parse_over_the_time_limit_is_abandoned_with_an_error(
        monkeypatch: pytest.MonkeyPatch) -> None:
    import threading

    done = threading.Event()
    monkeypatch.setattr(extract, "PARSE_TIMEOUT", 0.2)
    try:
        with pytest.raises(ProviderError, match=r"longer than 0\.2 s"):
            await extract.off_loop(done.wait, 30)
    finally:
        done.set()
