"""Named subsets of a benchmark and the release a file belongs to.

GAIA: `validation` (all 165 questions, attachments required), `text-only` (the
questions without an attachment), `text-103` (the 103-question text-only list used
by WebThinker, WebDancer and Tongyi; its task ids ship in `datasets/gaia_text103_ids.txt`,
ids only: GAIA's terms forbid re-sharing its questions). HLE: `text-only`, asserted at
2,154 questions when the full 2,500-question file is given. xbench: the release (2505 or 2510).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

from ..errors import DatasetError
from .datasets import Item
from .datasets.hle import HLE_TEXT_ONLY

__all__ = ["GAIA_VALIDATION", "HLE_TEXT_ONLY", "SUBSETS", "TEXT_103_IDS", "check_subset",
           "dataset_release", "select_subset"]

GAIA_VALIDATION = 165
GAIA_TEXT_103 = 103
SUBSETS: dict[str, tuple[str, ...]] = {"gaia": ("validation", "text-only", "text-103"),
                                       "hle": ("text-only",)}

# The published xbench-DeepSearch files, by SHA-256 (MIT, xbench-ai/xbench-evals).
_XBENCH_RELEASES = {
    "10bdb81321e3d919c052c2c9a7095868d8bc9036f719fb25d9223043aa28c118": "2505",
    "a9378e56b05ec8f007b8ecc8f6ac74900abafd558267acd5839d0d05fbc6977a": "2510",
}


def check_subset(fmt: str, subset: str | None) -> None:
    if subset is None:
        return
    names = SUBSETS.get(fmt, ())
    if subset not in names:
        have = f"choose one of: {', '.join(names)}" if names else "it has no named subsets"
        raise DatasetError(f"--subset {subset!r} is not a subset of {fmt}; {have}")


def select_subset(fmt: str, items: Sequence[Item], subset: str | None,
                  ids_file: Path | None = None) -> list[Item]:
    """The items of `subset` (None: all); a subset whose size is known is asserted."""
    check_subset(fmt, subset)
    chosen = list(items)
    if subset == "validation" and len(chosen) != GAIA_VALIDATION:
        raise DatasetError(f"GAIA validation has {GAIA_VALIDATION} questions; this file "
                           f"has {len(chosen)}")
    if subset == "text-only" and fmt == "gaia":
        chosen = [it for it in chosen if not it.files]
    if subset == "text-103":
        chosen = _listed(chosen, ids_file)
    return chosen


TEXT_103_IDS = Path(__file__).parent / "datasets" / "gaia_text103_ids.txt"
"""The 103 text-only task ids (from WebThinker's `data/GAIA/dev.json`, MIT)."""


def _listed(items: list[Item], ids_file: Path | None) -> list[Item]:
    ids_file = ids_file or TEXT_103_IDS
    try:
        lines = ids_file.read_text(encoding="utf-8").splitlines()
        wanted = [t for line in lines if not line.lstrip().startswith("#")
                  for t in re.split(r"[\s,]+", line) if t]
    except (OSError, UnicodeDecodeError) as exc:
        raise DatasetError(f"cannot read {ids_file}: {exc}") from exc
    by_id = {it.id: it for it in items}
    missing = [t for t in wanted if t not in by_id]
    if missing:
        raise DatasetError(f"{ids_file}: {len(missing)} task ids are not in the dataset, "
                           f"e.g. {', '.join(missing[:3])}")
    if len(set(wanted)) != GAIA_TEXT_103:
        raise DatasetError(f"{ids_file} lists {len(set(wanted))} task ids; the text-only "
                           f"list has {GAIA_TEXT_103}")
    keep = set(wanted)
    return [it for it in items if it.id in keep]


def dataset_release(fmt: str, path: Path, sha256: str) -> str | None:
    """The benchmark release of the file (xbench 2505 / 2510), when it can be told."""
    if fmt != "xbench":
        return None
    if sha256 in _XBENCH_RELEASES:
        return _XBENCH_RELEASES[sha256]
    hit = re.search(r"(2505|2510)", path.name)
    return hit.group(1) if hit else "unknown"
