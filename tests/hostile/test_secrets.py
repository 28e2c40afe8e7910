"""Secrets: provider keys and URL credentials never appear in errors, records or `--json`."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest

import sounding
from sounding._secrets import Scrubber, scrubber_for, split_url_credentials
from sounding.agent.api import settings_snapshot
from sounding.config import Settings, load_settings
from sounding.errors import ProviderAuthError, ProviderError
from sounding.llm.testing import ScriptedModel
from sounding.providers.brave import BraveSearch
from sounding.providers.fetch import DirectFetcher
from sounding.providers.jina import JinaReader
from sounding.providers.serper import SerperSearch

from ..providers.loopback import LoopbackServer, Reply, Request

KEY = "sk-live-7f3a9c2e1b"


def test_scrubber_masks_keys_and_their_url_encoded_forms() -> None:
    scrub = Scrubber(frozenset({KEY, "p@ss/word+1"}))
    text = f"bad key {KEY}; url ?k=p%40ss%2Fword%2B1 and p@ss/word+1"
    assert scrub.text(text) == "bad key ***; url ?k=*** and ***"
    assert scrub.json({"a": [KEY, {KEY: 1}], "n": 3}) == {"a": ["***", {"***": 1}], "n": 3}


def test_a_short_key_is_masked_only_as_a_whole_token() -> None:
    scrub = Scrubber(frozenset({"a"}))
    assert scrub.text("a cat ate a") == "*** cat ate ***"  # never every letter a


def test_url_credentials_are_split_out() -> None:
    url, found = split_url_credentials("https://bob:s3cr3t@gw.example/v1?api_key=K1&q=2")
    assert url == "https://gw.example/v1?q=2" and sorted(found) == ["K1", "bob", "s3cr3t"]
    assert split_url_credentials("https://plain.example/v1") == ("https://plain.example/v1", [])


@pytest.mark.parametrize(("provider", "variable"), [
    (SerperSearch, "SERPER_API_KEY"), (BraveSearch, "BRAVE_API_KEY")])
async def test_a_key_echoed_in_an_error_body_is_masked(provider: type, variable: str) -> None:
    echo = Reply(status=401, body={"message": f"Invalid API key {KEY}"})
    with LoopbackServer({"/*": echo}) as server:
        search = provider(server.base_url, KEY, timeout=5.0)
        with pytest.raises(ProviderAuthError) as caught:
            await search.search("q")
        await search.aclose()
    assert KEY not in str(caught.value) and "***" in str(caught.value)
    assert variable in str(caught.value)


async def test_credentials_in_a_base_url_are_sent_but_never_shown() -> None:
    def handler(request: Request) -> Reply:
        if request.query.get("api_key") != "QK-123456789":
            return Reply(status=403, body={"message": "no key"})
        expected = base64.b64encode(b"bob:s3cr3t-pass").decode()
        if request.headers.get("authorization") != f"Basic {expected}":
            return Reply(status=401, body={"message": "no auth"})
        if request.path.endswith("/broken"):
            return Reply(status=500, body={"message": f"boom at {request.query}"})
        return Reply(body={"data": {"url": "https://e.example/", "content": "hello"}})

    with LoopbackServer({"/*": handler}) as server:
        host = server.base_url.removeprefix("http://")
        jina = JinaReader(f"http://bob:s3cr3t-pass@{host}/gw?api_key=QK-123456789")
        page = await jina.fetch("https://e.example/")
        assert page is not None and page.text == "hello"
        with pytest.raises(ProviderError) as caught:
            await jina.fetch("https://e.example/broken")
        await jina.aclose()
    shown = str(caught.value) + repr(jina)
    assert "QK-123456789" not in shown and "s3cr3t-pass" not in shown


async def test_transport_errors_never_show_the_query_string() -> None:
    jina = JinaReader("http://127.0.0.1:9/gw?token=QK-123456789", timeout=1.0)
    with pytest.raises(ProviderError) as caught:
        await jina.fetch("https://e.example/")
    await jina.aclose()
    assert "QK-123456789" not in str(caught.value)
    assert "could not be reached" in str(caught.value)


def test_settings_snapshot_strips_url_credentials(tmp_path: Path) -> None:
    settings = load_settings({"llm.base_url": "https://u:pw-999999@llm.example/v1?key=K-22222222",
                              "llm.model": "m", "web.searxng_url":
                              "https://searx.example/?token=T-33333333", "cache_dir": tmp_path},
                             environ={"SERPER_API_KEY": KEY}, config_file=None)
    snapshot = json.dumps(settings_snapshot(settings))
    for secret in ("pw-999999", "K-22222222", "T-33333333", KEY):
        assert secret not in snapshot
    assert "https://llm.example/v1" in snapshot
    scrub = scrubber_for(settings)
    assert scrub.text(f"pw-999999 K-22222222 T-33333333 {KEY}") == "*** *** *** ***"


def test_every_known_key_is_masked_in_the_trajectory_and_json(tmp_path: Path,
                                                                settings: sounding.Settings
                                                                ) -> None:
    keys = {"SERPER_API_KEY": "serper-k-0000001", "BRAVE_API_KEY": "brave-k-00000002",
            "TAVILY_API_KEY": "tavily-k-0000003", "JINA_API_KEY": "jina-k-000000004",
            "SEMANTIC_SCHOLAR_API_KEY": "s2-k-00000000005", "JUDGE_API_KEY": "judge-k-0000006"}
    import dataclasses

    settings = dataclasses.replace(settings, secrets=keys)
    leak = " ".join(keys.values())
    model = ScriptedModel([f"<answer>leaked: {leak}</answer>"])
    result = sounding.ask("q", settings=settings, model=model)
    dumped = json.dumps(result.to_dict())
    assert not any(value in dumped for value in keys.values())
    assert result.answer == "leaked: " + " ".join(["***"] * len(keys))


async def test_direct_fetch_error_with_a_key_in_the_page_url_hides_the_query() -> None:
    fetcher = DirectFetcher(allow_private=True, timeout=1.0)
    with pytest.raises(ProviderError) as caught:
        await fetcher.fetch("http://127.0.0.1:9/p?api_key=QK-123456789")
    await fetcher.aclose()
    assert "QK-123456789" not in str(caught.value)


async def test_a_base_url_carrying_its_key_works_and_never_shows_it(settings: Settings) -> None:
    """`user:key@` and `?api_key=` in the LLM base URL: sent to the server, shown nowhere."""
    from sounding.agent import arun
    from sounding.config import override_settings
    from sounding.llm.openai_client import OpenAIChatModel
    from sounding.llm.testing import ScriptedServer

    secret, query_secret = "user-secret-4711", "query-secret-0815"
    with ScriptedServer(["<think>ok</think>\n<answer>Eiffel</answer>"]) as server:
        host = server.base_url.split("://", 1)[1]
        base = f"http://me:{secret}@{host}?api_key={query_secret}"
        cfg = override_settings(settings, {"llm.base_url": base, "llm.model": "m"})
        model = OpenAIChatModel(cfg.llm)
        try:
            traj = await arun("Who built the tower?", cfg, model=model)
        finally:
            await model.aclose()
        assert traj.answer == "Eiffel" and traj.error is None
        assert secret not in repr(model) and query_secret not in repr(model)
    record = traj.to_json()
    assert secret not in record and query_secret not in record
