"""The tool layer: cache, retries, rate limit, timeout, fallback, record and replay."""

from __future__ import annotations

import asyncio
import json
import time
from pathlib import Path

import pytest

from sounding.errors import BlockedURLError, ConfigError, ProviderError, ReplayMissError
from sounding.providers.base import CallStats, Page, SearchHit
from sounding.providers.cache import CacheLayer, open_cache
from sounding.providers.fallback import FallbackChain
from sounding.providers.ratelimit import RateGate, RateLimitLayer, parse_rates
from sounding.providers.record import RecordLayer, ReplayBackend, load_recordings
from sounding.providers.retry import RetryLayer, TimeoutLayer
from sounding.providers.serper import SerperSearch

from .loopback import LoopbackServer, Reply, sequence


class FakeSearch:
    """An in-process provider: answers from a script (hits or an exception per call)."""

    def __init__(self, name: str, script: list[list[SearchHit] | Exception]) -> None:
        self.name = name
        self.script = script
        self.calls: list[str] = []

    async def search(self, query: str, *, num: int = 10, stats: object = None
                     ) -> list[SearchHit]:
        self.calls.append(query)
        item = self.script[min(len(self.calls), len(self.script)) - 1]
        if isinstance(item, Exception):
            raise item
        return item


HITS = [SearchHit("T", "https://t.example/", "snippet", "2024", "Src")]


async def test_cache_answers_repeats_from_disk_and_counts_hits(tmp_path: Path) -> None:
    cache = open_cache(tmp_path / "c")
    fake = FakeSearch("fake", [HITS])
    layer = CacheLayer(fake, cache, ttl=3600)
    stats = CallStats()
    assert await layer.search("  same   query ", stats=stats) == HITS
    assert await layer.search("same query", stats=stats) == HITS  # normalised whitespace: same key
    assert fake.calls == ["  same   query "]
    assert stats.cache_hits == 1 and stats.providers == ["fake"]
    cache.close()
    reopened = CacheLayer(FakeSearch("fake", [RuntimeError("must not be called")]),
                          open_cache(tmp_path / "c"), ttl=3600)
    assert await reopened.search("same query") == HITS  # persistent across processes
    reopened.cache.close()


async def test_cache_keeps_instances_at_different_urls_apart(tmp_path: Path) -> None:
    cache = open_cache(tmp_path / "c")
    first, second = FakeSearch("searxng", [HITS]), FakeSearch("searxng", [[]])
    first.base_url = "http://one.example"  # type: ignore[attr-defined]
    second.base_url = "http://two.example"  # type: ignore[attr-defined]
    assert await CacheLayer(first, cache, ttl=3600).search("q") == HITS
    assert await CacheLayer(second, cache, ttl=3600).search("q") == []
    assert second.calls == ["q"]
    cache.close()


async def test_cache_keeps_missing_pages_but_not_errors(tmp_path: Path) -> None:
    class Pages:
        name = "pages"
        calls = 0

        async def fetch(self, url: str, *, stats: object = None) -> Page | None:
            Pages.calls += 1
            if url.endswith("/err"):
                raise ProviderError("down", retryable=True)
            return None if url.endswith("/gone") else Page(url, "text", "T")

    layer = CacheLayer(Pages(), open_cache(tmp_path / "c"), ttl=3600)
    assert await layer.fetch("https://a.example/gone") is None
    assert await layer.fetch("https://a.example/gone#frag") is None
    page = await layer.fetch("https://a.example/ok")
    assert page == Page("https://a.example/ok", "text", "T")
    for _ in range(2):
        with pytest.raises(ProviderError):
            await layer.fetch("https://a.example/err")
    assert Pages.calls == 4
    layer.cache.close()


async def test_cache_ttl_expires(tmp_path: Path) -> None:
    fake = FakeSearch("fake", [HITS])
    layer = CacheLayer(fake, open_cache(tmp_path / "c"), ttl=-1.0)  # already expired
    await layer.search("q")
    await layer.search("q")
    assert len(fake.calls) == 2
    layer.cache.close()


async def test_cached_call_is_under_a_millisecond(tmp_path: Path) -> None:
    layer = CacheLayer(FakeSearch("fake", [HITS * 10]), open_cache(tmp_path / "c"), ttl=3600)
    await layer.search("warm")
    samples = []
    for _ in range(200):
        start = time.perf_counter()
        await layer.search("warm")
        samples.append(time.perf_counter() - start)
    layer.cache.close()
    assert sorted(samples)[len(samples) // 2] < 0.001


async def test_retry_on_retryable_errors_with_backoff_and_counts() -> None:
    flaky = FakeSearch("flaky", [ProviderError("429", retryable=True),
                                 ProviderError("503", retryable=True), HITS])
    stats = CallStats()
    layer = RetryLayer(flaky, max_retries=3, backoff_base=0.001)
    assert await layer.search("q", stats=stats) == HITS
    assert len(flaky.calls) == 3 and stats.retries == 2


async def test_no_retry_on_permanent_errors_and_give_up_after_max() -> None:
    bad = FakeSearch("bad", [ProviderError("400", status=400)])
    with pytest.raises(ProviderError, match="400"):
        await RetryLayer(bad, max_retries=3, backoff_base=0.001).search("q")
    assert len(bad.calls) == 1
    down = FakeSearch("down", [ProviderError("503", retryable=True)])
    with pytest.raises(ProviderError, match="503"):
        await RetryLayer(down, max_retries=2, backoff_base=0.001).search("q")
    assert len(down.calls) == 3


async def test_retry_against_a_real_flaky_server() -> None:
    ok = {"organic": [{"title": "A", "link": "https://a.example/", "snippet": "s"}]}
    handler = sequence(Reply(503, "busy"), Reply(429, {"message": "Too many requests"}),
                       Reply(body=ok))
    with LoopbackServer({"/search": handler}) as server:
        provider = SerperSearch(server.base_url, "k")
        stats = CallStats()
        layer = RetryLayer(TimeoutLayer(provider, seconds=5), max_retries=3,
                           backoff_base=0.001)
        hits = await layer.search("q", stats=stats)
        await layer.aclose()
    assert [h.url for h in hits] == ["https://a.example/"]
    assert stats.retries == 2 and len(server.requests) == 3 and stats.providers == ["serper"]


async def test_timeout_fails_an_attempt_as_retryable() -> None:
    never = asyncio.Event()

    class Stuck:
        name = "stuck"

        async def search(self, query: str, *, num: int = 10, stats: object = None
                     ) -> list[SearchHit]:
            await never.wait()
            return []

    with pytest.raises(ProviderError, match="did not answer") as info:
        await TimeoutLayer(Stuck(), seconds=0.05).search("q")
    assert info.value.retryable


async def test_concurrency_cap() -> None:
    release = asyncio.Event()
    state = {"now": 0, "peak": 0}

    class Slow:
        name = "slow"

        async def search(self, query: str, *, num: int = 10, stats: object = None
                     ) -> list[SearchHit]:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            await release.wait()
            state["now"] -= 1
            return []

    layer = RateLimitLayer(Slow(), RateGate(None, concurrency=2))
    tasks = [asyncio.create_task(layer.search(str(i))) for i in range(6)]
    while state["now"] < 2:
        await asyncio.sleep(0)
    for _ in range(20):
        await asyncio.sleep(0)  # give the others every chance to (wrongly) enter
    assert state["peak"] == 2
    release.set()
    await asyncio.gather(*tasks)
    assert state["peak"] == 2


async def test_rate_limit_spreads_requests() -> None:
    layer = RateLimitLayer(FakeSearch("fast", [[]]), RateGate(20.0, concurrency=100))
    start = time.perf_counter()
    await asyncio.gather(*(layer.search(str(i)) for i in range(25)))
    # 20 fit in the first second's burst; 5 more need about 0.25 s at 20/s.
    assert time.perf_counter() - start >= 0.15


def test_parse_rates() -> None:
    assert parse_rates("serper=20, arxiv=0.34,bad") == {"serper": 20.0, "arxiv": 0.34}


async def test_fallback_moves_on_and_counts_one_request() -> None:
    first = FakeSearch("first", [ProviderError("down", provider="first", retryable=True)])
    second = FakeSearch("second", [HITS])
    stats = CallStats()
    assert await FallbackChain([first, second]).search("q", stats=stats) == HITS
    assert stats.requests == 1 and first.calls == ["q"] and second.calls == ["q"]


async def test_fallback_reports_every_failure() -> None:
    chain = FallbackChain([FakeSearch("a", [ProviderError("down", provider="a")]),
                           FakeSearch("b", [ProviderError("b answered HTTP 500",
                                                          provider="b")])])
    with pytest.raises(ProviderError, match=r"every provider failed: a: down; b answered HTTP "
                       r"500$"):
        await chain.search("q")


@pytest.mark.parametrize("error", [ReplayMissError("miss"), BlockedURLError("private")])
async def test_fallback_never_hides_replay_misses_or_blocked_urls(error: Exception) -> None:
    second = FakeSearch("second", [HITS])
    with pytest.raises(type(error)):
        await FallbackChain([FakeSearch("first", [error]), second]).search("q")
    assert second.calls == []


async def test_record_then_replay_without_network(tmp_path: Path) -> None:
    ok = {"organic": [{"title": "A", "link": "https://a.example/", "snippet": "s",
                       "date": "2020"}]}
    with LoopbackServer({"/search": lambda r: Reply(body=ok) if r.json()["q"] == "good"  # type: ignore[index]
                         else Reply(400, {"message": "Not enough credits"})}) as server:
        recorder = RecordLayer(SerperSearch(server.base_url, "k"), tmp_path / "rec")
        live = await recorder.search("good")
        with pytest.raises(ProviderError, match="credits"):
            await recorder.search("bad")
        await recorder.aclose()
    lines = (tmp_path / "rec" / "serper.jsonl").read_text().splitlines()
    assert len(lines) == 2 and "k" not in json.loads(lines[0])["args"].values()
    replay = ReplayBackend("serper", load_recordings(tmp_path / "rec"))
    stats = CallStats()
    assert await replay.search("good", stats=stats) == live  # the server is gone: recorded
    with pytest.raises(ProviderError, match="credits"):
        await replay.search("bad")
    with pytest.raises(ReplayMissError, match="never asked"):
        await replay.search("never asked")
    assert stats.providers == ["serper"]


def test_a_recording_line_without_a_key_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "serper.jsonl").write_text('{"op": "search"}\n', encoding="utf-8")
    with pytest.raises(ConfigError, match=r"serper\.jsonl:1 is not a recorded exchange"):
        load_recordings(tmp_path)
