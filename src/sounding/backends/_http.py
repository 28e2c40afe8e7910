"""Shared HTTP plumbing of the providers: one client factory and one error mapping."""

from __future__ import annotations

import json
from collections.abc import Mapping

import httpx

from ..errors import ProviderAuthError, ProviderError
from ..types import JSON

__all__ = [
    "USER_AGENT",
    "HTTPProvider",
    "check_response",
    "has_cjk",
    "json_body",
    "make_client",
    "require_key",
    "transport_error",
]

USER_AGENT = "Mozilla/5.0 (compatible; Sounding/0.1; +https://github.com/sounding-ai/sounding)"


def make_client(*, timeout: float = 30.0, headers: Mapping[str, str] | None = None
                ) -> httpx.AsyncClient:
    """An httpx client that ignores proxy variables (tests and replays stay on loopback)."""
    merged = {"User-Agent": USER_AGENT, **(headers or {})}
    return httpx.AsyncClient(timeout=timeout, headers=merged, trust_env=False,
                             follow_redirects=False)


def require_key(secrets: Mapping[str, str], variable: str, provider: str) -> str:
    """The key `variable` from the secrets, or a ProviderAuthError naming it."""
    key = secrets.get(variable)
    if not key:
        raise ProviderAuthError(f"{provider} needs an API key: set {variable}",
                                provider=provider)
    return key


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
    retryable = status == 429 or status >= 500 or status == 408
    raise ProviderError(f"{provider} answered HTTP {status}: {detail}", provider=provider,
                        status=status, retryable=retryable)


def json_body(response: httpx.Response, provider: str) -> dict[str, JSON]:
    """The response's JSON object, or a ProviderError when it is not one."""
    try:
        data = response.json()
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ProviderError(f"{provider} sent a body that is not JSON", provider=provider,
                            status=response.status_code) from exc
    if not isinstance(data, dict):
        raise ProviderError(f"{provider} sent JSON that is not an object", provider=provider)
    return data


def has_cjk(text: str) -> bool:
    """True when the text holds Chinese characters (upstream switches Serper's locale then)."""
    return any("\u4e00" <= ch <= "\u9fff" for ch in text)


def transport_error(exc: httpx.HTTPError, provider: str) -> ProviderError:
    """A connection or timeout failure as a retryable ProviderError."""
    return ProviderError(f"{provider} could not be reached: {type(exc).__name__}: {exc}",
                         provider=provider, retryable=True)


class HTTPProvider:
    """Base of the JSON API providers: a base URL, an optional key and one client."""

    name = "http"
    key_variable: str | None = None

    def __init__(self, base_url: str, api_key: str | None = None, *,
                 client: httpx.AsyncClient | None = None, timeout: float = 30.0) -> None:
        self.base_url = base_url.rstrip("/")
        self._api_key = api_key
        self._client = client or make_client(timeout=timeout)
        self._owns_client = client is None

    def __repr__(self) -> str:  # never show the key
        return f"{type(self).__name__}(base_url={self.base_url!r})"

    async def _send(self, method: str, path: str, *, check: bool = True,
                    **kwargs: object) -> httpx.Response:
        try:
            response = await self._client.request(method, self.base_url + path,
                                                  **kwargs)  # type: ignore[arg-type]
        except httpx.HTTPError as exc:
            raise transport_error(exc, self.name) from exc
        if check:
            check_response(response, self.name, self.key_variable,
                           auth_statuses=self.auth_statuses)
        return response

    auth_statuses: tuple[int, ...] = (401, 403)

    async def aclose(self) -> None:
        if self._owns_client:
            await self._client.aclose()
