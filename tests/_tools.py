"""Finding the compilers and emulators a test needs, and how to run aarch64 code here.

A missing tool skips the test, except under CONNTRA_REQUIRE_TOOLCHAINS=1 (CI),
where a skip would hide a broken setup: there it fails the test.
"""

from __future__ import annotations

import os
import platform
import shutil
from dataclasses import dataclass


def missing_tools(*names: str) -> list[str]:
    return [n for n in names if shutil.which(n) is None]


def require_tools(*names: str) -> None:
    import pytest

    missing = missing_tools(*names)
    if not missing:
        return
    reason = f"tool(s) not found on PATH: {', '.join(missing)}"
    if os.environ.get("CONNTRA_REQUIRE_TOOLCHAINS") == "1":
        pytest.fail(f"{reason} (required because CONNTRA_REQUIRE_TOOLCHAINS=1)")
    pytest.skip(reason)


@dataclass(frozen=True)
class Aarch64Target:
    """How this host builds and runs aarch64 code: natively (an aarch64 host, its own gcc),
    or cross-compiled and run under qemu-user."""

    native: bool
    cc: str
    qemu: str | None

    @property
    def tools(self) -> tuple[str, ...]:
        return (self.cc,) if self.qemu is None else (self.cc, self.qemu)

    def command(self, exe: str, cpu: str | None = None) -> list[str]:
        """The command line that runs exe: exe itself natively (cpu is then the host's and
        is ignored), else under qemu with ``-cpu cpu`` when given."""
        if self.qemu is None:
            return [str(exe)]
        return [self.qemu, *(["-cpu", cpu] if cpu else []), str(exe)]


def aarch64_target(machine: str | None = None) -> Aarch64Target:
    """Native execution on an aarch64 (arm64) host, qemu-aarch64 everywhere else."""
    machine = (platform.machine() if machine is None else machine).lower()
    if machine in ("aarch64", "arm64"):
        return Aarch64Target(native=True, cc="gcc", qemu=None)
    return Aarch64Target(native=False, cc="aarch64-linux-gnu-gcc", qemu="qemu-aarch64")
