"""Curriculum: keep the prompts the starting model gets sometimes, not always or never, right."""

from __future__ import annotations

import itertools

from sounding.eval.judges import build_judge
from sounding.trace.trajectory import Trajectory
from sounding.train.hooks import curriculum, pass_rates
from sounding.train.rollouts import RLItem, extract_answer


async def test_pass_rates_and_filter() -> None:
    answers = {"always": itertools.cycle(["x"]), "never": itertools.cycle(["y"]),
               "half": itertools.cycle(["x", "y"])}
    items = [RLItem(p, "x") for p in answers]

    async def rollout(item: RLItem) -> Trajectory:
        traj = Trajectory(question=item.prompt)
        traj.answer = next(answers[item.prompt])
        return traj

    rates = await pass_rates(items, rollout, build_judge("exact"), 4)
    assert rates == [1.0, 0.0, 0.5]
    assert [it.prompt for it in curriculum(items, rates)] == ["half"]


def test_extract_answer_takes_the_last_tagged_answer() -> None:
    assert extract_answer("<answer>a</answer> then <answer>b</answer>") == "b"
    assert extract_answer("no tags") is None
    assert extract_answer("<answer>unclosed") is None
