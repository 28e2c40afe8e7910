"""What an incomplete run lacks, in words: failures with their reasons, missing shards."""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

from ..types import JSONObject
from .rows import read_rows
from .store import read_manifest

__all__ = ["incomplete_lines", "missing_by_shard"]

_SHARD_FILE = re.compile(r"results\.shard-(\d+)-of-(\d+)\.jsonl(?:\.merged)?$")


def incomplete_lines(run_dir: Path, metrics: JSONObject) -> list[str]:
    """Lines telling the user why `run_dir` is incomplete and how to finish it."""
    failed = metrics.get("rows_failed")
    failed = failed if isinstance(failed, dict) else {}
    n_failed = sum(int(v) for v in failed.values() if isinstance(v, int))
    missing = metrics.get("rows_missing")
    parts = [f"{n_failed} failed ({', '.join(f'{k} {v}' for k, v in failed.items() if v)})"
             if n_failed else "", f"{missing} not run yet" if missing else ""]
    lines = [f"incomplete: {'; '.join(p for p in parts if p)} of "
             f"{metrics.get('rows_expected')} rollouts; failed and missing rollouts count "
             "wrong until they are run again (rerun the same command)"]
    firsts = metrics.get("first_failures")
    for f in firsts if isinstance(firsts, list) else []:
        if isinstance(f, dict):
            lines.append(f"  {f.get('item_id')} rollout {f.get('rollout')}: {f.get('stage')} "
                         f"{f.get('type') or ''}: {f.get('message')}".replace("  :", ":"))
    shards = missing_by_shard(run_dir)
    if shards:
        named = ", ".join(f"shard {i}/{n}: {c} rows" + ("" if seen else " (no results file)")
                          for (i, n), (c, seen) in sorted(shards.items()))
        lines.append(f"missing by shard: {named}; run each with --shard I/N into this "
                     "directory, then `sounding eval merge`")
    return lines


def missing_by_shard(run_dir: Path) -> dict[tuple[int, int], tuple[int, bool]]:
    """(shard index, count) -> (rows not yet written, whether that shard wrote a file),
    for a run made of shards; empty when the run is not sharded or nothing is missing."""
    found = {(int(m.group(1)), int(m.group(2))) for p in run_dir.iterdir()
             if (m := _SHARD_FILE.match(p.name))}
    counts = {count for _, count in found}
    manifest = read_manifest(run_dir) or {}
    ids = manifest.get("item_ids")
    k = manifest.get("rollouts")
    if len(counts) != 1 or not isinstance(ids, list) or not isinstance(k, int):
        return {}
    n = counts.pop()
    seen = {index for index, _ in found}  # every file found is "of n"
    have = read_rows(run_dir)
    lacking: Counter[int] = Counter()
    for pos, item in enumerate(ids):
        lacking[pos % n] += sum(1 for r in range(k) if (str(item), r) not in have)
    return {(i, n): (c, i in seen) for i, c in lacking.items() if c}
