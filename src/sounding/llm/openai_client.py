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

import email.utils
import ipaddress
import json
import logging
import math
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from urllib.parse import urlsplit

import aiohttp
from tenacity import (
    AsyncRetrying,
    RetryCallState,
    retry_if_exception_type,
    stop_after_attempt,
    wait_random_exponential,
)

from ..config import LLMSettings
from ..errors import ConfigError, LLMConnectionError, LLMError, LLMResponseError
from ..types import JSON, JSONObject, Usage, estimate_tokens
from ._wire import cut_tool_response, estimate_prompt_tokens, message_to_openai, parse_tool_calls
from .base import ChatRequest, Completion

__all__ = ["OpenAIChatModel"]

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 60.0
"""No single wait, computed or server-directed, is longer than this."""

# Generous pool: heavy mode and eval runs put hundreds of calls in flight on one client.
_MAX_CONNECTIONS = 1024
_RETRY_STATUSES = frozenset({408, 409, 429})
_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})

_real_requests_allowed = True


def set_real_requests_allowed(allowed: bool) -> bool:
    """Allow or forbid calls to non-loopback endpoints (tests); returns the old value."""
    global _real_requests_allowed
    old, _real_requests_allowed = _real_requests_allowed, allowed
    return old


class _Transient(LLMError):
    """A failure worth retrying; converted to LLMError/LLMConnectionError when retries end."""

    def __init__(self, message: str, *, status: int | None = None,
                 retry_after: float | None = None) -> None:
        super().__init__(message, status=status)
        self.retry_after = retry_after


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
        self._base_url = str(settings.base_url).rstrip("/")
        self._name = name or self._model
        self._extra_body = dict(extra_body or {})
        self._response_format_ok = True
        self._max_completion_tokens = False
        self._url = self._base_url + "/chat/completions"
        self._timeout = aiohttp.ClientTimeout(total=settings.timeout,
                                              connect=min(settings.timeout, 10.0))
        self._headers = {"Content-Type": "application/json", "Accept": "application/json",
                         "User-Agent": "sounding"}
        if settings.api_key:
            self._headers["Authorization"] = f"Bearer {settings.api_key}"
        self._session: aiohttp.ClientSession | None = None
        self._jitter = wait_random_exponential(multiplier=settings.backoff_base,
                                               max=MAX_BACKOFF_S)

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

    async def complete(self, request: ChatRequest) -> Completion:
        self._check_allowed()
        start = time.monotonic()
        data, body, retries = await self._exchange(request)
        return self._to_completion(data, body, retries, time.monotonic() - start)

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
        if request.logprobs:
            body["logprobs"] = True
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
            except LLMResponseError as exc:
                retries += exc.retries
                if exc.status == 400 and "response_format" in body:
                    log.info("%s rejected response_format; retrying without it", self._base_url)
                    with_rf, retries = False, retries + 1
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
        attempts = 0
        retrying = AsyncRetrying(
            stop=stop_after_attempt(self._settings.max_retries + 1),
            wait=self._wait,
            retry=retry_if_exception_type(_Transient),
            before_sleep=self._log_retry,
            reraise=True,
        )
        try:
            async for attempt in retrying:
                with attempt:
                    attempts += 1
                    data = await self._post_once(body)
        except _Transient as exc:
            cls = LLMConnectionError if exc.status is None else LLMError
            raise cls(f"{exc} (gave up after {attempts - 1} retries)", status=exc.status,
                      retries=attempts - 1) from exc
        except LLMError as exc:
            exc.retries = attempts - 1
            raise
        return data, attempts - 1

    def _wait(self, state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        after = exc.retry_after if isinstance(exc, _Transient) else None
        if after is not None and 0 < after <= MAX_BACKOFF_S:
            return after
        return float(self._jitter(state))

    def _log_retry(self, state: RetryCallState) -> None:
        exc = state.outcome.exception() if state.outcome else None
        log.warning("model call failed (%s); retry %d of %d", exc, state.attempt_number,
                    self._settings.max_retries)

    async def _post_once(self, body: JSONObject) -> JSONObject:
        payload = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._http().post(self._url, data=payload) as response:
                raw = await response.read()
                status, headers = response.status, response.headers
        except TimeoutError as exc:
            raise _Transient(f"model endpoint {self._base_url} timed out after "
                             f"{self._settings.timeout:g} s") from exc
        except aiohttp.ClientError as exc:
            raise _Transient(self._scrub(f"model endpoint {self._base_url} is unreachable: "
                                         f"{exc}")) from exc
        if status >= 400:
            raise self._status_error(status, _json_or_text(raw), headers)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise LLMResponseError(
                f"model endpoint {self._base_url} sent a body that is not JSON: "
                f"{self._scrub(raw[:200].decode(errors='replace'))!r}", status=status) from exc
        if not isinstance(data, dict):
            raise LLMResponseError(f"model endpoint {self._base_url} sent a non-object body")
        if not data.get("choices") and isinstance(data.get("error"), dict):
            # OpenRouter can report a provider failure inside an HTTP 200.
            code = data["error"].get("code")
            raise self._status_error(code if isinstance(code, int) else 502, data["error"],
                                     headers)
        return data

    def _status_error(self, status: int, body: object, headers: Mapping[str, str]) -> LLMError:
        message = self._scrub(_server_message(body))
        text = f"model endpoint {self._base_url} answered HTTP {status}: {message}"
        retryable = status in _RETRY_STATUSES or status >= 500
        if headers.get("x-should-retry") in ("true", "false"):
            retryable = headers.get("x-should-retry") == "true"
        if retryable:
            return _Transient(text, status=status, retry_after=_retry_after(headers))
        return LLMResponseError(text, status=status)

    def _scrub(self, text: str) -> str:
        key = self._settings.api_key
        return text.replace(key, "***") if key else text

    def _check_allowed(self) -> None:
        if _real_requests_allowed:
            return
        host = urlsplit(self._base_url).hostname or ""
        if host in _LOOPBACK_HOSTS or _is_loopback_ip(host):
            return
        raise LLMConnectionError(
            f"real model requests are forbidden here (base_url {self._base_url}); "
            "use sounding.llm.testing.ScriptedModel or ScriptedServer")

    # -- reply -------------------------------------------------------------------

    def _to_completion(self, data: JSONObject, body: JSONObject, retries: int,
                       latency: float) -> Completion:
        choices = data.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        if not isinstance(choice, dict):
            raise LLMResponseError(f"model endpoint {self._base_url} sent no choices",
                                   retries=retries)
        message = choice.get("message")
        message = message if isinstance(message, dict) else {}
        text = cut_tool_response(_with_reasoning(_content_text(message.get("content")),
                                                 message.get("reasoning")
                                                 or message.get("reasoning_content")))
        messages = body.get("messages")
        logprobs, token_ids = _token_info(choice)
        finish = choice.get("finish_reason")
        return Completion(
            text=text,
            tool_calls=parse_tool_calls(message.get("tool_calls")),
            usage=_usage(data.get("usage"), messages if isinstance(messages, list) else [],
                         text),
            finish_reason=str(finish) if finish is not None else None,
            latency_s=latency,
            retries=retries,
            model=str(data.get("model") or self._model),
            token_ids=token_ids,
            logprobs=logprobs,
        )


def _content_text(content: object) -> str:
    if isinstance(content, str):
        return content
    if isinstance(content, list):  # content parts: keep the text ones
        return "".join(str(p.get("text") or "") for p in content if isinstance(p, dict))
    return ""


def _with_reasoning(content: str, reasoning: object) -> str:
    """Put separately returned reasoning back in front, as the trained transcript has it."""
    if not isinstance(reasoning, str) or not reasoning or content.lstrip().startswith("<think>"):
        return content
    return f"<think>{reasoning}</think>{content}"


def _usage(raw: object, messages: Sequence[object], text: str) -> Usage:
    if isinstance(raw, dict):
        prompt, completion = raw.get("prompt_tokens"), raw.get("completion_tokens")
        if isinstance(prompt, int) and isinstance(completion, int) and (prompt or completion):
            return Usage(prompt, completion)
    dicts = [m for m in messages if isinstance(m, dict)]
    return Usage(estimate_prompt_tokens(dicts), estimate_tokens(text), estimated=True)


def _token_info(choice: JSONObject) -> tuple[tuple[float, ...] | None, tuple[int, ...] | None]:
    """Log-probs of sampled tokens and, where the server sends them, their ids."""
    raw_ids = choice.get("token_ids")  # vLLM with return_token_ids
    ids = (tuple(i for i in raw_ids if isinstance(i, int))
           if isinstance(raw_ids, list) and raw_ids else None)
    lp = choice.get("logprobs")
    content = lp.get("content") if isinstance(lp, dict) else None
    if not isinstance(content, list) or not content:
        return None, ids
    entries = [e for e in content if isinstance(e, dict)]
    floats = tuple(float(v) if isinstance(v := e.get("logprob"), int | float) else -math.inf
                   for e in entries)
    if ids is None:  # vLLM's return_tokens_as_token_ids spells tokens "token_id:123"
        tokens = [e.get("token") for e in entries]
        if tokens and all(isinstance(t, str) and t.startswith("token_id:") for t in tokens):
            try:
                ids = tuple(int(str(t)[len("token_id:"):]) for t in tokens)
            except ValueError:
                ids = None
    return floats, ids


def _server_message(body: object) -> str:
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and inner.get("message"):
            return str(inner["message"])[:500]
        if isinstance(inner, str):
            return inner[:500]
        if body.get("message"):
            return str(body["message"])[:500]
    if isinstance(body, str):
        return body[:500]
    return json.dumps(body)[:500] if body is not None else "(no message)"


def _json_or_text(raw: bytes) -> object:
    try:
        return json.loads(raw)
    except ValueError:
        return raw.decode(errors="replace")


def _retry_after(headers: Mapping[str, str]) -> float | None:
    """Seconds the server asked us to wait (`retry-after-ms`, then `retry-after`)."""
    for header, divisor in (("retry-after-ms", 1000.0), ("retry-after", 1.0)):
        value = headers.get(header)
        if value is None:
            continue
        try:
            seconds = float(value) / divisor
        except ValueError:
            try:
                when = email.utils.parsedate_to_datetime(value)
            except (TypeError, ValueError):
                continue
            seconds = (when - datetime.now(UTC)).total_seconds()
        if math.isfinite(seconds):
            return seconds
    return None


def _is_loopback_ip(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False
