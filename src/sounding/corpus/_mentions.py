"""Title mentions: which documents name which other documents in their text.

A word-level lookup of every document title (up to a few words long), so that
data synthesis can walk "A mentions B" edges even where a source has no links.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator

__all__ = ["MentionFinder"]

_WORD = re.compile(r"\w+", re.UNICODE)
MAX_WORDS = 6
MIN_CHARS = 4


class MentionFinder:
    """Finds the titles of other documents in a text (case-insensitive, whole words)."""

    def __init__(self, titles: Iterable[tuple[str, str]]) -> None:
        self._titles: dict[str, str] = {}
        self._first: dict[str, int] = {}
        for key, title in titles:
            words = _WORD.findall(title.lower())
            phrase = " ".join(words)
            if not words or len(words) > MAX_WORDS or len(phrase) < MIN_CHARS:
                continue
            self._titles.setdefault(phrase, key)
            self._first[words[0]] = max(self._first.get(words[0], 0), len(words))

    def find(self, text: str, *, exclude: str = "") -> Iterator[tuple[str, str]]:
        """(document key, matched phrase) for each distinct title found, longest first."""
        words = _WORD.findall(text.lower())
        found: set[str] = set()
        i = 0
        while i < len(words):
            longest = self._first.get(words[i], 0)
            step = 1
            for n in range(min(longest, len(words) - i), 0, -1):
                phrase = " ".join(words[i:i + n])
                key = self._titles.get(phrase)
                if key is not None:
                    if key != exclude and key not in found:
                        found.add(key)
                        yield key, phrase
                    step = n
                    break
            i += step
