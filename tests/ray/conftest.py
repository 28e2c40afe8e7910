"""The Ray tests: the session's one cluster on loopback (tests/conftest.py); drivers in
subprocesses join it by its address."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ray/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.ray)


@pytest.fixture(scope="session")
def ray_cluster(ray_cluster: str) -> str:
    """The session's cluster (tests/conftest.py), with this folder's recipes registered."""
    import ray

    from . import _factories

    # Test recipes travel by value: worker processes do not have tests/ on their path.
    ray.cloudpickle.register_pickle_by_value(_factories)
    return ray_cluster
