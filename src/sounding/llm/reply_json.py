"""Reading JSON out of a model's free-text reply: reasoning dropped, fences and broken JSON
tolerated. Judges, the report planner and synthesis all ask models for a JSON object."""

from __future__ import annotations

import json
import re

import json_repair

from ..types import JSON

__all__ = ["json_object", "strip_think"]

_THINK = re.compile(r"<think>.*?</think>", re.S)
_FENCE = re.compile(r"```(?:json)?\s*(\{.*?\})\s*```", re.S)


def strip_think(text: str) -> str:
    """`text` without its `<think>` blocks (or everything up to a lone `</think>`)."""
    text = _THINK.sub("", text)
    if "</think>" in text:  # an opening tag eaten by the server
        text = text.split("</think>", 1)[1]
    return text.strip()


def json_object(text: str) -> dict[str, JSON] | None:
    """The first non-empty JSON object in `text` (a fenced one first, else the outermost
    braces), repaired if needed; None if there is none."""
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
