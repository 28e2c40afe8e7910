"""Observation text of `search` and `google_scholar` (the frames the model was trained on)."""

from __future__ import annotations

from sounding.providers.base import SearchHit
from sounding.tools import SearchTool, ToolContext, format_search_results


def test_web_results_frame() -> None:
    hits = [SearchHit("Steve Jobs", "https://en.wikipedia.org/wiki/Steve_Jobs", "Co-founder.",
                      "Oct 5, 2011", "Wikipedia")]
    assert format_search_results("jobs", hits) == (
        "A Google search for 'jobs' found 1 results:\n\n## Web Results\n"
        "1. [Steve Jobs](https://en.wikipedia.org/wiki/Steve_Jobs)\nDate published: "
        "Oct 5, 2011\nSource: Wikipedia\n\nCo-founder.")  # upstream's blank line


def test_scholar_results_have_their_own_section_and_fields() -> None:
    hits = [
        SearchHit("Attention Is All You Need", "https://arxiv.org/abs/1706.03762",
                  "The dominant sequence transduction models...", "2017",
                  authors=("A Vaswani", "N Shazeer", "N Parmar", "J Uszkoreit", "L Jones"),
                  venue="NeurIPS", cited_by=120000, pdf_url="https://arxiv.org/pdf/1706.03762"),
        SearchHit("A paper with no link", "", "", authors=("A Author",)),
    ]
    assert format_search_results("attention", hits, scholar=True) == (
        "A Google scholar for 'attention' found 2 results:\n\n## Scholar Results\n"
        "1. [Attention Is All You Need](https://arxiv.org/abs/1706.03762)\n"
        "publicationInfo: A Vaswani, N Shazeer, N Parmar, J Uszkoreit et al. - NeurIPS\n"
        "Date published: 2017\ncitedBy: 120000\npdfUrl: https://arxiv.org/pdf/1706.03762\n\n"
        "The dominant sequence transduction models...\n\n"
        "2. [A paper with no link](no available link)\npublicationInfo: A Author")


def test_no_results_line() -> None:
    assert format_search_results("zzz", [], scholar=True) == (
        "No results found for 'zzz'. Try with a more general query.")


class Backend:
    name = "fake"

    async def search(self, query: str, *, num: int = 10, stats: object = None
                     ) -> list[SearchHit]:
        return [SearchHit(f"About {query}", "", "no link")]


async def test_queries_are_joined_and_empty_links_are_not_sources() -> None:
    out = await SearchTool(Backend(), scholar=True)({"query": ["a", "b"]}, ToolContext())
    assert out.text.count("## Scholar Results") == 2 and "\n=======\n" in out.text
    assert out.sources == ()
