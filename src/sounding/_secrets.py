"""One scrubber for every secret Sounding knows: API keys, and credentials inside URLs.

Errors, observations, recordings, trajectories and `--json` all pass text through a
`Scrubber` built from the settings, so a key never leaves the process in a record.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, TypeVar
from urllib.parse import parse_qsl, quote, quote_plus, urlencode, urlsplit, urlunsplit

if TYPE_CHECKING:
    from .config import Settings

__all__ = ["MASK", "Scrubber", "is_secret_name", "scrubber_for", "split_url_credentials",
           "strip_url_credentials"]

MASK = "***"
_SHORT = 8
"""Secrets shorter than this are replaced only as whole tokens: a one-letter key would
otherwise garble every message (each `a` becomes `***`)."""
_SECRET_PARAM = re.compile(r"(key|token|secret|password|passwd|auth|signature|sig|"
                           r"credential)", re.I)
T = TypeVar("T")


def is_secret_name(name: str) -> bool:
    """True for a query-string or settings name that usually carries a credential."""
    return bool(_SECRET_PARAM.search(name))


def split_url_credentials(url: str) -> tuple[str, list[str]]:
    """`url` without `user:password@` and without secret-looking query parameters, and the
    secret values taken out (so a caller can scrub them from messages too)."""
    if "://" not in url:
        return url, []
    try:
        parts = urlsplit(url)
    except ValueError:
        return url, []
    found: list[str] = []
    netloc = parts.netloc
    if "@" in netloc:
        userinfo, _, netloc = netloc.rpartition("@")
        found += [p for p in userinfo.split(":", 1) if p]
    query = parts.query
    if query:
        pairs = parse_qsl(query, keep_blank_values=True)
        kept = [(k, v) for k, v in pairs if not (is_secret_name(k) and v)]
        found += [v for k, v in pairs if is_secret_name(k) and v]
        query = urlencode(kept)
    if not found:
        return url, []
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment)), found


def strip_url_credentials(url: str) -> str:
    """The URL with any credentials it carries removed (see split_url_credentials)."""
    return split_url_credentials(url)[0]


@dataclass(frozen=True)
class Scrubber:
    """Replaces each known secret (and its URL-encoded forms) with `***`."""

    secrets: frozenset[str] = frozenset()
    _pattern: re.Pattern[str] | None = field(default=None, init=False, repr=False,
                                             compare=False)

    def __post_init__(self) -> None:
        forms: set[str] = set()
        for secret in self.secrets:
            if secret and secret.strip():
                forms.update({secret, quote(secret, safe=""), quote_plus(secret)})
        if not forms:
            return
        # Longest first, so a key that contains another is replaced whole.
        alternatives = [re.escape(f) if len(f) >= _SHORT else
                        rf"(?<![A-Za-z0-9_\-]){re.escape(f)}(?![A-Za-z0-9_\-])"
                        for f in sorted(forms, key=len, reverse=True)]
        object.__setattr__(self, "_pattern", re.compile("|".join(alternatives)))

    def with_secrets(self, more: Iterable[str]) -> Scrubber:
        return Scrubber(self.secrets | frozenset(s for s in more if s))

    def text(self, text: str) -> str:
        """`text` with every known secret masked."""
        if self._pattern is None or not text:
            return text
        return self._pattern.sub(MASK, text)

    def json(self, value: T) -> T:
        """A copy of a JSON-like value (dicts, lists, strings) with secrets masked in every
        string, keys included."""
        if self._pattern is None:
            return value
        return self._walk(value)  # type: ignore[return-value]

    def _walk(self, value: object) -> object:
        if isinstance(value, str):
            return self.text(value)
        if isinstance(value, Mapping):
            return {self.text(k) if isinstance(k, str) else k: self._walk(v)
                    for k, v in value.items()}
        if isinstance(value, list | tuple):
            return [self._walk(v) for v in value]
        return value

    def found_in(self, text: str) -> bool:
        return self._pattern is not None and self._pattern.search(text) is not None

    def record(self, record: T, to_dict: Callable[[T], Mapping[str, object]],
               from_dict: Callable[[Mapping[str, object]], T]) -> T:
        """`record` (a trajectory, say) rebuilt with secrets masked, or itself unchanged when
        no secret appears in it (the common case costs one search over its JSON)."""
        if self._pattern is None:  # no secret configured: nothing to serialise or search
            return record
        data = to_dict(record)
        if not self.found_in(json.dumps(data, ensure_ascii=False)):
            return record
        return from_dict(self.json(dict(data)))

    def error(self, exc: BaseException) -> BaseException:
        """The same exception with secrets masked in its message (args rewritten in place)."""
        if self._pattern is not None and exc.args:
            exc.args = tuple(self.text(a) if isinstance(a, str) else a for a in exc.args)
        return exc


def scrubber_for(settings: Settings) -> Scrubber:
    """A scrubber for every secret the settings hold: the LLM, summary and judge keys, every
    provider key in `secrets`, and credentials inside any configured URL."""
    found: set[str] = {v for v in settings.secrets.values() if v}
    for section in (settings.llm, settings.summary):
        if section.api_key:
            found.add(section.api_key)
    for value in _strings(settings):
        if "://" in value:
            found.update(split_url_credentials(value)[1])
    return Scrubber(frozenset(found))


def _strings(settings: Settings) -> Iterable[str]:
    import dataclasses

    stack: list[object] = [settings]
    while stack:
        item = stack.pop()
        if dataclasses.is_dataclass(item) and not isinstance(item, type):
            stack.extend(getattr(item, f.name) for f in dataclasses.fields(item))
        elif isinstance(item, str):
            yield item
