"""Training throughput and memory: SFT and RL steps of a randomly initialised Qwen3-architecture
model of about 0.5B parameters, for the GPU figures of docs/training.md.

    python benchmarks/train_gpu.py           # on a GPU: ~0.49B parameters, bfloat16
    python benchmarks/train_gpu.py --tiny    # the same code path on CPU, as a smoke run

Nothing is downloaded: the model is built from a config (Qwen2.5-0.5B's sizes on Qwen3's
architecture, its 151,936-row vocabulary) with the tiny byte-level tokenizer. SFT trains on
synthetic two-turn trajectories with ~2k-token observations (masked out of the loss, as
ever); RL runs GRPO steps whose rollouts sample with the trainer's own `generate` (one
rollout at a time: `--vllm` needs vLLM, see docs/training.md). Prints, for each: steps,
seconds per step, tokens per second and the peak GPU memory.
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from sounding.trace.trajectory import Trajectory
from sounding.train.rl import RLOptions, run_rl
from sounding.train.rollouts import RLItem, single_turn_rollout
from sounding.train.sft import SFTOptions, run_sft
from sounding.train.tokenizers import tiny_hf_tokenizer

sys.path.insert(0, str(Path(__file__).parent))
from train_sft_loss import search_trajectory  # the same two-turn shape

SIZES = {  # hidden, layers, heads, kv heads, head dim, intermediate, vocabulary
    "0.5b": (896, 24, 14, 2, 64, 4864, 151936),
    "tiny": (64, 2, 4, 2, 16, 128, 1024),
}
FILLER = "The archive lists every survey of the coast, with dates and the ships used. "


def build_model(out: Path, size: str) -> int:
    """The model and tokenizer saved to `out`; returns its parameter count."""
    import torch
    from transformers import Qwen3Config, Qwen3ForCausalLM

    hidden, layers, heads, kv, head_dim, inter, vocab = SIZES[size]
    tok = tiny_hf_tokenizer(("<answer>", "</answer>"))
    torch.manual_seed(0)
    config = Qwen3Config(vocab_size=max(vocab, len(tok)), hidden_size=hidden,
                         intermediate_size=inter, num_hidden_layers=layers,
                         num_attention_heads=heads, num_key_value_heads=kv, head_dim=head_dim,
                         max_position_embeddings=32768, tie_word_embeddings=True,
                         pad_token_id=tok.pad_token_id, eos_token_id=tok.eos_token_id,
                         bos_token_id=None)
    model = Qwen3ForCausalLM(config)
    model.save_pretrained(out)
    tok.save_pretrained(out)
    return sum(p.numel() for p in model.parameters())


def trajectory(rng: random.Random, obs_chars: int) -> Trajectory:
    """Search, a long observation, an answer: two assistant turns in the loss."""
    n = rng.randrange(1000)
    body = (FILLER * (obs_chars // len(FILLER) + 1))[:obs_chars]
    return search_trajectory(f"Which survey came first, number {n} or {n + 1}?",
                             f"survey {n}", f"survey {n}", body,
                             f"<think>the archive says {n}</think>\n<answer>{n}</answer>")


def peak_memory() -> str:
    import torch

    if not torch.cuda.is_available():
        return "n/a (CPU)"
    return f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB"


def reset_memory() -> None:
    import torch

    if torch.cuda.is_available():
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def bench_sft(root: Path, model: Path, args: argparse.Namespace) -> None:
    from sounding.train.data import load_samples
    from sounding.train.models import load_tokenizer

    rng = random.Random(0)
    count = args.sft_steps * args.batch
    with (root / "sft.jsonl").open("w") as f:
        for _ in range(count):
            f.write(trajectory(rng, args.obs_chars).to_json() + "\n")
    samples = load_samples(load_tokenizer(model), root / "sft.jsonl")
    tokens = sum(len(s.input_ids) for s in samples)
    reset_memory()
    t0 = time.monotonic()
    run_sft(root / "sft.jsonl", model, root / "sft-out",
            SFTOptions(buckets=(8192,), epochs=1, batch_size=args.batch, learning_rate=1e-5,
                       logging_steps=max(1, args.sft_steps // 4), save_steps=10**9,
                       report_to=(), max_steps=args.sft_steps))
    wall = time.monotonic() - t0
    print(f"SFT: {args.sft_steps} steps of {args.batch} samples ({tokens / count:,.0f} tokens "
          f"each, {sum(sum(s.loss_mask) for s in samples) / count:,.0f} in the loss): "
          f"{wall / args.sft_steps:.2f} s/step, {tokens / wall:,.0f} tokens/s (model load "
          f"included), peak GPU memory {peak_memory()}")


def bench_rl(root: Path, model: Path, args: argparse.Namespace) -> None:
    items = [RLItem(f"say the number {n}", str(n)) for n in range(args.prompts)]
    sampled: list[int] = []

    def make(policy: Any, tok: Any) -> Any:
        inner = single_turn_rollout(policy)

        async def run(item: RLItem) -> Trajectory:
            traj = await inner(item)
            sampled.append(sum(len(c.token_ids or ()) for c in traj.model_calls))
            return traj

        return run

    opts = RLOptions(group=args.group, prompts_per_step=args.prompts, steps=args.rl_steps,
                     max_new_tokens=args.new_tokens, learning_rate=1e-6,
                     logging_steps=10**6, save_steps=10**9, report_to=())
    reset_memory()
    t0 = time.monotonic()
    run_rl(items, model, root / "rl-out", opts, make)
    wall = time.monotonic() - t0
    rollouts = len(sampled)
    print(f"RL: {args.rl_steps} steps of {args.prompts} prompts x {args.group} rollouts "
          f"({sum(sampled) / max(1, rollouts):,.0f} sampled tokens each, HF generate): "
          f"{wall / args.rl_steps:.2f} s/step, {sum(sampled) / wall:,.0f} sampled tokens/s "
          f"(model load included), peak GPU memory {peak_memory()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiny", action="store_true", help="a tiny model: CPU smoke run")
    parser.add_argument("--sft-steps", type=int, default=20)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--obs-chars", type=int, default=2000)
    parser.add_argument("--rl-steps", type=int, default=3)
    parser.add_argument("--prompts", type=int, default=4)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--new-tokens", type=int, default=256)
    args = parser.parse_args()
    if args.tiny:
        args.sft_steps, args.obs_chars, args.rl_steps, args.new_tokens = 4, 300, 1, 8
    import torch

    if not args.tiny and not torch.cuda.is_available():
        sys.exit("no GPU: run with --tiny for the CPU smoke run")
    root = Path(tempfile.mkdtemp(prefix="sounding-train-gpu-"))
    params = build_model(root / "model", "tiny" if args.tiny else "0.5b")
    device = torch.cuda.get_device_name() if torch.cuda.is_available() else "CPU"
    print(f"random Qwen3-architecture model, {params / 1e6:,.0f}M parameters, on {device}")
    bench_sft(root, root / "model", args)
    bench_rl(root, root / "model", args)


if __name__ == "__main__":
    main()
