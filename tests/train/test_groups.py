"""The recipe's group arithmetic: leave-one-out advantage and who enters the loss."""

from __future__ import annotations

import pytest

from sounding.train.groups import keep_in_loss, leave_one_out, loo_reward_scale


def test_leave_one_out_subtracts_the_mean_of_the_others() -> None:
    assert leave_one_out([1.0, 0.0, 0.0, 0.0]) == [1.0, -1 / 3, -1 / 3, -1 / 3]
    assert leave_one_out([1.0, 1.0]) == [0.0, 0.0]
    assert leave_one_out([0.5]) == [0.0]


@pytest.mark.parametrize("rewards", [[1.0, 0.0, 0.0, 1.0], [0.0, 0.25, 1.0]])
def test_scaled_group_mean_baseline_equals_leave_one_out(rewards: list[float]) -> None:
    """What the trainer computes (scaled reward minus group mean) is exactly leave-one-out."""
    c = loo_reward_scale(len(rewards))
    scaled = [r * c for r in rewards]
    mean = sum(scaled) / len(scaled)
    assert [s - mean for s in scaled] == pytest.approx(leave_one_out(rewards))


def test_zero_variance_groups_and_overlong_negatives_leave_the_loss() -> None:
    assert keep_in_loss([1.0, 1.0, 1.0], [False, True, False]) == [False] * 3
    assert keep_in_loss([0.0, 0.0], [False, False]) == [False, False]
    assert keep_in_loss([0.0, 0.0], [False, False], drop_zero_variance=False) == [True, True]
    assert keep_in_loss([1.0, 0.0, 0.0, 1.0], [True, True, False, False]) == [
        True, False, True, True]
