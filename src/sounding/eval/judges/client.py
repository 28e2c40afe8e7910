"""`JudgeClient`: a chat-completions client fitted to judges (o-series, Gemini, vLLM).

A judge must send only what the published grader sent: no sampling parameters
unless the user sets them (o3-mini refuses `temperature`, `top_p` and
`presence_penalty`), the token cap under the name the server wants
(`max_completion_tokens` for OpenAI reasoning models), and structured output
dropped only when the server's error names it. Each refusal that names a
parameter is learnt once per client and the call is sent again without it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import random
import time
from collections.abc import Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

import aiohttp

from ...errors import ConfigError, LLMConnectionError, LLMError, LLMResponseError
from ...llm.base import ChatRequest, Completion
from ...llm.openai_client import set_real_requests_allowed
from ...types import JSONObject, Usage

__all__ = ["JudgeClient", "JudgeParams"]

log = logging.getLogger(__name__)

_RETRY = frozenset({408, 409, 429})
_SAMPLING = ("temperature", "top_p", "presence_penalty", "seed")
_REASONING_PREFIXES = ("o1", "o3", "o4", "gpt-5")
_STRUCTURED_WORDS = ("response_format", "json_schema", "structured output", "responseschema",
                     "response_schema", "response_mime_type")


@dataclass(frozen=True)
class JudgeParams:
    """What a judge request carries besides the prompt; None means "not sent"."""

    temperature: float | None = None
    top_p: float | None = None
    seed: int | None = None
    max_tokens: int | None = 4096
    """The token cap (HLE's official judge sends 4096)."""
    token_param: str = "auto"
    """`max_tokens`, `max_completion_tokens`, or `auto` (the latter for OpenAI reasoning
    models by name, else `max_tokens`, switching when the server's error asks for it)."""
    timeout: float = 300.0
    max_retries: int = 4
    backoff_base: float = 1.0


class JudgeClient:
    """ChatModel over `/chat/completions` that adapts to what the judge endpoint accepts."""

    def __init__(self, base_url: str, model: str, api_key: str | None = None,
                 params: JudgeParams | None = None) -> None:
        if not base_url or not model:
            raise ConfigError("a judge needs a base URL and a model")
        self._url = base_url.rstrip("/") + "/chat/completions"
        self._base = base_url.rstrip("/")
        self._model = model
        self._key = api_key
        self.params = params or JudgeParams()
        self._dropped: set[str] = set()
        self._token_key = self._initial_token_key()
        self._session: aiohttp.ClientSession | None = None

    @property
    def name(self) -> str:
        return self._model

    @property
    def dropped(self) -> frozenset[str]:
        """Parameters the server refused and that are no longer sent."""
        return frozenset(self._dropped)

    def _initial_token_key(self) -> str:
        if self.params.token_param != "auto":
            return self.params.token_param
        bare = self._model.rsplit("/", 1)[-1].lower()
        return "max_completion_tokens" if bare.startswith(_REASONING_PREFIXES) \
            else "max_tokens"

    async def aclose(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def build_body(self, request: ChatRequest) -> JSONObject:
        """The JSON body for `request` under what this client has learnt so far."""
        body: JSONObject = {"model": self._model,
                            "messages": [{"role": m.role, "content": m.content}
                                         for m in request.messages]}
        p = self.params
        for key, value in (("temperature", p.temperature), ("top_p", p.top_p),
                           ("seed", p.seed)):
            if value is not None and key not in self._dropped:
                body[key] = value
        if p.max_tokens is not None and self._token_key not in self._dropped:
            body[self._token_key] = p.max_tokens
        if request.response_format is not None and "response_format" not in self._dropped:
            body["response_format"] = dict(request.response_format)
        return body

    async def complete(self, request: ChatRequest) -> Completion:
        self._check_allowed()
        start = time.monotonic()
        for _ in range(6):  # at most one adjustment per parameter the server can refuse
            body = self.build_body(request)
            try:
                data = await self._post_retrying(body)
            except LLMResponseError as exc:
                if exc.status in (400, 422) and self._adjust(body, str(exc)):
                    continue
                raise
            return self._completion(data, time.monotonic() - start)
        raise LLMResponseError(f"judge endpoint {self._base} kept refusing the request")

    def _adjust(self, body: JSONObject, message: str) -> bool:
        """Learn from a refusal that names a parameter we sent; False when none is named."""
        low = message.lower()
        if self._token_key in body and self._token_key == "max_tokens" \
                and "max_completion_tokens" in low:
            self._token_key = "max_completion_tokens"
            return True
        if "response_format" in body and any(w in low for w in _STRUCTURED_WORDS):
            log.warning("judge %s refused structured output; grading plain text", self._model)
            self._dropped.add("response_format")
            return True
        for key in (*_SAMPLING, "max_tokens", "max_completion_tokens"):
            if key in body and key in low:
                log.warning("judge %s refused %r; no longer sent", self._model, key)
                self._dropped.add(key)
                return True
        return False

    async def _post_retrying(self, body: JSONObject) -> JSONObject:
        attempt = 0
        while True:
            try:
                return await self._post_once(body)
            except _Transient as exc:
                attempt += 1
                if attempt > self.params.max_retries:
                    cls = LLMConnectionError if exc.status is None else LLMError
                    raise cls(f"{exc} (gave up after {attempt - 1} retries)",
                              status=exc.status) from exc
                delay = self.params.backoff_base * 2 ** (attempt - 1)
                await asyncio.sleep(min(60.0, random.uniform(0.5, 1.0) * delay))

    async def _post_once(self, body: JSONObject) -> JSONObject:
        payload = json.dumps(body, ensure_ascii=False).encode()
        try:
            async with self._http().post(self._url, data=payload) as resp:
                raw, status = await resp.read(), resp.status
        except TimeoutError as exc:
            raise _Transient(f"judge endpoint {self._base} timed out") from exc
        except aiohttp.ClientError as exc:
            raise _Transient(self._scrub(f"judge endpoint {self._base} is unreachable: "
                                         f"{exc}")) from exc
        if status >= 400:
            text = self._scrub(_message(raw))
            msg = f"judge endpoint {self._base} answered HTTP {status}: {text}"
            if status in _RETRY or status >= 500:
                raise _Transient(msg, status)
            raise LLMResponseError(msg, status=status)
        try:
            data = json.loads(raw)
        except ValueError as exc:
            raise LLMResponseError(f"judge endpoint {self._base} sent a body that is not "
                                   "JSON", status=status) from exc
        if not isinstance(data, dict):
            raise LLMResponseError(f"judge endpoint {self._base} sent a non-object body")
        return data

    def _completion(self, data: JSONObject, latency: float) -> Completion:
        choices = data.get("choices")
        choice = choices[0] if isinstance(choices, list) and choices else None
        message = choice.get("message") if isinstance(choice, dict) else None
        if not isinstance(message, dict):
            raise LLMResponseError(f"judge endpoint {self._base} sent no message")
        content = message.get("content")
        text = content if isinstance(content, str) else ""
        if not text and isinstance(message.get("refusal"), str):
            text = str(message["refusal"])
        usage = data.get("usage")
        u = usage if isinstance(usage, dict) else {}
        return Completion(
            text=text, usage=Usage(_int(u.get("prompt_tokens")), _int(u.get("completion_tokens"))),
            finish_reason=str(choice.get("finish_reason")) if isinstance(choice, dict) else None,
            latency_s=latency, model=str(data.get("model") or self._model))

    def _http(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            headers = {"Content-Type": "application/json", "User-Agent": "sounding-judge"}
            if self._key:
                headers["Authorization"] = f"Bearer {self._key}"
            self._session = aiohttp.ClientSession(
                headers=headers, timeout=aiohttp.ClientTimeout(total=self.params.timeout))
        return self._session

    def _scrub(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key and len(self._key) >= 4 else text

    def _check_allowed(self) -> None:
        host = urlsplit(self._base).hostname or ""
        if host in ("localhost", "127.0.0.1", "::1"):
            return
        # The guard lives in the LLM client; reading it means setting it back at once.
        allowed = set_real_requests_allowed(True)
        set_real_requests_allowed(allowed)
        if not allowed:
            raise LLMConnectionError(f"real judge requests are forbidden here ({self._base})")


class _Transient(LLMError):
    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message, status=status)


def _message(raw: bytes) -> str:
    try:
        data = json.loads(raw)
    except ValueError:
        return raw[:300].decode(errors="replace")
    err = data.get("error") if isinstance(data, dict) else None
    if isinstance(err, Mapping):
        return str(err.get("message") or err)[:500]
    if isinstance(err, list) and err and isinstance(err[0], Mapping):  # Gemini lists errors
        first = err[0].get("error", err[0])
        return str(first.get("message") if isinstance(first, Mapping) else first)[:500]
    return str(data)[:500]


def _int(v: object) -> int:
    return int(v) if isinstance(v, int | float) else 0
