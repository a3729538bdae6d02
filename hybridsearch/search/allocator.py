"""Keep freed memory in the process between searches (glibc malloc's top pad).

A hybrid search over a large index runs BM25 in one thread while the query encoder runs in
another (:mod:`hybridsearch.search.background`). BM25 allocates a few arrays as large as the
index's rows or a query's postings (at a million passages, 8 MB for the summed scores and
~4 MB per posting array), and their sizes change from query to query. With glibc's default
settings the heap is trimmed back to the system after such arrays are freed and grown again
for the next query: every page of those arrays is faulted in afresh, and returning memory
from a threaded process makes the kernel interrupt the other core (where the encoder runs) to
flush its address translations. Measured at 1M passages (2 cores, quiet, 200 queries):
BM25 took 16-17 ms beside the encoder against 7 ms alone, the encoder 24 ms against 17, and
a hybrid query 34 ms at p50; with 64 MB of top pad BM25 took 8-9 ms beside the encoder and
the query 28-31 ms. A synthetic run of 30 queries of varied size faulted 63,431 pages without
the pad and 761 with it.

So before the first overlapped search, :func:`retain_freed_memory` sets ``M_TOP_PAD``
(``mallopt``): the heap keeps up to that many freed bytes at its top instead of returning
them, so the next query's arrays reuse pages already mapped. The price is memory the process
keeps (at most the pad per malloc arena; the scale benchmark reports RSS after queries).
It is a process-wide setting, as ``OMP_WAIT_POLICY`` is (:mod:`hybridsearch.dense.threads`),
so it follows the user's choice: nothing is changed where ``MALLOC_TOP_PAD_`` is set (glibc
read it at start), and ``HYBRIDSEARCH_MALLOC_TOP_PAD`` gives the pad in bytes (``0``: leave
the allocator alone). Only glibc (Linux) has this setting; elsewhere nothing is done.
"""

from __future__ import annotations

import ctypes
import os
import platform
import sys
from collections.abc import Mapping

from hybridsearch.errors import InvalidInputError

__all__ = ["DEFAULT_TOP_PAD", "TOP_PAD_VARIABLE", "retain_freed_memory"]

#: Bytes of freed memory the heap keeps: above what one query over a million passages
#: allocates at once (measured: 32 MB was already enough, 64 MB as good as 256 MB).
DEFAULT_TOP_PAD = 64 * 2**20
#: Overrides the pad (bytes; 0 leaves the allocator alone).
TOP_PAD_VARIABLE = "HYBRIDSEARCH_MALLOC_TOP_PAD"
#: glibc's own variable: when set, glibc took it at start and the user's choice stands.
GLIBC_VARIABLE = "MALLOC_TOP_PAD_"
#: ``M_TOP_PAD`` in glibc's <malloc.h>.
_M_TOP_PAD = -2


def retain_freed_memory(environ: Mapping[str, str] | None = None) -> int | None:
    """Ask glibc's malloc to keep freed memory for reuse (see the module's documentation).

    Args:
        environ: The environment to read the variables from (default ``os.environ``).

    Returns:
        The pad set, in bytes, or None when nothing was changed (the user set
        ``MALLOC_TOP_PAD_``, the pad is 0, or the C library is not glibc).

    Raises:
        InvalidInputError: ``HYBRIDSEARCH_MALLOC_TOP_PAD`` is not a whole number >= 0.
    """
    environ = os.environ if environ is None else environ
    if GLIBC_VARIABLE in environ:
        return None
    pad = _pad_from(environ.get(TOP_PAD_VARIABLE))
    if pad == 0 or sys.platform != "linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        done = libc.mallopt(ctypes.c_int(_M_TOP_PAD), ctypes.c_int(pad))
    except (OSError, AttributeError):
        return None
    return pad if done == 1 else None


def _pad_from(value: str | None) -> int:
    """The pad a variable's value asks for (unset: the default)."""
    if value is None:
        return DEFAULT_TOP_PAD
    try:
        pad = int(value.strip())
    except ValueError:
        pad = -1
    if not 0 <= pad < 2**31:
        raise InvalidInputError(
            f"{TOP_PAD_VARIABLE}={value!r}: expected a number of bytes from 0 (leave malloc "
            f"alone) to {2**31 - 1}"
        )
    return pad
