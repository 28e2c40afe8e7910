"""`sounding train sft` end to end on CPU: a tiny Qwen3, assistant-only loss, buckets,
checkpoints, resume and TensorBoard logs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("trl", reason="training needs the train extra")

from sounding.cli.train import app
from sounding.train.models import make_tiny_model

WORDS = ["red", "blue", "green", "black"]


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model",
                           extra_tokens=("<answer>", "</answer>"))


def write_data(path: Path) -> Path:
    rows = [{"messages": [{"role": "system", "content": "Answer in tags."},
                          {"role": "user", "content": f"say {w}"},
                          {"role": "assistant", "content": f"<answer>{w}</answer>"}]}
            for w in WORDS * 10]
    # Long rows: only the second bucket takes them.
    rows += [{"messages": [{"role": "user", "content": f"{'x' * 150} say {w}"},
                           {"role": "assistant", "content": f"<answer>{w}</answer>"}]}
             for w in WORDS * 2]
    path.write_text("\n".join(json.dumps(r) for r in rows))
    return path


@pytest.mark.slow
def test_sft_trains_resumes_and_logs(tiny_model: Path, tmp_path: Path) -> None:
    data = write_data(tmp_path / "sft.jsonl")
    out = tmp_path / "out"
    args = ["sft", str(data), "--model", str(tiny_model), "--out", str(out), "--buckets",
            "96,512", "--epochs", "3", "--lr", "3e-3", "--batch-size", "8",
            "--save-steps", "5", "--logging-steps", "2"]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    first, last = (float(v) for v in result.output.split("loss ")[1].split(";")[0].split(" -> "))
    assert last < first
    assert (out / "final" / "model.safetensors").exists()
    assert (out / "bucket-0-96" / "done").exists() and (out / "bucket-1-512" / "done").exists()
    assert list((out / "bucket-0-96").glob("checkpoint-*"))
    assert list((out / "bucket-0-96").rglob("events.out.tfevents.*"))
    again = CliRunner().invoke(app, args)  # every bucket done: nothing left to train
    assert again.exit_code == 0 and "loss" not in again.output


def test_sft_lora_saves_an_adapter(tiny_model: Path, tmp_path: Path) -> None:
    pytest.importorskip("peft")
    data = write_data(tmp_path / "sft.jsonl")
    out = tmp_path / "lora"
    result = CliRunner().invoke(app, ["sft", str(data), "--model", str(tiny_model), "--out",
                                      str(out), "--buckets", "96", "--lora", "--lora-rank",
                                      "4", "--max-steps", "2", "--save-steps", "100"])
    assert result.exit_code == 0, result.output
    assert (out / "final" / "adapter_config.json").exists()


def test_bad_buckets_are_refused(tiny_model: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["sft", str(tmp_path), "--model", str(tiny_model),
                                      "--out", str(tmp_path / "o"), "--buckets", "a,b"])
    assert result.exit_code == 2 and "--buckets" in result.output
