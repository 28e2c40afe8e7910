"""metrics.json against hand-computed fixtures (k = 1 and k = 5)."""

from __future__ import annotations

import pytest

from sounding.eval.metrics import bootstrap_interval, compute_metrics, pass_at_estimate
from sounding.eval.rows import ResultRow


def row(item: str, r: int, correct: bool, **kw: object) -> ResultRow:
    grade = kw.pop("grade", "correct" if correct else "incorrect")
    return ResultRow(item, r, "ok", answer=kw.pop("answer", "x"), correct=correct,  # type: ignore[arg-type]
                     grade=grade, score=float(correct), **kw)  # type: ignore[arg-type]


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
    assert m["pass_at_unbiased_judged_only"] == {"1": 0.5}
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
    pass_at = m["pass_at_unbiased_judged_only"]
    assert isinstance(pass_at, dict)
    assert pass_at["1"] == pytest.approx(0.8 / 3, abs=1e-6)
    assert pass_at["2"] == pytest.approx((0.9 + 0.0 + 0.4) / 3, abs=1e-6)
    assert pass_at["5"] == pytest.approx(2 / 3, abs=1e-6)


def test_published_rules_on_the_issue_demo() -> None:
    """4 questions, 3 rounds; D always fails, C has a judge error: every question counts."""
    rows = [row("A", 0, True), row("A", 1, True), row("A", 2, False),
            row("B", 0, False), row("B", 1, False), row("B", 2, True),
            row("C", 0, False), ResultRow("C", 1, "judge_error", answer="x",
                                          error={"stage": "judge", "message": "HTTP 400"}),
            row("C", 2, False, answer=None, grade="not_attempted"),
            *[ResultRow("D", r, "error", error={"stage": "agent", "type": "LLMError",
                                                "message": "boom"}) for r in range(3)]]
    m = compute_metrics(rows, k=3, item_ids=["A", "B", "C", "D"])
    # Avg@3 = mean over rounds of (correct in the round / 4) = (1/4 + 1/4 + 1/4) / 3.
    assert m["avg_at_k"] == 0.25 and m["pass_at_k"] == 0.5 and m["best_pass_at_1"] == 0.25
    assert m["per_rollout_accuracy"] == [0.25, 0.25, 0.25]
    # The older figures stay, named as what they are: judged rows only.
    judged = m["judged_only"]
    assert isinstance(judged, dict)
    assert judged["avg_at_k"] == pytest.approx(3 / 8, abs=1e-6) and judged["rows"] == 8
    assert m["pass_at_unbiased_judged_only"]["3"] == pytest.approx(1.0)  # type: ignore[index]
    assert m["rows_failed"] == {"error": 3, "judge_error": 1} and m["complete"] is False
    first = m["first_failures"]
    assert isinstance(first, list) and first[0] == {
        "item_id": "C", "rollout": 1, "status": "judge_error", "stage": "judge", "type": None,
        "message": "HTTP 400"}
    assert [f["item_id"] for f in first] == ["C", "D", "D", "D"]  # type: ignore[index]


def test_rows_not_run_count_wrong_and_nothing_judged_is_unknown() -> None:
    rows = [row("a", 0, True), row("a", 1, False), row("b", 2, True)]  # rollout 2 >= k
    m = compute_metrics(rows, k=2, item_ids=["a", "b", "c"])
    assert m["avg_at_k"] == pytest.approx(1 / 6, abs=1e-6) and m["items"] == 3
    assert m["items_judged"] == 1 and m["rows_missing"] == 4 and m["rows_expected"] == 6
    assert m["complete"] is False
    empty = compute_metrics([ResultRow("a", 0, "error")], k=1, item_ids=["a"])
    assert empty["avg_at_k"] is None and empty["pass_at_k"] is None
    assert empty["per_rollout_accuracy"] == [None]


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
