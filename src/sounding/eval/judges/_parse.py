"""Tolerant reading of judge replies: JSON (fenced, repaired) or `field: value` lines."""

from __future__ import annotations

import re
from collections.abc import Sequence

from ...llm.reply_json import json_object, strip_think

__all__ = ["field_lines", "json_object", "strip_think"]


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
