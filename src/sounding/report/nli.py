"""A claim judge on a local cross-encoder NLI model (when the user has one installed).

Premise: the quotes a claim cites; hypothesis: the claim without its citations. The
model's entailment probability decides: >= `supported` -> supported, >= `partly` ->
partly, else unsupported. No rewrites (an NLI model cannot write): with
`--on-unsupported rewrite` the claim is removed instead. Needs sentence-transformers
(the `dense` extra) and a model such as cross-encoder/nli-deberta-v3-base on disk.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from ..errors import ConfigError
from .check import Claim, Label, Verdict
from .evidence import EvidenceBank

__all__ = ["NLIJudge", "Predict", "load_cross_encoder"]

Predict = Callable[[Sequence[tuple[str, str]]], list[dict[str, float]]]
"""(premise, hypothesis) pairs -> per pair, label -> probability (contradiction,
entailment, neutral)."""


class NLIJudge:
    def __init__(self, predict: Predict, *, supported: float = 0.6, partly: float = 0.3,
                 batch: int = 32) -> None:
        self._predict = predict
        self.supported = supported
        self.partly = partly
        self.batch = batch

    async def judge(self, claims: Sequence[Claim], bank: EvidenceBank) -> list[Verdict]:
        pairs = [(" ".join(ev.quote for ev in bank.resolve(c.evidence)), c.bare) for c in claims]
        probs: list[dict[str, float]] = []
        for i in range(0, len(pairs), self.batch):  # the model runs off the event loop
            probs += await asyncio.to_thread(self._predict, pairs[i:i + self.batch])
        out = []
        for claim, p in zip(claims, probs, strict=True):
            entail = p.get("entailment", 0.0)
            label: Label = ("supported" if entail >= self.supported else
                     "partly" if entail >= self.partly else "unsupported")
            out.append(Verdict(claim.id, label, f"entailment {entail:.2f}"))
        return out


def load_cross_encoder(name: str) -> Predict:
    """A `Predict` on a sentence-transformers CrossEncoder NLI model (path or name)."""
    try:
        from sentence_transformers import CrossEncoder
    except ImportError as exc:
        raise ConfigError("--nli-model needs sentence-transformers (pip install "
                          "'sounding[dense]')") from exc
    try:
        model = CrossEncoder(name)
    except (OSError, ValueError) as exc:
        raise ConfigError(f"cannot load the NLI model {name!r}: {exc}") from exc
    labels = {int(k): str(v).lower() for k, v in model.config.id2label.items()}

    def predict(pairs: Sequence[tuple[str, str]]) -> list[dict[str, float]]:
        scores = model.predict(list(pairs), apply_softmax=True)
        return [{labels[i]: float(row[i]) for i in range(len(labels))} for row in scores]

    return predict
