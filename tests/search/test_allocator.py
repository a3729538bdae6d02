"""Tests of hybridsearch.search.allocator: glibc keeps freed memory when asked, and only then."""

from __future__ import annotations

import os
import platform
import subprocess
import sys

import pytest

from hybridsearch.errors import InvalidInputError
from hybridsearch.search.allocator import DEFAULT_TOP_PAD, TOP_PAD_VARIABLE, retain_freed_memory

GLIBC = sys.platform == "linux" and platform.libc_ver()[0] == "glibc"

# Arrays of varied sizes allocated and freed, as BM25 does per query at a million passages;
# prints the page faults the last 20 rounds took.
_WORKLOAD = """
import resource, sys
import numpy as np
from hybridsearch.search.allocator import retain_freed_memory
print(retain_freed_memory(), file=sys.stderr)
sizes = np.random.default_rng(0).integers(100_000, 1_500_000, 30)
def round_(n):
    a = np.ones(n)
    b = a * 2.0
    return np.bincount(np.arange(n) % 1000, weights=b, minlength=800_000).sum()
for n in sizes[:10]:
    round_(n)
before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for n in sizes[10:]:
    round_(n)
print(resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before)
"""


def _faults(extra_environment: dict[str, str]) -> tuple[int, str]:
    environment = {k: v for k, v in os.environ.items() if not k.startswith("MALLOC_")}
    environment.pop(TOP_PAD_VARIABLE, None)
    done = subprocess.run(
        [sys.executable, "-c", _WORKLOAD],
        env=environment | extra_environment,
        capture_output=True,
        text=True,
        check=True,
    )
    return int(done.stdout.strip()), done.stderr.strip()


@pytest.mark.skipif(not GLIBC, reason="M_TOP_PAD is a glibc setting")
def test_freed_memory_is_reused_instead_of_faulted_in_again():
    kept, pad = _faults({})
    assert pad == str(DEFAULT_TOP_PAD)
    left_alone, nothing = _faults({TOP_PAD_VARIABLE: "0"})
    assert nothing == "None"
    # Measured here: ~40,000 faults left alone, a few hundred with the pad.
    assert kept * 10 < left_alone, (kept, left_alone)


def test_the_users_choice_stands():
    # glibc read MALLOC_TOP_PAD_ at start: nothing to change.
    assert retain_freed_memory({"MALLOC_TOP_PAD_": "0"}) is None
    assert retain_freed_memory({TOP_PAD_VARIABLE: "0"}) is None
    if GLIBC:
        assert retain_freed_memory({TOP_PAD_VARIABLE: str(2**20)}) == 2**20
        assert retain_freed_memory({}) == DEFAULT_TOP_PAD


@pytest.mark.parametrize("value", ["-1", "lots", "1.5", str(2**31)])
def test_a_bad_pad_is_refused_naming_the_variable(value):
    with pytest.raises(InvalidInputError, match=f"{TOP_PAD_VARIABLE}='{value}'"):
        retain_freed_memory({TOP_PAD_VARIABLE: value})
