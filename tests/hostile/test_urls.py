"""URLs that break URL or HTTP parsers are refused by the policy, never fetched or handed on."""

from __future__ import annotations

import pytest

from sounding.errors import BlockedURLError
from sounding.providers.fallback import FallbackChain
from sounding.providers.fetch import DirectFetcher
from sounding.providers.jina import JinaReader
from sounding.providers.urlpolicy import check_scheme, is_public_address

from ..providers.loopback import LoopbackServer, Reply

HOSTILE_URLS = [
    "http://0177.0.0.1/",                 # octal IPv4: resolvers and parsers disagree
    "http://0x7f.1/",                     # hex and short forms
    "http://2130706433/",                 # one decimal number
    "http://\uff11\uff12\uff17.\uff10.\uff10.\uff11/",  # full-width digits
    "http://[::1",                        # unclosed IPv6 bracket
    "http://xn--/",                       # empty IDNA label
    "http://xn--zz-\u00e9.com/",          # broken A-label mixed with Unicode
    "http://[v1.fe]/",                    # IPvFuture
    "http://[v7.abc:def]/page",
    " http://example.com/",               # leading space
    "http://example.com/\npath",          # a newline inside
    "http://exa mple.com/",               # a space in the host
    "http://example.com:99999/",          # a port out of range
    "\x00http://example.com/",
    "",
]


@pytest.mark.parametrize("url", HOSTILE_URLS)
def test_policy_refuses_malformed_urls_with_a_reason(url: str) -> None:
    with pytest.raises(BlockedURLError, match="refused"):
        check_scheme(url)


@pytest.mark.parametrize("url", HOSTILE_URLS)
async def test_a_refused_url_never_reaches_the_fallback_fetcher(url: str) -> None:
    jina_reply = {"data": {"url": "x", "content": "fetched by jina", "title": "t"}}
    with LoopbackServer({"/*": Reply(body=jina_reply)}) as jina_server:
        direct = DirectFetcher(timeout=2.0)
        jina = JinaReader(jina_server.base_url)
        chain = FallbackChain([direct, jina])
        try:
            with pytest.raises(BlockedURLError):
                await chain.fetch(url)
        finally:
            await chain.aclose()
        assert jina_server.requests == []  # validation failed, so nothing was passed on


async def test_jina_alone_also_refuses_what_the_policy_refuses() -> None:
    with LoopbackServer({"/*": Reply(body={"data": {"content": "x"}})}) as server:
        jina = JinaReader(server.base_url)
        with pytest.raises(BlockedURLError):
            await jina.fetch(" http://example.com/")
        await jina.aclose()
        assert server.requests == []


@pytest.mark.parametrize("address", ["fec0::1", "fec0:1234::5", "feff::1", "192.0.0.1",
                                     "192.0.0.9", "192.0.0.10", "192.0.0.170",
                                     "::ffff:192.0.0.9"])
def test_site_local_and_ietf_protocol_addresses_are_not_public(address: str) -> None:
    assert not is_public_address(address)


@pytest.mark.parametrize("url", ["https://example.com/a?b=c#d", "http://93.184.216.34/",
                                 "https://[2606:4700::1111]/", "https://m\u00fcnchen.de/",
                                 "https://xn--mnchen-3ya.de/", "http://example.com:8080/x"])
def test_ordinary_urls_still_pass(url: str) -> None:
    assert check_scheme(url)


def test_a_space_in_a_path_or_query_is_not_a_reason_to_refuse() -> None:
    assert check_scheme("https://example.com/a b?q=c d") == "example.com"
