"""The C unit tests of the core (native/tests/test_*.c) as a standalone binary, built with
strict warnings and run three ways: natively, under ASan + UBSan, and for aarch64 (natively on
an aarch64 host, else cross-compiled and run under qemu-aarch64). Each binary is built and run
once per module (fixtures)."""

from __future__ import annotations

from pathlib import Path

import _cbuild
import pytest
from _tools import aarch64_target, require_tools

NATIVE_FLAGS = (*_cbuild.STRICT_FLAGS, *_cbuild.EXTRA_WARNINGS, "-O2")
SANITIZE_FLAGS = (*_cbuild.STRICT_FLAGS, *_cbuild.EXTRA_WARNINGS, *_cbuild.SANITIZE_FLAGS)
TSAN_FLAGS = (*_cbuild.STRICT_FLAGS, *_cbuild.EXTRA_WARNINGS, *_cbuild.THREAD_SANITIZE_FLAGS)
AARCH64_FLAGS = (*_cbuild.STRICT_FLAGS, *_cbuild.EXTRA_WARNINGS, "-O2")


def _check(rc: int, output: str) -> None:
    """rc 0 and a closing "N passed, 0 failed" line with every CT_TEST counted."""
    expected = _cbuild.expected_test_count()
    summary = _cbuild.parse_summary(output)
    detail = f"rc={rc}, expected >= {expected} passed; output:\n{output}"
    assert rc == 0, detail
    assert summary is not None, "no closing 'N passed, N failed' line; " + detail
    passed, failed = summary
    assert failed == 0, detail
    assert passed >= expected, detail


@pytest.fixture(scope="module")
def native_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str]:
    require_tools("gcc")
    return _cbuild.build_and_run("gcc", NATIVE_FLAGS, work_dir=tmp_path_factory.mktemp("native"))


@pytest.fixture(scope="module")
def sanitize_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str]:
    require_tools("gcc")
    return _cbuild.build_and_run("gcc", SANITIZE_FLAGS, work_dir=tmp_path_factory.mktemp("asan"))


@pytest.fixture(scope="module")
def tsan_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str]:
    """The threaded paths (ct_parallel_for, threaded GEMV/GEMM and convolutions, the trainer's
    threaded scored step: test_threads.c, test_kernels_dispatch.c, test_conv.c,
    test_net_kinds.c) under ThreadSanitizer, with a default of 2 threads; the rest of the
    suite comes along."""
    require_tools("gcc")
    work = tmp_path_factory.mktemp("tsan")
    rc, log, exe = _cbuild.build("gcc", TSAN_FLAGS, work)
    if rc != 0:
        return rc, "build failed:\n" + log
    return _cbuild.run_tsan(exe, env={"CONNTRA_NUM_THREADS": "2"})


@pytest.fixture(scope="module")
def aarch64_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[int, str]:
    target = aarch64_target()
    require_tools(*target.tools)
    work: Path = tmp_path_factory.mktemp("aarch64")
    rc, log, exe, qemu_args = _cbuild.build_aarch64(target, AARCH64_FLAGS, work)
    if rc != 0:
        return rc, "build failed:\n" + log
    return _cbuild.run_aarch64(target, exe, qemu_args)


def test_c_core_native(native_run: tuple[int, str]) -> None:
    _check(*native_run)


def test_c_core_asan_ubsan(sanitize_run: tuple[int, str]) -> None:
    _check(*sanitize_run)


def test_c_core_thread_sanitizer(tsan_run: tuple[int, str]) -> None:
    rc, output = tsan_run
    assert "ThreadSanitizer" not in output, output
    _check(rc, output)
    assert "ok   threads_scored_train_step_same_bits" in output
    assert "ok   kernels_threads_same_bits_for_every_count" in output
    assert "ok   train_rank_same_bytes_on_every_platform" in output  # ranking on 3 threads
    assert "ok   conv_threads_same_bits" in output  # convolutions split over positions
    assert "ok   net_kinds_threads_same_bits" in output


def test_c_core_aarch64(aarch64_run: tuple[int, str]) -> None:
    _check(*aarch64_run)


def test_summary_parser() -> None:
    """The pass/fail gate itself: only a closing summary line counts."""
    assert _cbuild.parse_summary("ok   a\nok   b\n2 passed, 0 failed\n") == (2, 0)
    assert _cbuild.parse_summary("3 passed, 1 failed\n") == (3, 1)
    assert _cbuild.parse_summary("1 passed, 0 failed\n==1==ERROR: AddressSanitizer") is None
    assert _cbuild.parse_summary("") is None
    assert _cbuild.expected_test_count() >= 30
