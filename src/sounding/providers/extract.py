"""Bytes to readable text: HTML main text (trafilatura, tables and links kept), PDF, plain text."""

from __future__ import annotations

import asyncio
import codecs
import io
import re
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import ParamSpec, TypeVar

from ..errors import ConfigError, ProviderError

__all__ = ["PARSE_TIMEOUT", "decode_text", "html_title", "html_to_text", "looks_binary",
           "off_loop", "pdf_to_text"]

P = ParamSpec("P")
R = TypeVar("R")

PARSE_TIMEOUT = 60.0
"""Seconds one page or file may take to parse before the call gives up on it."""
# Parsers are CPU work on hostile input: they run here, never on the event loop, and the
# pool bounds how many run at once. A thread cannot be killed, so one that overruns its
# time limit finishes in the background while the caller has already moved on.
_PARSERS = ThreadPoolExecutor(max_workers=4, thread_name_prefix="sounding-parse")


async def off_loop(fn: Callable[P, R], *args: P.args, **kwargs: P.kwargs) -> R:
    """`fn(*args)` in the parser pool; ProviderError when it takes over PARSE_TIMEOUT."""
    loop = asyncio.get_running_loop()
    future = loop.run_in_executor(_PARSERS, lambda: fn(*args, **kwargs))
    try:
        return await asyncio.wait_for(future, PARSE_TIMEOUT)
    except TimeoutError as exc:
        raise ProviderError(f"parsing took longer than {PARSE_TIMEOUT:g} s and was "
                            "abandoned", provider="parse") from exc

_META_CHARSET = re.compile(rb"""<meta[^>]+charset=["']?([A-Za-z0-9_\-]+)""", re.I)
_TITLE = re.compile(r"<title[^>]*>(.*?)</title>", re.I | re.S)


def _known(charset: str | None) -> str | None:
    if not charset:
        return None
    try:
        return codecs.lookup(charset.strip().strip('"\'')).name
    except LookupError:
        return None


def decode_text(body: bytes, declared: str | None = None) -> str:
    """Decode with a BOM, the declared charset, a <meta> charset, UTF-8, then cp1252.

    Each candidate must decode the whole body cleanly; a server that declares the
    wrong charset (UTF-8 for a Latin-1 page, say) falls through to one that fits.
    Only when none does is the first candidate used with replacement characters.
    """
    for bom, name in ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"),
                      (codecs.BOM_UTF16_BE, "utf-16")):
        if body.startswith(bom):
            return body.decode(name, errors="replace")
    meta = _META_CHARSET.search(body[:4096])
    candidates = [_known(declared), _known(meta.group(1).decode("ascii") if meta else None),
                  "utf-8", "cp1252"]
    tried = [c for c in dict.fromkeys(candidates) if c]
    for charset in tried:
        try:
            return body.decode(charset)
        except UnicodeDecodeError:
            continue
    return body.decode(tried[0], errors="replace")


def html_title(html: str) -> str:
    match = _TITLE.search(html[:20_000])
    return re.sub(r"\s+", " ", match.group(1)).strip() if match else ""


def html_to_text(html: str, url: str | None = None) -> str:
    """The page's main text as Markdown, keeping tables and links; whole-page text as fallback."""
    try:
        import trafilatura
    except ImportError as exc:
        raise ConfigError("reading HTML needs trafilatura: pip install 'sounding[web]'") from exc
    text = trafilatura.extract(html, url=url, output_format="markdown", include_tables=True,
                               include_links=True, include_comments=False, favor_recall=True,
                               with_metadata=False)
    if not text:
        text = trafilatura.html2txt(html)
    return text or ""


def pdf_to_text(data: bytes, *, max_pages: int = 500) -> str:
    """The text of a PDF's pages, separated by blank lines."""
    try:
        from pypdf import PdfReader
        from pypdf.errors import PyPdfError
    except ImportError as exc:
        raise ConfigError("reading PDF needs pypdf: pip install 'sounding[web]'") from exc
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [page.extract_text() or "" for page in reader.pages[:max_pages]]
    except (PyPdfError, ValueError, KeyError, OSError) as exc:
        raise ProviderError(f"the PDF is damaged or truncated ({len(data)} bytes; pypdf: "
                            f"{exc})", provider="pdf") from exc
    except Exception as exc:  # pypdf raises assorted errors on malformed files
        raise ProviderError(f"the PDF cannot be parsed ({type(exc).__name__}: {exc})",
                            provider="pdf") from exc
    return "\n\n".join(p.strip() for p in pages if p.strip())


def looks_binary(text: str, sample: int = 4096) -> bool:
    """True when decoded text holds a NUL or is more than 5% control or replacement
    characters (binary data; cp1252 decodes nearly any bytes, so this is the real test)."""
    head = text[:sample]
    if not head:
        return False
    if "\x00" in head:
        return True
    bad = sum(1 for ch in head if ch == "\ufffd" or (ch < " " and ch not in "\n\r\t\f")
              or "\x7f" <= ch <= "\x9f")
    return bad > len(head) // 20
