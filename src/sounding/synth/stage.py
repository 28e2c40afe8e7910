"""A resumable pipeline stage: its own folder, a manifest, kept and rejected JSONL files.

Every processed unit is appended (one flushed line) to `items.jsonl` or
`rejected.jsonl` under its key, so a killed run resumes by skipping the keys
already written; the manifest keeps the parameters, counts in and out, and the
reasons for each rejection.
"""

from __future__ import annotations

import itertools
import json
import os
import time
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import IO

from ..errors import ConfigError
from ..types import JSON

__all__ = ["MANIFEST", "Progress", "Stage", "passed", "read_jsonl", "trim_partial"]

MANIFEST = "manifest.json"
ITEMS = "items.jsonl"
REJECTED = "rejected.jsonl"


def read_jsonl(path: Path) -> Iterator[dict[str, JSON]]:
    """Rows of a JSONL file; a partial last line (a killed writer) is skipped."""
    if not path.is_file():
        return
    lines = path.read_text(encoding="utf-8").splitlines()
    for i, line in enumerate(lines):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError:
            if i == len(lines) - 1:
                return
            raise
        if isinstance(row, dict):
            yield row


class Stage:
    """One stage's folder. Use as a context manager; `done` says what to skip."""

    def __init__(self, out_dir: Path, name: str, params: Mapping[str, JSON],
                 on_update: Callable[[Stage], None] | None = None) -> None:
        self.dir = out_dir
        self.on_update = on_update
        """Called after each kept or rejected unit (progress display, checkpoints)."""
        self.name = name
        self.params = dict(params)
        self.done: set[str] = set()
        self.kept = 0
        self.reasons: Counter[str] = Counter()
        self.seen = 0
        self.llm_calls = 0
        """LLM calls made by this run of the stage (a resumed run counts its own)."""
        self._items: IO[str] | None = None
        self._rejected: IO[str] | None = None
        self._started = time.time()

    def __enter__(self) -> Stage:
        self.dir.mkdir(parents=True, exist_ok=True)
        old = self.manifest()
        if old and (old.get("stage") != self.name or not _same(old.get("params"), self.params)):
            raise ConfigError(f"{self.dir} holds a {old.get('stage')} run with other "
                              f"parameters; use another --out or the same parameters")
        for row in read_jsonl(self.dir / ITEMS):
            self.done.add(str(row["key"]))
            self.kept += 1
        for row in read_jsonl(self.dir / REJECTED):
            self.done.add(str(row["key"]))
            self.reasons[str(row.get("reason"))] += 1
        counts = old.get("counts")
        calls = counts.get("llm_calls") if isinstance(counts, dict) else 0
        self.llm_calls = calls if isinstance(calls, int) else 0
        self.seen = len(self.done)
        trim_partial(self.dir / ITEMS)
        trim_partial(self.dir / REJECTED)
        self._items = (self.dir / ITEMS).open("a", encoding="utf-8")
        self._rejected = (self.dir / REJECTED).open("a", encoding="utf-8")
        self._write_manifest("running")
        return self

    def __exit__(self, exc_type: object, *exc: object) -> None:
        for fh in (self._items, self._rejected):
            if fh is not None:
                fh.close()
        self._write_manifest("done" if exc_type is None else "interrupted")

    @property
    def complete(self) -> bool:
        return self.manifest().get("status") == "done"

    def manifest(self) -> dict[str, JSON]:
        path = self.dir / MANIFEST
        if not path.is_file():
            return {}
        data = json.loads(path.read_text(encoding="utf-8"))
        return data if isinstance(data, dict) else {}

    def keep(self, key: str, row: Mapping[str, JSON]) -> None:
        self._append(self._items, {"key": key, **row})
        self.done.add(key)
        self.kept += 1
        self.seen += 1
        self._updated()

    def reject(self, key: str, reason: str, detail: Mapping[str, JSON] | None = None) -> None:
        self._append(self._rejected, {"key": key, "reason": reason, **(detail or {})})
        self.done.add(key)
        self.reasons[reason] += 1
        self.seen += 1
        self._updated()

    def _updated(self) -> None:
        if self.seen % 100 == 0:
            self.checkpoint()
        if self.on_update is not None:
            self.on_update(self)

    def items(self) -> list[dict[str, JSON]]:
        return list(read_jsonl(self.dir / ITEMS))

    def todo(self, items_path: Path, limit: int | None = None
             ) -> Iterator[tuple[str, dict[str, JSON]]]:
        """(key, item) for the first `limit` items of `items_path` not yet done."""
        for item in itertools.islice(read_jsonl(items_path), limit):
            key = str(item["key"])
            if key not in self.done:
                yield key, item

    def _append(self, fh: IO[str] | None, row: Mapping[str, JSON]) -> None:
        if fh is None:
            raise RuntimeError("a Stage writes only inside its `with` block")
        fh.write(json.dumps(row, ensure_ascii=False) + "\n")
        fh.flush()

    def counts(self) -> dict[str, JSON]:
        per_kept = round(self.llm_calls / self.kept, 2) if self.kept else None
        return {"in": self.seen, "kept": self.kept, "rejected": dict(self.reasons),
                "llm_calls": self.llm_calls, "llm_calls_per_kept": per_kept}

    def _write_manifest(self, status: str) -> None:
        data: dict[str, JSON] = {
            "stage": self.name, "params": self.params, "status": status,
            "counts": self.counts(), "seconds": round(time.time() - self._started, 3),
        }
        tmp = self.dir / f".{MANIFEST}.{os.getpid()}"
        tmp.write_text(json.dumps(data, indent=2, ensure_ascii=False), encoding="utf-8")
        tmp.replace(self.dir / MANIFEST)

    def checkpoint(self) -> None:
        """Rewrite the manifest with the counts so far (cheap; call every few items)."""
        self._write_manifest("running")


Progress = Callable[[Stage], None]

GROWABLE = frozenset({"n", "limit"})
"""Parameters a resumed run may change: more candidates or items extend the run."""


def passed(item: Mapping[str, JSON], checks: Sequence[str],
           extra: Mapping[str, JSON] | None = None) -> dict[str, JSON]:
    """The row a filter stage keeps: `item` less its key, `checks` appended to its
    provenance, then `extra`."""
    prov = dict(item["provenance"])  # type: ignore[arg-type]
    prov["checks"] = [*prov.get("checks", []), *checks]  # type: ignore[misc]
    return {**{k: v for k, v in item.items() if k != "key"}, "provenance": prov,
            **(extra or {})}


def _same(old: JSON, new: Mapping[str, JSON]) -> bool:
    if not isinstance(old, dict):
        return False
    return ({k: v for k, v in old.items() if k not in GROWABLE}
            == {k: v for k, v in new.items() if k not in GROWABLE})


def trim_partial(path: Path) -> None:
    """Cut a partial last line left by a killed writer, so appends start on a new line."""
    if not path.is_file() or path.stat().st_size == 0:
        return
    data = path.read_bytes()
    if data.endswith(b"\n"):
        return
    path.write_bytes(data[: data.rfind(b"\n") + 1])
