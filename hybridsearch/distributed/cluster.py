"""Starting or joining Ray: a local instance sized to the machine, or an existing cluster.

Ray is imported here, inside the functions, so ``import hybridsearch`` never pays for it.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from hybridsearch.errors import HybridSearchError

__all__ = ["RayUnavailableError", "ensure_ray", "import_ray"]


class RayUnavailableError(HybridSearchError):
    """Ray is not installed (``pip install -e '.[ray]'``) or could not start."""


def import_ray() -> Any:
    """The ``ray`` module, or an error that says how to install it."""
    try:
        import ray
    except ImportError as error:
        raise RayUnavailableError(
            "sharded indexes need Ray: pip install -e '.[ray]' (or pip install 'ray>=2.9')"
        ) from error
    return ray


def ensure_ray(
    address: str | None = None,
    *,
    num_cpus: int | None = None,
    object_store_bytes: int | None = None,
) -> Any:
    """Connect to Ray once per process: to ``address`` (or ``$RAY_ADDRESS``), else start one.

    A local instance gets every CPU of the machine (or ``num_cpus``), no dashboard, and
    workers that import this copy of hybridsearch (its folder goes first on their
    ``PYTHONPATH``). Against a cluster, every node must have hybridsearch installed and see
    the index directory at the same path (a shared filesystem).

    Returns:
        The ``ray`` module, initialised.
    """
    ray = import_ray()
    if ray.is_initialized():
        return ray
    address = address or os.environ.get("RAY_ADDRESS") or None
    try:
        if address is not None:
            ray.init(address=address, log_to_driver=False, configure_logging=False)
        else:
            package_root = str(Path(__file__).resolve().parents[2])
            path = os.environ.get("PYTHONPATH", "")
            if package_root not in path.split(os.pathsep):
                # Inherited by the workers Ray starts, so they import this copy.
                os.environ["PYTHONPATH"] = os.pathsep.join(p for p in (package_root, path) if p)
            ray.init(
                num_cpus=num_cpus or os.cpu_count() or 1,
                object_store_memory=object_store_bytes,
                include_dashboard=False,
                log_to_driver=False,
                configure_logging=False,
            )
    except Exception as error:  # Ray raises ConnectionError, RuntimeError, ValueError...
        where = f"the Ray cluster at {address}" if address else "a local Ray instance"
        raise RayUnavailableError(f"could not start or join {where}: {error}") from error
    return ray
