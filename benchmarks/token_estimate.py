"""Token estimate against the real Qwen vocabulary, per kind of text.

    .venv/bin/python benchmarks/token_estimate.py [--tiktoken tests/llm/data/qwen.tiktoken]

Counts six kinds of text (prose, code, numbers, URLs, Chinese, Russian, from
tests/llm/data/token_samples.json) exactly with Qwen's BPE ranks (needs tiktoken:
`pip install "sounding[tokens]"`) and with `estimate_tokens`, and prints estimate/actual
per kind beside the old characters/4 rule (target: 0.95..1.3 for every kind), then the
estimate's speed in MB/s.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

from sounding.llm.tokens import TiktokenCounter, estimate_tokens

DATA = Path(__file__).resolve().parent.parent / "tests" / "llm" / "data"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tiktoken", default=str(DATA / "qwen.tiktoken"))
    parser.add_argument("--samples", default=str(DATA / "token_samples.json"))
    args = parser.parse_args()
    counter = TiktokenCounter(args.tiktoken)
    samples: dict[str, str] = json.loads(Path(args.samples).read_text("utf-8"))
    print(f"{'kind':<10}{'chars':>8}{'actual':>9}{'estimate':>10}{'est/act':>9}"
          f"{'chars/4':>9}  target 0.95..1.3")
    worst = []
    for kind, text in samples.items():
        actual, estimate = counter.count(text), estimate_tokens(text)
        ratio = estimate / actual
        worst.append(ratio)
        ok = "ok" if 0.95 <= ratio <= 1.3 else "MISS"
        print(f"{kind:<10}{len(text):>8}{actual:>9}{estimate:>10}{ratio:>9.3f}"
              f"{(len(text) / 4) / actual:>9.3f}  {ok}")
    print(f"range of est/act: {min(worst):.3f} .. {max(worst):.3f}")
    text = "\n".join(samples.values())
    start = time.perf_counter()
    for _ in range(5):
        estimate_tokens(text)
    seconds = (time.perf_counter() - start) / 5
    print(f"estimate speed: {len(text.encode()) / seconds / 1e6:.1f} MB/s "
          f"({seconds * 1e3:.1f} ms for {len(text)} chars)")


if __name__ == "__main__":
    main()
