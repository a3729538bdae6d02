"""Thread settings of torch and FAISS, chosen to hold up on a machine shared with other work.

torch and faiss-cpu each bring their own OpenMP runtime (two copies of libgomp; which one
faiss's calls reach depends on the import order), and by default each keeps its worker threads
spinning for a while after every parallel region, waiting for the next one. On a quiet machine
that saves a wake-up; on a busy one (a server beside a build, two builds, other users) the
spinning threads take the cores the work needs: a single-query encode went from ~10 ms to
~1,000 ms on 2 cores with load ~20, and encoding throughput fell from 168 to 14 passages/s
beside a second encoding process
(``benchmarks/results/threads.md`` has the same-run figures).

The defaults, and where they come from:

- ``OMP_WAIT_POLICY=PASSIVE`` (idle OpenMP threads sleep at once). An OpenMP runtime reads it
  only when it starts, so :func:`prepare_openmp` sets it, when the variable is not set
  already, just before hybridsearch first imports torch or faiss (making an
  :class:`~hybridsearch.dense.encoder.Encoder`, opening an HNSW graph). It changes this
  process's environment, which child processes inherit. Set ``OMP_WAIT_POLICY=ACTIVE``
  yourself to keep spinning (the fastest choice on a machine of your own), or import torch
  before hybridsearch: a runtime already started keeps its policy.
- torch's intra-op threads: torch's own default (one per core), unless
  ``HYBRIDSEARCH_TORCH_THREADS`` says otherwise (applied whenever an Encoder is made).
  Query encodes on CPU run at one thread whatever the setting, and put the count back after
  (so batched queries get their lone vectors: :mod:`hybridsearch.dense.query_batches`).
- FAISS's threads: FAISS's own default, unless ``HYBRIDSEARCH_FAISS_THREADS`` says otherwise
  (applied whenever an HNSW graph is built or opened).
  A single query never uses more than one anyway (the exact leg scans with FAISS's
  single-threaded kernel, and an HNSW search parallelises over queries only); the setting
  matters to HNSW graph builds and batch searches.

Thread counts are process-wide (torch's and FAISS's own functions set them), so hybridsearch
sets them only from those documented variables, or when you call :func:`apply_thread_settings`.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from hybridsearch.errors import InvalidInputError

__all__ = [
    "FAISS_THREADS_VARIABLE",
    "TORCH_THREADS_VARIABLE",
    "WAIT_POLICY_VARIABLE",
    "ThreadSettings",
    "apply_thread_settings",
    "prepare_faiss",
    "prepare_openmp",
    "prepare_torch",
]

#: torch intra-op threads, applied when hybridsearch first imports torch.
TORCH_THREADS_VARIABLE = "HYBRIDSEARCH_TORCH_THREADS"
#: FAISS OpenMP threads, applied when hybridsearch first imports faiss.
FAISS_THREADS_VARIABLE = "HYBRIDSEARCH_FAISS_THREADS"
#: The OpenMP standard variable; hybridsearch sets it to PASSIVE when it is unset.
WAIT_POLICY_VARIABLE = "OMP_WAIT_POLICY"
#: What :func:`prepare_openmp` sets OMP_WAIT_POLICY to when it is unset.
DEFAULT_WAIT_POLICY = "PASSIVE"


@dataclass(frozen=True)
class ThreadSettings:
    """Threads for torch and FAISS; None leaves that library's own choice.

    Attributes:
        torch_threads: torch intra-op threads (``torch.set_num_threads``).
        faiss_threads: FAISS OpenMP threads (``faiss.omp_set_num_threads``).
    """

    torch_threads: int | None = None
    faiss_threads: int | None = None

    def __post_init__(self) -> None:
        for name in ("torch_threads", "faiss_threads"):
            value = getattr(self, name)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int) or value < 1
            ):
                raise InvalidInputError(f"{name} must be a positive int or None, got {value!r}")

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> ThreadSettings:
        """The settings ``HYBRIDSEARCH_TORCH_THREADS`` / ``HYBRIDSEARCH_FAISS_THREADS`` give.

        Raises:
            InvalidInputError: a variable is set to something other than a positive integer
                (the message names the variable).
        """
        environ = os.environ if environ is None else environ
        return cls(
            torch_threads=_positive_from(environ, TORCH_THREADS_VARIABLE),
            faiss_threads=_positive_from(environ, FAISS_THREADS_VARIABLE),
        )


def _positive_from(environ: Mapping[str, str], variable: str) -> int | None:
    text = environ.get(variable, "").strip()
    if not text:
        return None
    if not text.isdigit() or int(text) < 1:
        raise InvalidInputError(
            f"environment variable {variable}={text!r}: expected a positive integer "
            "(threads), or unset for the library's default"
        )
    return int(text)


def prepare_openmp(environ: dict[str, str] | None = None) -> bool:
    """Set ``OMP_WAIT_POLICY=PASSIVE`` if it is unset and no OpenMP runtime has started yet.

    Called by hybridsearch just before its first import of torch or faiss, the only moment an
    OpenMP runtime still reads the variable. Idempotent and cheap.

    Args:
        environ: The environment to change (``os.environ``, which also reaches the C
            runtime, when None).

    Returns:
        Whether it set the variable.
    """
    environ = os.environ if environ is None else environ  # type: ignore[assignment]
    if WAIT_POLICY_VARIABLE in environ or "torch" in sys.modules or "faiss" in sys.modules:
        return False
    environ[WAIT_POLICY_VARIABLE] = DEFAULT_WAIT_POLICY
    return True


def apply_thread_settings(settings: ThreadSettings | None = None) -> ThreadSettings:
    """Set torch's and FAISS's thread counts (process-wide); returns the counts before.

    Args:
        settings: The counts to set; None reads them from the environment variables
            (:meth:`ThreadSettings.from_environment`). A None field is left as it is.

    Returns:
        The counts in force before the call, so a caller can put them back.
    """
    settings = ThreadSettings.from_environment() if settings is None else settings
    prepare_openmp()
    torch = faiss = None
    if settings.torch_threads is not None:
        import torch
    if settings.faiss_threads is not None:
        import faiss
    # Both counts are read before either is set: when torch is imported first, faiss's
    # OpenMP calls can resolve to torch's runtime, and then one count moves the other.
    previous = ThreadSettings(
        torch_threads=torch.get_num_threads() if torch is not None else None,
        faiss_threads=faiss.omp_get_max_threads() if faiss is not None else None,
    )
    if torch is not None:
        torch.set_num_threads(settings.torch_threads)
    if faiss is not None:
        faiss.omp_set_num_threads(settings.faiss_threads)
    return previous


def prepare_torch() -> Any:
    """Import torch the way hybridsearch runs it: passive OpenMP, threads from the environment.

    Returns:
        The torch module.
    """
    prepare_openmp()
    import torch

    threads = ThreadSettings.from_environment().torch_threads
    if threads is not None and torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    return torch


def prepare_faiss() -> Any:
    """Import faiss the way hybridsearch runs it: passive OpenMP, threads from the environment.

    Returns:
        The faiss module.
    """
    prepare_openmp()
    import faiss

    threads = ThreadSettings.from_environment().faiss_threads
    if threads is not None:
        faiss.omp_set_num_threads(threads)
    return faiss
