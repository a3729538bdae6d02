"""Whether bf16 autocast pays off on a device.

bf16 halves the transformer's memory traffic, but only hardware with native bf16 matrix
instructions runs it faster than float32; elsewhere it is emulated and slower. The encoder
switches it on by default only where :func:`bf16_is_fast` says so.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import torch

__all__ = ["bf16_is_fast", "cpu_supports_bf16"]


def cpu_supports_bf16(cpuinfo_path: str | Path = "/proc/cpuinfo") -> bool:
    """Whether the CPU has native bf16 matrix instructions (``avx512_bf16`` or ``amx_bf16``).

    Without them bf16 autocast is emulated and slower than float32, so it is only switched on
    automatically where they exist. A missing/unreadable cpuinfo (non-Linux) counts as no.
    """
    try:
        text = Path(cpuinfo_path).read_text(encoding="utf-8", errors="replace")
    except OSError:
        return False
    for line in text.splitlines():
        if line.startswith("flags"):
            flags = set(line.partition(":")[2].split())
            return bool(flags & {"avx512_bf16", "amx_bf16"})
    return False


def bf16_is_fast(device: torch.device) -> bool:
    """Whether bf16 autocast is worth it on ``device``: native bf16 support, CPU or CUDA."""
    import torch

    if device.type == "cpu":
        return cpu_supports_bf16()
    if device.type == "cuda":
        return bool(torch.cuda.is_available() and torch.cuda.is_bf16_supported())
    return False
