"""SFT loss on 100 trajectories with a tiny Qwen3 (CPU): first vs last logged loss.

Run: `python benchmarks/train_sft_loss.py` (needs the train extra)."""

from __future__ import annotations

import random
import tempfile
import time
from pathlib import Path

from sounding.trace.trajectory import ModelCallRecord, Trajectory
from sounding.train.models import make_tiny_model
from sounding.train.sft import SFTOptions, run_sft
from sounding.types import Message, Usage

CITIES = {"Austria": "Vienna", "France": "Paris", "Japan": "Tokyo", "Peru": "Lima",
          "Kenya": "Nairobi", "Chile": "Santiago", "Egypt": "Cairo", "Spain": "Madrid"}


def search_trajectory(question: str, topic: str, query: str, observation: str,
                      final: str) -> Trajectory:
    """One search (thinking about `topic`), its observation, then `final`: two assistant
    turns in the loss (also the shape `train_gpu.py` measures)."""
    traj = Trajectory(question=question)
    pool = [traj.add_message(Message("user", question))]
    turn = (f'<think>look up {topic}</think>\n<tool_call>\n{{"name": "search", "arguments": '
            f'{{"query": ["{query}"]}}}}\n</tool_call>')
    traj.model_calls.append(ModelCallRecord(1, "turn", list(pool), turn, Usage(), 0.0))
    pool.append(traj.add_message(Message("assistant", turn)))
    pool.append(traj.add_message(Message(
        "user", f"<tool_response>\n{observation}\n</tool_response>")))
    traj.model_calls.append(ModelCallRecord(2, "turn", list(pool), final, Usage(), 0.0))
    return traj


def trajectory(rng: random.Random) -> Trajectory:
    country = rng.choice(list(CITIES))
    return search_trajectory(f"What is the capital of {country}?", country,
                             f"{country} capital",
                             f"{CITIES[country]} is the capital of {country}.",
                             f"<think>found it</think>\n<answer>{CITIES[country]}</answer>")


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="sounding-sft-"))
    rng = random.Random(0)
    with (root / "traj.jsonl").open("w") as f:
        for _ in range(100):
            f.write(trajectory(rng).to_json() + "\n")
    make_tiny_model(root / "model")
    t0 = time.monotonic()
    history = run_sft(root / "traj.jsonl", root / "model", root / "out",
                      SFTOptions(buckets=(1024,), epochs=3, learning_rate=3e-3, batch_size=8,
                                 logging_steps=2, save_steps=10_000, report_to=()))
    losses = [h["loss"] for h in history if "loss" in h]
    print(f"SFT on 100 trajectories: loss {losses[0]:.3f} -> {losses[-1]:.3f} "
          f"({losses[-1] / losses[0]:.2f}x) in {len(losses)} logs, "
          f"{time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
