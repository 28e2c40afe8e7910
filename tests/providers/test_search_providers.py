"""Search and scholar providers against loopback fakes that speak each API's real format."""
# ruff: noqa: E501  (the arXiv feeds below are verbatim recorded bytes)

from __future__ import annotations

import pytest

from sounding.errors import ProviderAuthError, ProviderError
from sounding.providers.arxiv import ArxivSearch
from sounding.providers.brave import BraveSearch
from sounding.providers.openalex import OpenAlexSearch, invert_abstract
from sounding.providers.searxng import SearxngSearch
from sounding.providers.semantic_scholar import SemanticScholarSearch
from sounding.providers.serper import SerperScholar, SerperSearch
from sounding.providers.tavily import TavilySearch

from .loopback import LoopbackServer, Reply, Request

SERPER_SEARCH = {
    "searchParameters": {"q": "Steve Jobs", "gl": "us", "hl": "en", "type": "search",
                         "engine": "google"},
    "knowledgeGraph": {"title": "Steve Jobs", "type": "Former CEO of Apple"},
    "organic": [
        {"title": "Steve Jobs - Wikipedia", "link": "https://en.wikipedia.org/wiki/Steve_Jobs",
         "snippet": "Steven Paul Jobs (February 24, 1955 – October 5, 2011)...",
         "date": "Oct 5, 2011", "sitelinks": [{"title": "Steve Wozniak", "link": "https://x"}],
         "position": 1},
        {"title": "Apple bio", "link": "https://apple.com/jobs", "snippet": "Co-founder",
         "position": 2},
    ],
    "relatedSearches": [{"query": "Steve Jobs book"}],
    "credits": 1,
}
SERPER_SCHOLAR = {
    "searchParameters": {"q": "apple inc", "type": "scholar", "num": 10, "page": 1},
    "organic": [{"title": "Apple Inc. in 2012", "link": "https://www.academia.edu/a",
                 "publicationInfo": "DB Yoffie, P Rossano - 2012 - academia.edu",
                 "snippet": "Apple ...", "year": 2012, "citedBy": 90,
                 "pdfUrl": "https://www.academia.edu/a.pdf", "id": "yxbEyzVD4yYJ"},
                {"title": "No link paper", "publicationInfo": "A Author - 2001", "year": 2001,
                 "snippet": "text", "id": "z"}],
    "credits": 1,
}


async def test_serper_search_sends_key_and_reads_organic() -> None:
    with LoopbackServer({"/search": Reply(body=SERPER_SEARCH)}) as server:
        provider = SerperSearch(server.base_url, "sk-test")
        hits = await provider.search("Steve Jobs", num=10)
        await provider.aclose()
    assert [h.url for h in hits] == ["https://en.wikipedia.org/wiki/Steve_Jobs",
                                     "https://apple.com/jobs"]
    assert hits[0].date == "Oct 5, 2011" and hits[1].date is None
    request = server.requests[0]
    assert request.method == "POST" and request.headers["x-api-key"] == "sk-test"
    assert request.json() == {"q": "Steve Jobs", "location": "United States", "gl": "us",
                              "hl": "en", "num": 10}


async def test_serper_chinese_query_gets_chinese_locale() -> None:
    with LoopbackServer({"/search": Reply(body={"organic": [], "credits": 1})}) as server:
        provider = SerperSearch(server.base_url, "k")
        assert await provider.search("通义 深度研究") == []
        await provider.aclose()
    body = server.requests[0].json()
    assert isinstance(body, dict)
    assert (body["gl"], body["hl"], body["location"]) == ("cn", "zh-cn", "China")


async def test_serper_scholar_maps_publication_info_year_and_citations() -> None:
    with LoopbackServer({"/scholar": Reply(body=SERPER_SCHOLAR)}) as server:
        provider = SerperScholar(server.base_url, "k")
        hits = await provider.search("apple inc")
        await provider.aclose()
    assert hits[0].url == "https://www.academia.edu/a"
    assert hits[0].pdf_url == "https://www.academia.edu/a.pdf"
    assert hits[0].authors == ("DB Yoffie", "P Rossano")
    assert hits[0].venue == "2012 - academia.edu"
    assert hits[0].date == "2012" and hits[0].cited_by == 90 and hits[0].snippet == "Apple ..."
    assert hits[1].url == "" and hits[1].pdf_url is None and hits[1].cited_by is None
    assert server.requests[0].path == "/scholar"


@pytest.mark.parametrize(("status", "body", "auth", "retryable"), [
    (403, {"message": "Unauthorized.", "statusCode": 403}, True, False),
    (400, {"message": "Not enough credits", "statusCode": 400}, False, False),
    (429, {"message": "Too many requests"}, False, True),
    (502, "bad gateway", False, True),
])
async def test_serper_errors_map_to_provider_errors(status: int, body: object, auth: bool,
                                                    retryable: bool) -> None:
    with LoopbackServer({"/search": Reply(status, body)}) as server:
        provider = SerperSearch(server.base_url, "k")
        with pytest.raises(ProviderError) as info:
            await provider.search("q")
        await provider.aclose()
    assert isinstance(info.value, ProviderAuthError) == auth
    assert info.value.retryable == retryable and info.value.status == status
    if auth:
        assert "SERPER_API_KEY" in str(info.value)


SEARXNG_PAGE = {
    "query": "searxng",
    "results": [
        {"url": "https://github.com/searxng/searxng", "title": "SearXNG",
         "content": "Privacy-respecting metasearch", "engine": "duckduckgo",
         "engines": ["duckduckgo", "brave"], "positions": [1, 3], "score": 3.5,
         "category": "general", "publishedDate": "2024-01-15T00:00:00", "thumbnail": ""},
        {"url": "https://docs.searxng.org/", "title": "Docs", "content": "Documentation",
         "engine": "brave", "publishedDate": None},
    ],
    "answers": [], "corrections": [], "infoboxes": [], "suggestions": ["searxng docker"],
    "unresponsive_engines": [["google", "timeout"]],
}


async def test_searxng_pages_until_enough_and_dedupes() -> None:
    def handle(request: Request) -> Reply:
        if request.query.get("format") != "json":
            return Reply(400, {"error": "format"})
        return Reply(body=SEARXNG_PAGE)  # the same page again: nothing new -> stop

    with LoopbackServer({"/search": handle}) as server:
        provider = SearxngSearch(server.base_url)
        hits = await provider.search("searxng", num=5)
        await provider.aclose()
    assert [h.url for h in hits] == ["https://github.com/searxng/searxng",
                                     "https://docs.searxng.org/"]
    assert hits[0].date == "2024-01-15" and hits[1].date is None
    assert [r.query["pageno"] for r in server.requests] == ["1", "2"]


async def test_searxng_json_disabled_says_how_to_enable_it() -> None:
    with LoopbackServer({"/search": Reply(403, "Forbidden")}) as server:
        provider = SearxngSearch(server.base_url)
        with pytest.raises(ProviderError, match=r"search\.formats"):
            await provider.search("x")
        await provider.aclose()


BRAVE = {
    "type": "search",
    "query": {"original": "python frameworks", "more_results_available": True},
    "web": {"type": "search", "family_friendly": True, "results": [
        {"type": "search_result", "title": "Top Python Web Frameworks",
         "url": "https://example.com/py", "description": "A <strong>comprehensive</strong> guide",
         "age": "2 days ago", "page_age": "2025-04-12T14:22:41", "language": "en",
         "profile": {"name": "Example", "url": "https://example.com"},
         "meta_url": {"scheme": "https", "hostname": "example.com"}}]},
    "mixed": {"type": "mixed", "main": [{"type": "web", "index": 0, "all": False}]},
}


async def test_brave_reads_web_results_and_sends_subscription_token() -> None:
    with LoopbackServer({"/web/search": Reply(body=BRAVE)}) as server:
        provider = BraveSearch(server.base_url, "brave-key")
        hits = await provider.search("python frameworks", num=50)
        await provider.aclose()
    assert hits[0].snippet == "A comprehensive guide" and hits[0].date == "2025-04-12"
    assert hits[0].source == "Example"
    request = server.requests[0]
    assert request.headers["x-subscription-token"] == "brave-key"
    assert request.query["count"] == "20"


async def test_brave_invalid_key_is_422_and_an_auth_error() -> None:
    body = {"type": "ErrorResponse", "error": {"id": "5d83", "status": 422,
            "code": "SUBSCRIPTION_TOKEN_INVALID",
            "detail": "The provided subscription token is invalid."}, "time": 1663072993}
    with LoopbackServer({"/web/search": Reply(422, body)}) as server:
        provider = BraveSearch(server.base_url, "bad")
        with pytest.raises(ProviderAuthError, match="BRAVE_API_KEY"):
            await provider.search("x")
        await provider.aclose()


async def test_brave_empty_mixed_without_web_block_is_no_hits() -> None:
    with LoopbackServer({"/web/search": Reply(body={"type": "search", "mixed": {"main": []}})}
                        ) as server:
        provider = BraveSearch(server.base_url, "k")
        assert await provider.search("zzzz") == []
        await provider.aclose()


async def test_tavily_bearer_key_and_results() -> None:
    body = {"query": "Who is Leo Messi?", "answer": None, "images": [],
            "results": [{"title": "Lionel Messi Facts | Britannica",
                         "url": "https://www.britannica.com/facts/Lionel-Messi",
                         "content": "Lionel Messi, an Argentine footballer", "score": 0.81,
                         "raw_content": None}],
            "response_time": "1.67", "request_id": "123e4567"}
    with LoopbackServer({"/search": Reply(body=body)}) as server:
        provider = TavilySearch(server.base_url, "tvly-1")
        hits = await provider.search("Who is Leo Messi?", num=3)
        await provider.aclose()
    assert hits[0].url == "https://www.britannica.com/facts/Lionel-Messi"
    assert server.requests[0].headers["authorization"] == "Bearer tvly-1"
    sent = server.requests[0].json()
    assert isinstance(sent, dict) and sent["max_results"] == 3


async def test_tavily_plan_limit_432_is_not_retryable() -> None:
    body = {"detail": {"error": "This request exceeds your plan's set usage limit."}}
    with LoopbackServer({"/search": Reply(432, body)}) as server:
        provider = TavilySearch(server.base_url, "k")
        with pytest.raises(ProviderError, match="usage limit") as info:
            await provider.search("x")
        await provider.aclose()
    assert not info.value.retryable


async def test_semantic_scholar_handles_nulls_and_optional_key() -> None:
    body = {"total": 70499, "offset": 0, "next": 100, "data": [
        {"paperId": "2d56", "url": "https://www.semanticscholar.org/paper/2d56",
         "title": "Computing Machinery and Intelligence", "abstract": None, "venue": "Mind",
         "year": 1950, "citationCount": 10059,
         "openAccessPdf": {"url": "", "status": None},
         "authors": [{"authorId": "2262347", "name": "A. Turing"}],
         "tldr": {"model": "tldr@v2.0.0", "text": "Can machines think?"}},
        {"paperId": "x", "title": "Second", "abstract": "An abstract.", "venue": None,
         "year": None, "openAccessPdf": {"url": "https://arxiv.org/pdf/1", "status": "GREEN"},
         "authors": []}]}
    with LoopbackServer({"/paper/search": Reply(body=body)}) as server:
        provider = SemanticScholarSearch(server.base_url, None)
        hits = await provider.search("turing test", num=2)
        await provider.aclose()
    assert hits[0].url == "https://www.semanticscholar.org/paper/2d56"
    assert hits[0].snippet == "Can machines think?" and hits[0].cited_by == 10059
    assert hits[0].authors == ("A. Turing",) and hits[0].venue == "Mind"
    assert hits[0].date == "1950" and hits[0].pdf_url is None
    assert hits[1].pdf_url == "https://arxiv.org/pdf/1" and hits[1].venue is None
    assert hits[1].authors == () and hits[1].cited_by is None
    assert "x-api-key" not in server.requests[0].headers
    assert server.requests[0].query["limit"] == "2"


async def test_semantic_scholar_429_is_retryable() -> None:
    body = {"message": "Too Many Requests. Please wait and try again", "code": "429"}
    with LoopbackServer({"/paper/search": Reply(429, body)}) as server:
        provider = SemanticScholarSearch(server.base_url, "s2")
        with pytest.raises(ProviderError) as info:
            await provider.search("x")
        await provider.aclose()
    assert info.value.retryable and server.requests[0].headers["x-api-key"] == "s2"


def test_openalex_abstract_is_rebuilt_from_the_inverted_index() -> None:
    assert invert_abstract({"Despite": [0], "growing": [1], "the": [2, 4], "gap": [3]}) == \
        "Despite growing the gap the"
    assert invert_abstract(None) == ""


async def test_openalex_works_search() -> None:
    body = {"meta": {"count": 245684, "page": 1, "per_page": 25}, "results": [
        {"id": "https://openalex.org/W2741809807", "doi": "https://doi.org/10.7717/peerj.4375",
         "title": "The state of OA", "display_name": "The state of OA",
         "publication_year": 2018, "cited_by_count": 1200, "relevance_score": 512.3,
         "authorships": [{"author_position": "first",
                          "author": {"id": "A5", "display_name": "Heather Piwowar"}}],
         "primary_location": {"is_oa": True, "landing_page_url": "https://peerj.com/4375",
                              "pdf_url": None, "source": {"display_name": "PeerJ"}},
         "abstract_inverted_index": {"Despite": [0], "growing": [1], "interest": [2]}}],
        "group_by": []}
    with LoopbackServer({"/works": Reply(body=body)}) as server:
        provider = OpenAlexSearch(server.base_url, "oa-key")
        hits = await provider.search("open access")
        await provider.aclose()
    assert hits[0].url == "https://peerj.com/4375"
    assert hits[0].snippet == "Despite growing interest" and hits[0].cited_by == 1200
    assert hits[0].authors == ("Heather Piwowar",) and hits[0].venue == "PeerJ"
    assert hits[0].date == "2018" and hits[0].pdf_url is None
    assert server.requests[0].query["api_key"] == "oa-key"


ARXIV_FEED = """<?xml version='1.0' encoding='UTF-8'?>
<feed xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/" xmlns:arxiv="http://arxiv.org/schemas/atom" xmlns="http://www.w3.org/2005/Atom">
  <id>https://arxiv.org/api/UY2mqR74Vu</id>
  <title>arXiv Query: search_query=all:testing&amp;id_list=&amp;start=0&amp;max_results=10</title>
  <updated>2026-04-12T22:10:19Z</updated>
  <opensearch:itemsPerPage>10</opensearch:itemsPerPage>
  <opensearch:totalResults>214881</opensearch:totalResults>
  <opensearch:startIndex>0</opensearch:startIndex>
  <entry>
    <id>http://arxiv.org/abs/1605.08386v1</id>
    <title>Heat-bath random walks
      with Markov bases</title>
    <updated>2016-05-26T17:59:46Z</updated>
    <link href="https://arxiv.org/abs/1605.08386v1" rel="alternate" type="text/html"/>
    <link href="https://arxiv.org/pdf/1605.08386v1" rel="related" type="application/pdf" title="pdf"/>
    <summary>Graphs on lattice points are studied
      whose edges come from a finite set.</summary>
    <category term="math.CO" scheme="http://arxiv.org/schemas/atom"/>
    <published>2016-05-26T17:59:46Z</published>
    <arxiv:comment>20 pages, 3 figures</arxiv:comment>
    <arxiv:primary_category term="math.CO"/>
    <author><name>Caprice Stanley</name></author>
    <author><name>Tobias Windisch</name></author>
  </entry>
</feed>
"""

ARXIV_ERROR = """<?xml version="1.0" encoding="UTF-8"?>
<feed xmlns="http://www.w3.org/2005/Atom" xmlns:opensearch="http://a9.com/-/spec/opensearch/1.1/">
  <title>arXiv Query: search_query=&amp;id_list=abc</title>
  <opensearch:totalResults>1</opensearch:totalResults>
  <entry>
    <id>https://arxiv.org/api/errors#incorrect_id_format_for_abc</id>
    <title>Error</title>
    <summary>incorrect id format for abc</summary>
    <author><name>arXiv api core</name></author>
  </entry>
</feed>
"""


async def test_arxiv_feed_is_parsed_with_pdf_link_and_collapsed_whitespace() -> None:
    reply = Reply(body=ARXIV_FEED, content_type="application/atom+xml; charset=utf-8")
    with LoopbackServer({"/query": reply}) as server:
        provider = ArxivSearch(server.base_url)
        hits = await provider.search("testing")
        await provider.aclose()
    assert hits[0].title == "Heat-bath random walks with Markov bases"
    assert hits[0].url == "http://arxiv.org/abs/1605.08386v1"
    assert hits[0].pdf_url == "https://arxiv.org/pdf/1605.08386v1"
    assert hits[0].snippet == "Graphs on lattice points are studied whose edges come from a " \
        "finite set."
    assert hits[0].date == "2016-05-26"
    assert hits[0].authors == ("Caprice Stanley", "Tobias Windisch")
    assert hits[0].venue == "arXiv"
    assert server.requests[0].query["search_query"] == "all:testing"


async def test_arxiv_error_feed_and_empty_feed() -> None:
    empty = ARXIV_FEED.split("<entry>")[0] + "</feed>\n"
    routes = {"/query": lambda r: Reply(400, ARXIV_ERROR, content_type="application/atom+xml")
              if r.query.get("search_query") == "id:abc" else
              Reply(body=empty, content_type="application/atom+xml")}
    with LoopbackServer(routes) as server:  # type: ignore[arg-type]
        provider = ArxivSearch(server.base_url)
        with pytest.raises(ProviderError, match="incorrect id format for abc"):
            await provider.search("id:abc")
        assert await provider.search("nothing at all") == []
        await provider.aclose()
