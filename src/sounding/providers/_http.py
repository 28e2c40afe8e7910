"""Shared HTTP plumbing of the providers: one client factory and one error mapping."""

from __future__ import annotations

import datetime
import email.utils
import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import TypeVar
from urllib.parse import parse_qsl, unquote, urlsplit, urlunsplit

import httpx

from .._secrets import Scrubber, is_secret_name
from ..errors import ProviderAuthError, ProviderError, RateLimitError, SoundingError
from ..types import JSON, is_cjk

R = TypeVar("R")

__all__ = [
    "USER_AGENT",
    "HTTPProvider",
    "check_response",
    "has_cjk",
    "json_body",
    "make_client",
    "retry_after",
    "transport_error",
]

USER_AGENT = "Mozilla/5.0 (compatible; Sounding/0.1; +https://github.com/sounding-ai/sounding)"


def make_client(*, timeout: float = 30.0, headers: Mapping[str, str] | None = None
                ) -> httpx.AsyncClient:
    """An httpx client that ignores proxy variables (tests and replays stay on loopback)."""
    merged = {"User-Agent": USER_AGENT, **(headers or {})}
    return httpx.AsyncClient(timeout=timeout, headers=merged, trust_env=False,
                             follow_redirects=False)


def _error_text(response: httpx.Response) -> str:
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError):
        return response.text[:200].strip()
    if isinstance(data, dict):
        for key in ("message", "error", "detail", "readableMessage"):
            value = data.get(key)
            if isinstance(value, dict):
                inner = value.get("detail") or value.get("message") or value.get("error")
                if inner:
                    return str(inner)
            elif value:
                return str(value)
    return str(data)[:200]


def check_response(response: httpx.Response, provider: str, key_variable: str | None = None,
                   *, auth_statuses: tuple[int, ...] = (401, 403)) -> None:
    """Raise ProviderError (retryable for 429 and 5xx) unless the response is a success."""
    status = response.status_code
    if status < 400:
        return
    detail = _error_text(response)
    if status in auth_statuses and key_variable:
        raise ProviderAuthError(
            f"{provider} refused the API key (HTTP {status}: {detail}); check {key_variable}",
            provider=provider, status=status)
    if status == 429:
        wait = retry_after(response.headers.get("retry-after"))
        asked = f"; it asks to wait {wait:g} s" if wait is not None else ""
        raise RateLimitError(f"{provider} is rate limiting requests (HTTP 429{asked}): {detail}",
                             provider=provider, status=status, retryable=True, retry_after=wait)
    retryable = status >= 500 or status == 408
    raise ProviderError(f"{provider} answered HTTP {status}: {detail}", provider=provider,
                        status=status, retryable=retryable)


def retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta seconds or an HTTP date); None if unreadable."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=datetime.UTC)
    return max(0.0, (when - datetime.datetime.now(datetime.UTC)).total_seconds())


def json_body(response: httpx.Response, provider: str) -> dict[str, JSON]:
    """The response's JSON object, or a ProviderError when it is not one."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        kind = response.headers.get("content-type", "no content type")
        start = response.content[:120].decode("utf-8", errors="replace").strip()
        raise ProviderError(
            f"{provider} sent a reply that is not valid JSON (HTTP {response.status_code}, "
            f"{kind}, {len(response.content)} bytes, starting {start!r}): {exc}",
            provider=provider, status=response.status_code) from exc
    if not isinstance(data, dict):
        raise ProviderError(f"{provider} sent JSON that is not an object but "
                            f"{type(data).__name__}: {str(data)[:120]}", provider=provider,
                            status=response.status_code)
    return data


def has_cjk(text: str) -> bool:
    """True when the text holds Chinese characters (upstream switches Serper's locale then)."""
    return is_cjk(text, han_only=True)


_TRANSPORT_REASONS: tuple[tuple[type[httpx.HTTPError], str], ...] = (
    (httpx.ConnectTimeout, "timed out while connecting"),
    (httpx.ConnectError, "connection refused or host unreachable"),
    (httpx.ReadTimeout, "no answer in time"),
    (httpx.RemoteProtocolError, "the server closed the connection or broke HTTP"),
    (httpx.TimeoutException, "timed out"),
)


def transport_error(exc: httpx.HTTPError, provider: str, target: str | None = None
                    ) -> ProviderError:
    """A connection or timeout failure as a retryable ProviderError that says what happened.

    `target` names where (a base URL or page URL: never one carrying a key)."""
    reason = next((text for kind, text in _TRANSPORT_REASONS if isinstance(exc, kind)),
                  "network error")
    where = f" at {_without_query(target)}" if target else ""
    detail = str(exc).strip()
    detail = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return ProviderError(f"{provider} could not be reached{where}: {reason} ({detail})",
                         provider=provider, retryable=True)


def _without_query(url: str) -> str:
    parts = urlsplit(url)  # no user info, query or fragment: they may carry credentials
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))


class HTTPProvider:
    """Base of the JSON API providers: a base URL, an optional key and one client.

    The base URL may carry credentials (`https://user:key@host/api?key=...`, as some
    self-hosted gateways want): they are sent with every request but never shown, and
    every error a provider's `search` or `fetch` raises has its secrets masked.
    """

    name = "http"
    key_variable: str | None = None
    auth_statuses: tuple[int, ...] = (401, 403)
    """Statuses that mean the key was refused (reported as ProviderAuthError)."""

    def __init__(self, base_url: str, api_key: str | None = None, *,
                 client: httpx.AsyncClient | None = None, timeout: float = 30.0) -> None:
        parts = urlsplit(base_url.strip())
        user, _, password = parts.netloc.rpartition("@")[0].partition(":")
        host = parts.netloc.rpartition("@")[2]
        self.base_url = urlunsplit((parts.scheme, host, parts.path, "", "")).rstrip("/")
        """The base URL without its credentials: the one messages and repr show."""
        self._base_params = parse_qsl(parts.query, keep_blank_values=True)
        self._auth = httpx.BasicAuth(unquote(user), unquote(password)) if user else None
        self._api_key = api_key
        secret_params = [v for k, v in self._base_params if is_secret_name(k)]
        self._scrubber = Scrubber(frozenset(
            s for s in (api_key, unquote(user), unquote(password), *secret_params) if s))
        self._client = client or make_client(timeout=timeout)
        self._owns_client = client is None

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("search", "fetch"):
            method = cls.__dict__.get(name)
            if method is not None:
                setattr(cls, name, _scrubbing(method))

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    async def _send(self, method: str, path: str, *, check: bool = True,
                    **kwargs: object) -> httpx.Response:
        if self._base_params:
            extra = kwargs.get("params") or {}
            items = list(extra.items()) if isinstance(extra, Mapping) else list(extra)  # type: ignore[call-overload]
            kwargs["params"] = [*self._base_params, *items]
        if self._auth is not None:
            kwargs.setdefault("auth", self._auth)
        try:
            response = await self._client.request(method, self.base_url + path,
                                                  **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.name, self.base_url) from exc
        if check:
            check_response(response, self.name, self.key_variable,
                           auth_statuses=self.auth_statuses)
        return response

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()


def _scrubbing(method: Callable[..., Awaitable[R]]) -> Callable[..., Awaitable[R]]:
    """`method` with the provider's secrets masked in any error it raises: a server may
    echo the key back in an error body, and a URL with its query lands in messages."""
    @functools.wraps(method)
    async def wrapper(self: HTTPProvider, *args: object, **kwargs: object) -> R:
        try:
            return await method(self, *args, **kwargs)
        except SoundingError as exc:
            self._scrubber.error(exc)  # masks the message in place; the traceback stays
            raise
    return wrapper
