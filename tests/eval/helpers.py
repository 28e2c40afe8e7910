"""Shared test helpers for the eval area: encryption (the inverse of the loaders) and fakes."""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path

from sounding.eval.datasets import Item
from sounding.trace import Trajectory
from sounding.types import Usage

_REPO = Path(__file__).resolve().parents[2]
# The shared folder sits beside the checkout (or beside the folder of worktrees).
REAL = next((p / "shared" / "benchmarks" for p in (_REPO.parent, _REPO.parent.parent)
             if (p / "shared" / "benchmarks").is_dir()), _REPO.parent / "shared" / "benchmarks")


def xor_encrypt(text: str, key: bytes) -> str:
    data = text.encode("utf-8")
    return base64.b64encode(bytes(b ^ key[i % len(key)] for i, b in enumerate(data))).decode()


def browsecomp_encrypt(text: str, canary: str) -> str:
    return xor_encrypt(text, hashlib.sha256(canary.encode()).digest())


def make_items(n: int) -> list[Item]:
    return [Item(f"q{i:03d}", f"What is item {i}?", f"answer {i}") for i in range(n)]


def trajectory(item: Item, answer: str | None, *, tools: dict[str, int] | None = None,
               prompt_tokens: int = 100, completion_tokens: int = 10) -> Trajectory:
    """A finished trajectory with one model call carrying the usage."""
    from sounding.trace import ModelCallRecord, ToolCallRecord
    from sounding.types import ToolCall

    traj = Trajectory(question=item.question, model="agent-model")
    traj.model_calls.append(ModelCallRecord(1, "turn", [], "x", Usage(prompt_tokens,
                                                                       completion_tokens), 0.0))
    for name, count in (tools or {}).items():
        for _ in range(count):
            traj.tool_calls.append(ToolCallRecord(1, ToolCall(name, {}), "obs", 0.0))
    traj.answer = answer
    traj.termination = "answer" if answer is not None else "max_rounds"
    traj.rounds = 1 + sum((tools or {}).values())
    traj.seconds = 0.01
    return traj
