"""One real Ray cluster on loopback for the tests of this folder, started and stopped here.

Ray starts in seconds, not milliseconds, so the folder shares one cluster (2 CPUs, no
dashboard); drivers in subprocesses join it by its address.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/ray/" in str(item.path).replace("\\", "/"):
            item.add_marker(pytest.mark.ray)


@pytest.fixture(scope="session")
def ray_cluster() -> Iterator[str]:
    """The cluster's GCS address (HOST:PORT), for drivers in other processes."""
    ray = pytest.importorskip("ray", reason="Ray is not installed (pip install "
                              "'sounding[ray]')")
    from . import _factories

    # Test recipes travel by value: worker processes do not have tests/ on their path.
    ray.cloudpickle.register_pickle_by_value(_factories)
    context = ray.init(address="local", num_cpus=2, include_dashboard=False,
                       namespace="sounding", log_to_driver=False,
                       _node_ip_address="127.0.0.1")
    try:
        yield str(context.address_info["gcs_address"])
    finally:
        ray.shutdown()
