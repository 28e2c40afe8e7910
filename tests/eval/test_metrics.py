"""metrics.json against hand-computed fixtures (k = 1 and k = 5)."""

from __future__ import annotations

import pytest

from sounding.eval.metrics import bootstrap_interval, compute_metrics, pass_at_estimate
from sounding.eval.rows import ResultRow


def row(item: str, r: int, correct: bool, **kw: object) -> ResultRow:
    return ResultRow(item, r, "ok", answer=kw.pop("answer", "x"), correct=correct,  # type: ignore[arg-type]
                     grade="correct" if correct else "incorrect", score=float(correct),
                     **kw)  # type: ignore[arg-type]


def test_k1_fixture() -> None:
    rows = [row("a", 0, True, tool_counts={"search": 2, "visit": 1}, rounds=4,
                prompt_tokens=1000, completion_tokens=100, termination="answer", cost=0.5),
            row("b", 0, False, answer=None, tool_counts={"search": 1}, rounds=2,
                prompt_tokens=500, completion_tokens=50, termination="max_rounds", cost=0.25),
            row("c", 0, True, tool_counts={}, rounds=1, prompt_tokens=300,
                completion_tokens=30, termination="answer", cost=0.25),
            row("d", 0, False, tool_counts={"search": 3}, rounds=5, prompt_tokens=200,
                completion_tokens=20, termination="forced_answer", cost=0.0)]
    m = compute_metrics(rows, k=1)
    assert m["avg_at_k"] == 0.5 and m["pass_at_k"] == 0.5 and m["best_pass_at_1"] == 0.5
    assert m["per_rollout_accuracy"] == [0.5]
    assert m["pass_at"] == {"1": 0.5}
    assert m["complete"] is True and m["rows_expected"] == 4
    assert m["missing_answer_rate"] == 0.25
    assert m["tool_calls_per_rollout"] == {"search": 1.5, "visit": 0.25}
    assert m["tool_calls_total"] == {"search": 6, "visit": 1}
    assert m["tool_calls"]["mean"] == 1.75  # type: ignore[index]
    assert m["rounds"]["mean"] == 3.0 and m["rounds"]["median"] == 3.0  # type: ignore[index]
    assert m["prompt_tokens"]["total"] == 2000.0  # type: ignore[index]
    assert m["completion_tokens"]["mean"] == 50.0  # type: ignore[index]
    assert m["termination"] == {"answer": 2, "max_rounds": 1, "forced_answer": 1}
    assert m["cost"] == 1.0
    lo, hi = m["avg_at_k_ci95"]  # type: ignore[misc]
    assert 0.0 <= lo <= 0.5 <= hi <= 1.0


def test_k5_fixture() -> None:
    table = {"A": [1, 1, 0, 0, 1], "B": [0, 0, 0, 0, 0], "C": [0, 1, 0, 0, 0]}
    rows = [row(item, r, bool(c)) for item, cs in table.items() for r, c in enumerate(cs)]
    m = compute_metrics(rows, k=5)
    assert m["avg_at_k"] == pytest.approx(0.8 / 3, abs=1e-6)
    assert m["pass_at_k"] == pytest.approx(2 / 3, abs=1e-6)
    assert m["per_rollout_accuracy"] == pytest.approx([1 / 3, 2 / 3, 0.0, 0.0, 1 / 3],
                                                      abs=1e-6)
    assert m["best_pass_at_1"] == pytest.approx(2 / 3, abs=1e-6)
    pass_at = m["pass_at"]
    assert isinstance(pass_at, dict)
    assert pass_at["1"] == pytest.approx(0.8 / 3, abs=1e-6)
    assert pass_at["2"] == pytest.approx((0.9 + 0.0 + 0.4) / 3, abs=1e-6)
    assert pass_at["5"] == pytest.approx(2 / 3, abs=1e-6)


def test_failed_rows_are_not_wrong_and_extra_rollouts_ignored() -> None:
    rows = [row("a", 0, True), row("a", 1, False),
            ResultRow("b", 0, "error", error={"stage": "agent"}),
            ResultRow("b", 1, "judge_error", answer="x"),
            row("b", 2, True)]  # rollout 2 is beyond k=2
    m = compute_metrics(rows, k=2, item_ids=["a", "b", "c"])
    assert m["avg_at_k"] == 0.5 and m["items"] == 3 and m["items_judged"] == 1
    assert m["rows_failed"] == {"error": 1, "judge_error": 1}
    assert m["complete"] is False and m["rows_expected"] == 6


def test_pass_at_estimate_and_bootstrap() -> None:
    assert pass_at_estimate(5, 0, 3) == 0.0
    assert pass_at_estimate(5, 5, 1) == 1.0
    assert pass_at_estimate(4, 1, 2) == pytest.approx(0.5)
    with pytest.raises(ValueError):
        pass_at_estimate(2, 1, 3)
    vals = [1.0] * 30 + [0.0] * 70
    assert bootstrap_interval(vals) == bootstrap_interval(vals)  # fixed seed
    lo, hi = bootstrap_interval(vals)
    assert 0.19 < lo < 0.3 < hi < 0.41
    assert bootstrap_interval([]) == (0.0, 0.0)


def test_distribution_p90_is_the_nearest_rank() -> None:
    # Ten rollouts of 1..10 rounds: 90% of them took at most 9 rounds.
    rows = [ResultRow(f"q{i}", 0, "ok", rounds=i, correct=True) for i in range(1, 11)]
    rounds = compute_metrics(rows, k=1)["rounds"]
    assert isinstance(rounds, dict)
    assert (rounds["p90"], rounds["median"], rounds["max"]) == (9.0, 5.5, 10.0)
    one = compute_metrics(rows[:1], k=1)["rounds"]
    assert isinstance(one, dict) and one["p90"] == 1.0
