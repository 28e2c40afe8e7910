"""Supervised fine-tuning with TRL's SFTTrainer on our masks, in sequence-length buckets."""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from .data import load_samples
from .models import load_model, load_tokenizer
from .samples import Sample

__all__ = ["SFTOptions", "bucketize", "run_sft"]


@dataclass(slots=True)
class SFTOptions:
    """Every `sounding train sft` option (see docs/training.md)."""

    buckets: Sequence[int] = (40960, 131072)
    epochs: float = 1.0
    learning_rate: float = 1e-5
    batch_size: int = 1
    grad_accum: int = 1
    lora: bool = False
    lora_rank: int = 16
    lora_alpha: int = 32
    save_steps: int = 500
    logging_steps: int = 10
    report_to: tuple[str, ...] = ("tensorboard",)
    max_steps: int = -1
    seed: int = 0
    extra: dict[str, Any] = field(default_factory=dict)


def bucketize(samples: Sequence[Sample], buckets: Sequence[int]) -> list[list[Sample]]:
    """Each sample in the first bucket it fits; longer than the last bucket: dropped.

    The recipe trains the short bucket first (40k), then continues on the long one (128k)."""
    out: list[list[Sample]] = [[] for _ in buckets]
    for s in samples:
        for i, limit in enumerate(sorted(buckets)):
            if len(s.input_ids) <= limit:
                out[i].append(s)
                break
    return out


def _dataset(samples: Sequence[Sample]) -> Any:
    from datasets import Dataset

    return Dataset.from_dict({"input_ids": [s.input_ids for s in samples],
                              "assistant_masks": [s.loss_mask for s in samples]})


def _config(out: Path, max_length: int, opts: SFTOptions) -> Any:
    import torch
    from trl import SFTConfig  # type: ignore[attr-defined]

    # TRL defaults to bf16, which a CPU cannot do; the GPU path keeps it.
    gpu = torch.cuda.is_available()
    return SFTConfig(bf16=gpu, dataloader_pin_memory=gpu,
                     output_dir=str(out), max_length=max_length, num_train_epochs=opts.epochs,
                     max_steps=opts.max_steps, learning_rate=opts.learning_rate,
                     per_device_train_batch_size=opts.batch_size,
                     gradient_accumulation_steps=opts.grad_accum,
                     logging_steps=opts.logging_steps, save_steps=opts.save_steps,
                     report_to=list(opts.report_to), seed=opts.seed,
                     **opts.extra)


def _peft(opts: SFTOptions) -> Any:
    if not opts.lora:
        return None
    from peft import LoraConfig

    return LoraConfig(r=opts.lora_rank, lora_alpha=opts.lora_alpha, task_type="CAUSAL_LM",
                      target_modules="all-linear")


def _has_checkpoint(stage_dir: Path) -> bool:
    return any(stage_dir.glob("checkpoint-*"))


def run_sft(data: Path, model_path: Path, out: Path, opts: SFTOptions,
            callbacks: Sequence[Any] = ()) -> list[dict[str, float]]:
    """Train each length bucket in turn; a finished bucket is skipped on a rerun and an
    interrupted one resumes from its last checkpoint. Returns each bucket's log history."""
    from trl import SFTTrainer  # type: ignore[attr-defined]

    tok = load_tokenizer(model_path)
    samples = load_samples(tok, data)
    if not samples:
        raise ConfigError(f"no sample in {data} has an assistant turn to train")
    model: Any = load_model(model_path)
    histories: list[dict[str, float]] = []
    for i, (limit, bucket) in enumerate(zip(sorted(opts.buckets), bucketize(
            samples, opts.buckets), strict=True)):
        stage = out / f"bucket-{i}-{limit}"
        if not bucket or (stage / "done").exists():
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", FutureWarning)  # TRL uses renamed transformers APIs
            trainer = SFTTrainer(model=model, args=_config(stage, limit, opts),
                                 train_dataset=_dataset(bucket), processing_class=tok.tok,
                                 peft_config=_peft(opts) if i == 0 or not opts.lora else None,
                                 callbacks=list(callbacks))
            for cb in callbacks:
                if hasattr(cb, "trainer"):
                    cb.trainer = trainer
            trainer.train(resume_from_checkpoint=_has_checkpoint(stage) or None)
        model = trainer.model
        trainer.save_model(str(out / "final"))
        tok.tok.save_pretrained(out / "final")
        (stage / "done").write_text("ok\n")
        histories.extend(trainer.state.log_history)
    return histories
