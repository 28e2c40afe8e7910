"""The web providers from the settings, each behind the layers, as fallback chains.

Per provider, innermost first: the provider, a per-attempt timeout, its rate gate,
retries, the persistent cache, and recording; providers of one tool form a
fallback chain. In replay mode a recording stands in for every provider, which
is then never constructed, so no request can reach the network. The tools over
these chains are assembled in `sounding.env.web` (providers know no tools).
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Settings, WebSettings
from ..errors import ConfigError
from .base import PageBackend, SearchBackend

if TYPE_CHECKING:
    from .cache import AnswerCache
    from .fallback import FallbackChain
    from .ratelimit import RateGate

__all__ = ["PROVIDERS", "ChainBuilder", "ProviderSpec", "build_chain"]

log = logging.getLogger(__name__)

Backend = SearchBackend | PageBackend


@dataclass(frozen=True)
class ProviderSpec:
    name: str
    """Name as the chain settings spell it."""
    kind: str
    """search, scholar or fetch."""
    factory: Callable[[WebSettings, str | None], Backend]
    key_variable: str | None = None
    key_required: bool = False
    url_setting: str | None = None
    """A WebSettings field the provider cannot do without (e.g. searxng_url)."""
    backend_name: str = ""
    """The provider's own name (recordings and statistics use it); default `name`."""

    @property
    def recorded_as(self) -> str:
        return self.backend_name or self.name


def _http(cls_path: str, url_field: str) -> Callable[[WebSettings, str | None], Backend]:
    # Imported on use: a run loads only the providers its chains name.
    def make(web: WebSettings, key: str | None) -> Backend:
        module, _, cls = cls_path.rpartition(".")
        provider = getattr(importlib.import_module(f"{__package__}.{module}"), cls)
        return provider(getattr(web, url_field), key,  # type: ignore[no-any-return]
                        timeout=web.timeout)
    return make


def _ddgs(web: WebSettings, key: str | None) -> Backend:
    from .ddgs import DdgsSearch

    return DdgsSearch(timeout=web.timeout)


def _direct(web: WebSettings, key: str | None) -> Backend:
    from .fetch import DirectFetcher

    return DirectFetcher(allow_private=web.allow_private_addresses,
                         max_bytes=web.fetch_max_bytes, max_redirects=web.max_redirects,
                         timeout=web.timeout)


PROVIDERS: dict[tuple[str, str], ProviderSpec] = {
    (s.kind, s.name): s for s in (
        ProviderSpec("serper", "search", _http("serper.SerperSearch", "serper_url"),
                     "SERPER_API_KEY", True),
        ProviderSpec("searxng", "search", _http("searxng.SearxngSearch", "searxng_url"),
                     url_setting="searxng_url"),
        ProviderSpec("brave", "search", _http("brave.BraveSearch", "brave_url"),
                     "BRAVE_API_KEY", True),
        ProviderSpec("tavily", "search", _http("tavily.TavilySearch", "tavily_url"),
                     "TAVILY_API_KEY", True),
        ProviderSpec("ddgs", "search", _ddgs),  # keyless: the chain's last resort
        ProviderSpec("serper", "scholar", _http("serper.SerperScholar", "serper_url"),
                     "SERPER_API_KEY", True, backend_name="serper_scholar"),
        ProviderSpec("semantic_scholar", "scholar",
                     _http("semantic_scholar.SemanticScholarSearch", "semantic_scholar_url"),
                     "SEMANTIC_SCHOLAR_API_KEY"),
        ProviderSpec("openalex", "scholar", _http("openalex.OpenAlexSearch", "openalex_url"),
                     "OPENALEX_API_KEY", True),
        ProviderSpec("arxiv", "scholar", _http("arxiv.ArxivSearch", "arxiv_url")),
        ProviderSpec("direct", "fetch", _direct),
        ProviderSpec("jina", "fetch", _http("jina.JinaReader", "jina_url"), "JINA_API_KEY"),
    )
}


class ChainBuilder:
    """Builds provider stacks for one environment, sharing gates, cache and recordings."""

    def __init__(self, settings: Settings) -> None:
        from .ratelimit import parse_rates

        self.settings = settings
        self.web = settings.web
        self.rates = parse_rates(self.web.rate_limits)
        self.gates: dict[str, RateGate] = {}
        self.chains: list[FallbackChain] = []
        self.cache: AnswerCache | None = None
        self.recordings = None
        if self.web.replay_dir is not None:
            from .record import load_recordings

            self.recordings = load_recordings(self.web.replay_dir)

    def open_cache(self) -> AnswerCache | None:
        """The shared answer cache, opened when the first provider needs it."""
        if self.cache is None and not self.web.no_cache:
            from .cache import open_cache
            from .redis_cache import open_shared_cache

            url = self.web.cache_url  # shared by a cluster's workers when given
            self.cache = (open_shared_cache(url) if url
                          else open_cache(self.settings.cache_dir / "web"))
        return self.cache

    def gate(self, name: str) -> RateGate:
        from .ratelimit import RateGate

        if name not in self.gates and self.web.shared_limiter:
            from .shared_limits import shared_gate  # limits held across a Ray cluster

            self.gates[name] = shared_gate(self.web.shared_limiter, name)
        if name not in self.gates:
            self.gates[name] = RateGate(self.rates.get(name), self.web.concurrency)
        return self.gates[name]

    def stack(self, spec: ProviderSpec, key: str | None) -> Backend:
        from .cache import CacheLayer
        from .ratelimit import RateLimitLayer
        from .record import RecordLayer, ReplayBackend
        from .retry import RetryLayer, TimeoutLayer

        if self.recordings is not None:
            return ReplayBackend(spec.recorded_as, self.recordings)
        backend: Backend = spec.factory(self.web, key)
        backend = RateLimitLayer(TimeoutLayer(backend, seconds=self.web.timeout),
                                 self.gate(spec.name))
        backend = RetryLayer(backend, max_retries=self.web.max_retries,
                             backoff_base=self.web.backoff_base)
        cache = self.open_cache()
        if cache is not None:
            backend = CacheLayer(backend, cache, ttl=self.web.cache_ttl)
        if self.web.record_dir is not None:
            backend = RecordLayer(backend, self.web.record_dir)
        return backend

    def close_cache(self) -> None:
        if self.cache is not None:
            self.cache.close()
            self.cache = None

    async def close(self) -> None:
        self.close_cache()


def build_chain(builder: ChainBuilder, kind: str, chain: str) -> FallbackChain:
    """The fallback chain for one tool; providers without their key or URL are skipped,
    and a chain left empty is a ConfigError naming what to set."""
    from .fallback import FallbackChain

    names = [n.strip() for n in chain.split(",") if n.strip()]
    stacks: list[Backend] = []
    missing: list[str] = []
    for name in names:
        spec = PROVIDERS.get((kind, name))
        if spec is None:
            known = ", ".join(n for k, n in PROVIDERS if k == kind)
            raise ConfigError(f"unknown {kind} provider {name!r} in web.{kind}; "
                              f"choose from {known}")
        key = builder.settings.secrets.get(spec.key_variable or "") or None
        replaying = builder.recordings is not None
        if spec.key_required and not key and not replaying:
            missing.append(f"{spec.key_variable} (for {name})")
            continue
        if spec.url_setting and not getattr(builder.web, spec.url_setting) and not replaying:
            missing.append(f"web.{spec.url_setting} / SOUNDING_WEB__"
                           f"{spec.url_setting.upper()} (for {name})")
            continue
        stacks.append(builder.stack(spec, key))
    if not stacks:
        raise ConfigError(f"no usable {kind} provider in web.{kind}={chain!r}: set "
                          + " or ".join(missing or ["web." + kind])
                          + (", or use the keyless provider (web.search=ddgs)"
                             if kind == "search" else "")
                          + ", or run with --env offline (the local corpus, no keys)")
    for item in missing:
        log.info("skipping a %s provider: %s is not set", kind, item)
    return FallbackChain(stacks)
