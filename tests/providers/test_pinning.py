"""DNS pinning: fetch connects only to the address it vetted, keeping Host, SNI and the
certificate check on the name (a loopback "public" address stands in for the internet)."""

from __future__ import annotations

import ssl

import pytest
import trustme

from sounding.errors import BlockedURLError, ProviderError
from sounding.providers.fetch import DirectFetcher
from sounding.providers.urlpolicy import PinnedBackend

from .loopback import LoopbackServer, Reply

PAGE = Reply(body="pinned page body", content_type="text/plain")


class Resolver:
    """A DNS stand-in: answers each name from a script, one answer per lookup."""

    def __init__(self, answers: dict[str, list[list[str]]]) -> None:
        self.answers = answers
        self.lookups: list[str] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append(host)
        script = self.answers[host]
        return script.pop(0) if len(script) > 1 else script[0]


def backend(resolver: Resolver) -> PinnedBackend:
    # 127.0.0.1 plays the public internet; every other address is "private".
    return PinnedBackend(resolver=resolver, is_allowed=lambda address: address == "127.0.0.1")


async def test_connection_goes_to_the_vetted_address_with_the_name_as_host() -> None:
    """A rebinding answer after the check never reaches the connection: httpx never
    resolves the name itself (rebind.test does not exist in any DNS)."""
    resolver = Resolver({"rebind.test": [["127.0.0.1"], ["10.0.0.7"]]})
    with LoopbackServer({"/page": PAGE}) as server:
        fetcher = DirectFetcher(network=backend(resolver), timeout=5.0)
        page = await fetcher.fetch(f"http://rebind.test:{server.port}/page")
        await fetcher.aclose()
    assert page is not None and page.text == "pinned page body"
    assert resolver.lookups == ["rebind.test"]
    assert server.requests[0].headers["host"] == f"rebind.test:{server.port}"


async def test_a_name_that_resolves_to_a_private_address_is_never_contacted() -> None:
    resolver = Resolver({"evil.test": [["127.0.0.1", "10.0.0.7"]]})
    with LoopbackServer({"/page": PAGE}) as server:
        fetcher = DirectFetcher(network=backend(resolver), timeout=5.0)
        with pytest.raises(BlockedURLError, match=r"evil\.test resolves to the non-public "
                           r"address 10\.0\.0\.7"):
            await fetcher.fetch(f"http://evil.test:{server.port}/page")
        await fetcher.aclose()
    assert server.requests == []


async def test_redirect_is_vetted_on_its_own_connection() -> None:
    resolver = Resolver({"public.test": [["127.0.0.1"]], "inside.test": [["10.0.0.7"]]})
    with LoopbackServer({}) as server:
        server.routes["/hop"] = Reply(302, "", headers={
            "Location": f"http://inside.test:{server.port}/page"})
        server.routes["/page"] = PAGE
        fetcher = DirectFetcher(network=backend(resolver), timeout=5.0)
        with pytest.raises(BlockedURLError, match=r"refused 'http://inside\.test:\d+/page': "
                           "inside.test resolves"):
            await fetcher.fetch(f"http://public.test:{server.port}/hop")
        await fetcher.aclose()
    assert [r.path for r in server.requests] == ["/hop"]


async def test_tls_keeps_sni_and_certificate_check_on_the_name() -> None:
    ca = trustme.CA()
    server_tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ca.issue_cert("pinned.test").configure_cert(server_tls)
    client_tls = ssl.create_default_context()
    ca.configure_trust(client_tls)
    resolver = Resolver({"pinned.test": [["127.0.0.1"]], "other.test": [["127.0.0.1"]]})
    with LoopbackServer({"/page": PAGE}, tls=server_tls) as server:
        fetcher = DirectFetcher(network=backend(resolver), timeout=5.0, verify=client_tls)
        page = await fetcher.fetch(f"https://pinned.test:{server.port}/page")
        assert page is not None and page.text == "pinned page body"
        # Same address, another name: the certificate does not match, so no page.
        with pytest.raises(ProviderError, match=r"other\.test") as info:
            await fetcher.fetch(f"https://other.test:{server.port}/page")
        await fetcher.aclose()
    assert "CERTIFICATE_VERIFY_FAILED" in str(info.value)
    assert len(server.requests) == 1
