"""RL: the rollout engine's fields, and `sounding train rl` end to end on CPU through
Sounding's own loop and through a single turn."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

pytest.importorskip("trl", reason="training needs the train extra")

from sounding.agent import arun
from sounding.cli.train import app
from sounding.config import Settings
from sounding.eval.judges import build_judge
from sounding.train.groups import rollout_tokens
from sounding.train.models import load_model, load_tokenizer, make_tiny_model
from sounding.train.policy import PolicyChatModel
from sounding.train.rl import RLOptions, RolloutEngine
from sounding.train.rollouts import RLItem, single_turn_rollout
from tests.agent._mode_fakes import configure, fixed_env


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_tiny_model(tmp_path_factory.mktemp("tiny") / "model",
                           extra_tokens=("<answer>", "</answer>"))


async def test_agent_loop_rollout_masks_observations(tiny_model: Path,
                                                     settings: Settings) -> None:
    """The policy adapter drives Sounding's loop; the completion's mask is 1 exactly on the
    policy's sampled tokens, which are recorded with their log-probs."""
    tok, model = load_tokenizer(tiny_model), load_model(tiny_model)
    policy = PolicyChatModel(lambda: model, tok, max_new_tokens=12)
    cfg = configure(settings, "react", **{"budgets.max_rounds": 2})
    traj = await arun("Which colour is the sky?", cfg, model=policy,
                      environment=fixed_env(200), strict=False)
    calls = traj.model_calls
    assert calls and all(c.token_ids and c.logprobs and c.prompt_token_ids for c in calls)
    rt = rollout_tokens(tok, traj)
    assert rt.prompt_ids == list(calls[0].prompt_token_ids or ())
    trained = [t for t, m in zip(rt.completion_ids, rt.env_mask, strict=True) if m]
    kept = {m.content.strip() for m in traj.messages if m.role == "assistant"}
    sampled = [t for c in calls if c.output.strip() in kept for t in (c.token_ids or ())]
    end = tok.special_id("<|im_end|>")
    assert [t for t in trained if t != end] == [t for t in sampled if t != end]
    assert all(lp <= 0.0 for lp in rt.logprobs)


async def test_engine_drops_agreeing_groups_and_scales_for_leave_one_out(
        tiny_model: Path) -> None:
    tok, model = load_tokenizer(tiny_model), load_model(tiny_model)
    items = [RLItem("say red", "red"), RLItem("say blue", "blue")]
    answers = iter(["red", "no", "red", "red", "blue", "blue", "blue", "blue"])

    async def scripted(item: RLItem) -> object:
        traj = await single_turn_rollout(PolicyChatModel(lambda: model, tok,
                                                         max_new_tokens=3))(item)
        traj.answer = next(answers)
        return traj

    engine = RolloutEngine(tok, items, scripted, build_judge("exact"),  # type: ignore[arg-type]
                           RLOptions(group=4), concurrency=1)
    try:
        batch = engine.batch(await engine._roll([items[0]] * 4 + [items[1]] * 4))
    finally:
        engine.close()
    assert batch["sounding_reward"] == pytest.approx([4 / 3, 0, 4 / 3, 4 / 3] + [4 / 3] * 4)
    assert all(not any(m) for m in batch["env_mask"][4:])  # all right: dropped
    assert engine.mean_rewards == [7 / 8] and engine.kept_fraction[0] <= 0.5


def test_rl_cli_single_turn_with_eval_hooks(tiny_model: Path, tmp_path: Path) -> None:
    rows = [{"prompt": f"say {w}", "answer": w, "aliases": []} for w in ("red", "blue")]
    (tmp_path / "rl.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    out = tmp_path / "out"
    result = CliRunner().invoke(app, [
        "rl", str(tmp_path / "rl.jsonl"), "--model", str(tiny_model), "--out", str(out),
        "--mode", "single", "--group", "2", "--prompts-per-step", "2", "--steps", "2",
        "--max-new-tokens", "4", "--lr", "1e-3", "--eval-data", str(tmp_path / "rl.jsonl"),
        "--eval-every", "1"])
    assert result.exit_code == 0, result.output
    assert "mean reward" in result.output
    assert (out / "final" / "model.safetensors").exists()
    assert list(out.rglob("events.out.tfevents.*"))
    state = json.loads(next(out.glob("checkpoint-*/trainer_state.json")).read_text())
    assert any("eval/accuracy" in entry for entry in state["log_history"])


def test_rl_cli_refuses_an_unknown_mode(tiny_model: Path, tmp_path: Path) -> None:
    result = CliRunner().invoke(app, ["rl", str(tmp_path), "--model", str(tiny_model),
                                      "--out", str(tmp_path), "--mode", "heavy"])
    assert result.exit_code == 2 and "--mode" in result.output


def test_mastered_prompts_are_replaced_from_the_pool(tiny_model: Path) -> None:
    tok, model = load_tokenizer(tiny_model), load_model(tiny_model)
    items = [RLItem("easy", "yes"), RLItem("hard", "yes")]
    seen: list[str] = []

    async def scripted(item: RLItem) -> object:
        traj = await single_turn_rollout(PolicyChatModel(lambda: model, tok,
                                                         max_new_tokens=2))(item)
        seen.append(item.prompt)
        traj.answer = "yes" if item.prompt == "easy" else "no"
        return traj

    engine = RolloutEngine(tok, items, scripted, build_judge("exact"),  # type: ignore[arg-type]
                           RLOptions(group=2, drop_mastered=1))
    try:
        engine(["easy", "easy", "hard", "hard"])
        assert engine.mastered == {"easy"}
        seen.clear()
        engine(["easy", "easy", "hard", "hard"])
    finally:
        engine.close()
    assert seen == ["hard"] * 4  # an empty pool: the retired row lends an open item's place


@pytest.mark.slow
def test_rl_through_the_agent_loop(tiny_model: Path, settings: Settings,
                                   tmp_path: Path) -> None:
    """One GRPO step whose rollouts are Sounding's ReAct loop with a tool, on the policy."""
    from sounding.train.rl import run_rl
    from sounding.train.rollouts import agent_rollout

    cfg = configure(settings, "react", **{"budgets.max_rounds": 1})

    def make(policy: object, tok: object) -> object:
        return agent_rollout(cfg, policy, lambda: fixed_env(100))  # type: ignore[arg-type]

    engine = run_rl([RLItem("Which colour is the sky?", "blue")], tiny_model, tmp_path / "o",
                    RLOptions(group=2, prompts_per_step=1, steps=1, max_new_tokens=8,
                              report_to=(), save_steps=100, drop_zero_variance=False),
                    make)  # type: ignore[arg-type]
    # A random policy spends the round budget without answering: overlong negatives, out.
    assert engine.mean_rewards == [0.0] and engine.kept_fraction == [0.0]
    assert (tmp_path / "o" / "final" / "model.safetensors").exists()
