"""The cluster limiter's state (what the Ray actor runs): caps, spacing, dead holders."""

from __future__ import annotations

import asyncio

from sounding.providers.shared_limits import LimiterState


async def test_concurrency_is_capped_across_holders_and_a_dead_holder_frees_its_slots() -> None:
    state = LimiterState({}, concurrency=2)
    assert await state.acquire("search", "worker-a") == 0.0
    assert await state.acquire("search", "worker-b") == 0.0
    third = asyncio.create_task(state.acquire("search", "worker-b"))
    await asyncio.sleep(0.05)
    assert not third.done()  # two in flight across the cluster: the third waits
    assert await state.acquire("other", "worker-b") == 0.0  # caps are per provider
    assert await state.release_holder("worker-a") == 1  # worker-a died mid-request
    assert await asyncio.wait_for(third, 1) == 0.0
    await state.release("search", "worker-b")
    await state.release("search", "worker-b")
    await state.release("search", "worker-b")  # one too many: ignored, never negative
    assert state.counts() == {"search": 3, "other": 1}


async def test_requests_are_spaced_by_the_rate_whoever_asks() -> None:
    state = LimiterState({"search": 10.0}, concurrency=100)
    delays = [await state.acquire("search", f"worker-{i % 3}") for i in range(5)]
    # Evenly spaced slots 0.1 s apart, reserved at once: the callers sleep the rest.
    for i, delay in enumerate(delays):
        assert abs(delay - 0.1 * i) < 0.05
    assert await LimiterState({"search": 0.0}, 1).acquire("search", "w") == 0.0  # no limit
