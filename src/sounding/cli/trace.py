"""`sounding trace show FILE`: print a recorded run as a readable transcript.

Question, rounds (thinking, tool calls, observations cut to a length), answer,
termination and usage; heavy-mode branches nested under their parent. Every piece
of recorded content is printed as plain text, so nothing in a run can inject markup.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group, RenderableType
from rich.padding import Padding
from rich.panel import Panel
from rich.rule import Rule
from rich.table import Table
from rich.text import Text

from ..trace.trajectory import ModelCallRecord, ToolCallRecord, Trajectory, read_trajectories
from ._console import fail, printable
from .progress import short

__all__ = ["app", "list_runs", "render_trajectory", "show"]

app = typer.Typer(name="trace", help="Read recorded runs (the JSONL written by --trace).",
                  no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False)


@app.callback()
def trace() -> None:
    """Read recorded runs (the JSONL written by --trace, or a --json result)."""

_THINK = re.compile(r"<think>(.*?)(?:</think>|$)", re.S)
_TOOL_CALL = re.compile(r"<tool_call>.*?(?:</tool_call>|$)", re.S)
_ANSWER = re.compile(r"<answer>.*?(?:</answer>|$)", re.S)


def _cut(text: str, limit: int) -> str:
    text = printable(text.strip())
    if limit <= 0 or len(text) <= limit:
        return text
    return text[:limit].rstrip() + f" … [{len(text) - limit:,} more characters]"


def _thinking(output: str) -> str:
    """What the model thought (or said besides its calls and answer) in one turn."""
    think = " ".join(m.strip() for m in _THINK.findall(output))
    if think:
        return think
    rest = _ANSWER.sub("", _TOOL_CALL.sub("", output))
    return rest.strip()


def _model_call(call: ModelCallRecord, limit: int) -> RenderableType:
    u = call.usage
    head = Text.assemble((f"model ({call.purpose})", "bold"),
                         (f" {call.latency_s:.2f} s, {u.prompt_tokens:,} prompt + "
                          f"{u.completion_tokens:,} completion tokens", "dim"))
    if call.error:
        head.append(f"  failed: {printable(call.error)}", style="red")
    thought = _thinking(call.output)
    if not thought:
        return head
    return Group(head, Padding(Text(_cut(thought, limit), style="italic"), (0, 0, 0, 2)))


def _tool_call(call: ToolCallRecord, limit: int) -> RenderableType:
    args = dict(call.call.arguments)
    if call.call.code is not None:
        args["code"] = call.call.code
    head = Text.assemble((printable(call.call.name or "?"), "bold green"), " ",
                         short(args, 200),
                         (f"  {call.latency_s:.2f} s" + (" cached" if call.cache_hit else ""),
                          "dim"))
    body = Text(_cut(call.observation, limit))
    if call.error:
        head.append(f"  error: {printable(call.error)}", style="red")
    return Group(head, Padding(body, (0, 0, 0, 2)))


def _rounds(t: Trajectory, limit: int) -> list[RenderableType]:
    out: list[RenderableType] = []
    rounds = sorted({c.round for c in t.model_calls} | {c.round for c in t.tool_calls})
    for r in rounds:
        out.append(Rule(Text(f"round {r}"), align="left", style="cyan"))
        out.extend(_model_call(c, limit) for c in t.model_calls if c.round == r)
        out.extend(_tool_call(c, limit) for c in t.tool_calls if c.round == r)
    return out


def _notes(t: Trajectory, limit: int) -> list[RenderableType]:
    """The mode's headline facts: how heavy mode fused, the final report."""
    out: list[RenderableType] = []
    facts = {k: t.notes[k] for k in ("fused_by", "agreement", "synthesis_error", "early_stop")
             if k in t.notes}
    if facts:
        out.append(Text.assemble(("notes: ", "bold"), short(facts, 300)))
    report = t.notes.get("report")
    if isinstance(report, str) and report.strip():
        out.append(Text.assemble(("report: ", "bold"), _cut(report, limit)))
    return out


def render_trajectory(t: Trajectory, limit: int = 600, title: str = "") -> RenderableType:
    """The transcript of one run (branches nested) as one rich renderable."""
    u = t.usage
    header = Text.assemble((printable(title) or "run ", "bold"), (printable(t.id), "dim"), "\n",
                           ("question: ", "bold"), printable(t.question), "\n",
                           printable(f"{t.mode}, {t.protocol}, {t.model or '?'}, "
                                     f"started {t.started_at}"))
    parts: list[RenderableType] = [header]
    for i, branch in enumerate(t.branches):  # before the parent's own calls (the synthesis)
        name = next((c.branch for c in branch.model_calls if c.branch), None) or f"b{i}"
        parts.append(Padding(render_trajectory(branch, limit, title=f"branch {name} "),
                             (0, 0, 0, 2)))
    parts += _rounds(t, limit)
    parts += _notes(t, limit)
    parts.append(Text.assemble(("answer: ", "bold"),
                               printable(t.answer) if t.answer is not None else "(none)"))
    summary = Text(f"termination: {t.termination}, {t.rounds} rounds, {t.seconds:.1f} s, "
                   f"{u.prompt_tokens:,} prompt + {u.completion_tokens:,} completion tokens")
    if t.error is not None:
        summary.append(printable(f"\nerror: {t.error.type}: {t.error.message}"),
                       style="red")
    parts.append(summary)
    return Panel(Group(*parts), border_style="dim") if title else Group(*parts)


def _pick(runs: list[Trajectory], index: int | None, run_id: str | None, path: Path
          ) -> Trajectory:
    if run_id is not None:
        found = [t for t in runs if t.id == run_id or t.id.startswith(run_id)]
        if len(found) != 1:
            what = "no run" if not found else f"{len(found)} runs"
            raise ValueError(f"{what} with id {run_id!r} in {path}")
        return found[0]
    i = len(runs) - 1 if index is None else index
    if not -len(runs) <= i < len(runs):
        raise ValueError(f"{path} holds {len(runs)} runs; --index must be 0..{len(runs) - 1}")
    return runs[i]


@app.command()
def show(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="A JSONL trajectory file "
                                         "(sounding ask --trace) or one JSON result")],
    index: Annotated[int | None, typer.Option(help="Which run of the file, from 0 "
                                              "(default: the last)", metavar="N")] = None,
    run_id: Annotated[str | None, typer.Option("--id", help="The run with this id (or "
                                               "id prefix)", metavar="ID")] = None,
    max_chars: Annotated[int, typer.Option(help="Cut thinking and observations to this "
                                           "length (0: never)", metavar="N")] = 600,
) -> None:
    """Print a recorded run as a readable transcript."""
    try:
        runs = _load(path)
        chosen = _pick(runs, index, run_id, path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise fail(f"cannot show {path}: {exc}") from None
    Console(highlight=False).print(render_trajectory(chosen, max_chars))


@app.command(name="list")
def list_runs(
    path: Annotated[Path, typer.Argument(metavar="FILE", help="A JSONL trajectory file")],
) -> None:
    """One line per run of the file: index, id, mode, termination, rounds, question."""
    try:
        runs = _load(path)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise fail(f"cannot read {path}: {exc}") from None
    table = Table(box=None, show_edge=False, pad_edge=False)
    for column in ("#", "id", "mode", "termination", "rounds", "question"):
        table.add_column(column, no_wrap=column != "question")
    for i, t in enumerate(runs):
        table.add_row(str(i), Text(printable(t.id[:12])), Text(printable(t.mode)),
                      str(t.termination), str(t.rounds), Text(_cut(t.question, 100)))
    Console(highlight=False).print(table)


def _load(path: Path) -> list[Trajectory]:
    """The runs of a --trace file, or the one run of a `--json` result."""
    text = path.read_text(encoding="utf-8")
    stripped = text.lstrip()
    if stripped.startswith("{") and "\n" not in stripped.rstrip():
        data = json.loads(stripped)
        if isinstance(data, dict) and isinstance(data.get("trajectory"), dict):
            return [Trajectory.from_dict(data["trajectory"])]
    runs = read_trajectories(path)
    if not runs:
        raise ValueError("no run in the file")
    return runs
