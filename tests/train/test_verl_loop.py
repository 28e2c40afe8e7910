"""The verl agent loop through verl's own registry, server client and `AgentLoopWorker`, on CPU:
the replica behind verl's `LLMServerClient` is a scripted token server (token ids in, token ids
and log-probs out), the model a tiny Qwen3 config with the tiny tokenizer."""

from __future__ import annotations

import asyncio
import json
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("transformers", reason="the verl loop needs the train extra")
pytest.importorskip("verl", reason="verl is not installed (the verl extra: pip install "
                    "-e '.[verl]'); the agent loop runs only inside verl")

import pandas as pd
from omegaconf import DictConfig, OmegaConf

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)  # Ray's deprecated state API
    import hydra
    import verl
    from verl.experimental.agent_loop.agent_loop import (
        AgentLoopOutput,
        AgentLoopWorker,
        DictConfigWrap,
        ToolListWrap,
        _agent_loop_registry,
    )
    from verl.protocol import DataProto
    from verl.utils.dataset.rl_dataset import RLHFDataset, collate_fn
    from verl.workers.rollout.llm_server import LLMServerClient
    from verl.workers.rollout.replica import TokenOutput

from sounding.errors import ConfigError
from sounding.llm.base import ChatRequest
from sounding.train.rollouts import RLItem
from sounding.train.samples import render_prompt
from sounding.train.tokenizers import HFTokenizer, tiny_hf_tokenizer
from sounding.train.verl_loop import (
    SoundingAgentLoop,
    TokenRecord,
    TokenServerChatModel,
    verl_rows,
)
from sounding.types import Message

CALL = json.dumps({"name": "search", "arguments": {"query": ["Vienna river"]}})
SEARCH = f"<think>search</think>\n<tool_call>\n{CALL}\n</tool_call>"
ANSWER = "<think>found</think>\n<answer>Danube</answer>"
QUESTION = [{"role": "user", "content": "Which river is in Vienna?"}]


class _Remote:
    """A Ray actor method as verl calls it (`.remote(...)` gives an awaitable), answered at
    once: verl's client code runs unchanged, without a Ray cluster."""

    def __init__(self, fn: Callable[..., Any]) -> None:
        self.fn = fn

    def remote(self, *args: Any, **kwargs: Any) -> asyncio.Future[Any]:
        done = asyncio.get_running_loop().create_future()
        done.set_result(self.fn(*args, **kwargs))
        return done


class ScriptedReplica:
    """A rollout replica's `generate`: each call samples the next scripted reply's tokens
    (ended by `<|im_end|>`, cut at `max_tokens`) with log-probs -0.01, -0.02, ..."""

    def __init__(self, tok: HFTokenizer, replies: list[str] | Callable[[str], str]) -> None:
        self.tok = tok
        script = list(replies) if isinstance(replies, list) else []
        self.reply = replies if callable(replies) else lambda _: script.pop(0)
        self.calls: list[dict[str, Any]] = []

        def generate(*, request_id: str, prompt_ids: list[int], sampling_params: dict[str, Any],
                     image_data: Any = None, video_data: Any = None,
                     **kwargs: Any) -> TokenOutput:
            self.calls.append({"prompt_ids": list(prompt_ids), "params": dict(sampling_params),
                               **kwargs})
            reply = self.reply(tok.decode(prompt_ids))
            ids = [*tok.encode(reply), tok.special_id("<|im_end|>")]
            ids = ids[:sampling_params["max_tokens"]]
            return TokenOutput(token_ids=ids, log_probs=[-0.01 * (k + 1) for k in range(len(ids))],
                               stop_reason="completed", extra_fields={"global_steps": 7})

        self.generate = _Remote(generate)


class LoadBalancer:
    """verl's global load balancer: one replica; remembers which request ids asked."""

    def __init__(self, replica: ScriptedReplica) -> None:
        self.request_ids: list[str] = []
        self.require_acquire_fields = _Remote(lambda: [])
        self.require_release_fields = _Remote(lambda: ["request_id"])
        self.acquire_server = _Remote(self._acquire)
        self.release_server = _Remote(lambda **_: None)
        self.replica = replica

    def _acquire(self, *, request_id: str) -> tuple[str, ScriptedReplica]:
        self.request_ids.append(request_id)
        return "replica-0", self.replica


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny Qwen3 config and the tiny tokenizer, where verl's model config reads them."""
    from transformers import Qwen3Config

    path = tmp_path_factory.mktemp("tiny-qwen3")
    tok = tiny_hf_tokenizer(["<answer>", "</answer>"])
    tok.save_pretrained(path)
    Qwen3Config(vocab_size=len(tok), hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                num_attention_heads=2, num_key_value_heads=1, head_dim=8,
                architectures=["Qwen3ForCausalLM"]).save_pretrained(path)
    return path


@pytest.fixture
def verl_config(model_dir: Path, vital_cache: Path, tmp_path: Path) -> DictConfig:
    """verl 0.9's full PPO trainer config, the agent loop named in an agent-loop file."""
    loops = [{"name": "sounding_agent", "_target_": "sounding.train.verl_loop.SoundingAgentLoop",
              "overrides": {"cache_dir": str(vital_cache), "budgets.max_rounds": 5}}]
    (tmp_path / "agent_loops.yaml").write_text(OmegaConf.to_yaml(loops))
    cfg = OmegaConf.load(Path(verl.__file__).parent / "trainer/config/_generated_ppo_trainer.yaml")
    cfg.actor_rollout_ref.model.path = str(model_dir)
    cfg.actor_rollout_ref.rollout.name = "vllm"
    cfg.actor_rollout_ref.rollout.agent.agent_loop_config_path = str(tmp_path / "agent_loops.yaml")
    cfg.actor_rollout_ref.rollout.agent.default_agent_loop = "sounding_agent"
    cfg.data.max_prompt_length, cfg.data.max_response_length = 4096, 16384
    return cfg


@pytest.fixture
def worker(verl_config: DictConfig) -> Iterator[AgentLoopWorker]:
    """verl's worker (plain class; verl wraps it in a Ray actor), its loop registry loaded."""
    saved = dict(_agent_loop_registry)
    yield AgentLoopWorker(verl_config, llm_client=None)
    _agent_loop_registry.clear()
    _agent_loop_registry.update(saved)


def client(cfg: DictConfig, tok: HFTokenizer, replies: list[str] | Callable[[str], str]
           ) -> tuple[LLMServerClient, LoadBalancer]:
    balancer = LoadBalancer(ScriptedReplica(tok, replies))
    return LLMServerClient(cfg, balancer), balancer


def instantiate(worker: AgentLoopWorker, server: Any) -> SoundingAgentLoop:
    """The agent loop by name, as `AgentLoopWorker._run_agent_loop` builds it."""
    loop = hydra.utils.instantiate(
        config=_agent_loop_registry["sounding_agent"], trainer_config=DictConfigWrap(worker.config),
        server_manager=server, tokenizer=worker.tokenizer, processor=worker.processor,
        hf_model_type=worker.hf_model_type, dataset_cls=worker.dataset_cls,
        data_config=DictConfigWrap(worker.config.data), tools=ToolListWrap(worker.tools))
    assert isinstance(loop, SoundingAgentLoop)
    return loop


def spans(out: AgentLoopOutput | TokenRecord, tok: HFTokenizer, trained: int) -> str:
    return tok.decode([t for t, m in zip(out.response_ids, out.response_mask, strict=True)
                       if m == trained])


async def test_registry_loop_masks_observations_and_grades(worker: AgentLoopWorker) -> None:
    tok = HFTokenizer(worker.tokenizer)
    server, balancer = client(worker.config, tok, [SEARCH, ANSWER])
    loop = instantiate(worker, server)
    assert loop.settings.budgets.max_rounds == 5  # the agent-loop file's overrides
    out = await loop.run(
        {"temperature": 1.0, "logprobs": True}, raw_prompt=QUESTION, priority=3,
        reward_model={"ground_truth": "Danube"}, extra_info={"index": 0})
    calls = balancer.replica.calls
    assert out.reward_score == 1.0
    assert len(set(balancer.request_ids)) == 1 and len(calls) == 2  # one sticky rollout
    assert calls[0]["priority"] == 3
    assert out.prompt_ids == calls[0]["prompt_ids"]
    assert tok.decode(out.prompt_ids).endswith("Which river is in Vienna?<|im_end|>\n"
                                               "<|im_start|>assistant\n")
    # The trained tokens are the two replies as sampled; the rest is the observation.
    assert spans(out, tok, 1) == f"{SEARCH}<|im_end|>{ANSWER}<|im_end|>"
    untrained = spans(out, tok, 0)
    assert untrained.startswith("\n<|im_start|>user\n<tool_response>")
    assert untrained.endswith("</tool_response><|im_end|>\n<|im_start|>assistant\n")
    # The second prompt is the first plus the sampled reply and the observation, token for
    # token: what the policy saw is what the trainer gets.
    second = calls[1]["prompt_ids"]
    assert second == out.prompt_ids + out.response_ids[:len(second) - len(out.prompt_ids)]
    assert out.response_ids[-1] == tok.special_id("<|im_end|>")
    assert out.response_logprobs is not None
    assert len(out.response_logprobs) == len(out.response_ids)
    trained = [lp for lp, m in zip(out.response_logprobs, out.response_mask, strict=True) if m]
    n_first = len(tok.encode(SEARCH)) + 1
    assert trained[:2] == [-0.01, -0.02] and trained[n_first] == -0.01
    assert all(lp == 0.0 for lp, m in zip(out.response_logprobs, out.response_mask,
                                          strict=True) if not m)
    # Each turn may sample what is left of rollout.response_length.
    assert calls[0]["params"]["max_tokens"] == 10_000  # the turn limit, settings.sampling
    used = len(second) - len(out.prompt_ids)
    assert calls[1]["params"]["max_tokens"] == min(10_000, 16384 - used)
    assert out.num_turns == 4  # question, call, observation, answer
    assert out.extra_fields["termination"] == "answer"
    assert out.extra_fields["min_global_steps"] == out.extra_fields["max_global_steps"] == 7
    assert out.metrics.generate_sequences > 0


async def test_a_reply_asked_again_leaves_the_sequence(worker: AgentLoopWorker) -> None:
    tok = HFTokenizer(worker.tokenizer)
    server, balancer = client(worker.config, tok, ["<think>hmm</think>", ANSWER])
    out = await instantiate(worker, server).run(
        {"logprobs": True}, raw_prompt=QUESTION, reward_model={"ground_truth": "Danube"})
    first, second = (c["prompt_ids"] for c in balancer.replica.calls)
    assert first == second == out.prompt_ids  # the same turn, asked again
    assert out.response_ids == [*tok.encode(ANSWER), tok.special_id("<|im_end|>")]
    assert set(out.response_mask) == {1} and out.reward_score == 1.0
    assert out.num_turns == 2


async def test_calls_for_other_purposes_stay_out_of_the_sequence(
        worker: AgentLoopWorker) -> None:
    """A tool's extraction call served by the policy (no `[summary]` model) is not a turn."""
    tok = HFTokenizer(worker.tokenizer)
    server, balancer = client(worker.config, tok, ["page summary", ANSWER])
    model = TokenServerChatModel(server, tok, {}, prompt_length=4096, response_length=16384)
    question = [Message("user", "Which river is in Vienna?")]
    aside = await model.complete(ChatRequest([Message("user", "Summarise: ...")],
                                             purpose="extract"))
    assert aside.text == "page summary" and model.record.prompt_ids == []
    turn = await model.complete(ChatRequest(question))
    assert turn.text == ANSWER
    assert model.record.prompt_ids == render_prompt(tok, question)
    assert spans(model.record, tok, 1) == f"{ANSWER}<|im_end|>"
    assert len(set(balancer.request_ids)) == 2  # the aside is a request of its own


@pytest.mark.parametrize("exclude", [True, False])
async def test_response_length_ends_the_rollout(worker: AgentLoopWorker, exclude: bool) -> None:
    tok = HFTokenizer(worker.tokenizer)
    worker.config.actor_rollout_ref.rollout.response_length = 40
    _agent_loop_registry["sounding_agent"]["exclude_overlong_negatives"] = exclude
    server, balancer = client(worker.config, tok, [SEARCH, ANSWER])
    out = await instantiate(worker, server).run(
        {"logprobs": True}, raw_prompt=QUESTION, reward_model={"ground_truth": "Danube"})
    # The first reply is cut at 40 tokens; the run ends there, unanswered, no observation.
    assert len(balancer.replica.calls) == 1
    assert out.response_ids == tok.encode(SEARCH)[:40]
    assert out.reward_score == 0.0 and out.extra_fields["overlong"] is True
    assert out.num_turns == 2
    # A wrong rollout cut by the limit counts in the group's baseline, not in the loss.
    assert set(out.response_mask) == ({0} if exclude else {1})


async def test_a_prompt_longer_than_prompt_length_is_refused(worker: AgentLoopWorker) -> None:
    worker.config.actor_rollout_ref.rollout.prompt_length = 64
    server, _ = client(worker.config, HFTokenizer(worker.tokenizer), [ANSWER])
    with pytest.raises(ConfigError, match=r"data\.max_prompt_length"):
        await instantiate(worker, server).run({}, raw_prompt=QUESTION,
                                              reward_model={"ground_truth": "Danube"})


async def test_only_a_growing_context_is_offered(worker: AgentLoopWorker) -> None:
    _agent_loop_registry["sounding_agent"]["overrides"]["mode"] = "iter"
    with pytest.raises(hydra.errors.InstantiationException, match=r"ConfigError.*mode = react"):
        instantiate(worker, None)


async def test_agent_loop_worker_batches_the_rollouts(worker: AgentLoopWorker,
                                                      tmp_path: Path) -> None:
    """verl's own plumbing: rows written by `verl_rows`, read by verl's dataset and collated
    as its trainer does, the agent chosen by `default_agent_loop`, prompts and responses
    padded, the masks kept and the reward placed on the last response token."""
    tok = HFTokenizer(worker.tokenizer)

    def script(prompt: str) -> str:  # Vienna: search, then answer; Basel: a wrong guess
        if "Basel" in prompt:
            return "<answer>Rhine</answer>"
        return ANSWER if "<tool_response>" in prompt else SEARCH

    worker.llm_client, balancer = client(worker.config, tok, script)
    items = [RLItem("Which river is in Vienna?", "Danube", ("Donau",)),
             RLItem("Which river is in Basel?", "Danube")]
    pd.DataFrame(verl_rows(items)).to_parquet(tmp_path / "rl.parquet")
    data = RLHFDataset([str(tmp_path / "rl.parquet")], worker.tokenizer, worker.config.data)
    batch = DataProto.from_single_dict(collate_fn([data[0], data[1]]))
    out = await worker.generate_sequences(batch)
    assert len(set(balancer.request_ids)) == 2
    cfg, rows = worker.config.actor_rollout_ref.rollout, len(items)
    assert out.batch["prompts"].shape == (rows, cfg.prompt_length)
    assert out.batch["responses"].shape == (rows, cfg.response_length)
    assert out.batch["rollout_log_probs"].shape == (rows, cfg.response_length)
    scores = out.batch["rm_scores"].sum(-1).tolist()
    assert scores == [1.0, 0.0]
    for i in range(rows):
        mask = out.batch["response_mask"][i]
        attended = int(out.batch["attention_mask"][i, cfg.prompt_length:].sum())
        last = attended - 1
        assert out.batch["rm_scores"][i, last] == scores[i]
        assert mask[last] == 1 and not mask[attended:].any()
    trained = [tok.decode(r[m.bool()].tolist())
               for r, m in zip(out.batch["responses"], out.batch["response_mask"], strict=True)]
    assert trained == [f"{SEARCH}<|im_end|>{ANSWER}<|im_end|>", "<answer>Rhine</answer><|im_end|>"]
    assert out.non_tensor_batch["__num_turns__"].tolist() == [4, 2]
