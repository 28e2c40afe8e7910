"""Mask exactness on 1,000 ReAct-shaped trajectories: every loss-counted token must decode to
assistant text, and all assistant text must be counted (Qwen tokenizer and the tiny one).

Run: `python benchmarks/train_masks.py` (the tiny tokenizer needs the train extra)."""

from __future__ import annotations

import random
import time
from pathlib import Path

from sounding.trace.trajectory import ModelCallRecord, Trajectory
from sounding.train.samples import trajectory_samples
from sounding.train.tokenizers import HFTokenizer, Tokenizer, qwen_tokenizer, tiny_hf_tokenizer
from sounding.types import Message, Usage

RANKS = Path(__file__).parent.parent / "tests" / "llm" / "data" / "qwen.tiktoken"
PIECES = ["Vienna", " the Danube", "123", " 4.5%", "\n\n", "東京", " émigré", "<think>",
          "</think>", "<tool_call>", "</tool_call>", '{"name": "search"}', "  ", "🙂", "\t"]


def text(rng: random.Random) -> str:
    return "".join(rng.choice(PIECES) for _ in range(rng.randint(1, 30))).strip() or "x"


def trajectory(rng: random.Random) -> Trajectory:
    traj = Trajectory(question=text(rng))
    pool = [traj.add_message(Message("system", "You are Sounding.")),
            traj.add_message(Message("user", traj.question))]
    for r in range(rng.randint(1, 6)):
        out = text(rng)
        traj.model_calls.append(ModelCallRecord(r + 1, "turn", list(pool), out, Usage(), 0.0))
        pool.append(traj.add_message(Message("assistant", out)))
        obs = f"<tool_response>\n{text(rng)}\n</tool_response>"
        pool.append(traj.add_message(Message("user", obs)))
    final = f"<answer>{text(rng)}</answer>"
    traj.model_calls.append(ModelCallRecord(9, "turn", list(pool), final, Usage(), 0.0))
    return traj


def check(tok: Tokenizer, trajs: list[Trajectory]) -> tuple[int, int]:
    exact = counted = 0
    for traj in trajs:
        [sample] = list(trajectory_samples(tok, traj))
        want = [c.output + "<|im_end|>" for c in traj.model_calls]
        got = [tok.decode(run) for run in sample.trained_ids()]
        exact += got == want
        counted += sum(sample.loss_mask)
    return exact, counted


def main() -> None:
    rng = random.Random(0)
    trajs = [trajectory(rng) for _ in range(1000)]
    for name, tok in (("qwen", qwen_tokenizer(RANKS)),
                      ("tiny", HFTokenizer(tiny_hf_tokenizer()))):
        t0 = time.monotonic()
        exact, counted = check(tok, trajs)
        print(f"{name}: {exact}/{len(trajs)} trajectories exact "
              f"({100 * exact / len(trajs):.1f}%), {counted} loss tokens, "
              f"{time.monotonic() - t0:.1f} s")


if __name__ == "__main__":
    main()
