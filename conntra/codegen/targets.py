"""Where generated firmware runs: the host, or a Cortex-M core emulated by QEMU.

Boards and memory maps are those of QEMU's machine models (each one checked to boot a
plain vector table under qemu-system-arm 7.2 with semihosting).
"""

from __future__ import annotations

from dataclasses import dataclass

from conntra.errors import InputError


@dataclass(frozen=True)
class Target:
    name: str
    cpu: str | None = None  # -mcpu; None for the host
    board: str | None = None  # qemu-system-arm -M
    flash_origin: int = 0
    flash_length: str = ""
    ram_origin: int = 0
    ram_length: str = ""
    dsp: bool = False  # the compiler defines __ARM_FEATURE_DSP for this -mcpu

    @property
    def is_host(self) -> bool:
        return self.cpu is None


TARGETS = {
    t.name: t
    for t in [
        Target("host"),
        Target("cortex-m0", "cortex-m0", "microbit", 0x0, "256K", 0x20000000, "16K"),
        Target("cortex-m3", "cortex-m3", "mps2-an385", 0x0, "4M", 0x20000000, "4M"),
        Target("cortex-m4", "cortex-m4", "mps2-an386", 0x0, "4M", 0x20000000, "4M", dsp=True),
        Target("cortex-m7", "cortex-m7", "mps2-an500", 0x0, "4M", 0x20000000, "4M", dsp=True),
        Target(
            "cortex-m33", "cortex-m33", "mps2-an505", 0x10000000, "4M", 0x38000000, "4M", dsp=True
        ),
        Target(
            "cortex-m55",
            "cortex-m55",
            "mps3-an547",
            0x10000000,
            "512K",
            0x30000000,
            "512K",
            dsp=True,
        ),
    ]
}


def get_target(name: str | Target) -> Target:
    """The target of that name (a Target passes through: benchmarks build M0 code for a
    board with more RAM than the micro:bit)."""
    if isinstance(name, Target):
        return name
    try:
        return TARGETS[name]
    except KeyError:
        raise InputError(f"unknown target {name!r}; choose one of {', '.join(TARGETS)}") from None
