"""`OpenAIChatModel`: the one HTTP client for every OpenAI-compatible chat endpoint.

vLLM, SGLang, Ollama, OpenRouter, DashScope and OpenAI all speak chat completions;
this client smooths over their differences (where reasoning text lives, which
parameters they reject) and applies Sounding's retry policy.

It posts with aiohttp directly rather than through the `openai` SDK: the SDK
spent about 0.8 ms of CPU per call building the request (against 0.25 ms here),
and at hundreds of concurrent runs on two cores that CPU is what bounds
throughput. Parsing, errors and retries were ours either way.
"""

from __future__ import annotations

import asyncio
import ipaddress
import json
import logging
import random
import re
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from contextlib import asynccontextmanager
from types import TracebackType
from urllib.parse import urlsplit, urlunsplit

import aiohttp

from .._secrets import strip_url_credentials
from ..config import LLMSettings
from ..errors import (
    ConfigError,
    ContextLengthError,
    LLMConnectionError,
    LLMError,
    LLMResponseError,
    MalformedReplyError,
)
from ..types import JSON, JSONObject, Message
from ._reply import (
    is_context_length_refusal,
    json_or_text,
    load_json,
    message_of,
    retry_after,
    server_message,
    to_completion,
)
from ._stream import StreamFold, sse_data
from ._wire import TOOL_RESPONSE_TAG, message_to_openai
from .base import ChatRequest, Completion, StreamChannel, StreamChunk

__all__ = ["OpenAIChatModel", "is_loopback", "mask_key"]

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
"""No single wait, computed or server-directed, is longer than this."""

# Generous pool: heavy mode and eval runs put hundreds of calls in flight on one client.
_MAX_CONNECTIONS = 1024
_RETRY_STATUSES = frozenset({408, 409, 429})

_real_requests_allowed = True


def set_real_requests_allowed(allowed: bool) -> bool:
    """Allow or forbid calls to non-loopback endpoints (tests); returns the old value."""
    global _real_requests_allowed
    old, _real_requests_allowed = _real_requests_allowed, allowed
    return old


def real_requests_allowed() -> bool:
    """Whether calls to non-loopback endpoints are allowed (`set_real_requests_allowed`)."""
    return _real_requests_allowed


class _Transient(LLMError):
    """A failure worth retrying; converted to LLMError/LLMConnectionError (or, for a reply
    of the wrong shape, MalformedReplyError) when retries end."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None, malformed: bool = False) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after
        self.malformed = malformed


class OpenAIChatModel:
    """ChatModel over an OpenAI-compatible `/chat/completions` endpoint.

    Safe to share between hundreds of concurrent tasks: one connection pool,
    no locks around calls.
    """

    def __init__(self, settings: LLMSettings, *, name: str | None = None,
                 extra_body: Mapping[str, JSON] | None = None) -> None:
        """`extra_body` is merged into every request (e.g. vLLM's `chat_template_kwargs`)."""
        if settings.missing():
            raise ConfigError(f"LLM settings lack {', '.join(settings.missing())}")
        self._settings = settings
        self._model = str(settings.model)
        # A base URL may carry credentials (`user:key@`, `?api_key=`): they are sent, but
        # every message and repr shows the URL without them.
        self._raw_base = str(settings.base_url)
        self._base_url = strip_url_credentials(self._raw_base).rstrip("/")
        self._name = name or self._model
        self._extra_body = dict(extra_body or {})
        self._response_format_ok = True
        self._max_completion_tokens = False
        self._token_ids_ok = True
        self._tokenize_url: str | bool | None = None
        """None: not asked yet; False: the server has no /tokenize; else the URL that works."""
        self._url = endpoint_url(self._raw_base, "/chat/completions")
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout,
                                              connect=min(settings.timeout, 10.0))
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         "User-Agent": "sounding"}
        if settings.api_key:
            self._headers["Authorization"] = f"Bearer {settings.api_key}"
        self._session: aiohttp.ClientSession | None = None

    @property
    def name(self) -> str:
        return self._name

    @property
    def supports_response_format(self) -> bool:
        """False once the server has rejected `response_format` and a plain call worked."""
        return self._response_format_ok

    def __repr__(self) -> str:  # never show the key
        return f"OpenAIChatModel(model={self._model!r}, base_url={self._base_url!r})"

    async def __aenter__(self) -> OpenAIChatModel:
        return self

    async def __aexit__(self, et: type[BaseException] | None, e: BaseException | None,
                        tb: TracebackType | None) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def _http(self) -> aiohttp.ClientSession:
        # Created on first use: an aiohttp session belongs to the running event loop.
        if self._session is None or self._session.closed:
            connector = aiohttp.TCPConnector(limit=_MAX_CONNECTIONS, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(connector=connector, timeout=self._timeout,
                                                  headers=self._headers)
        return self._session

    @property
    def _where(self) -> str:
        return f"model endpoint {self._base_url}"

    async def complete(self, request: ChatRequest) -> Completion:
        self._check_allowed()
        start = time.monotonic()
        data, body, retries = await self._exchange(request)
        return to_completion(data, body, where=self._where, model=self._model,
                             retries=retries, latency=time.monotonic() - start)

    async def stream(self, request: ChatRequest) -> AsyncIterator[StreamChunk]:
        """Server-sent events (`stream: true`): deltas, then the same Completion as
        `complete`. Failures before the first byte are retried; a stream that breaks
        midway raises LLMConnectionError (its deltas were already handed out)."""
        self._check_allowed()
        start = time.monotonic()
        body = self.build_body(request)
        body["stream"] = True
        body["stream_options"] = {"include_usage": True}
        fold = StreamFold()
        async with self._open_stream(body) as (response, retries):
            async for delta, channel in self._read_stream(response, fold):
                yield StreamChunk(delta, channel)
        yield StreamChunk(completion=to_completion(
            fold.body(), body, where=self._where, model=self._model, retries=retries,
            latency=time.monotonic() - start))

    async def count_tokens(self, messages: Sequence[Message]) -> int | None:
        """The prompt's exact size from the server's `/tokenize` (vLLM, SGLang), with the
        chat template applied; None when the server has no such endpoint."""
        if self._tokenize_url is False:
            return None
        self._check_allowed()
        payload = json.dumps({"model": self._model, "add_generation_prompt": True,
                              "messages": [message_to_openai(m) for m in messages]},
                             ensure_ascii=False).encode("utf-8", "replace")
        known = self._tokenize_url
        urls = [known] if isinstance(known, str) else _tokenize_urls(self._raw_base)
        for url in urls:
            try:
                async with asyncio.timeout(min(self._settings.timeout, 30.0)):
                    async with self._http().post(url, data=payload) as response:
                        if response.status >= 400:
                            continue
                        raw = await _read_capped(response, 1 << 24, self._where)
            except (TimeoutError, aiohttp.ClientError, MalformedReplyError) as exc:
                raise LLMConnectionError(self._scrub(f"{self._where} /tokenize failed: {exc}")
                                         ) from exc
            data = json_or_text(raw)
            count = data.get("count") if isinstance(data, dict) else None
            if isinstance(count, int) and not isinstance(count, bool):
                self._tokenize_url = url
                return count
        self._tokenize_url = False  # asked once; the server lacks it
        return None

    # -- request -----------------------------------------------------------------

    def build_body(self, request: ChatRequest, *, response_format: bool = True) -> JSONObject:
        """The JSON body sent for `request` (public so traces and tests can see it)."""
        s = request.sampling
        body: JSONObject = {
            "model": self._model,
            "messages": [message_to_openai(m) for m in request.messages],
            "temperature": s.temperature,
            "top_p": s.top_p,
            "presence_penalty": s.presence_penalty,
        }
        body["max_completion_tokens" if self._max_completion_tokens else "max_tokens"] = (
            s.max_tokens)
        if s.seed is not None:
            body["seed"] = s.seed
        if request.stop:
            body["stop"] = list(request.stop)
        if request.tools:
            body["tools"] = [t.to_openai() for t in request.tools]
            if request.tool_choice is not None:
                body["tool_choice"] = request.tool_choice
        if request.response_format is not None and response_format and self._response_format_ok:
            body["response_format"] = dict(request.response_format)
        if request.logprobs or self._settings.record_tokens:
            body["logprobs"] = True
        if self._settings.record_tokens:
            # vLLM: the sampled ids per choice and the prompt ids at the top level.
            body["top_logprobs"] = 0
            if self._token_ids_ok:
                body["return_token_ids"] = True
        body.update(self._extra_body)
        return body

    async def _exchange(self, request: ChatRequest) -> tuple[JSONObject, JSONObject, int]:
        """Send with retries, then at most one fallback per unsupported parameter."""
        with_rf = True
        retries = 0
        while True:
            body = self.build_body(request, response_format=with_rf)
            try:
                data, n = await self._post_retrying(body)
            except ContextLengthError:
                raise  # the loop answers with a shorter prompt; a retry would fail alike
            except LLMResponseError as exc:
                retries += exc.retries
                if exc.status == 400 and "response_format" in body:
                    log.info("%s rejected response_format; retrying without it", self._base_url)
                    with_rf, retries = False, retries + 1
                    continue
                if exc.status == 400 and "return_token_ids" in body and (
                        "return_token_ids" in str(exc)):
                    self._token_ids_ok, retries = False, retries + 1
                    continue
                if (exc.status == 400 and "max_tokens" in body
                        and "max_completion_tokens" in str(exc)):
                    self._max_completion_tokens, retries = True, retries + 1
                    continue
                exc.retries = retries
                raise
            if not with_rf and self._response_format_ok:
                self._response_format_ok = False  # the server lacks structured output
            return data, body, retries + n

    async def _post_retrying(self, body: JSONObject) -> tuple[JSONObject, int]:
        """Post until a call succeeds or retries end; returns (reply, retries). A plain
        loop rather than tenacity's, whose machinery was about a sixth of each call's
        CPU at hundreds of concurrent runs, though almost every call succeeds at once."""
        payload = _encode(body)
        attempt = 0
        while True:
            try:
                return await self._post_once(payload), attempt
            except _Transient as exc:
                if attempt >= self._settings.max_retries:
                    cls = (MalformedReplyError if exc.malformed
                           else LLMConnectionError if exc.status is None else LLMError)
                    raise cls(f"{exc} (gave up after {attempt} retries)", status=exc.status,
                              retries=attempt) from exc
                attempt += 1
                log.warning("model call failed (%s); retry %d of %d", exc, attempt,
                            self._settings.max_retries)
                await asyncio.sleep(self._backoff(exc, attempt))
            except LLMError as exc:
                exc.retries = attempt
                raise

    def _backoff(self, exc: _Transient, attempt: int) -> float:
        """Seconds before retry `attempt` (1, 2, ...): the server's Retry-After when it
        gave a sane one, else random exponential backoff."""
        after = exc.retry_after
        if after is not None and 0 < after <= MAX_BACKOFF_S:
            return after
        # Full jitter: uniform over a window that doubles per retry, capped.
        window = self._settings.backoff_base * 2.0 ** min(attempt - 1, 32)
        return random.uniform(0.0, min(MAX_BACKOFF_S, window))

    async def _post_once(self, payload: bytes) -> JSONObject:
        try:
            # The deadline covers the body too: a server that drips a huge reply is cut off.
            async with asyncio.timeout(self._settings.timeout):
                async with self._http().post(self._url, data=payload) as response:
                    status, headers = response.status, response.headers
                    raw = await _read_capped(response, self._settings.max_response_bytes,
                                             self._where)
        except TimeoutError as exc:
            raise _Transient(f"{self._where} timed out after "
                             f"{self._settings.timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise _Transient(self._scrub(f"{self._where} is unreachable: {exc}")) from exc
        if status >= 400:
            raise self._status_error(status, json_or_text(raw), headers)
        try:
            data = load_json(raw, self._where)
        except MalformedReplyError as exc:
            raise MalformedReplyError(self._scrub(str(exc)), status=status) from exc
        if not isinstance(data, dict):
            raise MalformedReplyError(f"{self._where} sent a non-object body")
        if not data.get("choices") and isinstance(data.get("error"), dict):
            # OpenRouter can report a provider failure inside an HTTP 200.
            code = data["error"].get("code")
            raise self._status_error(code if isinstance(code, int) else 502, data["error"],
                                     headers)
        try:
            message_of(data, self._where)
        except MalformedReplyError as exc:  # a broken reply may be a one-off: retry it
            raise _Transient(str(exc), malformed=True) from exc
        return data

    @asynccontextmanager
    async def _open_stream(self, body: JSONObject
                           ) -> AsyncIterator[tuple[aiohttp.ClientResponse, int]]:
        """A streaming response whose status is good, after retries on transient failures."""
        payload = _encode(body)
        for attempt in range(self._settings.max_retries + 1):
            try:
                response = await self._http().post(self._url, data=payload)
            except (aiohttp.ClientError, TimeoutError) as exc:
                error: LLMError = _Transient(self._scrub(f"{self._where} is unreachable: "
                                                         f"{exc!r}"))
            else:
                # Only failures before the first byte are retried: what the consumer does
                # with the open stream is outside this loop.
                try:
                    if response.status < 400:
                        yield response, attempt
                        return
                    raw = await _read_capped(response, 1 << 20, self._where)
                    error = self._status_error(response.status, json_or_text(raw),
                                               response.headers)
                finally:
                    response.release()
            if not isinstance(error, _Transient):
                error.retries = attempt
                raise error
            if attempt == self._settings.max_retries:
                cls = LLMConnectionError if error.status is None else LLMError
                raise cls(f"{error} (gave up after {attempt} retries)", status=error.status,
                          retries=attempt)
            after = error.retry_after
            await asyncio.sleep(after if after is not None and 0 < after <= MAX_BACKOFF_S
                                else min(MAX_BACKOFF_S, self._settings.backoff_base
                                         * 2 ** attempt * random.random()))
        raise AssertionError("unreachable")  # pragma: no cover

    async def _read_stream(self, response: aiohttp.ClientResponse, fold: StreamFold
                           ) -> AsyncIterator[tuple[str, StreamChannel]]:
        cut = False  # the model must not write observations: stop passing text on there
        seen = ""
        try:
            async for data in sse_data(response.content.iter_any(),
                                       cap=self._settings.max_response_bytes, where=self._where):
                if data == b"[DONE]":
                    break
                event = load_json(data, self._where)
                if not isinstance(event, dict):
                    continue
                if isinstance(event.get("error"), dict) and not event.get("choices"):
                    raise self._status_error(_int(event["error"].get("code"), 500),
                                             event["error"], {})
                for delta, channel in fold.feed(event):
                    if channel == "text" and not cut:
                        seen += delta
                        if TOOL_RESPONSE_TAG in seen[-len(delta) - len(TOOL_RESPONSE_TAG):]:
                            cut = True
                            continue
                    if not cut or channel == "reasoning":
                        yield delta, channel
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise LLMConnectionError(self._scrub(f"{self._where} broke off its stream: {exc}")
                                     ) from exc

    def _status_error(self, status: int, body: object, headers: Mapping[str, str]) -> LLMError:
        message = self._scrub(server_message(body))
        text = f"{self._where} answered HTTP {status}: {message}"
        if is_context_length_refusal(status, message) or (
                isinstance(body, dict) and "context_length_exceeded" in str(body.get("code"))):
            return ContextLengthError(text, status=status)
        retryable = status in _RETRY_STATUSES or status >= 500
        if headers.get("x-should-retry") in ("true", "false"):
            retryable = headers.get("x-should-retry") == "true"
        if retryable:
            return _Transient(text, status=status, retry_after=retry_after(headers))
        return LLMResponseError(text, status=status)

    def _scrub(self, text: str) -> str:
        return mask_key(text, self._settings.api_key)

    def _check_allowed(self) -> None:
        if _real_requests_allowed:
            return
        host = urlsplit(self._base_url).hostname or ""
        if is_loopback(host):
            return
        raise LLMConnectionError(
            f"real model requests are forbidden here (base_url {self._base_url}); "
            "use sounding.llm.testing.ScriptedModel or ScriptedServer")


def mask_key(text: str, key: str | None) -> str:
    """`text` with the API key replaced by `***`. A short key (under 8 characters) is
    masked only where it stands as a whole token, so that a one-letter key does not
    garble every message; a long one wherever it appears."""
    if not key:
        return text
    if len(key) >= 8:
        return text.replace(key, "***")
    return re.sub(rf"(?<![\w.\-]){re.escape(key)}(?![\w.\-])", "***", text)


class _Fragments:
    """JSON text of plain messages (role and content only) already sent, so that a run's
    growing prompt is encoded once per message rather than once per call: by round 10 a
    prompt is mostly the same messages again. Bounded by characters held, oldest out."""

    def __init__(self, cap_chars: int = 32 << 20) -> None:
        self.cap = cap_chars
        self.size = 0
        self._texts: dict[tuple[str, str], str] = {}
        self._lock = threading.Lock()

    def text(self, message: JSON) -> str:
        if not (isinstance(message, dict) and len(message) == 2
                and isinstance(message.get("role"), str)
                and isinstance(message.get("content"), str)):
            return json.dumps(message, ensure_ascii=False)
        # (str hashes are cached on the strings, and a run keeps the same ones)
        key = (str(message["role"]), str(message["content"]))
        text = self._texts.get(key)
        if text is None:
            text = json.dumps(message, ensure_ascii=False)
            with self._lock:
                self._texts[key] = text
                self.size += len(text)
                while self.size > self.cap and self._texts:
                    self.size -= len(self._texts.pop(next(iter(self._texts))))
        return text


_FRAGMENTS = _Fragments()


def _encode(body: JSONObject) -> bytes:
    messages = body.get("messages")
    if isinstance(messages, list) and messages:
        rest = {k: v for k, v in body.items() if k != "messages"}
        head = json.dumps(rest, ensure_ascii=False)[:-1] + (", " if rest else "")
        text = (head + '"messages": [' + ", ".join(_FRAGMENTS.text(m) for m in messages)
                + "]}")
    else:
        text = json.dumps(body, ensure_ascii=False)
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate (a page, a file) must not block the call
        return _SURROGATE.sub("\ufffd", text).encode("utf-8")


_SURROGATE = re.compile("[\ud800-\udfff]")


async def _read_capped(response: aiohttp.ClientResponse, cap: int, where: str) -> bytes:
    """The body, refused as MalformedReplyError once it passes `cap` bytes."""
    length = response.content_length
    if length is not None and length > cap:
        raise MalformedReplyError(f"{where} sent a {length}-byte body, over the "
                                  f"{cap}-byte cap (llm.max_response_bytes); refused")
    out = bytearray()
    async for chunk in response.content.iter_any():
        out += chunk
        if len(out) > cap:
            raise MalformedReplyError(f"{where} sent a body over the {cap}-byte cap "
                                      "(llm.max_response_bytes); refused")
    return bytes(out)


def endpoint_url(base_url: str, path: str) -> str:
    """`path` under `base_url`, keeping the base URL's query string (some gateways take
    the key there) after the path instead of before it."""
    parts = urlsplit(base_url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/") + path,
                       parts.query, ""))


def _tokenize_urls(base_url: str) -> list[str]:
    # vLLM serves /tokenize at the root, next to /v1; SGLang also under /v1.
    parts = urlsplit(base_url)
    path = parts.path.rstrip("/")
    root = urlunsplit((parts.scheme, parts.netloc, path[:-3] if path.endswith("/v1") else path,
                       parts.query, ""))
    return list(dict.fromkeys([endpoint_url(root, "/tokenize"),
                               endpoint_url(base_url, "/tokenize")]))


def _int(value: object, default: int) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) else default


def is_loopback(host: str) -> bool:
    """`localhost` or a loopback address (a name other than localhost is not resolved)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
