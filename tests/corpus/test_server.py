"""The corpus server on loopback: SearXNG and Serper search, page and Jina endpoints."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest

from sounding.corpus import Corpus
from sounding.corpus.server import CorpusServer


@pytest.fixture
def server(tiny: Corpus) -> Iterator[CorpusServer]:
    with CorpusServer(tiny, "127.0.0.1", 0) as srv:
        yield srv


def test_searxng_json(server: CorpusServer) -> None:
    r = httpx.get(server.url + "/search", params={"q": "closest star", "format": "json"})
    assert r.status_code == 200
    data = r.json()
    assert data["query"] == "closest star"
    first = data["results"][0]
    assert first["url"] == "https://example.org/alpha" and first["title"] == "Alpha Centauri"
    assert "closest star" in first["content"]
    assert first["parsed_url"][1] == "example.org"
    assert httpx.get(server.url + "/search", params={"q": "", "format": "json"}
                     ).status_code == 400
    page2 = httpx.get(server.url + "/search", params={"q": "star", "format": "json",
                                                      "pageno": 2}).json()
    assert page2["results"] == []
    form = httpx.post(server.url + "/search", data={"q": "北京", "format": "json"}).json()
    assert form["results"][0]["title"] == "北京"


def test_serper_json(server: CorpusServer) -> None:
    r = httpx.post(server.url + "/search", json={"q": "debris disk planets", "num": 1})
    data = r.json()
    assert data["searchParameters"]["q"] == "debris disk planets"
    assert [o["link"] for o in data["organic"]] == ["https://example.org/beta"]
    assert data["organic"][0]["position"] == 1
    assert httpx.post(server.url + "/search", content=b"{bad").status_code == 400
    assert httpx.post(server.url + "/search", json={"q": ""}).status_code == 400


def test_page_endpoint(server: CorpusServer) -> None:
    r = httpx.get(server.url + "/page", params={"url": "http://example.org/alpha/"})
    assert r.status_code == 200
    assert r.json()["url"] == "https://example.org/alpha"
    assert "4.37 light-years" in r.json()["text"]
    missing = httpx.get(server.url + "/page", params={"url": "https://example.org/none"})
    assert missing.status_code == 404
    links = httpx.get(server.url + "/links", params={"url": "https://example.org/alpha"})
    assert {"url": "https://example.org/beta", "kind": "href", "anchor": "Beta Pictoris"} in \
        links.json()["links"]
    assert httpx.get(server.url + "/stats").json()["documents"] == 3


def test_jina_reader_endpoint(server: CorpusServer) -> None:
    text = httpx.get(server.url + "/r/https://example.org/alpha").text
    assert text.startswith("Title: Alpha Centauri\n\nURL Source: https://example.org/alpha\n")
    assert "Markdown Content:\nAlpha Centauri is the closest" in text
    data = httpx.get(server.url + "/https://example.org/zh/beijing",
                     headers={"Accept": "application/json"}).json()["data"]
    assert data["title"] == "北京" and "首都" in data["content"]
    assert httpx.get(server.url + "/r/" + quote("https://example.org/nope")).status_code == 404


async def test_web_providers_against_the_server(server: CorpusServer) -> None:
    """The project's own SearXNG and Jina clients read the corpus as if it were the web."""
    from sounding.providers.jina import JinaReader
    from sounding.providers.searxng import SearxngSearch

    search = SearxngSearch(base_url=server.url)
    reader = JinaReader(base_url=server.url)
    try:
        hits = await search.search("closest star", num=5)
        assert hits[0].url == "https://example.org/alpha"
        page = await reader.fetch("https://example.org/alpha")
        assert page is not None and "light-years" in page.text
        assert await reader.fetch("https://example.org/none") is None
    finally:
        await search.aclose()
        await reader.aclose()


async def test_concurrent_clients(server: CorpusServer) -> None:
    async with httpx.AsyncClient(base_url=server.url) as client:
        async def one(i: int) -> int:
            r = await client.get("/search", params={"q": f"star {i}", "format": "json"})
            return len(r.json()["results"])

        counts = await asyncio.gather(*(one(i) for i in range(64)))
    assert all(c >= 2 for c in counts)
