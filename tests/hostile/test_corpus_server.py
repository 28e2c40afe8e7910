"""The corpus server against a hostile client: oversized bodies and queries, silent
connections and too many of them; other clients keep being served."""

from __future__ import annotations

import json
import socket
import threading
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from sounding.corpus import server as corpus_server
from sounding.corpus.server import MAX_BODY, MAX_QUERY, CorpusServer

from ..corpus.conftest import build_tiny


@pytest.fixture
def served(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[CorpusServer]:
    monkeypatch.setattr(corpus_server._Handler, "timeout", 0.5)  # stated limit for the test
    corpus = build_tiny(tmp_path / "tiny")
    with CorpusServer(corpus) as server:
        yield server
    corpus.close()


def _raw(server: CorpusServer, data: bytes, *, read: bool = True) -> bytes:
    host, port = server.httpd.server_address[:2]
    with socket.create_connection((str(host), port), timeout=5) as sock:
        sock.sendall(data)
        return sock.recv(65536) if read else b""


def _search(server: CorpusServer) -> dict[str, object]:
    with urllib.request.urlopen(server.url + "/search?q=Alpha+Centauri&format=json",
                                timeout=5) as reply:
        return json.loads(reply.read())  # type: ignore[no-any-return]


def test_an_oversized_body_is_refused_without_being_read(served: CorpusServer) -> None:
    head = (f"POST /search HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            f"Content-Length: {MAX_BODY * 1000}\r\n\r\n").encode()
    reply = _raw(served, head + b"{")
    assert reply.startswith(b"HTTP/1.1 413")
    bad = _raw(served, b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: -5\r\n\r\n")
    assert bad.startswith(b"HTTP/1.1 400")


def test_an_overlong_query_is_refused(served: CorpusServer) -> None:
    body = json.dumps({"q": "basalt " * MAX_QUERY}).encode()
    request = urllib.request.Request(served.url + "/search", data=body,
                                     headers={"Content-Type": "application/json"})
    with pytest.raises(urllib.error.HTTPError) as caught:
        urllib.request.urlopen(request, timeout=5)
    assert caught.value.code == 400 and "longer than" in caught.value.read().decode()


def test_a_silent_client_is_dropped_and_others_are_served(served: CorpusServer) -> None:
    host, port = served.httpd.server_address[:2]
    silent = socket.create_connection((str(host), port), timeout=5)
    silent.sendall(b"POST /search HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
    assert _search(served)["number_of_results"]  # served while the other one trickles
    silent.settimeout(5)
    assert silent.recv(1024) == b""  # closed by the server after its read timeout
    silent.close()


def test_connections_are_bounded_and_the_excess_gets_503(served: CorpusServer) -> None:
    served.httpd._slots = threading.BoundedSemaphore(2)
    host, port = served.httpd.server_address[:2]
    holders = [socket.create_connection((str(host), port), timeout=5) for _ in range(2)]
    try:
        for sock in holders:  # each holds a slot until its read timeout
            sock.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(4096).startswith(b"HTTP/1.1 200")
        reply = _raw(served, b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
        assert reply.startswith(b"HTTP/1.1 503")
        for sock in holders:  # the rest of the reply, then EOF: idle keep-alive dropped
            while sock.recv(4096):
                pass
    finally:
        for sock in holders:
            sock.close()
    assert _search(served)["number_of_results"]
