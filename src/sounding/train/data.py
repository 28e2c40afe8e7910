"""Training data in: trajectories (`--trace` files, eval runs) or `sounding synth export` rows."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

from ..errors import ConfigError
from ..trace.trajectory import Trajectory
from ..types import Message
from .samples import Sample, conversation_sample, trajectory_samples
from .tokenizers import Tokenizer

__all__ = ["load_samples", "read_rows"]


def read_rows(path: Path) -> Iterator[dict[str, object]]:
    """JSONL rows of one file, or of every `*.jsonl` in a folder."""
    files = sorted(path.glob("*.jsonl")) if path.is_dir() else [path]
    if not files or not all(f.exists() for f in files):
        raise ConfigError(f"no training data at {path}")
    for f in files:
        for n, line in enumerate(f.read_text().splitlines(), 1):
            if line.strip():
                row = json.loads(line)
                if not isinstance(row, dict):
                    raise ConfigError(f"{f}:{n}: a row must be a JSON object")
                yield row


def _row_samples(tok: Tokenizer, row: dict[str, object]) -> Iterator[Sample]:
    if "model_calls" in row:  # a trajectory
        yield from trajectory_samples(tok, Trajectory.from_dict(row))  # type: ignore[arg-type]
        return
    msgs = row.get("messages")
    if not isinstance(msgs, list):
        raise ConfigError("a data row needs `messages` (synth export) or is a trajectory")
    # An exported IterResearch round trains its last turn only; a conversation trains all.
    last_only = isinstance(row.get("round"), int)
    yield conversation_sample(tok, [Message(m["role"], m["content"]) for m in msgs],
                              last_only=last_only)


def load_samples(tok: Tokenizer, path: Path) -> list[Sample]:
    """Every sample of the data with at least one trained token."""
    return [s for row in read_rows(path) for s in _row_samples(tok, row) if any(s.loss_mask)]
