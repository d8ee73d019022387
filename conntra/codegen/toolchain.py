"""Compilers, QEMU and the instruction-counting plugin, found and run.

A missing or failing tool raises ToolchainError naming the tool, the command
and its output, never a bare subprocess exception.
"""

from __future__ import annotations

import hashlib
import importlib.resources
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

from conntra.errors import ToolchainError
from conntra.fileio import atomic_write

# The strict flags every generated C file must pass (docs/firmware.md, "The header").
STRICT_FLAGS = ["-std=c99", "-Wall", "-Wextra", "-Wconversion", "-pedantic", "-Werror"]
OPT_FLAGS = ["-O2"]
ARM_FLAGS = ["-mthumb", "-ffreestanding", "-ffunction-sections", "-fdata-sections", "-fstack-usage"]
# Host-side tool, not a template: package data of conntra.codegen.
PLUGIN_SOURCE = "plugins/qemu_icount.c"
QEMU_TIMEOUT_S = 600


def tool(name: str, env_var: str | None = None) -> str:
    """Absolute path of a tool (an environment variable may name another binary)."""
    wanted = os.environ.get(env_var, name) if env_var else name
    found = shutil.which(wanted)
    if not found:
        raise ToolchainError(
            f"{wanted} not found on PATH: install it (Debian: "
            f"{_PACKAGES.get(name, name)}) or set {env_var or 'PATH'}"
        )
    return found


_PACKAGES = {
    "gcc": "gcc",
    "arm-none-eabi-gcc": "gcc-arm-none-eabi libnewlib-arm-none-eabi",
    "arm-none-eabi-size": "binutils-arm-none-eabi",
    "arm-none-eabi-nm": "binutils-arm-none-eabi",
    "qemu-system-arm": "qemu-system-arm",
}


def host_cc() -> str:
    return tool("gcc", "CONNTRA_HOST_CC")


def arm_cc() -> str:
    return tool("arm-none-eabi-gcc", "CONNTRA_ARM_CC")


def run(cmd: list[str], *, cwd=None, timeout: float = 300, what: str = "") -> str:
    """Runs a command, returns its stdout; a failure becomes ToolchainError."""
    try:
        proc = subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    except FileNotFoundError as exc:
        raise ToolchainError(f"{cmd[0]} not found: {exc}") from exc
    except subprocess.TimeoutExpired as exc:
        raise ToolchainError(
            f"{what or cmd[0]} timed out after {timeout:.0f} s: {' '.join(cmd)}"
        ) from exc
    if proc.returncode != 0:
        out = (proc.stdout + proc.stderr).strip()
        raise ToolchainError(
            f"{what or cmd[0]} failed (exit status {proc.returncode}): "
            f"{' '.join(cmd)}\n{out[-4000:]}"
        )
    return proc.stdout


def cache_dir() -> Path:
    base = os.environ.get("CONNTRA_CACHE_DIR") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "conntra"
    )
    return Path(base)


def icount_plugin() -> Path:
    """The QEMU TCG plugin counting executed instructions, built once per source
    version with host gcc into the cache directory. The library is compiled in a
    private temporary directory and then written atomically, so concurrent builds and a
    killed build never leave a partial .so where QEMU would load it."""
    src = importlib.resources.files("conntra.codegen").joinpath(PLUGIN_SOURCE)
    source = src.read_bytes()
    digest = hashlib.sha256(source).hexdigest()[:12]
    out = cache_dir() / f"qemu_icount-{digest}.so"
    if not out.exists():
        with tempfile.TemporaryDirectory(prefix="conntra-plugin-") as tmp:
            c_file, so_file = Path(tmp) / "qemu_icount.c", Path(tmp) / "qemu_icount.so"
            c_file.write_bytes(source)
            run(
                [
                    host_cc(),
                    "-shared",
                    "-fPIC",
                    "-O2",
                    "-Wall",
                    "-Wextra",
                    "-Werror",
                    "-o",
                    str(so_file),
                    str(c_file),
                ],
                what="building the QEMU instruction-count plugin",
            )
            atomic_write(out, so_file.read_bytes())
    return out
