"""Tests of hybridsearch.dense.threads: thread settings from the environment or a call."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from hybridsearch.dense.threads import (
    FAISS_THREADS_VARIABLE,
    TORCH_THREADS_VARIABLE,
    WAIT_POLICY_VARIABLE,
    ThreadSettings,
    apply_thread_settings,
    prepare_openmp,
)
from hybridsearch.errors import InvalidInputError


def test_settings_from_the_environment():
    assert ThreadSettings.from_environment({}) == ThreadSettings(None, None)
    environ = {TORCH_THREADS_VARIABLE: "3", FAISS_THREADS_VARIABLE: " 1 "}
    assert ThreadSettings.from_environment(environ) == ThreadSettings(3, 1)
    assert ThreadSettings.from_environment({TORCH_THREADS_VARIABLE: ""}).torch_threads is None


@pytest.mark.parametrize("value", ["0", "-2", "two", "1.5"])
def test_a_bad_variable_is_named(value):
    with pytest.raises(InvalidInputError, match=f"{FAISS_THREADS_VARIABLE}=.*positive integer"):
        ThreadSettings.from_environment({FAISS_THREADS_VARIABLE: value})


@pytest.mark.parametrize("value", [0, -1, 1.0, True, "2"])
def test_bad_counts_refused(value):
    with pytest.raises(InvalidInputError, match="torch_threads must be a positive int"):
        ThreadSettings(torch_threads=value)


def test_wait_policy_set_only_when_unset_and_no_runtime_started(monkeypatch):
    monkeypatch.delitem(sys.modules, "torch", raising=False)
    monkeypatch.delitem(sys.modules, "faiss", raising=False)
    environ: dict[str, str] = {}
    assert prepare_openmp(environ) is True
    assert environ == {WAIT_POLICY_VARIABLE: "PASSIVE"}
    chosen = {WAIT_POLICY_VARIABLE: "ACTIVE"}
    assert prepare_openmp(chosen) is False and chosen == {WAIT_POLICY_VARIABLE: "ACTIVE"}
    monkeypatch.setitem(sys.modules, "torch", object())  # a runtime already started
    late: dict[str, str] = {}
    assert prepare_openmp(late) is False and late == {}


def test_apply_returns_what_it_replaced():
    torch = pytest.importorskip("torch")
    faiss = pytest.importorskip("faiss")
    before = (torch.get_num_threads(), faiss.omp_get_max_threads())
    previous = apply_thread_settings(ThreadSettings(torch_threads=1, faiss_threads=1))
    try:
        assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == (1, 1)
        assert (previous.torch_threads, previous.faiss_threads) == before
    finally:
        apply_thread_settings(previous)
    assert (torch.get_num_threads(), faiss.omp_get_max_threads()) == before


def test_a_fresh_process_gets_passive_openmp_and_the_variables_threads():
    """What a user's process gets: hybridsearch imports torch and faiss the way it documents."""
    script = (
        "import json, os\n"
        "from hybridsearch.dense.threads import prepare_faiss, prepare_torch\n"
        "torch = prepare_torch(); faiss = prepare_faiss()\n"
        "print(json.dumps([os.environ.get('OMP_WAIT_POLICY'), torch.get_num_threads(),"
        " faiss.omp_get_max_threads()]))\n"
    )
    environ = {k: v for k, v in os.environ.items() if k not in {WAIT_POLICY_VARIABLE}}
    environ |= {TORCH_THREADS_VARIABLE: "1", FAISS_THREADS_VARIABLE: "1"}
    completed = subprocess.run(
        [sys.executable, "-c", script], env=environ, capture_output=True, text=True, check=True
    )
    assert json.loads(completed.stdout.strip().splitlines()[-1]) == ["PASSIVE", 1, 1]
