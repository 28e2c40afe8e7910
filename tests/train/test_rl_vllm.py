"""`--vllm colocate|server`: rollouts sample through TRL's vLLM backend, batched, after TRL
has synced the trainer's weights into it. vLLM itself needs a GPU, so a double with the
interface TRL's trainer and our sampler use (VLLMGeneration: mode, llm, vllm_client,
sync_weights) samples with HF generate on its own copy of the weights."""

from __future__ import annotations

import copy
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest

pytest.importorskip("trl", reason="training needs the train extra")

import torch

from sounding.config import ExecutorSettings
from sounding.train.dispatch import Dispatch, EndpointRollouts
from sounding.train.endpoint import PolicyServer
from sounding.train.models import load_tokenizer, make_tiny_model
from sounding.train.rl import RLOptions, run_rl
from sounding.train.rollouts import RLItem, single_turn_rollout
from sounding.train.runtime import LoopThread
from sounding.train.sampling import Sampled


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model",
                           extra_tokens=("<answer>", "</answer>"))


def _weights(model: Any) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


class FakeVLLMGeneration:
    """Built by GRPOTrainer in place of trl's VLLMGeneration (same keyword arguments)."""

    instances: ClassVar[list[FakeVLLMGeneration]] = []

    def __init__(self, model: Any, mode: str = "colocate", temperature: float = 1.0,
                 **kwargs: Any) -> None:
        self.trained, self.mode, self.temperature = model, mode, temperature
        self.engine = copy.deepcopy(model)  # vLLM's own copy of the weights
        self.events: list[tuple[str, int]] = []
        self.synced: list[dict[str, torch.Tensor]] = []
        self.busy = False
        self.llm = types.SimpleNamespace(generate=self._llm_generate)
        self.vllm_client = types.SimpleNamespace(
            generate=self._client_generate,
            get_server_info=lambda: {"model_config": {"logprobs_mode": "processed_logprobs"}})
        FakeVLLMGeneration.instances.append(self)

    def sync_weights(self) -> None:
        assert not self.busy, "weights changed under a batch being sampled"
        self.engine.load_state_dict(self.trained.state_dict())
        self.synced.append(_weights(self.engine))
        self.events.append(("sync", 0))

    def _sample(self, prompts: list[list[int]], limit: int, stop: int
                ) -> list[tuple[list[int], list[float], list[int]]]:
        assert self.synced and all(torch.equal(v, self.synced[-1][k])
                                   for k, v in self.engine.state_dict().items())
        self.busy = True
        self.events.append(("generate", len(prompts)))
        out = []
        try:
            for p in prompts:
                with torch.no_grad():
                    gen = self.engine.generate(
                        torch.tensor([p]), attention_mask=torch.ones(1, len(p), dtype=torch.long),
                        do_sample=True, temperature=self.temperature, top_k=0, top_p=1.0,
                        max_new_tokens=limit, eos_token_id=stop, pad_token_id=stop,
                        output_scores=True, return_dict_in_generate=True)
                ids = gen.sequences[0, len(p):].tolist()
                lps = [torch.log_softmax(s[0].float(), -1) for s in gen.scores]
                out.append((ids, [float(lp[t]) for lp, t in zip(lps, ids, strict=False)],
                            [int(lp.argmax()) for lp in lps]))
        finally:
            self.busy = False
        return out

    def _llm_generate(self, prompts: list[dict[str, Any]], sampling_params: Any,
                      use_tqdm: bool = False) -> list[Any]:
        kw = sampling_params.kwargs
        assert kw["logprobs"] == 0 and kw["n"] == 1
        done = self._sample([p["prompt_token_ids"] for p in prompts], kw["max_tokens"],
                            kw["stop_token_ids"][0])
        return [types.SimpleNamespace(prompt_token_ids=p["prompt_token_ids"], outputs=[
            types.SimpleNamespace(token_ids=ids, logprobs=[
                {t: types.SimpleNamespace(logprob=lp, rank=1)} for t, lp in zip(ids, lps,
                                                                                 strict=True)])])
            for p, (ids, lps, _) in zip(prompts, done, strict=True)]

    def _client_generate(self, prompts: list[list[int]], n: int, max_tokens: int,
                         logprobs: int, generation_kwargs: dict[str, Any], **kw: Any
                         ) -> dict[str, Any]:
        assert n == 1 and logprobs == 0
        done = self._sample(prompts, max_tokens, generation_kwargs["stop_token_ids"][0])
        # As TRL's parse_logprobs gives them: by rank, the top token before the sampled one.
        lp_ids = [[[top, t] if top != t else [t] for t, top in zip(ids, tops, strict=True)]
                  for ids, _, tops in done]
        lps = [[[0.0, lp] if len(r) == 2 else [lp] for r, lp in zip(rows, lp_list, strict=True)]
               for rows, (_, lp_list, _) in zip(lp_ids, done, strict=True)]
        return {"prompt_ids": prompts, "completion_ids": [ids for ids, _, _ in done],
                "logprobs": lps, "logprob_token_ids": lp_ids}


@pytest.fixture
def fake_vllm(monkeypatch: pytest.MonkeyPatch) -> type[FakeVLLMGeneration]:
    from trl.trainer import grpo_trainer

    class SamplingParams:
        def __init__(self, **kwargs: Any) -> None:
            self.kwargs = kwargs

    monkeypatch.setattr(grpo_trainer, "VLLMGeneration", FakeVLLMGeneration)
    monkeypatch.setitem(sys.modules, "vllm", types.SimpleNamespace(SamplingParams=SamplingParams))
    FakeVLLMGeneration.instances = []
    return FakeVLLMGeneration


@pytest.mark.parametrize("mode", ["colocate", "server"])
def test_rollouts_sample_through_trls_vllm_after_each_weight_sync(
        fake_vllm: type[FakeVLLMGeneration], tiny_model: Path, tmp_path: Path,
        mode: str) -> None:
    items = [RLItem("say red", "red")]
    opts = RLOptions(group=4, prompts_per_step=1, steps=2, max_new_tokens=4,
                     learning_rate=1e-2, report_to=(), save_steps=100,
                     drop_zero_variance=False, vllm=mode)

    def make(policy: Any, tok: Any) -> Any:
        turn, calls = single_turn_rollout(policy), iter(range(100))

        async def graded_apart(item: RLItem) -> Any:  # rewards that differ: a gradient
            traj = await turn(item)
            traj.answer = "red" if next(calls) % 2 else "blue"
            return traj

        return graded_apart

    engine = run_rl(items, tiny_model, tmp_path / "o", opts, make)
    (gen,) = fake_vllm.instances
    assert gen.mode == mode
    # Each step: TRL syncs the weights, then the group's 4 rollouts sample as one batch.
    assert gen.events == [("sync", 0), ("generate", 4), ("sync", 0), ("generate", 4)]
    first, second = gen.synced
    assert any(not torch.equal(first[k], second[k]) for k in first)  # step 1's update went in
    lps = [lp for row in engine.last_batch["logprobs"] for lp in row]
    assert lps and all(lp < 0.0 for lp in lps)  # the sampled tokens' own, not the top one's


def per_step(events: list[tuple[str, int]]) -> list[int]:
    """Prompts sampled after each weight sync (each must come after one)."""
    assert events and events[0][0] == "sync"
    steps: list[int] = []
    for kind, n in events:
        if kind == "sync":
            steps.append(0)
        else:
            steps[-1] += n
    return steps


class EngineSampler:
    """A stand-in for the vLLM server's engine: samples the fake's synced weights."""

    max_batch = 64

    def __init__(self, end: int) -> None:
        self.end = end

    def generate(self, prompts: Any, max_tokens: int) -> list[Sampled]:
        (gen,) = FakeVLLMGeneration.instances
        return [Sampled(ids, lps) for ids, lps, _ in gen._sample(
            [list(p) for p in prompts], max_tokens, self.end)]


@pytest.mark.parametrize("mode", ["colocate", "server"])
def test_executor_rollouts_reach_vllm_over_http(fake_vllm: type[FakeVLLMGeneration],
                                                tiny_model: Path, tmp_path: Path,
                                                mode: str) -> None:
    """Colocated: the trainer serves TRL's vLLM on loopback; server: the workers go to the
    vLLM server itself (here a stand-in in vLLM's wire format over the synced weights)."""
    tok = load_tokenizer(tiny_model)
    loop, server = LoopThread(), PolicyServer(EngineSampler(tok.special_id("<|im_end|>")))
    url = loop.run(server.start())
    opts = RLOptions(group=4, prompts_per_step=1, steps=2, max_new_tokens=3, report_to=(),
                     save_steps=100, drop_zero_variance=False, vllm=mode, vllm_url=url)
    how = Dispatch(EndpointRollouts(tiny_model), ExecutorSettings(worker_concurrency=4))
    try:
        engine = run_rl([RLItem("say red", "red")], tiny_model, tmp_path / "o", opts, how)
    finally:
        loop.run(server.aclose())
        loop.close()
    (gen,) = fake_vllm.instances
    assert per_step(gen.events) == [4, 4]
    assert (server.requests > 0) == (mode == "server")
    assert all(lp < 0.0 for row in engine.last_batch["logprobs"] for lp in row)
