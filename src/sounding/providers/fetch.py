"""The direct fetcher: httpx with redirects followed by hand, each hop vetted by the URL policy.

Responses are capped in size; HTML becomes main text (trafilatura), PDF text via
pypdf, office documents via the file parsers, text and JSON pass as they are.
"""

from __future__ import annotations

import ssl
from urllib.parse import urljoin

import httpx

from ..errors import BlockedURLError, ProviderError
from ._http import USER_AGENT, check_response, make_client, transport_error
from .base import Page
from .extract import decode_text, html_title, html_to_text, looks_binary, off_loop, pdf_to_text
from .urlpolicy import PinnedBackend, check_scheme, pinned_transport

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
                 client: httpx.AsyncClient | None = None,
                 network: PinnedBackend | None = None,
                 verify: ssl.SSLContext | bool = True) -> None:
        """`network` vets and pins every connection (built from `allowed_hosts` unless given);
        `allow_private` turns the address check off; `client` replaces all of that."""
        self.allow_private = allow_private
        self.max_bytes = max_bytes
        self.max_redirects = max_redirects
        self._owns_client = client is None
        if client is None and allow_private:
            client = make_client(timeout=timeout, headers=_HEADERS)
        elif client is None:
            transport = pinned_transport(network or PinnedBackend(allowed_hosts=allowed_hosts),
                                         verify=verify)
            client = httpx.AsyncClient(transport=transport, timeout=timeout,
                                       headers={"User-Agent": USER_AGENT, **_HEADERS},
                                       follow_redirects=False)
        self._client = client

    async def fetch(self, url: str, *, stats: object = None) -> Page | None:
        current = url
        for _ in range(self.max_redirects + 1):
            check_scheme(current)
            try:
                async with self._client.stream("GET", current) as response:
                    location = response.headers.get("location")
                    if response.status_code in _REDIRECTS and location:
                        current = urljoin(current, location)
                        continue
                    body = await self._body(response)
                    final, kind = str(response.url), response.headers.get("content-type", "")
            except BlockedURLError as exc:
                raise BlockedURLError(f"refused {current!r}: {exc}", provider=self.name) from exc
            except (httpx.InvalidURL, httpx.UnsupportedProtocol, UnicodeError) as exc:
                # A URL that passed the policy but not httpx: refuse it, never hand it on.
                raise BlockedURLError(f"refused {current!r}: not a valid URL ({exc})",
                                      provider=self.name) from exc
            except httpx.HTTPError as exc:
                raise transport_error(exc, self.name, current) from exc
            # Parsing is CPU work on what a stranger sent: off the event loop, time-limited.
            return None if body is None else await off_loop(to_page, final, body, kind)
        raise BlockedURLError(f"refused {url!r}: more than {self.max_redirects} redirects",
                              provider=self.name)

    async def _body(self, response: httpx.Response) -> bytes | None:
        if response.status_code in (404, 410):
            return None
        if response.status_code >= 400:
            await response.aread()
            check_response(response, self.name)
        return await self._read_capped(response)

    async def _read_capped(self, response: httpx.Response) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.max_bytes:
            raise BlockedURLError(f"{declared} bytes is over the {self.max_bytes}-byte limit",
                                  provider=self.name)
        chunks: list[bytes] = []
        size = 0
        async for chunk in response.aiter_bytes():
            size += len(chunk)
            if size > self.max_bytes:
                raise BlockedURLError(f"the body is over the {self.max_bytes}-byte limit",
                                      provider=self.name)
            chunks.append(chunk)
        return b"".join(chunks)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def to_page(url: str, body: bytes, content_type: str) -> Page:
    """Turn a response body into a Page by its content type (sniffing when it is vague)."""
    mime, _, params = content_type.partition(";")
    mime = mime.strip().lower()
    charset = next((value.strip() for key, _, value in (p.partition("=") for p in
                    params.split(";")) if key.strip().lower() == "charset"), None)
    head = body[:1024].lstrip().lower()
    if mime == "application/pdf" or body.startswith(b"%PDF-"):
        return Page(url=url, text=pdf_to_text(body), content_type="application/pdf")
    is_html = mime in _HTML or (mime in ("", "application/octet-stream", "text/plain")
                                and head.startswith((b"<!doctype html", b"<html")))
    if is_html or mime.startswith(_TEXT) or not mime:
        text = decode_text(body, charset)
        if looks_binary(text):
            raise ProviderError(f"the body at {url} is binary data, not the "
                                f"{mime or 'text'} its server declared", provider="direct")
        if is_html:
            return Page(url=url, text=_html_text(text, url), title=html_title(text),
                        content_type="text/html")
        return Page(url=url, text=text, content_type=mime or "text/plain")
    from .files import parse_bytes, supported_suffix

    suffix = supported_suffix(url, mime)
    if suffix is None:
        raise ProviderError(f"cannot read {mime} content at {url}", provider="direct")
    return Page(url=url, text=parse_bytes(body, suffix), content_type=mime)


def _html_text(html: str, url: str) -> str:
    try:
        return html_to_text(html, url)
    except (ValueError, SyntaxError, RecursionError, TypeError, AttributeError) as exc:
        # lxml and trafilatura give up on some malformed or absurdly nested markup.
        raise ProviderError(f"the page at {url} cannot be parsed as HTML "
                            f"({type(exc).__name__}: {str(exc)[:200]})",
                            provider="direct") from exc
