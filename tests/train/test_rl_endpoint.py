"""The policy over the network: the trainer's policy served in vLLM's completions format, the
one client rollout workers use, and `train rl` runs whose rollouts go through it."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import aiohttp
import pytest

pytest.importorskip("trl", reason="training needs the train extra")

from sounding.config import ExecutorSettings
from sounding.llm.base import ChatRequest
from sounding.train.dispatch import Dispatch, EndpointRollouts
from sounding.train.endpoint import EndpointChatModel, PolicyServer
from sounding.train.models import load_model, load_tokenizer, make_tiny_model
from sounding.train.rl import RLOptions, run_rl
from sounding.train.rollouts import RLItem
from sounding.train.samples import render_prompt
from sounding.train.sampling import HFSampler
from sounding.types import Message


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model",
                           extra_tokens=("<answer>", "</answer>"))


def teacher_forced(model: Any, prompt: list[int], ids: list[int]) -> list[float]:
    """The model's log-probability of each of `ids` after `prompt`, in one forward pass."""
    import torch

    with torch.no_grad():
        logits = model(torch.tensor([prompt + ids])).logits[0].float()
    lps = torch.log_softmax(logits[len(prompt) - 1:-1], -1)
    return [float(lps[i, t]) for i, t in enumerate(ids)]


async def test_the_endpoint_serves_the_policy_in_vllms_format(tiny_model: Path) -> None:
    """Raw wire format first (what TRL's VLLMClient parses), then the client: the sampled
    ids, the prompt ids and log-probs that the policy itself gives those ids."""
    tok, model = load_tokenizer(tiny_model), load_model(tiny_model)
    end = tok.special_id("<|im_end|>")
    server = PolicyServer(HFSampler(lambda: model, end), tok=tok)
    url = await server.start()
    prompt = render_prompt(tok, [Message("user", "say red")])
    try:
        async with aiohttp.ClientSession() as http:
            async with http.get(f"{url}/health") as resp:
                assert resp.status == 200
            async with http.post(f"{url}/v1/completions", json={
                    "model": "policy", "prompt": [prompt, prompt], "n": 2, "max_tokens": 5,
                    "logprobs": 0, "return_token_ids": True,
                    "return_tokens_as_token_ids": True}) as resp:
                body = await resp.json()
        choices = body["choices"]
        assert len(choices) == 4 and all(c["prompt_token_ids"] == prompt for c in choices)
        for c in choices:
            assert len(c["token_ids"]) == len(c["logprobs"]["token_logprobs"]) <= 5
            assert c["logprobs"]["tokens"] == [f"token_id:{t}" for t in c["token_ids"]]
        client = EndpointChatModel(url, tok, max_new_tokens=6)
        await client.wait_ready()
        done = await asyncio.gather(*(client.complete(ChatRequest([Message("user", "say red")]))
                                      for _ in range(3)))
        await client.aclose()
    finally:
        await server.aclose()
    for c in done:
        assert list(c.prompt_token_ids or ()) == prompt
        ids = list(c.token_ids or ())
        assert ids and tok.decode([t for t in ids if t != end]) == c.text
        assert c.logprobs == pytest.approx(teacher_forced(model, prompt, ids), abs=1e-3)
    assert server.batcher.batches and max(server.batcher.batches) <= 1  # HF: one at a time


def rl_options(**kw: Any) -> RLOptions:
    base: dict[str, Any] = {"group": 2, "prompts_per_step": 2, "steps": 2, "max_new_tokens": 4,
                            "learning_rate": 1e-3, "report_to": (), "save_steps": 100,
                            "drop_zero_variance": False}
    return RLOptions(**{**base, **kw})


def check_batch(engine: Any, tok: Any) -> None:
    """The trainer got sampled tokens with real log-probs behind ChatML prompts."""
    batch = engine.last_batch
    assert len(batch["prompt_ids"]) == 4
    assert all(tok.decode(p).startswith("<|im_start|>user\nsay ") for p in batch["prompt_ids"])
    lps = [lp for row in batch["logprobs"] for lp in row]
    assert all(lp <= 0.0 for lp in lps) and any(lp < 0.0 for lp in lps)
    assert all(len(c) == len(lp) == len(m) for c, lp, m in zip(
        batch["completion_ids"], batch["logprobs"], batch["env_mask"], strict=True))


def test_rl_rollouts_through_the_endpoint_on_the_local_executor(tiny_model: Path,
                                                                tmp_path: Path) -> None:
    items = [RLItem("say red", "red"), RLItem("say blue", "blue")]
    how = Dispatch(EndpointRollouts(tiny_model), ExecutorSettings(worker_concurrency=4))
    engine = run_rl(items, tiny_model, tmp_path / "o", rl_options(), how)
    assert len(engine.mean_rewards) == 2
    assert engine.executor_stats is not None and engine.executor_stats.done == 8
    check_batch(engine, load_tokenizer(tiny_model))
    assert (tmp_path / "o" / "final" / "model.safetensors").exists()


@pytest.mark.ray
def test_rl_rollouts_on_ray_workers(ray_cluster: str, tiny_model: Path,
                                    tmp_path: Path) -> None:
    """Two worker actors roll out against the trainer's policy endpoint; the driver grades
    and trains on what they return."""
    items = [RLItem("say red", "red"), RLItem("say blue", "blue")]
    how = Dispatch(EndpointRollouts(tiny_model),
                   ExecutorSettings(kind="ray", workers=2, worker_concurrency=2))
    engine = run_rl(items, tiny_model, tmp_path / "o", rl_options(steps=1), how)
    assert len(engine.mean_rewards) == 1
    stats = engine.executor_stats
    assert stats is not None and stats.done == 4 and len(stats.workers) == 2
    assert stats.lost_workers == 0 and all(w.done for w in stats.workers)  # both took some
    check_batch(engine, load_tokenizer(tiny_model))


def test_rl_cli_through_the_executor_flags(tiny_model: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sounding.cli.train import app

    rows = [{"prompt": f"say {w}", "answer": w} for w in ("red", "blue")]
    (tmp_path / "rl.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    result = CliRunner().invoke(app, [
        "rl", str(tmp_path / "rl.jsonl"), "--model", str(tiny_model), "--out",
        str(tmp_path / "out"), "--mode", "single", "--group", "2", "--prompts-per-step", "2",
        "--steps", "1", "--max-new-tokens", "3", "--executor", "local",
        "--worker-concurrency", "3"])
    assert result.exit_code == 0, result.output
    assert (tmp_path / "out" / "final" / "model.safetensors").exists()


def test_rl_cli_refuses_an_unknown_sampler(tiny_model: Path, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from sounding.cli.train import app

    result = CliRunner().invoke(app, ["rl", str(tmp_path), "--model", str(tiny_model),
                                      "--out", str(tmp_path), "--vllm", "sglang"])
    assert result.exit_code == 2 and "--vllm" in result.output


def test_rl_takes_the_executor_from_sounding_toml_and_flags_over_it(tmp_path: Path) -> None:
    from sounding.cli._executor import executor_flags
    from sounding.cli.train import _dispatch

    toml = tmp_path / "sounding.toml"
    toml.write_text('[executor]\nkind = "ray"\nworkers = 3\nworker_concurrency = 5\n')
    how = _dispatch(tmp_path, "react", 2, "127.0.0.1",
                    executor_flags(None, None, None, 7), toml)
    assert (how.executor.kind, how.executor.workers, how.executor.worker_concurrency) == (
        "ray", 3, 7)
    assert how.recipe.settings is not None and how.recipe.settings.mode == "react"
    single = _dispatch(tmp_path, "single", 2, "0.0.0.0",
                       executor_flags("local", None, None, None), toml)
    assert single.executor.kind == "local" and single.recipe.settings is None
