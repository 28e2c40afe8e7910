"""Export: SFT conversations, IterResearch per-round samples and an RL prompt set.

SFT rows are the trained format (assistant turns `<think>` + `<tool_call>` or
`<answer>`, observations as user turns `<tool_response>`); per-round rows pair one
round's workspace with what the model wrote; RL rows carry the answer, aliases and
pass rate. Every row has the same `provenance` keys, so the files load with `datasets`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from pathlib import Path

from ..trace.trajectory import Trajectory
from ..types import JSON
from .stage import Stage, read_jsonl

__all__ = ["export"]

PROVENANCE_KEYS = ("pipeline", "source_pages", "subgraph", "formal", "operators", "checks",
                   "level")


def _provenance(item: Mapping[str, JSON], extra_checks: list[str], mode: str,
                traj_id: str) -> dict[str, JSON]:
    base = item.get("provenance")
    prov: dict[str, JSON] = {k: base.get(k) for k in PROVENANCE_KEYS} if isinstance(
        base, dict) else {k: None for k in PROVENANCE_KEYS}
    checks = prov.get("checks")
    prov["checks"] = [*(checks if isinstance(checks, list) else []), *extra_checks]
    prov.update({"item_key": str(item.get("key")), "mode": mode, "trajectory_id": traj_id})
    return prov


def _messages(traj: Trajectory) -> list[dict[str, JSON]]:
    """The whole conversation: the last call's prompt plus the final output."""
    last = traj.model_calls[-1]
    msgs: list[dict[str, JSON]] = [{"role": m.role, "content": m.content}
                                   for m in traj.prompt_of(last)]
    msgs.append({"role": "assistant", "content": last.output})
    return msgs


def _rounds(traj: Trajectory) -> Iterator[list[dict[str, JSON]]]:
    """One sample per model call: the workspace it saw and what it wrote."""
    for call in traj.model_calls:
        msgs: list[dict[str, JSON]] = [{"role": m.role, "content": m.content}
                                       for m in traj.prompt_of(call)]
        yield [*msgs, {"role": "assistant", "content": call.output}]


def export(traj_dir: Path, out_dir: Path, *, drop_trivial: bool = True) -> Stage:
    """Write sft.jsonl, rounds.jsonl and rl.jsonl from a trajectories stage folder.

    Export is cheap, so it is always rewritten whole rather than resumed."""
    out_dir.mkdir(parents=True, exist_ok=True)
    for name in ("sft", "rounds", "rl", "items", "rejected", "manifest"):
        (out_dir / f"{name}.json{'' if name == 'manifest' else 'l'}").unlink(missing_ok=True)
    with Stage(out_dir, "export", {"trajectories": str(traj_dir),
                                   "drop_trivial": drop_trivial}) as stage:
        handles = {name: (out_dir / f"{name}.jsonl").open("a", encoding="utf-8")
                   for name in ("sft", "rounds", "rl")}
        try:
            for row in [*read_jsonl(traj_dir / "items.jsonl"),
                        *read_jsonl(traj_dir / "rejected.jsonl")]:
                for name, data in _export_row(row):
                    handles[name].write(json.dumps(data, ensure_ascii=False) + "\n")
                rate = _rate(row)
                if drop_trivial and rate in (0.0, 1.0):
                    stage.reject(str(row["key"]), "always_right" if rate else "always_wrong")
                else:
                    handles["rl"].write(json.dumps(_rl_row(row, rate), ensure_ascii=False)
                                        + "\n")
                    stage.keep(str(row["key"]), {"pass_rate": rate})
        finally:
            for fh in handles.values():
                fh.close()
    return stage


def _rate(row: Mapping[str, JSON]) -> float:
    rates = row.get("pass_rate")
    values = [float(v) for v in rates.values() if isinstance(v, int | float)] if isinstance(
        rates, dict) else []
    return sum(values) / len(values) if values else 0.0


def _item(row: Mapping[str, JSON]) -> dict[str, JSON]:
    item = row.get("item")
    if not isinstance(item, dict):
        raise ValueError(f"trajectory row {row.get('key')} has no item")
    return item


def _rl_row(row: Mapping[str, JSON], rate: float) -> dict[str, JSON]:
    item = _item(row)
    rates = row.get("pass_rate")
    modes = ",".join(rates) if isinstance(rates, dict) else ""
    return {"prompt": str(row.get("question") or ""), "answer": item["answer"],
            "aliases": item.get("aliases") or [], "pass_rate": rate,
            "provenance": _provenance(item, ["pass_rate"], modes, "")}


def _export_row(row: Mapping[str, JSON]) -> Iterator[tuple[str, dict[str, JSON]]]:
    item = _item(row)
    accepted = row.get("accepted")
    for entry in accepted if isinstance(accepted, list) else []:
        if not isinstance(entry, dict) or not isinstance(entry.get("trajectory"), dict):
            continue
        traj = Trajectory.from_dict(entry["trajectory"])  # type: ignore[arg-type]
        mode = str(entry["mode"])
        checks = [f"answer_{entry['accepted_by']}", "well_formed", "min_tool_calls",
                  "no_loops", f"bucket_{entry['bucket']}"]
        prov = _provenance(item, checks, mode, traj.id)
        if mode == "iter":
            for i, msgs in enumerate(_rounds(traj)):
                yield "rounds", {"messages": msgs, "round": i,  # type: ignore[dict-item]
                                 "answer": item["answer"], "provenance": prov}
        else:
            yield "sft", {"messages": _messages(traj),  # type: ignore[dict-item]
                          "answer": item["answer"], "provenance": prov}
