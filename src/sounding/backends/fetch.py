"""The direct fetcher: httpx with redirects followed by hand, each hop checked by the URL policy.

Responses are capped in size; HTML becomes main text (trafilatura), PDF text via
pypdf, office documents via the file parsers, text and JSON pass as they are.
"""

from __future__ import annotations

from urllib.parse import urljoin

import httpx

from ..errors import BlockedURLError, ProviderError
from ._http import check_response, make_client, transport_error
from .base import Page
from .extract import decode_text, html_title, html_to_text, pdf_to_text
from .urlpolicy import check_url

__all__ = ["DirectFetcher"]

_HTML = ("text/html", "application/xhtml+xml")
_TEXT = ("text/", "application/json", "application/xml", "application/ld+json",
         "application/javascript", "application/rss+xml", "application/atom+xml")
_REDIRECTS = (301, 302, 303, 307, 308)
_HEADERS = {"Accept": "text/html,application/xhtml+xml,application/pdf,text/plain;q=0.9,*/*;q=0.5",
            "Accept-Language": "en-US,en;q=0.8,zh;q=0.5"}


class DirectFetcher:
    """PageBackend over plain HTTP(S); 404 and 410 mean "no such page" (None)."""

    name = "direct"

    def __init__(self, *, allow_private: bool = False, max_bytes: int = 20_000_000,
                 max_redirects: int = 5, timeout: float = 30.0,
                 allowed_hosts: frozenset[str] = frozenset(),
                 client: httpx.AsyncClient | None = None) -> None:
        self.allow_private = allow_private
        self.allowed_hosts = frozenset(h.lower() for h in allowed_hosts)
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._client = client or make_client(timeout=timeout, headers=_HEADERS)
        self._owns_client = client is None

    async def fetch(self, url: str) -> Page | None:
        current = url
        for _ in range(self.max_redirects + 1):
            await check_url(current, allow_private=self.allow_private,
                            allowed_hosts=self.allowed_hosts)
            try:
                async with self._client.stream("GET", current) as response:
                    if response.status_code in _REDIRECTS and "location" in response.headers:
                        current = urljoin(current, response.headers["location"])
                        continue
                    if response.status_code in (404, 410):
                        return None
                    if response.status_code >= 400:
                        await response.aread()
                        check_response(response, self.name)
                    body = await self._read_capped(response, current)
                    content_type = response.headers.get("content-type", "")
                    return to_page(str(response.url), body, content_type)
            except httpx.HTTPError as exc:
                raise transport_error(exc, self.name) from exc
        raise BlockedURLError(f"refused {url!r}: more than {self.max_redirects} redirects",
                              provider=self.name)

    async def _read_capped(self, response: httpx.Response, url: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise BlockedURLError(f"refused {url!r}: {declared} bytes is over the "
                                  f"{self.max_bytes}-byte limit", provider=self.name)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise BlockedURLError(f"refused {url!r}: body is over the {self.max_bytes}-"
                                      "byte limit", provider=self.name)
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def to_page(url: str, body: bytes, content_type: str) -> Page:
    """Turn a response body into a Page by its content type (sniffing when it is vague)."""
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    charset = None
    for param in params.split(";"):
        key, _, value = param.partition("=")
        if key.strip().lower() == "charset":
            charset = value.strip()
    head = body[:1024].lstrip().lower()
    if mime == "application/pdf" or body.startswith(b"%PDF-"):
        return Page(url=url, text=pdf_to_text(body), content_type="application/pdf")
    if mime in _HTML or (mime in ("", "application/octet-stream", "text/plain")
                         and head.startswith((b"<!doctype html", b"<html"))):
        html = decode_text(body, charset)
        return Page(url=url, text=html_to_text(html, url), title=html_title(html),
                    content_type="text/html")
    if mime.startswith(_TEXT) or not mime:
        return Page(url=url, text=decode_text(body, charset), content_type=mime or "text/plain")
    from .files import parse_bytes, supported_suffix

    suffix = supported_suffix(url, mime)
    if suffix is None:
        raise ProviderError(f"cannot read {mime} content at {url}", provider="direct")
    return Page(url=url, text=parse_bytes(body, suffix), content_type=mime)
