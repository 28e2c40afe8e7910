"""The keyless `ddgs` search provider and the missing-key messages that point to it."""

from __future__ import annotations

from pathlib import Path

import pytest

from sounding.config import load_settings
from sounding.env.web import web_environment
from sounding.errors import ConfigError, ProviderError, RateLimitError
from sounding.providers.ddgs import DdgsSearch
from sounding.providers.web import build_chain
from sounding.tools.base import ToolContext


class FakeDDGS:
    """Stands in for `ddgs.DDGS` (which cannot be pointed at a loopback server)."""

    def __init__(self, rows: object = None, error: Exception | None = None) -> None:
        self.rows = rows
        self.error = error
        self.calls: list[tuple[str, str, int | None]] = []

    def text(self, query: str, *, region: str = "us-en", max_results: int | None = 10
             ) -> list[dict[str, object]]:
        self.calls.append((query, region, max_results))
        if self.error is not None:
            raise self.error
        return self.rows  # type: ignore[return-value]


class DDGSException(Exception):  # the package's names, which the adapter maps by name
    pass


class RatelimitException(DDGSException):
    pass


ROWS = [{"title": "Fingal's Cave", "href": "https://en.wikipedia.org/wiki/Fingal%27s_Cave",
         "body": "A sea cave on Staffa."},
        {"title": "no link", "body": "dropped"},
        {"title": "bad scheme", "href": "javascript:alert(1)", "body": "dropped"},
        "not a dict",
        {"title": "Staffa", "href": "https://www.nts.org.uk/visit/places/staffa", "body": ""}]


async def test_ddgs_results_become_search_hits() -> None:
    fake = FakeDDGS(ROWS)
    search = DdgsSearch(client_factory=lambda timeout: fake)
    hits = await search.search("Fingal's Cave", num=5)
    assert [h.url for h in hits] == ["https://en.wikipedia.org/wiki/Fingal%27s_Cave",
                                     "https://www.nts.org.uk/visit/places/staffa"]
    assert hits[0].snippet == "A sea cave on Staffa."
    await search.search("芬格尔洞", num=3)
    assert fake.calls[1][1:] == ("cn-zh", 3)


@pytest.mark.parametrize(("error", "kind", "text"), [
    (RatelimitException("202 Ratelimit"), RateLimitError, "rate limited"),
    (DDGSException("https://html.duckduckgo.com 403"), ProviderError, "ddgs failed"),
    (OSError("network down"), ProviderError, "network down"),
])
async def test_ddgs_errors_are_provider_errors(error: Exception, kind: type, text: str) -> None:
    search = DdgsSearch(client_factory=lambda timeout: FakeDDGS(error=error))
    with pytest.raises(kind, match=text):
        await search.search("q")


async def test_no_results_is_an_empty_list_and_junk_is_an_error() -> None:
    empty = DdgsSearch(client_factory=lambda t: FakeDDGS(error=DDGSException("No results found.")))
    assert await empty.search("q") == []
    junk = DdgsSearch(client_factory=lambda t: FakeDDGS({"not": "a list"}))
    with pytest.raises(ProviderError, match="not a list"):
        await junk.search("q")


async def test_the_real_package_never_runs_under_the_tests_offline_switch() -> None:
    with pytest.raises(ProviderError, match="forbidden"):
        await DdgsSearch().search("q")


def _settings(tmp_path: Path, environ: dict[str, str], **flags: object) -> object:
    return load_settings({"env": "web", "cache_dir": tmp_path, "web.no_cache": True,
                          **flags}, environ=environ, config_file=None)


def test_a_missing_key_says_how_to_go_keyless_or_offline(tmp_path: Path) -> None:
    from sounding.providers.web import ChainBuilder as _Builder

    settings = _settings(tmp_path, {}, **{"web.search": "serper"})
    with pytest.raises(ConfigError) as caught:
        build_chain(_Builder(settings), "search", "serper")  # type: ignore[arg-type]
    message = str(caught.value)
    assert "SERPER_API_KEY" in message and "web.search=ddgs" in message
    assert "--env offline" in message


async def test_without_a_serper_key_the_default_chain_searches_through_ddgs(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from sounding.providers import ddgs

    monkeypatch.setattr(ddgs, "_real_client", lambda timeout: FakeDDGS(ROWS))
    monkeypatch.setattr(ddgs, "_check_real_requests_allowed", lambda: None)
    settings = _settings(tmp_path, {})  # the default chain, serper first, and no key
    env = web_environment(settings, summary_model=None, only=["search"])  # type: ignore[arg-type]
    try:
        out = await env.tools["search"]({"query": ["Fingal's Cave"]}, ToolContext())
    finally:
        await env.aclose()
    assert "https://en.wikipedia.org/wiki/Fingal%27s_Cave" in out.text
