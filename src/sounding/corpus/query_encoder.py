"""A fast query-side all-MiniLM-L6-v2: the BERT forward pass written out over packed tokens.

Queries are short and of uneven length; a padded batch spends much of its work on padding.
Here the linear layers (nearly all the FLOPs) run on the concatenated tokens of the whole
batch, and attention runs over runs of ~GROUP_TOKENS tokens with a block-diagonal mask.
Weights load straight from the bundled safetensors file (no sentence-transformers or
transformers import), in bfloat16 where the CPU computes it natively (vectors within
1e-4 cosine of float32; their linear layers prepacked for oneDNN), float32 elsewhere
(equal to sentence-transformers to 1e-5).
"""

from __future__ import annotations

import math
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import CorpusError

if TYPE_CHECKING:
    import numpy as np
    import torch
    from numpy.typing import NDArray

__all__ = ["PackedMiniLM", "fast_dtype"]

MAX_TOKENS = 256
"""Word pieces per text, as sentence-transformers truncates for this model."""
HEADS = 12
GROUP_TOKENS = 96
"""Tokens attended as one block-diagonal matrix: the cost grows with its square."""
LN_EPS = 1e-12


def fast_dtype() -> str:
    """`bfloat16` where oneDNN runs it natively (AVX512-BF16 or AMX), else `float32`."""
    import torch

    try:
        native = bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):
        native = False
    return "bfloat16" if native else "float32"


class PackedMiniLM:
    """all-MiniLM-L6-v2 query encoder: `encode(texts)` -> L2-normalised float32 vectors.

    Thread-safe; one forward pass at a time (callers batch, see `corpus.batcher`).
    """

    name = "sentence-transformers/all-MiniLM-L6-v2"
    dim = 384

    def __init__(self, model_dir: Path, *, dtype: str | None = None) -> None:
        import tokenizers
        import torch
        from safetensors.torch import load_file

        self.dtype_name = dtype or fast_dtype()
        if self.dtype_name not in ("float32", "bfloat16"):
            raise CorpusError(f"unsupported query encoder dtype {self.dtype_name!r}")
        self._dtype = getattr(torch, self.dtype_name)
        self._tok = tokenizers.Tokenizer.from_file(str(model_dir / "tokenizer.json"))
        self._tok.no_padding()
        self._tok.enable_truncation(MAX_TOKENS)
        w = load_file(str(model_dir / "model.safetensors"))
        self._w = self._prepare(w)
        self._layers = sum(1 for k in w if k.endswith("attention.self.query.weight"))
        self._packed = _prepack(self._w) if self.dtype_name == "bfloat16" else {}
        self._lock = threading.Lock()

    def _prepare(self, w: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        """Weights in the compute dtype, Q, K and V fused into one matrix per layer."""
        import torch

        out: dict[str, torch.Tensor] = {}
        for key, tensor in w.items():
            if ".attention.self." in key:
                continue
            out[key] = tensor.to(self._dtype).contiguous()
        n = 0
        while f"encoder.layer.{n}.attention.self.query.weight" in w:
            p = f"encoder.layer.{n}.attention.self."
            for part in ("weight", "bias"):
                # 1/sqrt(head size) folded into Q (attention runs with scale=1).
                query = w[p + f"query.{part}"] / math.sqrt(self.dim // HEADS)
                out[f"encoder.layer.{n}.qkv.{part}"] = torch.cat(
                    [query, w[p + f"key.{part}"], w[p + f"value.{part}"]]
                ).to(self._dtype).contiguous()
            n += 1
        return out

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> NDArray[np.float32]:
        import numpy as np
        import torch

        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        # One by one: encode_batch fans short queries out to a thread pool that costs
        # more CPU than it saves (and would spin beside the server's worker processes).
        encodings = [self._tok.encode(text) for text in texts]
        parts = []
        step = max(1, batch_size)
        with self._lock, torch.inference_mode():
            for start in range(0, len(encodings), step):
                chunk = encodings[start:start + step]
                ids = torch.tensor([i for e in chunk for i in e.ids], dtype=torch.long)
                parts.append(self._forward(ids, [len(e.ids) for e in chunk]))
        return np.ascontiguousarray(torch.cat(parts).numpy(), dtype=np.float32)

    def _linear(self, x: torch.Tensor, name: str, *, gelu: bool = False) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        bias = self._w[name + ".bias"]
        packed = self._packed.get(name)
        if packed is not None:  # GELU (exact, erf) fused into the matrix product
            act, algorithm = ("gelu", "none") if gelu else ("none", "")
            out: torch.Tensor = torch.ops.mkldnn._linear_pointwise(x, packed, bias, act, [],
                                                                   algorithm)
            return out
        y = F.linear(x, self._w[name + ".weight"], bias)
        return F.gelu(y) if gelu else y

    def _forward(self, ids: torch.Tensor, lengths: list[int]) -> torch.Tensor:
        import torch
        import torch.nn.functional as F

        w = self._w
        batch = len(lengths)
        lens = torch.tensor(lengths)
        positions = torch.cat([torch.arange(n) for n in lengths])
        x = (w["embeddings.word_embeddings.weight"][ids]
             + w["embeddings.position_embeddings.weight"][positions]
             + w["embeddings.token_type_embeddings.weight"][0])
        x = _norm(x, w, "embeddings.LayerNorm")
        groups = _groups(lengths, self._dtype)
        for n in range(self._layers):
            p = f"encoder.layer.{n}."
            qkv = self._linear(x, p + "qkv")
            parts = [_attention(qkv[start:end], bias) for start, end, bias in groups]
            ctx = parts[0] if len(parts) == 1 else torch.cat(parts)
            h = self._linear(ctx, p + "attention.output.dense")
            x = _norm(h + x, w, p + "attention.output.LayerNorm")
            h = self._linear(x, p + "intermediate.dense", gelu=True)
            h = self._linear(h, p + "output.dense")
            x = _norm(h + x, w, p + "output.LayerNorm")
        # Mean pooling over each query's tokens, then unit length.
        segment = torch.repeat_interleave(torch.arange(batch), lens)
        pooled = torch.zeros(batch, x.shape[1]).index_add_(0, segment, x.float())
        pooled /= lens.unsqueeze(1).float()
        return F.normalize(pooled, dim=-1)


def _prepack(w: dict[str, Any]) -> dict[str, Any]:
    """The linear layers' weights reordered once into oneDNN's blocked layout.

    F.linear reorders a bfloat16 weight on every call: a fixed cost that is ~15% of a
    small batch's pass. The ops are the ones torch.compile uses on CPU; where they are
    missing or disagree with F.linear, this returns {} and F.linear does the work.
    """
    import torch
    import torch.nn.functional as F

    try:
        ops = torch.ops.mkldnn
        packed = {key[:-len(".weight")]: ops._reorder_linear_weight(tensor)
                  for key, tensor in w.items()
                  if key.endswith(".weight") and tensor.dim() == 2 and key.startswith(
                      "encoder.")}
        name = next(iter(packed))
        probe = torch.randn(3, w[name + ".weight"].shape[1], dtype=torch.bfloat16)
        got = ops._linear_pointwise(probe, packed[name], w[name + ".bias"], "none", [], "")
        want = F.linear(probe, w[name + ".weight"], w[name + ".bias"])
        if not torch.allclose(got.float(), want.float(), atol=1e-2, rtol=1e-2):
            return {}
    except (AttributeError, RuntimeError, StopIteration):
        return {}
    return packed


def _groups(lengths: list[int], dtype: Any) -> list[tuple[int, int, Any]]:
    """Runs of consecutive queries of about GROUP_TOKENS tokens: (start, end, mask bias).

    Each run attends as one matrix whose block-diagonal bias keeps every query to its
    own tokens: a few batched products instead of hundreds of tiny per-query ones.
    """
    import torch

    out: list[tuple[int, int, Any]] = []
    start = end = 0
    owners: list[int] = []
    for i, n in enumerate(lengths):
        owners.extend([i] * n)
        end += n
        if end - start >= GROUP_TOKENS or i == len(lengths) - 1:
            seg = torch.tensor(owners)
            bias = torch.zeros(len(owners), len(owners), dtype=dtype).masked_fill_(
                seg[:, None] != seg[None, :], float("-inf"))
            out.append((start, end, bias))
            start, owners = end, []
    return out


def _attention(qkv: Any, bias: Any) -> Any:
    """Multi-head self-attention of packed tokens (T, 3 * hidden) under a (T, T) bias."""
    import torch

    tokens = qkv.shape[0]
    q, k, v = qkv.view(tokens, 3, HEADS, -1).permute(1, 2, 0, 3)  # each (heads, T, d)
    scores = torch.baddbmm(bias.expand(HEADS, tokens, tokens), q, k.transpose(1, 2))
    return torch.bmm(scores.softmax(-1), v).transpose(0, 1).reshape(tokens, -1)


def _norm(x: Any, w: dict[str, Any], prefix: str) -> Any:
    import torch.nn.functional as F

    return F.layer_norm(x, (x.shape[-1],), w[prefix + ".weight"], w[prefix + ".bias"], LN_EPS)


