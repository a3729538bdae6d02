"""Tests of hybridsearch.dense.precision: when bf16 autocast is switched on by default."""

from __future__ import annotations

import pytest

from hybridsearch.dense.encoder import Encoder
from hybridsearch.dense.precision import bf16_is_fast, cpu_supports_bf16


def test_cpu_bf16_detection(tmp_path):
    with_bf16 = tmp_path / "cpuinfo_bf16"
    with_bf16.write_text("processor\t: 0\nflags\t\t: fpu sse avx512f avx512_bf16\n")
    with_amx = tmp_path / "cpuinfo_amx"
    with_amx.write_text("processor\t: 0\nflags\t\t: fpu amx_tile amx_bf16\n")
    without = tmp_path / "cpuinfo_plain"
    without.write_text("processor\t: 0\nflags\t\t: fpu sse avx2\n")
    no_flags = tmp_path / "cpuinfo_no_flags"
    no_flags.write_text("processor\t: 0\n")
    assert cpu_supports_bf16(with_bf16) is True
    assert cpu_supports_bf16(with_amx) is True
    assert cpu_supports_bf16(without) is False
    assert cpu_supports_bf16(no_flags) is False
    assert cpu_supports_bf16(tmp_path / "missing") is False
    assert Encoder(bf16=None).bf16 is cpu_supports_bf16()


def test_bf16_is_fast_per_device():
    torch = pytest.importorskip("torch")
    assert bf16_is_fast(torch.device("cpu")) is cpu_supports_bf16()
    assert bf16_is_fast(torch.device("meta")) is False
    expected_cuda = torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    assert bf16_is_fast(torch.device("cuda")) is bool(expected_cuda)
