"""The tool cache shared by a cluster's workers: a real redis-server on loopback, or a
directory every worker mounts."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from sounding.config import Settings, WebSettings
from sounding.errors import ConfigError
from sounding.providers.cache import CacheLayer
from sounding.providers.redis_cache import PREFIX, RedisCache, open_shared_cache

from ..providers.test_layers import HITS, FakeSearch


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    pytest.importorskip("redis", reason="the redis package is not installed (the ray extra)")
    server = shutil.which("redis-server")
    if server is None:
        pytest.skip("redis-server is not installed (apt-get install redis-server)")
    port = _free_port()
    proc = subprocess.Popen([server, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no",
                             "--dir", str(tmp_path_factory.mktemp("redis"))],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 10
    while True:  # wait until it accepts connections
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            break
        except OSError:
            assert proc.poll() is None and time.monotonic() < deadline, "redis did not start"
            time.sleep(0.05)
    try:
        yield f"redis://127.0.0.1:{port}/0"
    finally:
        proc.terminate()
        proc.wait(timeout=10)


async def test_two_workers_share_answers_through_redis(redis_url: str) -> None:
    first, second = RedisCache(redis_url), RedisCache(redis_url)  # two workers' clients
    try:
        one = CacheLayer(FakeSearch("fake", [HITS]), first, ttl=3600)
        other = FakeSearch("fake", [RuntimeError("the cache must answer this")])
        assert await one.search("shared query") == HITS
        assert await CacheLayer(other, second, ttl=3600).search("shared   query") == HITS
        assert other.calls == []
        keys = first._client.keys(PREFIX + "*")
        assert len(keys) == 1 and 0 < first._client.ttl(keys[0]) <= 3600  # expires
    finally:
        first.close()
        second.close()


def test_the_web_environment_opens_the_shared_cache(redis_url: str, tmp_path: Path) -> None:
    from sounding.providers.web import ChainBuilder

    settings = Settings(cache_dir=tmp_path, web=WebSettings(cache_url=redis_url))
    builder = ChainBuilder(settings)
    cache = builder.open_cache()
    try:
        assert isinstance(cache, RedisCache) and cache.url == redis_url
    finally:
        builder.close_cache()
    assert not (tmp_path / "web").exists()  # nothing private to this machine


async def test_a_directory_on_shared_storage_is_shared(tmp_path: Path) -> None:
    first, second = open_shared_cache(str(tmp_path)), open_shared_cache(str(tmp_path))
    try:
        assert await CacheLayer(FakeSearch("fake", [HITS]), first, ttl=60).search("q") == HITS
        other = FakeSearch("fake", [RuntimeError("the cache must answer this")])
        assert await CacheLayer(other, second, ttl=60).search("q") == HITS
    finally:
        first.close()
        second.close()


def test_an_unreachable_redis_is_a_config_error() -> None:
    pytest.importorskip("redis", reason="the redis package is not installed (the ray extra)")
    with pytest.raises(ConfigError, match="cannot reach Redis"):
        RedisCache(f"redis://127.0.0.1:{_free_port()}/0")
