"""Tolerant reading of judge replies: JSON (fenced, repaired) or `field: value` lines."""

from __future__ import annotations

import json
import re
from collections.abc import Sequence

import json_repair

from ...types import JSON

__all__ = ["field_lines", "json_object", "strip_think"]

_THINK = re.compile(r"<think>.*?</think>", re.S)
_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)


def strip_think(text: str) -> str:
    text = _THINK.sub("", text)
    if "</think>" in text:  # an opening tag eaten by the server
        text = text.split("</think>", 1)[1]
    return text.strip()


def json_object(text: str) -> dict[str, JSON] | None:
    """The first JSON object in `text`, repaired if needed; None if there is none."""
    text = strip_think(text)
    fenced = _FENCE.search(text)
    candidates = [fenced.group(1)] if fenced else []
    start, end = text.find("{"), text.rfind("}")
    if start != -1 and end > start:
        candidates.append(text[start:end + 1])
    for cand in candidates:
        try:
            obj = json.loads(cand)
        except json.JSONDecodeError:
            obj = json_repair.loads(cand)
        if isinstance(obj, dict) and obj:
            return obj
    return None


def field_lines(text: str, names: Sequence[str]) -> dict[str, str]:
    """Values of `name: value` sections (markdown bold and full-width colons tolerated).

    A value runs until the next known field, so multi-line reasoning is kept whole.
    """
    text = strip_think(text)
    alt = "|".join(re.escape(n) for n in names)
    pattern = re.compile(
        rf"^[ \t>*_#-]*\**\s*({alt})\s*\**\s*[:：]\s*\**(.*?)(?=^[ \t>*_#-]*\**\s*(?:{alt})"
        rf"\s*\**\s*[:：]|\Z)",
        re.S | re.M | re.I,
    )
    out: dict[str, str] = {}
    for match in pattern.finditer(text):
        key = next(n for n in names if n.lower() == match.group(1).lower())
        out.setdefault(key, match.group(2).strip().strip("*").strip())
    return out
