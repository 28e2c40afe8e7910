"""Record and replay of provider exchanges, so a run can be reproduced years later.

`RecordLayer` appends every exchange (answer or error) to `DIR/<provider>.jsonl`.
`ReplayBackend` stands in for a provider that is never constructed: it answers
only from such files and raises ReplayMissError on anything not recorded.
"""

from __future__ import annotations

import json
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import TypeVar, cast

from ..errors import (
    BlockedURLError,
    ConfigError,
    ProviderAuthError,
    ProviderError,
    RateLimitError,
    ReplayMissError,
)
from ..types import JSON
from ._layer import Layer, Op, decode, encode, normalise, request_key
from .base import CallStats, Page, PageBackend, SearchBackend, SearchHit

__all__ = ["RecordLayer", "ReplayBackend", "load_recordings"]

R = TypeVar("R", list[SearchHit], Page | None)
_ERRORS: dict[str, type[ProviderError]] = {
    cls.__name__: cls for cls in (ProviderError, ProviderAuthError, BlockedURLError,
                                  RateLimitError)}
"""Error types a replay raises again as themselves (others come back as ProviderError)."""


def error_entry(exc: ProviderError) -> dict[str, JSON]:
    """What a recording keeps of an error: enough to raise the same one on replay."""
    entry: dict[str, JSON] = {"message": str(exc), "status": exc.status,
                              "retryable": exc.retryable, "type": type(exc).__name__}
    if isinstance(exc, RateLimitError):
        entry["retry_after"] = exc.retry_after
    return entry


def replayed_error(error: dict[str, JSON], provider: str) -> ProviderError:
    """The recorded error raised again: same type, status, retryable flag and Retry-After."""
    cls = _ERRORS.get(str(error.get("type")), ProviderError)
    status = error.get("status")
    exc = cls(f"(replayed) {error.get('message')}", provider=provider,
              status=status if isinstance(status, int) else None,
              retryable=error.get("retryable") is True)
    wait = error.get("retry_after")
    if isinstance(exc, RateLimitError) and isinstance(wait, int | float):
        exc.retry_after = float(wait)
    return exc


class RecordLayer(Layer):
    """Write each exchange as one JSON line: key, op, args, then result or error."""

    def __init__(self, inner: SearchBackend | PageBackend, directory: Path) -> None:
        super().__init__(inner)
        directory.mkdir(parents=True, exist_ok=True)
        self.path = directory / f"{self.name}.jsonl"

    def _write(self, entry: dict[str, JSON]) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(entry, ensure_ascii=False) + "\n")

    async def around(self, op: Op, args: dict[str, JSON], run: Callable[[], Awaitable[R]],
                     stats: CallStats) -> R:
        entry: dict[str, JSON] = {"key": request_key(self.name, op, args), "op": op,
                                  "args": normalise(op, args), "time": time.time()}
        try:
            result = await run()
        except ProviderError as exc:
            if not isinstance(exc, ReplayMissError):
                entry["error"] = error_entry(exc)
                self._write(entry)
            raise
        entry["result"] = encode(result)
        self._write(entry)
        return result


def load_recordings(directory: Path) -> dict[str, dict[str, JSON]]:
    """Every recorded exchange in a folder, by request key (the last one wins)."""
    if not directory.is_dir():
        raise ConfigError(f"replay folder {directory} does not exist")
    entries: dict[str, dict[str, JSON]] = {}
    for path in sorted(directory.glob("*.jsonl")):
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if not line.strip():
                continue
            try:
                entry = json.loads(line)
            except json.JSONDecodeError as exc:
                raise ConfigError(f"{path}:{number} is not a JSON line") from exc
            if not isinstance(entry, dict) or not isinstance(entry.get("key"), str):
                raise ConfigError(f"{path}:{number} is not a recorded exchange (a JSON "
                                  "object with a \"key\")")
            entries[entry["key"]] = entry
    return entries


class ReplayBackend:
    """A provider's stand-in that answers only from recordings; it never touches the network."""

    def __init__(self, name: str, recordings: dict[str, dict[str, JSON]]) -> None:
        self.name = name
        self.recordings = recordings

    def _answer(self, op: Op, args: dict[str, JSON], stats: CallStats | None) -> JSON:
        key = request_key(self.name, op, args)
        entry = self.recordings.get(key)
        if entry is None:
            raise ReplayMissError(f"replay: no recorded {op} for {self.name} with "
                                  f"{json.dumps(normalise(op, args), ensure_ascii=False)}",
                                  provider=self.name)
        if stats is not None:
            stats.used(self.name)
        error = entry.get("error")
        if isinstance(error, dict):
            raise replayed_error(error, self.name)
        return entry.get("result")

    async def search(self, query: str, *, num: int = 10,
                     stats: CallStats | None = None) -> list[SearchHit]:
        answer = self._answer("search", {"query": query, "num": num}, stats)
        return cast(list[SearchHit], decode("search", answer))

    async def fetch(self, url: str, *, stats: CallStats | None = None) -> Page | None:
        return cast(Page | None, decode("fetch", self._answer("fetch", {"url": url}, stats)))

    async def aclose(self) -> None:
        return None
