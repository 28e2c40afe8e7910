"""The direct fetcher, the URL policy (SSRF) and Jina Reader, against loopback servers."""

from __future__ import annotations

import json

import pytest

from sounding.errors import BlockedURLError, ProviderError
from sounding.providers.fetch import DirectFetcher
from sounding.providers.jina import JinaReader
from sounding.providers.urlpolicy import check_url, is_public_address

from .documents import ARTICLE_HTML, make_docx, make_pdf
from .loopback import LoopbackServer, Reply


def _fetcher(**kw: object) -> DirectFetcher:
    return DirectFetcher(allow_private=True, timeout=5.0, **kw)


async def test_html_main_text_keeps_table_and_links_and_drops_boilerplate() -> None:
    with LoopbackServer({"/cave": Reply(body=ARTICLE_HTML,
                                        content_type="text/html; charset=utf-8")}) as server:
        fetcher = _fetcher()
        page = await fetcher.fetch(server.base_url + "/cave")
        await fetcher.aclose()
    assert page is not None and page.content_type == "text/html"
    assert page.title == "Basalt columns of Fingal's Cave"
    assert "hexagonally jointed basalt" in page.text
    assert "72 metres" in page.text and "|" in page.text  # the table survived as a table
    assert "https://en.wikipedia.org/wiki/Joseph_Banks" in page.text  # links kept
    assert "Cookie settings" not in page.text


@pytest.mark.parametrize(("content_type", "body"), [
    ("text/html; charset=windows-1251", "<html><body><p>Привет, мир. Это тестовая страница о "
     "базальтовых колоннах и пещере Фингала на острове Стаффа.</p></body></html>"),
    ("text/html", "<html><head><meta charset=\"windows-1251\"></head><body><p>Привет, мир. "
     "Это тестовая страница о базальтовых колоннах и пещере Фингала.</p></body></html>"),
])
async def test_charset_from_header_or_meta(content_type: str, body: str) -> None:
    raw = body.encode("cp1251")
    with LoopbackServer({"/ru": Reply(body=raw, content_type=content_type)}) as server:
        fetcher = _fetcher()
        page = await fetcher.fetch(server.base_url + "/ru")
        await fetcher.aclose()
    assert page is not None and "Привет, мир" in page.text


async def test_pdf_json_text_and_docx_bodies() -> None:
    routes = {
        "/paper.pdf": Reply(body=make_pdf(["Sounding PDF fixture", "second line 42"]),
                            content_type="application/pdf"),
        "/data.json": Reply(body={"answer": 42}),
        "/notes.txt": Reply(body="plain notes", content_type="text/plain"),
        "/report.docx": Reply(body=make_docx(["Docx body text"]), content_type=(
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document")),
    }
    with LoopbackServer(routes) as server:  # type: ignore[arg-type]
        fetcher = _fetcher()
        pdf = await fetcher.fetch(server.base_url + "/paper.pdf")
        data = await fetcher.fetch(server.base_url + "/data.json")
        text = await fetcher.fetch(server.base_url + "/notes.txt")
        docx = await fetcher.fetch(server.base_url + "/report.docx")
        await fetcher.aclose()
    assert pdf is not None and "Sounding PDF fixture" in pdf.text and "42" in pdf.text
    assert data is not None and json.loads(data.text) == {"answer": 42}
    assert text is not None and text.text == "plain notes"
    assert docx is not None and "Docx body text" in docx.text


async def test_redirects_are_followed_and_404_is_none() -> None:
    routes = {
        "/old": Reply(301, "", headers={"Location": "/new"}),
        "/new": Reply(body="<html><body><p>" + "Arrived at the new page. " * 10
                      + "</p></body></html>", content_type="text/html"),
        "/loop": Reply(302, "", headers={"Location": "/loop"}),
    }
    with LoopbackServer(routes) as server:  # type: ignore[arg-type]
        fetcher = _fetcher(max_redirects=3)
        page = await fetcher.fetch(server.base_url + "/old")
        assert page is not None and page.url.endswith("/new") and "Arrived" in page.text
        assert await fetcher.fetch(server.base_url + "/missing") is None
        with pytest.raises(BlockedURLError, match="redirects"):
            await fetcher.fetch(server.base_url + "/loop")
        await fetcher.aclose()
    assert sum(1 for r in server.requests if r.path == "/loop") == 4


async def test_server_errors_are_retryable_provider_errors() -> None:
    with LoopbackServer({"/boom": Reply(503, "busy")}) as server:
        fetcher = _fetcher()
        with pytest.raises(ProviderError) as info:
            await fetcher.fetch(server.base_url + "/boom")
        await fetcher.aclose()
    assert info.value.retryable and info.value.status == 503


async def test_size_cap_by_header_and_by_stream() -> None:
    big = b"x" * 50_000
    with LoopbackServer({"/big": Reply(body=big, content_type="text/plain")}) as server:
        fetcher = _fetcher(max_bytes=10_000)
        with pytest.raises(BlockedURLError, match="limit"):
            await fetcher.fetch(server.base_url + "/big")
        await fetcher.aclose()


@pytest.mark.parametrize("address", ["127.0.0.1", "10.1.2.3", "192.168.0.1", "172.16.5.4",
                                     "169.254.169.254", "0.0.0.0", "::1", "fe80::1",
                                     "::ffff:127.0.0.1", "100.64.0.1", "224.0.0.1",
                                     # IPv6 forms wrapping a private IPv4 (NAT64, 6to4)
                                     "64:ff9b::10.0.0.1", "64:ff9b::7f00:1",
                                     "2002:a00:1::1", "2002:7f00:1::1"])
def test_non_public_addresses(address: str) -> None:
    assert not is_public_address(address)


def test_public_addresses() -> None:
    assert is_public_address("93.184.216.34") and is_public_address("2606:4700::1111")
    assert is_public_address("64:ff9b::5db8:d822")  # NAT64 of 93.184.216.34


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "gopher://x",
                                 "http://127.0.0.1/", "http://localhost:8080/admin",
                                 "http://169.254.169.254/latest/meta-data/", "http://[::1]/",
                                 "http://10.0.0.8/internal", "http:///nohost"])
async def test_policy_refuses_schemes_and_private_hosts(url: str) -> None:
    with pytest.raises(BlockedURLError):
        await check_url(url)


async def test_policy_allows_public_literal_addresses() -> None:
    await check_url("https://93.184.216.34/page")  # no DNS needed for a literal


async def test_default_fetcher_refuses_loopback_without_contacting_it() -> None:
    with LoopbackServer({"/secret": Reply(body="secret")}) as server:
        fetcher = DirectFetcher(timeout=5.0)
        with pytest.raises(BlockedURLError, match="non-public"):
            await fetcher.fetch(server.base_url + "/secret")
        await fetcher.aclose()
    assert server.requests == []


@pytest.mark.parametrize("target", ["http://localhost:{port}/secret",
                                    "http://169.254.169.254/latest/meta-data/",
                                    "http://10.0.0.1/", "file:///etc/passwd"])
async def test_redirect_to_a_private_address_is_refused(target: str) -> None:
    """The first host is trusted explicitly; where it redirects to is checked again."""
    with LoopbackServer({}) as server:
        location = target.format(port=server.port)
        server.routes["/hop"] = Reply(302, "", headers={"Location": location})
        server.routes["/secret"] = Reply(body="secret")
        fetcher = DirectFetcher(allowed_hosts=frozenset({"127.0.0.1"}), timeout=5.0)
        with pytest.raises(BlockedURLError):
            await fetcher.fetch(server.base_url + "/hop")
        await fetcher.aclose()
    assert [r.path for r in server.requests] == ["/hop"]


JINA_OK = {"code": 200, "status": 20000,
           "data": {"title": "Example Domain", "description": "", "url": "https://example.com/",
                    "content": "This domain is for use in illustrative examples.",
                    "publishedTime": "2024-01-02T03:04:05Z", "usage": {"tokens": 42}},
           "meta": {"usage": {"tokens": 42}}}


async def test_jina_reader_json_mode() -> None:
    with LoopbackServer({"/*": Reply(body=JINA_OK)}) as server:
        reader = JinaReader(server.base_url, "jina_key")
        page = await reader.fetch("https://example.com/")
        await reader.aclose()
    assert page is not None and page.title == "Example Domain"
    assert page.text.startswith("This domain")
    request = server.requests[0]
    assert request.path == "/https://example.com/"
    assert request.headers["authorization"] == "Bearer jina_key"
    assert request.headers["accept"] == "application/json"


async def test_jina_errors() -> None:
    limited = {"data": None, "code": 429, "name": "RateLimitTriggeredError", "status": 42903,
               "message": "Per IP rate limit exceeded", "retryAfter": 20}
    failed = {"data": None, "code": 422, "name": "AssertionFailureError", "status": 42206,
              "message": "Failed to goto https://down.example/"}
    routes = {"/https://busy.example/": Reply(429, limited),
              "/https://down.example/": Reply(422, failed)}
    with LoopbackServer(routes) as server:  # type: ignore[arg-type]
        reader = JinaReader(server.base_url, None)
        with pytest.raises(ProviderError) as info:
            await reader.fetch("https://busy.example/")
        assert info.value.retryable
        with pytest.raises(ProviderError, match="could not read"):
            await reader.fetch("https://down.example/")
        with pytest.raises(BlockedURLError):
            await reader.fetch("file:///etc/passwd")
        await reader.aclose()
    assert "authorization" not in server.requests[0].headers
