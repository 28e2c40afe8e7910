"""Toy RL benchmark (CPU): a tiny Qwen3 must put the right word in `<answer>` tags.

A short SFT teaches the format with random words (reward at chance, 1/len(WORDS)), then
GRPO with the Sounding recipe raises the mean reward (every question each step; key words
and answers are single tokens of the tiny vocabulary). Prints the reward curve.
Run: `python benchmarks/train_rl_toy.py [STEPS]` (needs the train extra)."""

from __future__ import annotations

import json
import random
import sys
import tempfile
import time
from pathlib import Path

from sounding.train.models import make_tiny_model
from sounding.train.rl import RLOptions, run_rl
from sounding.train.rollouts import RLItem, single_turn_rollout
from sounding.train.sft import SFTOptions, run_sft

WORDS = ["red", "blue", "green", "black"]
QUESTIONS = {"sky": "blue", "grass": "green", "blood": "red", "coal": "black"}
STEPS = int(sys.argv[1]) if len(sys.argv) > 1 else 200


def main() -> None:
    root = Path(tempfile.mkdtemp(prefix="sounding-toy-"))
    make_tiny_model(root / "base", extra_tokens=("<answer>", "</answer>", *WORDS, *QUESTIONS))
    rng = random.Random(0)
    # Format only: colour questions get a random colour (chance reward), and a copy task
    # ("repeat sky" -> sky) teaches the model to look at the question's key word at all.
    rows = [{"messages": [{"role": "user", "content": f"colour of {q}?"}, {
        "role": "assistant", "content": f"<answer>{rng.choice(WORDS)}</answer>"}]}
            for q in QUESTIONS for _ in range(25)]
    rows += [{"messages": [{"role": "user", "content": f"repeat {q}"}, {
        "role": "assistant", "content": f"<answer>{q}</answer>"}]}
             for q in QUESTIONS for _ in range(25)]
    (root / "format.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    t0 = time.monotonic()
    run_sft(root / "format.jsonl", root / "base", root / "sft",
            SFTOptions(buckets=(128,), epochs=20, learning_rate=5e-3, batch_size=16,
                       logging_steps=50, save_steps=10_000, report_to=()))
    items = [RLItem(f"colour of {q}?", a) for q, a in QUESTIONS.items()]
    opts = RLOptions(group=8, prompts_per_step=len(items), steps=STEPS, learning_rate=1e-3,
                     max_new_tokens=6, logging_steps=1000, save_steps=100_000, report_to=(),
                     extra={"warmup_steps": 20})  # Adam's first steps are lr-sized everywhere

    def make(policy: object, tok: object) -> object:
        return single_turn_rollout(policy)  # type: ignore[arg-type]

    engine = run_rl(items, root / "sft" / "final", root / "rl", opts, make)  # type: ignore[arg-type]
    curve = engine.mean_rewards
    window = [sum(curve[max(0, i - 9):i + 1]) / len(curve[max(0, i - 9):i + 1])
              for i in range(len(curve))]
    reached = next((i + 1 for i, w in enumerate(window) if w >= 0.8), None)
    print("mean reward per 20 steps:", " ".join(
        f"{sum(curve[i:i + 20]) / len(curve[i:i + 20]):.2f}" for i in range(0, len(curve), 20)))
    print(f"chance {1 / len(WORDS):.2f}; first 10 steps mean {sum(curve[:10]) / 10:.2f}; "
          f"last 10 steps mean {sum(curve[-10:]) / 10:.2f}; 10-step mean >= 0.8 at step "
          f"{reached}; {time.monotonic() - t0:.0f} s")


if __name__ == "__main__":
    main()
