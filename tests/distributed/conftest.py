"""One local Ray instance for the whole test session (its start costs a few seconds)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def ray_instance():
    """A local Ray: 2 CPUs, no dashboard, a small object store; shut down at the end."""
    ray = pytest.importorskip("ray")
    from hybridsearch.distributed.cluster import ensure_ray

    ensure_ray(num_cpus=2, object_store_bytes=128 * 2**20)
    yield ray
    ray.shutdown()
