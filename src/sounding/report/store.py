"""The run directory: each stage's output on disk, so a killed run resumes after the last
finished stage or section (and a person can edit the outline in between)."""

from __future__ import annotations

import json
import os
from pathlib import Path

from ..errors import ConfigError
from ..types import JSON, JSONObject
from .evidence import EvidenceBank
from .outline import Outline
from .revise import CheckedClaim
from .writer import WrittenSection

__all__ = ["RunDir"]


class RunDir:
    """`state.json`, `evidence.jsonl`, `outline.{json,md}`, `sections/NN.json`,
    `check.json`, then the report files and `trajectory.jsonl`."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        (path / "sections").mkdir(exist_ok=True)

    def file(self, name: str) -> Path:
        return self.path / name

    # -- state -----------------------------------------------------------------
    def state(self) -> JSONObject:
        data = self._read("state.json")
        return data if isinstance(data, dict) else {}

    def update_state(self, **values: JSON) -> None:
        self._write("state.json", {**self.state(), **values})

    def topic(self, given: str | None) -> str:
        """The run's topic: the one given, else the one saved; they must agree."""
        saved = str(self.state().get("topic") or "")
        if given and saved and " ".join(given.split()) != " ".join(saved.split()):
            raise ConfigError(f"{self.path} holds a report on {saved!r}, not {given!r}; "
                              "use another --out")
        topic = given or saved
        if not topic.strip():
            raise ConfigError("no topic: give one (sounding report \"TOPIC\")")
        return topic

    # -- stages ----------------------------------------------------------------
    def bank(self) -> EvidenceBank:
        return EvidenceBank.load(self.file("evidence.jsonl"))

    def outline(self) -> Outline | None:
        data = self._read("outline.json")
        return Outline.from_dict(data) if isinstance(data, dict) else None

    def save_outline(self, outline: Outline) -> None:
        self._write("outline.json", outline.to_dict())
        self.file("outline.md").write_text(outline.to_markdown(), encoding="utf-8")

    def section(self, number: int, key: str) -> WrittenSection | None:
        """Section `number` as written, if it was written from the same plan."""
        data = self._read(f"sections/{number:02d}.json")
        if isinstance(data, dict) and data.get("key") == key:
            return WrittenSection.from_dict(data)
        return None

    def save_section(self, number: int, section: WrittenSection) -> None:
        self._write(f"sections/{number:02d}.json", section.to_dict())

    def check(self, keys: list[str]) -> tuple[list[str], list[CheckedClaim]] | None:
        data = self._read("check.json")
        if not isinstance(data, dict) or data.get("keys") != keys:
            return None
        texts, claims = data.get("texts"), data.get("claims")
        if not isinstance(texts, list) or not isinstance(claims, list):
            return None
        return ([str(t) for t in texts],
                [CheckedClaim.from_dict(c) for c in claims if isinstance(c, dict)])

    def save_check(self, keys: list[str], texts: list[str], claims: list[CheckedClaim]) -> None:
        self._write("check.json", {"keys": list(keys), "texts": list(texts),
                                   "claims": [c.to_dict() for c in claims]})

    # -- io --------------------------------------------------------------------
    def _read(self, name: str) -> JSON:
        path = self.file(name)
        if not path.exists():
            return None
        try:
            return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
        except json.JSONDecodeError as exc:
            raise ConfigError(f"{path} is not valid JSON ({exc}); delete it to redo "
                              "that stage") from exc

    def _write(self, name: str, data: JSON) -> None:
        """Write through a temporary file, so a kill never leaves half a stage."""
        path = self.file(name)
        tmp = path.with_suffix(path.suffix + ".tmp")
        tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
        os.replace(tmp, path)
