"""`sounding train`: SFT and agentic RL on Sounding's own trajectories (the train extra)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import SoundingError
from ._console import err, fail
from ._executor import ExecutorKind, RayAddress, WorkerConcurrency, Workers, executor_flags
from ._options import ConfigFile

if TYPE_CHECKING:
    from ..train.dispatch import Dispatch

__all__ = ["app"]

app = typer.Typer(name="train", help="Supervised fine-tuning and agentic RL on Sounding's "
                  "trajectories (pip install -e '.\\[train]').", no_args_is_help=True,
                  add_completion=False, pretty_exceptions_enable=False)


def _need_extra() -> None:
    try:
        import torch  # noqa: F401
        import trl  # noqa: F401
    except ImportError as exc:
        raise fail(f"training needs the train extra ({exc.name} is missing): "
                    "pip install torch==2.13.0 'sounding[train]'") from exc


def _buckets(text: str) -> tuple[int, ...]:
    try:
        values = tuple(int(v) for v in text.split(",") if v.strip())
    except ValueError:
        values = ()
    if not values or min(values) <= 0:
        raise fail(f"--buckets takes positive lengths separated by commas, not {text!r}")
    return values


@app.command()
def sft(
    data: Annotated[Path, typer.Argument(help="JSONL of trajectories or synth export rows "
                                         "(a file or a folder of *.jsonl)")],
    model: Annotated[Path, typer.Option(help="Model folder (HF format) to start from")],
    out: Annotated[Path, typer.Option(help="Output folder: checkpoints, logs, final/")],
    buckets: Annotated[str, typer.Option(help="Sequence-length buckets, trained in order")]
    = "40960,131072",
    epochs: Annotated[float, typer.Option(help="Epochs per bucket")] = 1.0,
    lr: Annotated[float, typer.Option(help="Learning rate")] = 1e-5,
    batch_size: Annotated[int, typer.Option(help="Sequences per device step")] = 1,
    grad_accum: Annotated[int, typer.Option(help="Gradient accumulation steps")] = 1,
    lora: Annotated[bool, typer.Option("--lora", help="Train LoRA adapters (PEFT)")] = False,
    lora_rank: Annotated[int, typer.Option(help="LoRA rank")] = 16,
    max_steps: Annotated[int, typer.Option(help="Stop after this many steps (-1: epochs)")]
    = -1,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps")] = 500,
    logging_steps: Annotated[int, typer.Option(help="Log every N steps")] = 10,
    wandb: Annotated[bool, typer.Option("--wandb", help="Also log to W&B (configured by "
                                        "the user's WANDB_* environment)")] = False,
) -> None:
    """Fine-tune on the assistant turns only (exact masks); rerun to resume."""
    _need_extra()
    from ..train.sft import SFTOptions, run_sft

    opts = SFTOptions(buckets=_buckets(buckets), epochs=epochs, learning_rate=lr,
                      batch_size=batch_size, grad_accum=grad_accum, lora=lora,
                      lora_rank=lora_rank, lora_alpha=2 * lora_rank, max_steps=max_steps,
                      save_steps=save_steps, logging_steps=logging_steps,
                      report_to=("tensorboard", "wandb") if wandb else ("tensorboard",))
    try:
        history = run_sft(data, model, out, opts)
    except SoundingError as exc:
        raise fail(str(exc)) from exc
    losses = [h["loss"] for h in history if "loss" in h]
    if losses:
        err.print(f"sft: loss {losses[0]:.4g} -> {losses[-1]:.4g}; model in {out / 'final'}",
                  markup=False)


def _dispatch(model: Path, mode: str, max_rounds: int, policy_host: str,
              flags: dict[str, object], config: Path | None) -> Dispatch:
    """The rollout recipe (Sounding's loop in the offline world, or one turn) and the
    executor its workers run under (`--executor`, else sounding.toml's [executor])."""
    from ..config import load_settings
    from ..train.dispatch import Dispatch, EndpointRollouts

    settings = load_settings({"mode": None if mode == "single" else mode, "protocol": "tags",
                              "env": "offline", "budgets.max_rounds": max_rounds,
                              "llm.model": "policy", "llm.base_url": "http://127.0.0.1:9/v1",
                              **flags}, config_file=config)
    recipe = EndpointRollouts(model, None if mode == "single" else settings)
    return Dispatch(recipe, settings.executor, host=policy_host)


@app.command()
def rl(
    prompts: Annotated[Path, typer.Argument(help="RL prompts: synth export rl.jsonl "
                                            "(prompt, answer, aliases)")],
    model: Annotated[Path, typer.Option(help="Model folder (HF format), e.g. the SFT final/")],
    out: Annotated[Path, typer.Option(help="Output folder: checkpoints, logs, final/")],
    mode: Annotated[str, typer.Option(help="Rollout: react or iter (Sounding's loop in the "
                                      "offline world), or single (one turn, no tools)")]
    = "react",
    group: Annotated[int, typer.Option(help="Rollouts per prompt")] = 8,
    prompts_per_step: Annotated[int, typer.Option(help="Prompts per step")] = 4,
    steps: Annotated[int, typer.Option(help="Optimizer steps")] = 200,
    lr: Annotated[float, typer.Option(help="Learning rate")] = 1e-6,
    max_new_tokens: Annotated[int, typer.Option(help="Most tokens per model turn")] = 1024,
    max_rounds: Annotated[int, typer.Option(help="Most agent rounds per rollout")] = 20,
    judge: Annotated[str, typer.Option(help="Reward checker: exact, gaia or f1")] = "exact",
    refill: Annotated[bool, typer.Option("--refill", help="Refill zero-variance groups by "
                                         "duplicating informative ones (else dropped)")] = False,
    staleness: Annotated[int, typer.Option(help="Optimizer steps per rollout batch "
                                           "(1: strictly on-policy)")] = 1,
    curriculum: Annotated[int, typer.Option(help="Before training, roll out each prompt K "
                                            "times and keep those neither always right nor "
                                            "always wrong (0: off)")] = 0,
    drop_mastered: Annotated[int, typer.Option(help="During training, retire a prompt after "
                                               "N all-right groups in a row; a background "
                                               "task refills its place from the pool (0: off)")]
    = 0,
    pool: Annotated[Path | None, typer.Option(help="More prompts for the refresh pool (the "
                                              "curriculum's rejects are in it already)")]
    = None,
    refresh_rollouts: Annotated[int, typer.Option(help="Rollouts per pool candidate when "
                                                  "refreshing a retired prompt")] = 4,
    eval_data: Annotated[Path | None, typer.Option(help="Held-out prompts for eval hooks")]
    = None,
    eval_every: Annotated[int, typer.Option(help="Evaluate every N steps")] = 50,
    save_steps: Annotated[int, typer.Option(help="Checkpoint every N steps")] = 100,
    vllm: Annotated[str, typer.Option(help="Who samples: off (the trainer's HF generate), "
                                      "colocate (vLLM in the trainer's process) or server "
                                      "(a `trl vllm-serve` server); weights synced by TRL")]
    = "off",
    vllm_host: Annotated[str, typer.Option(help="The vLLM server's host (--vllm server)")]
    = "127.0.0.1",
    vllm_port: Annotated[int, typer.Option(help="The vLLM server's port (--vllm server)")]
    = 8000,
    vllm_memory: Annotated[float, typer.Option(help="Share of GPU memory colocated vLLM "
                                               "takes (--vllm colocate)")] = 0.3,
    policy_host: Annotated[str, typer.Option(help="Where the trainer serves its policy to "
                                             "rollout workers when vLLM does not (0.0.0.0 "
                                             "for a multi-node cluster)")] = "127.0.0.1",
    executor: ExecutorKind = None,
    ray_address: RayAddress = None,
    workers: Workers = None,
    worker_concurrency: WorkerConcurrency = None,
    config: ConfigFile = None,
) -> None:
    """Agentic GRPO: rollouts through Sounding's loop against the policy being trained."""
    if mode not in ("react", "iter", "single"):
        raise fail(f"--mode must be react, iter or single, not {mode!r}")
    _need_extra()
    from ..train.rl import VLLM_MODES
    from ..train.runner import RLRun, run_rl_command

    if vllm not in VLLM_MODES:
        raise fail(f"--vllm must be one of {', '.join(VLLM_MODES)}, not {vllm!r}")

    run = RLRun(prompts, model, out, mode=mode, group=group, prompts_per_step=prompts_per_step,
                steps=steps, lr=lr, max_new_tokens=max_new_tokens, max_rounds=max_rounds,
                judge=judge, refill=refill, staleness=staleness, curriculum=curriculum,
                drop_mastered=drop_mastered, refresh_rollouts=refresh_rollouts, pool=pool,
                eval_data=eval_data, eval_every=eval_every, save_steps=save_steps, vllm=vllm,
                vllm_url=f"http://{vllm_host}:{vllm_port}", vllm_memory=vllm_memory)
    try:
        how = _dispatch(model, mode, max_rounds, policy_host,
                        executor_flags(executor, ray_address, workers, worker_concurrency),
                        config)
        rewards = run_rl_command(run, how, lambda msg: err.print(msg, markup=False))
    except SoundingError as exc:
        raise fail(str(exc)) from exc
    if rewards:
        err.print(f"rl: mean reward {rewards[0]:.3f} -> {rewards[-1]:.3f}; model in "
                  f"{out / 'final'}", markup=False)


@app.command("tiny-model")
def tiny_model(
    out: Annotated[Path, typer.Argument(help="Folder for the model and tokenizer")],
    hidden: Annotated[int, typer.Option(help="Hidden size")] = 64,
    layers: Annotated[int, typer.Option(help="Layers")] = 2,
) -> None:
    """Write a random tiny Qwen3 and byte-level tokenizer (no download), for CPU trials."""
    _need_extra()
    from ..train.models import make_tiny_model

    make_tiny_model(out, hidden=hidden, layers=layers, extra_tokens=("<answer>", "</answer>"))
    err.print(f"tiny model in {out}", markup=False)
