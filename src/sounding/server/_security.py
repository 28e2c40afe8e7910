"""API keys (stored as SHA-256 digests), per-key rate and concurrency limits, and the
request-size limit."""

from __future__ import annotations

import hashlib
import math
import secrets
import time
from dataclasses import dataclass, field

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ._store import refill

__all__ = ["BodyLimit", "RateLimiter", "hash_key", "new_key"]


def new_key() -> str:
    """A fresh API key: 256 random bits, shown once, stored only as its digest."""
    return "sk-snd-" + secrets.token_urlsafe(32)


def hash_key(key: str) -> str:
    # A plain SHA-256 is enough: keys are 256 random bits, not passwords a person chose,
    # so there is nothing for a slow hash to protect against guessing.
    return hashlib.sha256(key.encode()).hexdigest()


@dataclass
class RateLimiter:
    """A token bucket per key: `per_minute` requests, bursts up to `burst`."""

    per_minute: float
    burst: int
    _buckets: dict[str, tuple[float, float]] = field(default_factory=dict)

    def take(self, key: str) -> float:
        """0 when the request may go; otherwise the seconds to wait (Retry-After)."""
        if self.per_minute <= 0:
            return 0.0
        now = time.monotonic()
        tokens, wait = refill(*self._buckets.get(key, (float(self.burst), now)), now,
                              self.per_minute, self.burst)
        self._buckets[key] = (tokens, now)
        return wait


class BodyLimit:
    """Refuses request bodies over `max_bytes` with 413, whether announced or streamed."""

    def __init__(self, app: ASGIApp, max_bytes: int) -> None:
        self.app, self.max_bytes = app, max_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        length = dict(scope["headers"]).get(b"content-length")
        if length is not None and length.isdigit() and int(length) > self.max_bytes:
            await _too_large(send)
            return
        seen, refused = 0, False

        async def limited() -> Message:
            # Over the limit we answer 413 ourselves and tell the app the client left, so
            # the app stops reading (it would otherwise turn a raised error into a 400).
            nonlocal seen, refused
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.max_bytes and not refused:
                refused = True
                await _too_large(send)
                return {"type": "http.disconnect"}
            return message

        async def guarded(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited, guarded)


async def _too_large(send: Send) -> None:
    body = b'{"detail":"request body too large"}'
    await send({"type": "http.response.start", "status": 413,
                "headers": [(b"content-type", b"application/json"),
                            (b"content-length", str(len(body)).encode())]})
    await send({"type": "http.response.body", "body": body})


def retry_after(seconds: float) -> str:
    return str(max(1, math.ceil(seconds)))
