"""The one settings loader: defaults < sounding.toml < SOUNDING_* environment < flags.

Settings are frozen dataclasses with documented fields. This is the only module
that reads environment variables; everything else receives a `Settings`.

Flat keys use dots (`llm.base_url`, `budgets.max_rounds`). In the environment a
double underscore stands for the dot (`SOUNDING_BUDGETS__MAX_ROUNDS=50`), and the
common LLM settings have short names (`SOUNDING_BASE_URL`, `SOUNDING_MODEL`,
`SOUNDING_API_KEY`, `SOUNDING_PROTOCOL`, ...). In `sounding.toml`, sections are
tables: `[llm]`, `[summary]`, `[budgets]`, `[sampling]`, ...
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import platformdirs

from .errors import ConfigError

__all__ = [
    "Budgets",
    "ExecutorSettings",
    "HeavySettings",
    "IterSettings",
    "LLMSettings",
    "McpServerSettings",
    "Protocol",
    "ResumSettings",
    "Sampling",
    "Settings",
    "WebSettings",
    "find_config_file",
    "load_settings",
    "override_settings",
]

Protocol = Literal["tags", "native"]

# Short environment names for the settings users set most.
_ENV_ALIASES: dict[str, str] = {
    "SOUNDING_BASE_URL": "llm.base_url",
    "SOUNDING_MODEL": "llm.model",
    "SOUNDING_API_KEY": "llm.api_key",
    "SOUNDING_PROTOCOL": "protocol",
    "SOUNDING_ENV": "env",
    "SOUNDING_MODE": "mode",
    "SOUNDING_SUMMARY_BASE_URL": "summary.base_url",
    "SOUNDING_SUMMARY_MODEL": "summary.model",
    "SOUNDING_SUMMARY_API_KEY": "summary.api_key",
    "SOUNDING_CACHE_DIR": "cache_dir",
    "SOUNDING_CORPUS": "corpus",
    "SOUNDING_CORPUS_SEARCH": "corpus_search",
}


@dataclass(frozen=True)
class Sampling:
    """Sampling parameters of agent turns; defaults are the ones Tongyi published with."""

    temperature: float = 0.85
    top_p: float = 0.95
    presence_penalty: float = 1.1
    max_tokens: int = 10_000
    """Most new tokens per turn."""
    seed: int | None = None


@dataclass(frozen=True)
class LLMSettings:
    """An OpenAI-compatible endpoint (vLLM, SGLang, Ollama, OpenRouter, DashScope, OpenAI)."""

    base_url: str | None = None
    """e.g. http://localhost:8000/v1 for a local vLLM server."""
    model: str | None = None
    """Model name as the server knows it, e.g. Alibaba-NLP/Tongyi-DeepResearch-30B-A3B."""
    api_key: str | None = None
    """Bearer key; local servers usually accept any value."""
    timeout: float = 600.0
    """Seconds for one HTTP call before it counts as failed."""
    max_retries: int = 5
    """Retries on 429, 5xx and connection errors, with exponential backoff and jitter."""
    backoff_base: float = 1.0
    """First backoff delay in seconds; doubles each retry (with jitter), capped at 60 s."""
    context_window: int = 131072
    """The model's context window in tokens (prompt plus completion must fit in it)."""
    tokenizer: str | None = None
    """A tiktoken rank file or a Hugging Face tokenizer folder for exact token counts;
    None uses the calibrated estimate."""
    record_tokens: bool = False
    """Ask the server for token ids and log-probs (vLLM) and keep them per model call."""
    max_response_bytes: int = 8 * 1024 * 1024
    """A reply body larger than this is refused as malformed (a hostile or broken server)."""

    def missing(self) -> list[str]:
        return [name for name in ("base_url", "model") if not getattr(self, name)]


@dataclass(frozen=True)
class Budgets:
    """Explicit limits of one run; every one of them still ends in an answer."""

    max_rounds: int = 100
    """Most model turns (tool-using rounds) before a final answer is forced."""
    max_context_tokens: int = 110 * 1024
    """Context size at which the run stops researching and asks for the answer."""
    max_seconds: float = 150 * 60.0
    """Wall-clock limit of the run."""
    max_total_tokens: int | None = None
    """Ceiling on prompt + completion tokens across the whole run (all branches in heavy mode)."""
    answer_grace_seconds: float = 300.0
    """Time allowed to the final-answer call once a budget is spent (it runs past the wall
    limit, so that a run still ends in an answer, but not forever)."""

    def problems(self) -> list[str]:
        """What is wrong with these limits (empty when they are usable)."""
        out = []
        if self.max_rounds < 0:
            out.append(f"budgets.max_rounds must be 0 or more, not {self.max_rounds}")
        for name in ("max_context_tokens", "max_seconds", "answer_grace_seconds"):
            if getattr(self, name) <= 0:
                out.append(f"budgets.{name} must be positive, not {getattr(self, name)}")
        if self.max_total_tokens is not None and self.max_total_tokens <= 0:
            out.append(f"budgets.max_total_tokens must be positive, not {self.max_total_tokens}")
        return out


@dataclass(frozen=True)
class IterSettings:
    """IterResearch (`--mode iter`): the per-round workspace caps (`[iter]`, `iter.*`)."""

    report_max_tokens: int = 4096
    """Longest report carried into the next round; a longer one is cut with a marker."""
    observation_max_tokens: int = 3072
    """Longest observation shown in the workspace (split evenly across a turn's calls)."""


@dataclass(frozen=True)
class HeavySettings:
    """Heavy mode (`--mode heavy`): parallel researchers plus a synthesis (`[heavy]`)."""

    branches: int = 4
    """Researchers run concurrently on the question, each with its own sampling seed."""
    branch_mode: Literal["iter", "react", "resum"] = "iter"
    """The mode each branch runs."""
    early_stop_majority: float | None = None
    """Stop the other branches once this fraction of all branches has finished with the
    same (normalised) answer, e.g. 0.5 with 4 branches stops when two agree. None: wait."""
    synthesis: bool = True
    """Fuse the branches with a synthesis call; False: majority vote of their answers."""


@dataclass(frozen=True)
class ResumSettings:
    """ReSum (`--mode resum`): when to condense the conversation (`[resum]`)."""

    threshold: float = 0.9
    """Fraction of `budgets.max_context_tokens` at which the context is summarised."""


@dataclass(frozen=True)
class WebSettings:
    """Real-web providers and the tool layer around them (`[web]`, `SOUNDING_WEB__*`, `web.*`).

    Provider keys are not settings: they come from the environment by their usual
    names (SERPER_API_KEY, BRAVE_API_KEY, TAVILY_API_KEY, JINA_API_KEY,
    SEMANTIC_SCHOLAR_API_KEY, OPENALEX_API_KEY) and live in `Settings.secrets`.
    """

    search: str = "serper,ddgs"
    """Search providers tried in order: serper, searxng, brave, tavily, ddgs (keyless)."""
    scholar: str = "serper,semantic_scholar,arxiv"
    """google_scholar providers in order: serper, semantic_scholar, openalex, arxiv."""
    fetch: str = "direct,jina"
    """Page fetchers for `visit` in order: direct (httpx + extraction), jina (Jina Reader)."""
    results: int = 10
    """Results per query."""
    visit_chunk_tokens: int = 24_000
    """Page tokens per summary-model call in `visit`; fit it to the summary model's context."""
    serper_url: str = "https://google.serper.dev"
    searxng_url: str | None = None
    """Base URL of a SearXNG instance with the JSON format enabled; searxng needs it."""
    brave_url: str = "https://api.search.brave.com/res/v1"
    tavily_url: str = "https://api.tavily.com"
    jina_url: str = "https://r.jina.ai"
    semantic_scholar_url: str = "https://api.semanticscholar.org/graph/v1"
    openalex_url: str = "https://api.openalex.org"
    arxiv_url: str = "https://export.arxiv.org/api"
    cache_ttl: float = 7 * 24 * 3600.0
    """Seconds a cached provider answer stays valid."""
    no_cache: bool = False
    """Skip the persistent cache (neither read nor write)."""
    record_dir: Path | None = None
    """Store every provider exchange here (JSONL per provider) for later replay."""
    replay_dir: Path | None = None
    """Answer only from recordings in this folder; a miss is an error; no network."""
    allow_private_addresses: bool = False
    """Let fetch reach loopback and private addresses (tests only: turns SSRF checks off)."""
    fetch_max_bytes: int = 20_000_000
    """Largest response body fetch reads."""
    max_redirects: int = 5
    timeout: float = 30.0
    """Seconds for one provider call (one attempt) before it counts as failed."""
    max_retries: int = 3
    """Retries of a call that failed with 429, 5xx, a timeout or a connection error."""
    backoff_base: float = 1.0
    """First retry delay in seconds; doubles each retry, with jitter."""
    rate_limits: str = (
        "serper=20,searxng=5,brave=1,tavily=1.5,jina=0.3,semantic_scholar=1,"
        "openalex=10,arxiv=0.34,direct=20"
    )
    """Requests per second per provider, as name=rate pairs."""
    concurrency: int = 8
    """Requests in flight at once per provider."""
    shared_limiter: str | None = None
    """A Ray actor (`ray:NAME`) holding the rate limits and caps for the whole cluster; the
    Ray executor sets it, so the limits above hold across workers, not per worker."""
    cache_url: str | None = None
    """A shared answer cache: `redis://HOST:PORT/DB` or a directory on shared storage
    (default: a folder under cache_dir, private to the machine)."""
    sandbox_timeout: float = 50.0
    """Wall-clock seconds of one PythonInterpreter call."""
    sandbox_memory_mb: int = 2048
    """Address-space limit of sandboxed code."""
    sandbox_max_processes: int = 64
    """Process limit of the sandbox user (fork bombs stop here)."""
    sandbox_max_file_mb: int = 64
    """Largest file sandboxed code may write."""
    sandbox_max_output: int = 20_000
    """Characters of stdout and of stderr kept in the observation."""
    sandbox_python: Path | None = None
    """Interpreter run in the sandbox; default /usr/bin/python3 (readable by `nobody`)."""
    allow_unsandboxed: bool = False
    """Run PythonInterpreter without bubblewrap when it is missing (no isolation at all)."""
    files_dir: Path | None = None
    """Folder parse_file may read (`sounding ask --files DIR`); parse_file exists only then."""


@dataclass(frozen=True)
class ExecutorSettings:
    """Where eval, synthesis and RL rollouts run (`sounding eval run --executor`)."""

    kind: Literal["local", "ray"] = "local"
    """`local`: asyncio tasks in this process. `ray`: worker actors on a Ray cluster."""
    ray_address: str | None = None
    """A running cluster (`auto`, `HOST:PORT`); default: start a local one."""
    workers: int = 2
    """Worker actors (Ray), each with its own model clients, environment and caches."""
    worker_concurrency: int = 8
    """Rollouts in flight per worker."""
    max_retries: int = 2
    """Times a rollout lost with its worker is run again on another worker."""


@dataclass(frozen=True)
class McpServerSettings:
    """One MCP server whose tools the run offers (`--mcp`, `--mcp-url`, `[[mcp]]`)."""

    command: str | None = None
    """A stdio server: the command line that starts it, e.g. `python3 server.py`."""
    url: str | None = None
    """A streamable-HTTP server: its endpoint, e.g. `http://127.0.0.1:8000/mcp`."""
    name: str | None = None
    """A name for errors and the record (default: the command or the URL)."""
    timeout: float = 60.0
    """Seconds one tool call may take."""

    @property
    def label(self) -> str:
        """`name`, else the URL, else the command's last word (`python3 srv.py` -> srv.py)."""
        if self.name or self.url:
            return self.name or self.url or ""
        words = (self.command or "mcp").split()
        return Path(words[-1]).name if words else "mcp"


def _mcp_server(value: object, key: str, source: str) -> McpServerSettings:
    if isinstance(value, McpServerSettings):
        return value
    if isinstance(value, str):
        is_url = value.startswith(("http://", "https://"))
        return McpServerSettings(url=value) if is_url else McpServerSettings(command=value)
    if isinstance(value, Mapping):
        known = {f.name for f in dataclasses.fields(McpServerSettings)}
        unknown = sorted(set(value) - known)
        server = _apply_mapping(McpServerSettings(), {k: v for k, v in value.items()
                                                      if k in known}, source=source)
        if unknown or bool(server.command) == bool(server.url):
            raise ConfigError(f"setting {key!r} in {source}: each MCP server needs exactly one "
                              f"of command or url (and only {', '.join(sorted(known))})")
        return server  # type: ignore[no-any-return]
    raise ConfigError(f"setting {key!r} in {source}: {value!r} is not an MCP server")


@dataclass(frozen=True)
class Settings:
    """Everything one run needs to know; build it with `load_settings`."""

    llm: LLMSettings = field(default_factory=LLMSettings)
    summary: LLMSettings = field(default_factory=LLMSettings)
    """The model that extracts evidence from pages in `visit`; unset fields fall back to `llm`."""
    sampling: Sampling = field(default_factory=Sampling)
    budgets: Budgets = field(default_factory=Budgets)
    protocol: Protocol = "tags"
    """`tags`: the Tongyi text format. `native`: OpenAI function calling."""
    env: str = "offline"
    """Where tools get their facts: `offline` (local corpus) or `web` (real providers)."""
    mode: str = "react"
    system_prompt_file: Path | None = None
    """A file whose text replaces the built-in role paragraph."""
    cache_dir: Path = field(default_factory=lambda: Path(platformdirs.user_cache_dir("sounding")))
    corpus: Path | None = None
    """A corpus built with `sounding corpus build`; default: the embedded vital articles."""
    corpus_search: Literal["bm25", "dense", "hybrid"] = "bm25"
    """How the offline `search` ranks: BM25, embeddings, or both fused (needs `corpus embed`)."""
    web: WebSettings = field(default_factory=WebSettings)
    """Real-web providers, the tool layer, the sandbox and parse_file."""
    iter: IterSettings = field(default_factory=IterSettings)
    """IterResearch workspace caps."""
    heavy: HeavySettings = field(default_factory=HeavySettings)
    """Heavy mode: branches, branch mode, early stop, synthesis."""
    resum: ResumSettings = field(default_factory=ResumSettings)
    """ReSum condensation threshold."""
    tools: tuple[str, ...] = ()
    """User tools, `module:function` (or `file.py:function`), offered beside the built-ins."""
    mcp: tuple[McpServerSettings, ...] = ()
    """MCP servers whose tools are offered beside the built-ins."""
    executor: ExecutorSettings = field(default_factory=ExecutorSettings)
    """Local asyncio or Ray worker actors for eval, synthesis and rollouts."""
    secrets: Mapping[str, str] = field(default_factory=dict, repr=False)
    """Provider keys found in the environment (`*_API_KEY`, `*_KEY`), by variable name."""

    def summary_llm(self) -> LLMSettings:
        """The summary model's settings with unset fields taken from the agent's model."""
        return LLMSettings(
            base_url=self.summary.base_url or self.llm.base_url,
            model=self.summary.model or self.llm.model,
            api_key=self.summary.api_key or self.llm.api_key,
            timeout=self.summary.timeout,
            max_retries=self.summary.max_retries,
            backoff_base=self.summary.backoff_base,
        )

    def require_llm(self) -> None:
        """Raise ConfigError naming exactly what to set when the endpoint is not configured."""
        missing = self.llm.missing()
        if missing:
            names = " and ".join(
                f"--{m.replace('_', '-')} / SOUNDING_{m.upper()}" for m in missing
            )
            raise ConfigError(
                f"no LLM endpoint configured: set {names} "
                "(e.g. SOUNDING_BASE_URL=http://localhost:8000/v1 "
                "SOUNDING_MODEL=Alibaba-NLP/Tongyi-DeepResearch-30B-A3B)"
            )


def find_config_file(environ: Mapping[str, str]) -> Path | None:
    """SOUNDING_CONFIG, else ./sounding.toml, else the user config directory."""
    explicit = environ.get("SOUNDING_CONFIG")
    if explicit:
        path = Path(explicit)
        if not path.is_file():
            raise ConfigError(f"SOUNDING_CONFIG points to {path}, which is not a file")
        return path
    for candidate in (
        Path.cwd() / "sounding.toml",
        Path(platformdirs.user_config_dir("sounding")) / "sounding.toml",
    ):
        if candidate.is_file():
            return candidate
    return None


def load_settings(
    flags: Mapping[str, object] | None = None,
    *,
    config_file: Path | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Merge defaults, the config file, the environment and flags (later wins).

    `flags` use dotted keys; a value of None means "not given" and is skipped.
    """
    env = dict(os.environ if environ is None else environ)
    settings = Settings()
    path = config_file or find_config_file(env)
    if path is not None:
        settings = _apply_mapping(settings, _read_toml(path), source=str(path))
    settings = _apply_mapping(settings, _env_overrides(env), source="environment")
    if flags:
        given = {k: v for k, v in flags.items() if v is not None}
        settings = _apply_mapping(settings, given, source="flags")
    secrets = {k: v for k, v in env.items() if k.endswith(("_API_KEY", "_KEY", "_TOKEN")) and v}
    final: Settings = dataclasses.replace(settings, secrets=secrets)
    _check(final)
    return final


def override_settings(settings: Settings, flags: Mapping[str, object]) -> Settings:
    """A copy of `settings` with dotted-key overrides applied (None values skipped)."""
    given = {k: v for k, v in flags.items() if v is not None}
    final: Settings = _apply_mapping(settings, given, source="arguments")
    _check(final)
    return final


def _check(settings: Settings) -> None:
    problems = settings.budgets.problems()
    share = settings.heavy.early_stop_majority
    if share is not None and not 0 < share <= 1:
        problems.append(f"heavy.early_stop_majority must be a share in (0, 1], not {share}")
    if settings.heavy.branches < 1:
        problems.append(f"heavy.branches must be at least 1, not {settings.heavy.branches}")
    if problems:
        raise ConfigError("; ".join(problems))


def _read_toml(path: Path) -> dict[str, object]:
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"cannot read config file {path}: {exc}") from exc
    flat: dict[str, object] = {}

    def walk(prefix: str, value: object) -> None:
        if isinstance(value, dict):
            for k, v in value.items():
                walk(f"{prefix}.{k}" if prefix else str(k), v)
        else:
            flat[prefix] = value

    walk("", data)
    return flat


def _env_overrides(env: Mapping[str, str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for name, value in env.items():
        if not name.startswith("SOUNDING_") or name == "SOUNDING_CONFIG" or value == "":
            continue
        if name in _ENV_ALIASES:
            out[_ENV_ALIASES[name]] = value
        elif "__" in name:
            out[name[len("SOUNDING_"):].lower().replace("__", ".")] = value
    return out


def _apply_mapping(obj: Any, values: Mapping[str, object], *, source: str) -> Any:
    for key, value in values.items():
        obj = _apply(obj, key.split("."), value, key=key, source=source)
    return obj


def _apply(obj: Any, path: list[str], value: object, *, key: str, source: str) -> Any:
    fields = {f.name: f for f in dataclasses.fields(obj)}
    name = path[0]
    if name not in fields:
        known = ", ".join(sorted(fields))
        raise ConfigError(f"unknown setting {key!r} in {source} (known here: {known})")
    hints = typing.get_type_hints(type(obj))
    current = getattr(obj, name)
    if len(path) > 1:
        if not dataclasses.is_dataclass(current):
            raise ConfigError(f"setting {key!r} in {source}: {name} has no sub-settings")
        return dataclasses.replace(obj, **{name: _apply(current, path[1:], value, key=key,
                                                        source=source)})
    return dataclasses.replace(obj, **{name: _coerce(value, hints[name], key=key, source=source)})


def _coerce(value: object, hint: Any, *, key: str, source: str) -> object:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is tuple:  # repeatable settings: a TOML array (of tables), a list, "a,b"
        items = value.split(",") if isinstance(value, str) else value
        items = items if isinstance(items, list | tuple) else [items]
        if args[0] is McpServerSettings:
            return tuple(_mcp_server(v, key, source) for v in items)
        # `[[tools]]` tables name their function as `path = "module:function"`.
        return tuple(str(v["path"] if isinstance(v, Mapping) and "path" in v else v).strip()
                     for v in items if v)
    if origin in (typing.Union, types.UnionType):
        empty = value is None or (isinstance(value, str) and value.lower() in ("", "none", "null"))
        if empty and type(None) in args:
            return None
        inner = [a for a in args if a is not type(None)]
        return _coerce(value, inner[0], key=key, source=source)
    if origin is Literal:
        if value not in args:
            choices = ", ".join(map(str, args))
            raise ConfigError(f"setting {key!r} in {source} must be one of {choices}, "
                              f"not {value!r}")
        return value
    try:
        if hint is bool:
            if isinstance(value, str):
                low = value.strip().lower()
                if low not in ("1", "0", "true", "false", "yes", "no", "on", "off"):
                    raise ValueError(value)
                return low in ("1", "true", "yes", "on")
            return bool(value)
        if hint in (int, float, str):
            if hint is int and isinstance(value, float) and not value.is_integer():
                raise ValueError(value)
            return hint(value)
        if hint is Path:
            return Path(str(value)).expanduser()
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"setting {key!r} in {source}: {value!r} is not a valid "
                          f"{getattr(hint, '__name__', hint)}") from exc
    return value
