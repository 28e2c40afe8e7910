"""The outline: sections, their sub-points and the evidence ids each point rests on.

It travels as JSON between stages and as Markdown for a person to edit
(`--plan-only` writes it, `--outline FILE` reads it back):

    # Outline: TOPIC
    ## 1. Section title
    - A sub-point [E1, E4]
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

from ..errors import ConfigError
from ..types import JSON, JSONObject
from .evidence import EVIDENCE_ID

__all__ = ["Outline", "Point", "Section", "parse_outline_json"]


@dataclass(frozen=True, slots=True)
class Point:
    text: str
    evidence: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    points: tuple[Point, ...] = ()

    @property
    def evidence(self) -> tuple[str, ...]:
        """Every evidence id the section's points cite, in order, without repeats."""
        return tuple(dict.fromkeys(i for p in self.points for i in p.evidence))

    def key(self) -> str:
        """A hash of the section as planned: a written section is reused only if it matches."""
        raw = json.dumps(self.to_dict(), ensure_ascii=False, sort_keys=True)
        return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]

    def to_dict(self) -> JSONObject:
        return {"title": self.title,
                "points": [{"text": p.text, "evidence": list(p.evidence)} for p in self.points]}


@dataclass(frozen=True)
class Outline:
    topic: str
    sections: tuple[Section, ...] = field(default_factory=tuple)

    def evidence(self) -> list[str]:
        return list(dict.fromkeys(i for s in self.sections for i in s.evidence))

    def to_dict(self) -> JSONObject:
        return {"topic": self.topic, "sections": [s.to_dict() for s in self.sections]}

    @classmethod
    def from_dict(cls, d: JSONObject) -> Outline:
        return parse_outline_json(str(d.get("topic") or ""), d.get("sections"))

    def to_markdown(self) -> str:
        lines = [f"# Outline: {self.topic}", ""]
        for n, sec in enumerate(self.sections, 1):
            lines.append(f"## {n}. {sec.title}")
            for p in sec.points:
                ids = f" [{', '.join(p.evidence)}]" if p.evidence else ""
                lines.append(f"- {p.text}{ids}")
            lines.append("")
        return "\n".join(lines)

    @classmethod
    def from_markdown(cls, text: str, topic: str = "") -> Outline:
        """Read an outline a person may have edited; headings are sections, bullets points."""
        sections: list[Section] = []
        title: str | None = None
        points: list[Point] = []
        for raw in text.splitlines():
            line = raw.strip()
            if line.startswith("# ") and not line.startswith("## "):
                topic = topic or re.sub(r"^#\s*(Outline|大纲)\s*[:：]\s*", "", line).strip()
            elif line.startswith("## "):
                if title is not None:
                    sections.append(Section(title, tuple(points)))
                title = re.sub(r"^##\s*(\d+[.)、]\s*)?", "", line).strip()
                points = []
            elif re.match(r"^[-*+]\s+", line) and title is not None:
                points.append(_point(re.sub(r"^[-*+]\s+", "", line)))
        if title is not None:
            sections.append(Section(title, tuple(points)))
        if not sections:
            raise ConfigError("the outline has no sections (write each as a `## Title` line)")
        return cls(topic, tuple(sections))

    def summary(self) -> str:
        """Section titles only, numbered: what the writer sees of the whole plan."""
        return "\n".join(f"{n}. {s.title}" for n, s in enumerate(self.sections, 1))


def _point(text: str) -> Point:
    """A bullet `text [E1, E2]`: ids in a trailing bracket (or anywhere) are its evidence."""
    ids = tuple(dict.fromkeys(f"E{m.group(1)}" for m in EVIDENCE_ID.finditer(text)))
    body = re.sub(r"\s*[\[【(（]\s*E\d+(?:\s*[,，;、]\s*E\d+)*\s*[\]】)）]\s*$", "", text)
    return Point(body.strip(), ids)


def _ids(value: JSON) -> tuple[str, ...]:
    items: Sequence[JSON] = value if isinstance(value, list) else [value] if value else []
    return tuple(dict.fromkeys(f"E{m.group(1)}" for v in items
                               for m in EVIDENCE_ID.finditer(str(v))))


def parse_outline_json(topic: str, sections: JSON) -> Outline:
    """An outline from the planner's `write_outline` arguments (tolerant of shapes):
    sections as objects with `title`, `points` (strings or {text, evidence}) and
    an optional section-level `evidence` list."""
    if not isinstance(sections, list) or not sections:
        raise ConfigError("the outline needs a non-empty list of sections")
    out: list[Section] = []
    for raw in sections:
        if isinstance(raw, str):
            out.append(Section(raw.strip()))
            continue
        if not isinstance(raw, dict) or not str(raw.get("title") or "").strip():
            raise ConfigError("each section needs a title")
        points = [_one_point(p) for p in _list(raw.get("points"))]
        extra = _ids(raw.get("evidence") or [])
        if extra and not points:
            points = [Point(str(raw["title"]).strip(), extra)]
        elif extra:
            missing = tuple(i for i in extra if i not in {e for p in points for e in p.evidence})
            if missing:
                points[0] = Point(points[0].text, points[0].evidence + missing)
        out.append(Section(str(raw["title"]).strip(), tuple(points)))
    return Outline(topic, tuple(out))


def _list(value: JSON) -> Iterable[JSON]:
    return value if isinstance(value, list) else []


def _one_point(p: JSON) -> Point:
    if isinstance(p, dict):
        return Point(str(p.get("text") or p.get("point") or "").strip(),
                     _ids(p.get("evidence") or []))
    return _point(str(p))
