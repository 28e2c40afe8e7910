"""Failures read clearly: a dead provider, a 429 with Retry-After, malformed JSON, broken
pages, and errors that survive record and replay with their flags."""

from __future__ import annotations

import json
import socket
import time
from pathlib import Path

import pytest

from sounding.config import load_settings
from sounding.env.web import web_environment
from sounding.errors import BlockedURLError, ProviderAuthError, ProviderError, RateLimitError
from sounding.llm.testing import ScriptedModel
from sounding.providers._http import retry_after
from sounding.providers.base import CallStats, Page, SearchHit
from sounding.providers.fetch import DirectFetcher
from sounding.providers.record import RecordLayer, ReplayBackend, load_recordings
from sounding.providers.retry import RetryLayer
from sounding.providers.serper import SerperSearch
from sounding.tools.base import ToolContext
from sounding.tools.visit import UNREADABLE_EVIDENCE, VisitTool

from .documents import make_pdf
from .loopback import LoopbackServer, Reply, sequence
from .test_search_providers import SERPER_SEARCH


def dead_url() -> str:
    """A loopback address where nothing listens (connection refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


async def test_dead_provider_is_a_clear_observation_in_the_trajectory(tmp_path: Path) -> None:
    from sounding.agent import arun

    settings = load_settings({
        "env": "web", "cache_dir": tmp_path, "web.serper_url": dead_url() + "/serper",
        "web.max_retries": 1, "web.backoff_base": 0.001, "web.fetch": "direct",
        "web.scholar": "arxiv", "web.search": "serper",
        "llm.base_url": "http://127.0.0.1:9/v1", "llm.model": "m"},
        environ={"SERPER_API_KEY": "secret-key"}, config_file=None)
    env = web_environment(settings, summary_model=None)
    call = '<tool_call>\n{"name": "search", "arguments": {"query": ["x"]}}\n</tool_call>'
    model = ScriptedModel([call, "<answer>none</answer>"])
    trajectory = await arun("q", settings, model=model, environment=env)
    await env.aclose()
    record = trajectory.tool_calls[0]
    assert record.observation.startswith("Error: the search tool failed: serper could not be "
                                         "reached at http://127.0.0.1:")
    assert "/serper: connection refused or host unreachable (ConnectError" in record.observation
    assert record.observation.endswith("(gave up after 1 retry)")
    assert record.error is not None and record.error.startswith("ProviderError: ")
    assert "secret-key" not in record.observation


async def test_429_waits_as_long_as_retry_after_asks() -> None:
    limited = Reply(429, {"message": "Too many requests"}, headers={"Retry-After": "0.3"})
    with LoopbackServer({"/search": sequence(limited, Reply(body=SERPER_SEARCH))}) as server:
        layer = RetryLayer(SerperSearch(server.base_url, "k"), max_retries=2,
                           backoff_base=0.001)
        stats = CallStats()
        start = time.perf_counter()
        hits = await layer.search("q", stats=stats)
        elapsed = time.perf_counter() - start
        await layer.aclose()
    assert len(hits) == 2 and stats.retries == 1
    assert elapsed >= 0.3


async def test_429_asking_for_too_long_is_not_retried_and_says_why() -> None:
    limited = Reply(429, {"message": "Too many requests"}, headers={"Retry-After": "120"})
    with LoopbackServer({"/search": limited}) as server:
        layer = RetryLayer(SerperSearch(server.base_url, "k"), max_retries=3,
                           backoff_base=0.001, backoff_max=30)
        with pytest.raises(RateLimitError, match=r"serper is rate limiting requests \(HTTP "
                           r"429; it asks to wait 120 s\): Too many requests") as info:
            await layer.search("q")
        await layer.aclose()
    assert info.value.retry_after == 120 and info.value.retryable
    assert len(server.requests) == 1


def test_retry_after_reads_seconds_and_http_dates() -> None:
    assert retry_after("7") == 7.0 and retry_after(None) is None and retry_after("soon") is None
    assert retry_after("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0  # in the past: no wait
    future = time.strftime("%a, %d %b %Y %H:%M:%S GMT", time.gmtime(time.time() + 60))
    wait = retry_after(future)
    assert wait is not None and 55 <= wait <= 61


@pytest.mark.parametrize(("body", "content_type", "expected"), [
    (b"<html>502 Bad Gateway</html>", "text/html",
     r"serper sent a reply that is not valid JSON \(HTTP 200, text/html, 28 bytes, starting "
     r"'<html>502 Bad Gateway</html>'\)"),
    (b'{"organic": [', "application/json", r"not valid JSON .*starting '\{\"organic\": \['"),
    (b'["a", "b"]', "application/json", r"JSON that is not an object but list"),
])
async def test_malformed_json_names_what_came_back(body: bytes, content_type: str,
                                                   expected: str) -> None:
    with LoopbackServer({"/search": Reply(body=body, content_type=content_type)}) as server:
        provider = SerperSearch(server.base_url, "k")
        with pytest.raises(ProviderError, match=expected) as info:
            await provider.search("q")
        await provider.aclose()
    assert not info.value.retryable


BINARY = bytes(range(256)) * 8


async def test_broken_pages_say_what_is_wrong_in_the_visit_frame() -> None:
    pdf = make_pdf(["A complete sentence in a PDF."])
    routes = {
        "/truncated.pdf": Reply(body=pdf[: len(pdf) // 2], content_type="application/pdf"),
        "/binary": Reply(body=BINARY, content_type="text/html"),
        "/empty": Reply(body="<html><body></body></html>", content_type="text/html"),
        "/latin1": Reply(body="<html><body><p>Un café près de la gare, ouvert depuis 1890, "
                         "sert le meilleur chocolat de la ville.</p></body></html>"
                         .encode("latin-1"), content_type="text/html; charset=utf-8"),
    }
    with LoopbackServer(routes) as server:  # type: ignore[arg-type]
        tool = VisitTool(DirectFetcher(allow_private=True, timeout=5.0), None)
        urls = [server.base_url + path for path in ("/truncated.pdf", "/binary", "/empty",
                                                     "/missing", "/latin1")]
        out = await tool({"url": urls, "goal": "café"}, ToolContext())
        await tool.pages.aclose()
    parts = out.text.split("\n=======\n")
    reasons = [p.split("Reason: ", 1)[1].split("\n")[0] for p in parts[:4]]
    assert all(UNREADABLE_EVIDENCE in p for p in parts[:4])
    assert reasons[0].startswith("the PDF is damaged or truncated")
    assert reasons[1].startswith(f"the body at {urls[1]} is binary data, not the text/html")
    assert reasons[2] == "the page (text/html) has no readable text"
    assert reasons[3].startswith("there is no page at this address")
    assert "Un café près de la gare" in parts[4] and "Reason:" not in parts[4]
    assert out.meta["unreadable"] == 4 and out.sources == (urls[4],)


class Failing:
    """A provider that fails each call with the next scripted error."""

    name = "flaky"

    def __init__(self, errors: list[ProviderError]) -> None:
        self.errors = errors

    async def search(self, query: str, *, num: int = 10, stats: object = None
                     ) -> list[SearchHit]:
        raise self.errors.pop(0)

    async def fetch(self, url: str, *, stats: object = None) -> Page | None:
        raise self.errors.pop(0)


async def test_replayed_errors_keep_type_status_and_retryable(tmp_path: Path) -> None:
    errors: list[ProviderError] = [
        RateLimitError("slow down", provider="flaky", status=429, retry_after=12.0),
        ProviderError("busy", provider="flaky", status=503, retryable=True),
        ProviderAuthError("bad key", provider="flaky", status=401),
        BlockedURLError("private address", provider="flaky")]
    recorder = RecordLayer(Failing(list(errors)), tmp_path)
    for query in ("a", "b", "c"):
        with pytest.raises(ProviderError):
            await recorder.search(query)
    with pytest.raises(BlockedURLError):
        await recorder.fetch("https://inside.example/")
    replay = ReplayBackend("flaky", load_recordings(tmp_path))
    replayed: list[ProviderError] = []
    for query in ("a", "b", "c"):
        with pytest.raises(ProviderError) as info:
            await replay.search(query)
        replayed.append(info.value)
    with pytest.raises(ProviderError) as info:
        await replay.fetch("https://inside.example/")
    replayed.append(info.value)
    for original, again in zip(errors, replayed, strict=True):
        assert type(again) is type(original)
        assert (again.status, again.retryable) == (original.status, original.retryable)
        assert str(again) == f"(replayed) {original}"
    assert isinstance(replayed[0], RateLimitError) and replayed[0].retry_after == 12.0
    lines = [json.loads(x) for x in (tmp_path / "flaky.jsonl").read_text().splitlines()]
    assert lines[1]["error"] == {"message": "busy", "status": 503, "retryable": True,
                                 "type": "ProviderError"}
