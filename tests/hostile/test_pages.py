"""Hostile pages served on loopback: each ends in a Page or a clean ProviderError."""

from __future__ import annotations

import os

import pytest

from sounding.errors import ProviderError
from sounding.providers.fetch import DirectFetcher

from ..providers.loopback import LoopbackServer, Reply
from .bombs import deep_json, docx_bomb

DOCX = "application/vnd.openxmlformats-officedocument.wordprocessingml.document"


@pytest.mark.parametrize(("body", "content_type", "reason"), [
    (os.urandom(50_000), "text/html; charset=utf-8", "binary"),
    (os.urandom(50_000), "text/plain", "binary"),
    (docx_bomb(32), DOCX, "zip bomb"),
    (b"PK\x03\x04broken", DOCX, "cannot read"),
    (b"%PDF-1.7\n" + os.urandom(5000), "application/pdf", "PDF"),
    (b"\x00\x01\x02" * 1000, "application/octet-stream", "cannot read"),
])
async def test_hostile_bodies_are_clean_provider_errors(body: bytes, content_type: str,
                                                         reason: str) -> None:
    with LoopbackServer({"/p": Reply(body=body, content_type=content_type)}) as server:
        fetcher = DirectFetcher(allow_private=True, timeout=10.0)
        with pytest.raises(ProviderError, match=reason):
            await fetcher.fetch(server.base_url + "/p")
        await fetcher.aclose()


@pytest.mark.parametrize(("body", "content_type"), [
    ("<div>" * 50_000 + "deep text" + "</div>" * 50_000, "text/html"),
    ("<html><body>" + "<p>x</p>" * 20_000 + "</body></html>", "text/html"),
    (deep_json(100_000).decode(), "application/json"),
])
async def test_absurd_but_valid_pages_give_a_page_or_a_clean_error(body: str,
                                                                   content_type: str) -> None:
    with LoopbackServer({"/p": Reply(body=body, content_type=content_type)}) as server:
        fetcher = DirectFetcher(allow_private=True, timeout=10.0)
        try:
            page = await fetcher.fetch(server.base_url + "/p")
        except ProviderError as exc:
            assert str(exc)
        else:
            assert page is not None and isinstance(page.text, str)
        finally:
            await fetcher.aclose()
