"""The NEON kernels and both aarch64 dispatch paths.

The C core and its C tests (native/tests, which sweep every registered kernel
against its reference and an int64 oracle) are built for aarch64 and run
twice: on an x86 host cross-compiled and under ``qemu-aarch64 -cpu max``
(dotprod: the neondot kernels are dispatched) and ``-cpu cortex-a53`` (no
dotprod: they are skipped and the plain NEON kernels are dispatched). The
convolution kernels (conv2d, depthwise) run their oracle sweep of
native/tests/test_conv.c on both, the popcount kernels (bit planes, dense
sums) theirs of native/tests/test_popcount.c. On both,
the C training run of native/tests/test_train_rank.c (ranking and exact steps)
must end at the parameter hash it ends at on x86. On an
aarch64 host the binary runs natively on the host CPU: the path the host's
dotprod support selects is checked as such, and the other one is reached with
``CONNTRA_KERNELS=neon`` (plain NEON on a dotprod CPU) or, on a CPU without
dotprod, the dotprod test skips for that reason. Without the toolchain the
tests skip, unless CONNTRA_REQUIRE_TOOLCHAINS=1 (CI), where they fail.
"""

from __future__ import annotations

import os

import _cbuild
import pytest
from _tools import Aarch64Target, aarch64_target, require_tools

FLAGS = (*_cbuild.STRICT_FLAGS, *_cbuild.EXTRA_WARNINGS, "-O2")
PLAIN = {
    "gemm": "ct_t2_s8_gemm__neon",
    "gemv": "ct_t2_s8_gemv__neon",
    "t2_pack": "ct_t2_s8_pack__neon",
    "t2_unpack": "ct_t2_s8_unpack__neon",
    "train_axpy": "ct_s8_s32_axpy__neon",
    "train_requant_diff": "ct_s32_s8_requant_diff__neon",
    "conv2d": "ct_t2_s8_conv2d__neon",
    "dwconv2d": "ct_t2_s8_dwconv2d__neon",
    "bp_pack": "ct_bp_s8_pack__neon",
    "tm_bp_mm": "ct_tm_bp_mm__neon",
}
# The C training run whose parameter hash is a constant: it must pass on both CPUs.
RANK_RUN = "ok   train_rank_same_bytes_on_every_platform"
DOTPROD = {
    **PLAIN,
    "gemm": "ct_t2_s8_gemm__neondot",
    "gemv": "ct_t2_s8_gemv__neondot",
    "conv2d": "ct_t2_s8_conv2d__neondot",
}
# The convolution kernels' runs against the int64 oracle (native/tests/test_conv.c).
CONV_NEON = ("ct_t2_s8_conv2d__neon", "ct_t2_s8_dwconv2d__neon")
# The popcount kernels' runs against the int64 oracle (native/tests/test_popcount.c).
POPCOUNT_NEON = ("ct_bp_s8_pack__neon", "ct_tm_bp_mm__neon")
POPCOUNT_TESTS = (
    "popcount_every_kernel_matches_oracle",
    "popcount_flush_bounds_and_longest_rows",
    "popcount_bad_inputs_get_a_status",
    "popcount_network_same_logits_with_and_without_masks",
    "popcount_conv_network_same_logits_with_and_without_masks",
    "popcount_mask_packers_match_reference",
)


def _popcount_ran(out: str) -> None:
    for name in POPCOUNT_NEON:
        assert f"{name}: " in out and f"{name}: 0 cases" not in out, name
    for test in POPCOUNT_TESTS:
        assert f"ok   {test}" in out, test


def host_has_dotprod() -> bool:
    """Whether this (aarch64) host's CPU reports the dot product (asimddp)."""
    from conntra.machine import cpu_flags

    return "asimddp" in cpu_flags()


@pytest.fixture(scope="module")
def aarch64_tests(tmp_path_factory) -> tuple[Aarch64Target, str, list[str]]:
    target = aarch64_target()
    require_tools(*target.tools)
    rc, log, exe, qemu_args = _cbuild.build_aarch64(target, FLAGS, tmp_path_factory.mktemp("a64"))
    assert rc == 0, log
    return target, str(exe), qemu_args


def _run(built, cpu: str, kernels: str | None = None) -> str:
    target, exe, qemu_args = built
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in ("CONNTRA_FORCE_SCALAR", "CONNTRA_KERNELS", "CONNTRA_NUM_THREADS")
    }
    if kernels is not None:
        env["CONNTRA_KERNELS"] = kernels
    cmd = target.command(exe, cpu or None)
    if not target.native:
        cmd = [cmd[0], *qemu_args, *cmd[1:]]
    rc, out = _cbuild._run(cmd, env=env)
    assert rc == 0, f"cpu {cpu}:\n{out}"
    assert _cbuild.parse_summary(out) is not None and " 0 failed" in out, out
    return out


def _active(out: str) -> dict:
    rows = [line.split() for line in out.splitlines() if line.strip().startswith("active ")]
    return {family: name for _, family, name in rows}


def test_target_selection():
    """Native on aarch64/arm64 hosts, qemu elsewhere; the run command follows."""
    for machine in ("aarch64", "arm64", "AARCH64"):
        t = aarch64_target(machine)
        assert t.native and t.cc == "gcc" and t.qemu is None and t.tools == ("gcc",)
        assert t.command("/x/ct_tests", "max") == ["/x/ct_tests"]
    for machine in ("x86_64", "AMD64", "riscv64"):
        t = aarch64_target(machine)
        assert not t.native and t.tools == ("aarch64-linux-gnu-gcc", "qemu-aarch64")
        assert t.command("/x/ct_tests", "max") == ["qemu-aarch64", "-cpu", "max", "/x/ct_tests"]
        assert t.command("/x/ct_tests") == ["qemu-aarch64", "/x/ct_tests"]


def test_neon_dotprod_path(aarch64_tests):
    target = aarch64_tests[0]
    if target.native and not host_has_dotprod():
        pytest.skip("this aarch64 host's CPU lacks dotprod (asimddp)")
    out = _run(aarch64_tests, "max")
    assert _active(out).items() >= DOTPROD.items()
    for name in ("gemm__neon", "gemv__neon", "gemm__neondot", "gemv__neondot"):
        assert f"ct_t2_s8_{name}: " in out  # its sweep ran
    assert "ct_s8_s32_axpy__neon: checked" in out
    assert "ct_s32_s8_requant_diff__neon: checked" in out
    for name in (*CONV_NEON, "ct_t2_s8_conv2d__neondot"):
        assert f"{name}: " in out and f"{name}: 0 cases" not in out  # its oracle sweep ran
    assert "skip" not in out
    assert RANK_RUN in out  # the same trained bytes as on x86 (native/tests/test_train_rank.c)
    _popcount_ran(out)


def test_plain_neon_path(aarch64_tests):
    target = aarch64_tests[0]
    if target.native and host_has_dotprod():
        # The host would pick neondot: keep it on the plain NEON kernels.
        out = _run(aarch64_tests, "", kernels="neon")
        assert _active(out).items() >= PLAIN.items()
        return
    out = _run(aarch64_tests, "cortex-a53")
    assert _active(out).items() >= PLAIN.items()
    assert "skip ct_t2_s8_gemm__neondot: this CPU lacks neondot" in out
    assert "skip ct_t2_s8_gemv__neondot: this CPU lacks neondot" in out
    assert "ct_t2_s8_gemv__neon: " in out and "ct_t2_s8_gemm__neon: " in out
    assert "skip ct_t2_s8_conv2d__neondot: this CPU lacks neondot" in out
    for name in CONV_NEON:
        assert f"{name}: " in out and f"{name}: 0 cases" not in out
    _popcount_ran(out)
    assert RANK_RUN in out
