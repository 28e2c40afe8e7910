"""The evidence bank: every piece of evidence the planner found, under a stable id."""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

from ..errors import ConfigError
from ..types import JSONObject

__all__ = ["EVIDENCE_ID", "Evidence", "EvidenceBank"]

EVIDENCE_ID = re.compile(r"\bE(\d{1,5})\b")
"""How evidence ids are written (`E1`, `E12`) in outlines and drafts."""


@dataclass(frozen=True, slots=True)
class Evidence:
    """One quote from one page.

    `verbatim` is True when `quote` was checked to occur in the page text itself
    (visit evidence grounded against the fetched page, or a search snippet).
    """

    id: str
    url: str
    title: str
    quote: str
    summary: str = ""
    verbatim: bool = True

    def to_dict(self) -> JSONObject:
        return dict(asdict(self))

    @classmethod
    def from_dict(cls, d: JSONObject) -> Evidence:
        return cls(id=str(d["id"]), url=str(d["url"]), title=str(d.get("title") or ""),
                   quote=str(d["quote"]), summary=str(d.get("summary") or ""),
                   verbatim=bool(d.get("verbatim", True)))

    def line(self, width: int = 240) -> str:
        """A one-line listing for prompts: id, title, the quote (cut to `width`)."""
        quote = self.quote if len(self.quote) <= width else self.quote[:width] + "..."
        return f"[{self.id}] {self.title} ({self.url}): \"{quote}\""


class EvidenceBank:
    """Evidence in the order found; the same (url, quote) is stored once.

    With a `path`, each new entry is appended to that JSONL file at once, so a
    killed run keeps what it found.
    """

    def __init__(self, items: Iterable[Evidence] = (), path: Path | None = None) -> None:
        self._items: dict[str, Evidence] = {}
        self._keys: dict[tuple[str, str], str] = {}
        for ev in items:
            self._put(ev)
        self.path = path

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Evidence]:
        return iter(self._items.values())

    def __contains__(self, evidence_id: object) -> bool:
        return evidence_id in self._items

    def get(self, evidence_id: str) -> Evidence | None:
        return self._items.get(evidence_id)

    def resolve(self, ids: Iterable[str]) -> list[Evidence]:
        """The evidence for `ids` that exist, in the order given, without repeats."""
        return [self._items[i] for i in dict.fromkeys(ids) if i in self._items]

    def add(self, url: str, title: str, quote: str, summary: str = "", *,
            verbatim: bool = True) -> Evidence:
        """Store a quote (or find it already stored) and return it with its id."""
        quote = quote.strip()
        known = self._keys.get((url, quote))
        if known is not None:
            return self._items[known]
        ev = Evidence(f"E{len(self._items) + 1}", url, title.strip(), quote, summary.strip(),
                      verbatim)
        self._put(ev)
        if self.path is not None:
            with self.path.open("a", encoding="utf-8") as fh:
                fh.write(json.dumps(ev.to_dict(), ensure_ascii=False) + "\n")
        return ev

    def update(self, ev: Evidence) -> None:
        """Replace the evidence stored under `ev.id` (a quote checked against its page)."""
        old = self._items[ev.id]
        self._keys.pop((old.url, old.quote), None)
        self._put(ev)
        if self.path is not None:
            tmp = self.path.with_suffix(".tmp")
            tmp.write_text("".join(json.dumps(e.to_dict(), ensure_ascii=False) + "\n"
                                   for e in self), encoding="utf-8")
            os.replace(tmp, self.path)

    def _put(self, ev: Evidence) -> None:
        self._items[ev.id] = ev
        self._keys[(ev.url, ev.quote)] = ev.id

    @classmethod
    def load(cls, path: Path, *, append: bool = True) -> EvidenceBank:
        """The bank saved at `path` (empty when the file does not exist yet)."""
        items: list[Evidence] = []
        lines = path.read_text(encoding="utf-8").splitlines() if path.exists() else []
        for n, line in enumerate(lines, 1):
            if not line.strip():
                continue
            try:
                items.append(Evidence.from_dict(json.loads(line)))
            except (json.JSONDecodeError, KeyError) as exc:
                raise ConfigError(f"{path}:{n}: not an evidence record ({exc})") from exc
        return cls(items, path if append else None)

    def ids_in(self, text: str) -> list[str]:
        """Known evidence ids mentioned in `text`, in order of first mention."""
        found = [f"E{m.group(1)}" for m in EVIDENCE_ID.finditer(text)]
        return [i for i in dict.fromkeys(found) if i in self._items]
