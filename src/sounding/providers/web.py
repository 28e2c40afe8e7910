"""The `web` environment: real providers from the settings, each behind the tool layer.

Per provider, innermost first: the provider, a per-attempt timeout, its rate gate,
retries, the persistent cache, and recording; providers of one tool form a
fallback chain. In replay mode a recording stands in for every provider, which
is then never constructed, so no request can reach the network. Only the tools
asked for are built, so `sounding tool PythonInterpreter` needs no search key.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..config import Settings, WebSettings
from ..errors import ConfigError, SandboxError
from ..llm.base import ChatModel
from ..tools.base import Tool
from .base import PageBackend, SearchBackend

if TYPE_CHECKING:
    import diskcache

    from ..env import Environment
    from .fallback import FallbackChain
    from .ratelimit import RateGate

__all__ = ["PROVIDERS", "WEB_TOOLS", "ProviderSpec", "build_chain", "web_environment"]

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


class _Builder:
    """Builds provider stacks for one environment, sharing gates, cache and recordings."""

    def __init__(self, settings: Settings) -> None:
        from .ratelimit import parse_rates

        self.settings = settings
        self.web = settings.web
        self.rates = parse_rates(self.web.rate_limits)
        self.gates: dict[str, RateGate] = {}
        self.chains: list[FallbackChain] = []
        self.cache: diskcache.Cache | None = None
        self.recordings = None
        if self.web.replay_dir is not None:
            from .record import load_recordings

            self.recordings = load_recordings(self.web.replay_dir)

    def open_cache(self) -> diskcache.Cache | None:
        """The shared answer cache, opened when the first provider needs it."""
        if self.cache is None and not self.web.no_cache:
            from .cache import open_cache

            self.cache = open_cache(self.settings.cache_dir / "web")
        return self.cache

    def gate(self, name: str) -> RateGate:
        from .ratelimit import RateGate

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


def build_chain(builder: _Builder, kind: str, chain: str) -> FallbackChain:
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


def _python_tool(settings: Settings, *, required: bool) -> Tool | None:
    """The sandboxed interpreter; without bubblewrap, None (or, when `required`, a ConfigError
    saying how to get it) unless the user allowed running code unsandboxed."""
    from ..tools.python import PythonTool
    from .sandbox import BubblewrapSandbox, CodeRunner, SandboxLimits, UnsandboxedRunner

    web = settings.web
    limits = SandboxLimits(timeout=web.sandbox_timeout, memory_mb=web.sandbox_memory_mb,
                           max_processes=web.sandbox_max_processes,
                           max_file_mb=web.sandbox_max_file_mb,
                           max_output=web.sandbox_max_output)
    runner: CodeRunner
    try:
        runner = BubblewrapSandbox(limits, python=web.sandbox_python)
    except SandboxError as exc:
        if not web.allow_unsandboxed:
            if required:
                raise ConfigError(str(exc)) from exc
            log.warning("PythonInterpreter is not offered: %s", exc)
            return None
        log.warning("PythonInterpreter runs WITHOUT a sandbox (web.allow_unsandboxed)")
        runner = UnsandboxedRunner(limits, python=web.sandbox_python)
    return PythonTool(runner, timeout=web.sandbox_timeout,
                      native=settings.protocol == "native")


WEB_TOOLS = ("search", "visit", "google_scholar", "PythonInterpreter", "parse_file")
"""Every tool the web environment can offer, in the order the system prompt lists them."""
_CHAIN_OF = {"search": "search", "visit": "fetch", "google_scholar": "scholar"}


def _tool(name: str, builder: _Builder, summary_model: ChatModel | None, *, required: bool
          ) -> Tool | None:
    """One tool with the providers it needs; None for an optional tool that cannot be had."""
    from ..tools.parse_file import ParseFileTool
    from ..tools.search import SearchTool
    from ..tools.visit import VisitTool

    web = builder.web
    if name in _CHAIN_OF:
        chain = build_chain(builder, _CHAIN_OF[name], getattr(web, _CHAIN_OF[name]))
        builder.chains.append(chain)
        if name == "visit":
            return VisitTool(chain, summary_model, chunk_tokens=web.visit_chunk_tokens)
        return SearchTool(chain, scholar=name == "google_scholar", num=web.results)
    if name == "PythonInterpreter":
        return _python_tool(builder.settings, required=required)
    if web.files_dir is None:
        if required:
            raise ConfigError("parse_file needs the folder it may read: pass --files DIR "
                              "(web.files_dir)")
        return None
    return ParseFileTool(web.files_dir)


def web_environment(settings: Settings, *, summary_model: ChatModel | None,
                    only: Collection[str] | None = None) -> Environment:
    """search, visit, google_scholar, PythonInterpreter (when it can be sandboxed or the user
    allowed no sandbox) and parse_file (when `web.files_dir` is set), from the settings.

    `only` builds just the named tools, so only their providers need keys; a tool named
    there that cannot be built is a ConfigError saying why.
    """
    from ..env import Environment

    web = settings.web
    unknown = sorted(set(only or ()) - set(WEB_TOOLS))
    if unknown:
        raise ConfigError(f"the web environment has no tool {unknown[0]!r}; it has "
                          + ", ".join(WEB_TOOLS))
    if web.files_dir is not None and not web.files_dir.is_dir():
        raise ConfigError(f"--files / web.files_dir: {web.files_dir} is not a directory")
    builder = _Builder(settings)
    tools: dict[str, Tool] = {}
    try:
        for name in WEB_TOOLS if only is None else [n for n in WEB_TOOLS if n in only]:
            tool = _tool(name, builder, summary_model, required=only is not None)
            if tool is not None:
                tools[name] = tool
    except BaseException:
        builder.close_cache()  # the chains built so far hold no connections yet
        raise
    env = Environment(name="web", tools=tools)
    env.closers.extend(chain.aclose for chain in builder.chains)
    env.closers.append(builder.close)
    return env
