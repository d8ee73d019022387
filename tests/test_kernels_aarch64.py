"""The NEON kernels and both aarch64 dispatch paths, under qemu-aarch64.

The C core and its C tests (native/tests, which sweep every registered kernel
against its reference and an int64 oracle) are cross-compiled statically for
aarch64 and run twice: with ``-cpu max`` (dotprod: the neondot kernels are
dispatched) and with ``-cpu cortex-a53`` (no dotprod: they are skipped and the
plain NEON kernels are dispatched). Without the toolchain the tests skip,
unless CONNTRA_REQUIRE_TOOLCHAINS=1 (CI), where they fail.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess

import pytest
from _tools import require_tools

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
CC, QEMU = "aarch64-linux-gnu-gcc", "qemu-aarch64"
FLAGS = ["-std=c99", "-O2", "-Wall", "-Wextra", "-Werror", "-pedantic", "-Wconversion", "-Wshadow",
         "-static"]


def _need(tool: str) -> str:
    require_tools(tool)
    return shutil.which(tool)


@pytest.fixture(scope="module")
def aarch64_tests(tmp_path_factory) -> str:
    cc, _ = _need(CC), _need(QEMU)
    native = os.path.join(ROOT, "native")
    sources = sorted(glob.glob(os.path.join(native, "src", "*.c")) +
                     glob.glob(os.path.join(native, "tests", "*.c")))
    exe = str(tmp_path_factory.mktemp("aarch64") / "ct_tests")
    includes = [f"-I{os.path.join(native, d)}" for d in ("include", "src", "tests")]
    done = subprocess.run([cc, *FLAGS, *includes, *sources, "-o", exe], capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return exe


def _run(exe: str, cpu: str) -> str:
    env = {k: v for k, v in os.environ.items()
           if k not in ("CONNTRA_FORCE_SCALAR", "CONNTRA_KERNELS", "CONNTRA_NUM_THREADS")}
    done = subprocess.run([QEMU, "-cpu", cpu, exe], capture_output=True, text=True,
                          timeout=300, env=env)
    assert done.returncode == 0, f"-cpu {cpu}:\n{done.stdout}\n{done.stderr}"
    assert " 0 failed" in done.stdout, done.stdout
    return done.stdout


def _active(out: str) -> dict:
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("active ")]
    return {family: name for _, family, name in rows}


def test_neon_dotprod_path_under_cpu_max(aarch64_tests):
    out = _run(aarch64_tests, "max")
    assert _active(out).items() >= {
        "gemm": "ct_t2_s8_gemm__neondot", "gemv": "ct_t2_s8_gemv__neondot",
        "t2_pack": "ct_t2_s8_pack__neon", "t2_unpack": "ct_t2_s8_unpack__neon",
        "train_axpy": "ct_s8_s32_axpy__neon",
        "train_requant_diff": "ct_s32_s8_requant_diff__neon"}.items()
    for name in ("gemm__neon", "gemv__neon", "gemm__neondot", "gemv__neondot"):
        assert f"ct_t2_s8_{name}: " in out  # its sweep ran
    assert "ct_s8_s32_axpy__neon: checked" in out
    assert "ct_s32_s8_requant_diff__neon: checked" in out
    assert "skip" not in out


def test_plain_neon_path_under_cortex_a53(aarch64_tests):
    out = _run(aarch64_tests, "cortex-a53")
    assert _active(out).items() >= {
        "gemm": "ct_t2_s8_gemm__neon", "gemv": "ct_t2_s8_gemv__neon",
        "t2_pack": "ct_t2_s8_pack__neon", "t2_unpack": "ct_t2_s8_unpack__neon",
        "train_axpy": "ct_s8_s32_axpy__neon",
        "train_requant_diff": "ct_s32_s8_requant_diff__neon"}.items()
    assert "skip ct_t2_s8_gemm__neondot: this CPU lacks neondot" in out
    assert "skip ct_t2_s8_gemv__neondot: this CPU lacks neondot" in out
    assert "ct_t2_s8_gemv__neon: " in out and "ct_t2_s8_gemm__neon: " in out
