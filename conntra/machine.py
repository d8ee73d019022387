"""What machine a figure was measured on: CPU model, SIMD flags, CPU count.

Every benchmark and comparison records this next to its numbers, since the
CPU changes between runs and machines are shared.
"""

from __future__ import annotations

import os
import platform

# The flags that decide which kernels can run.
SIMD_FLAGS = frozenset(
    {
        "avx2",
        "fma",
        "bmi2",
        "avx512f",
        "avx512bw",
        "avx512_vnni",
        "avx512_vpopcntdq",
        "avx512_bitalg",
        "avx_vnni",
        "asimd",
        "asimddp",
    }
)


def _cpuinfo() -> tuple[str, list[str]]:
    model, flags = "", []
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            for line in f:
                key, _, value = line.partition(":")
                key = key.strip()
                if key in ("model name", "Model", "CPU part") and not model:
                    model = value.strip()
                elif key in ("flags", "Features") and not flags:
                    flags = sorted(set(value.split()) & SIMD_FLAGS)
    except OSError:
        pass
    return model, flags


def cpu_model() -> str:
    """The CPU's marketing name where the OS tells it, else the architecture."""
    model, _ = _cpuinfo()
    return model or platform.processor() or platform.machine() or "unknown CPU"


def cpu_flags() -> list[str]:
    """The SIMD feature flags of SIMD_FLAGS that the CPU reports (Linux)."""
    return _cpuinfo()[1]


def describe() -> str:
    """One line: CPU model, architecture, CPU count."""
    return f"{cpu_model()}, {platform.machine()}, {os.cpu_count()} CPUs"
