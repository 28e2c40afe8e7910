"""Near-duplicate questions by MinHash with LSH banding (no dependency: blake2b hashes).

`datasketch` would do the same but pulls scipy; a 64-permutation MinHash over word
3-grams (character 3-grams for CJK text) is a few lines and fast enough for this.
"""

from __future__ import annotations

import hashlib
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

from ..types import is_cjk
from .stage import Progress, Stage, read_jsonl
from .trajectories import question_of

__all__ = ["NearDuplicates", "jaccard", "minhash", "run_dedup", "shingles"]

_WORD = re.compile(r"\w+", re.UNICODE)
_MASK = (1 << 64) - 1


def shingles(text: str, n: int = 3) -> set[str]:
    """Word n-grams, or character n-grams for text written without spaces."""
    low = text.lower()
    if is_cjk(low):
        chars = [c for c in low if not c.isspace()]
        return {"".join(chars[i:i + n]) for i in range(max(1, len(chars) - n + 1))}
    words = _WORD.findall(low)
    return {" ".join(words[i:i + n]) for i in range(max(1, len(words) - n + 1))}


def minhash(items: set[str], num_perm: int = 64) -> tuple[int, ...]:
    """The minimum of `num_perm` salted hashes over the shingles."""
    hashes = [int.from_bytes(hashlib.blake2b(s.encode(), digest_size=8).digest(), "little")
              for s in items] or [0]
    salts = [(2 * i + 1) * 0x9E3779B97F4A7C15 & _MASK for i in range(num_perm)]
    return tuple(min((h ^ salt) * 0xBF58476D1CE4E5B9 & _MASK for h in hashes)
                 for salt in salts)


def jaccard(a: Sequence[int], b: Sequence[int]) -> float:
    """Estimated Jaccard similarity of two signatures."""
    return sum(x == y for x, y in zip(a, b, strict=True)) / len(a)


class NearDuplicates:
    """An LSH index: `add` returns the key of an earlier near-duplicate, or None."""

    def __init__(self, threshold: float = 0.7, bands: int = 16, rows: int = 4) -> None:
        self.threshold, self.bands, self.rows = threshold, bands, rows
        self._buckets: dict[tuple[int, tuple[int, ...]], list[str]] = defaultdict(list)
        self._sigs: dict[str, tuple[int, ...]] = {}

    def add(self, key: str, text: str) -> str | None:
        sig = minhash(shingles(text), self.bands * self.rows)
        seen: set[str] = set()
        for band in range(self.bands):
            part = (band, sig[band * self.rows:(band + 1) * self.rows])
            for other in self._buckets.get(part, ()):
                if other not in seen:
                    seen.add(other)
                    if jaccard(sig, self._sigs[other]) >= self.threshold:
                        return other
        self._sigs[key] = sig
        for band in range(self.bands):
            self._buckets[(band, sig[band * self.rows:(band + 1) * self.rows])].append(key)
        return None


def run_dedup(items_path: Path, out_dir: Path, *, lang: str = "en",
              threshold: float = 0.7, progress: Progress | None = None) -> Stage:
    """Keep the first of each group of near-duplicate questions (and of equal answers
    with the same question)."""
    index = NearDuplicates(threshold)
    with Stage(out_dir, "dedup", {"items": str(items_path), "lang": lang,
                                  "threshold": threshold}, progress) as stage:
        for row in stage.items():  # a resumed run knows what it kept
            index.add(str(row["key"]), question_of(row, lang))
        for item in read_jsonl(items_path):
            key = str(item["key"])
            if key in stage.done:
                continue
            dup = index.add(key, question_of(item, lang))
            if dup is not None:
                stage.reject(key, "near_duplicate", {"of": dup})
            else:
                stage.keep(key, {k: v for k, v in item.items() if k != "key"})
    return stage
