"""pytest-benchmark runs of the VNNI GEMM/GEMV kernels against the AVX2 ones,
numpy float32 and the multi-stream read ceiling.

    CONNTRA_NUM_THREADS=1 .venv/bin/python -m pytest benchmarks/bench_vnni.py \\
        --benchmark-only -s

Cases (docs/kernels.md, "AVX-512 VNNI and AVX-VNNI"): GEMM 4096x4096 with 256
columns against numpy float32 ``X @ W.T`` of the same shape in the same run
(goal: 3x numpy on an AVX-512 VNNI machine), and GEMV 16384x16384, weights
streamed from memory, against the read ceiling (goal: 90 %): the best of 1,
2, 4 and 8 concurrent read streams on one thread (conntra.bench.read_ceiling,
measured just before each case), and a plain read of the same weight bytes
paired with the kernel in every round. Each kernel is selected through the
registry (engine.select_kernel), as the tests do; kernels this CPU lacks are
skipped. The GEMV reads with the ceiling's fastest stream count, and
test_gemv_stream_counts times every count.
Each result carries the CPU model, flags, the kernel and the stream counts in
``extra_info`` and, with -s, one printed line. No thresholds: numbers are
reported, not asserted (the machine may be shared and noisy).
"""

from __future__ import annotations

import numpy as np
import pytest

from conntra import bench, engine
from conntra.machine import cpu_model
from conntra.packing import pack_t2

GEMM = bench.Case("gemm 4096x4096 b256", 4096, 4096, 256, False)
GEMV = bench.Case("gemv 16384x16384", 16384, 16384, 1, True)
# Weights in cache: the kernel's compute rate, which bounds how much of the
# memory stalls it can hide when the weights stream from DRAM.
CACHED = bench.Case("gemv 4096x4096 cache", 4096, 4096, 1, False)
ISAS = ("avx2", "avx512vnni256", "avxvnni", "avx512vnni")


@pytest.fixture(scope="module")
def machine():
    return bench.machine_info(1)


class _Selected:
    """Registered kernel `isa` of the case's family made the dispatched one,
    and the GEMV stream count set, for the duration; both restored after."""

    def __init__(self, case: bench.Case, isa: str, streams: int):
        fam = "gemv" if case.batch < 4 else "gemm"
        self.row = next(r for r in engine.kernels() if r["family_name"] == fam and r["isa"] == isa)
        self.streams = streams

    def __enter__(self):
        if not self.row["supported"]:
            pytest.skip(f"{self.row['name']}: this CPU lacks {self.row['isa']}")
        self.before = engine.gemv_streams()
        engine.select_kernel(self.row["family"], self.row["index"])
        engine.set_gemv_streams(self.streams)
        return self

    def __exit__(self, *exc):
        engine.select_kernel(self.row["family"], -1)
        engine.set_gemv_streams(self.before)


def _report(benchmark, row: dict, ceiling: dict, machine: dict) -> None:
    # On a shared machine the read speed drifts between measurements, so the
    # share is taken of the best read seen for this case: the ceiling
    # measured just before it, or the paired read of its rounds.
    best = max(ceiling["best_gbs"], row.get("read_gbs", 0.0))
    row["pct_ceiling"] = 100 * row["weight_gbs"] / best
    benchmark.extra_info.update(row)
    benchmark.extra_info["read_ceiling"] = ceiling
    benchmark.extra_info["machine"] = machine
    line = (
        f"{cpu_model()} | {row['case']} | {row['kernel']} streams {row['gemv_streams']} | "
        f"{row['ms']['conntra']:.3f} ms {row['gops']:.1f} GOPS | x numpy {row['x_numpy']:.2f}"
    )
    if "pct_read" in row:
        line += (
            f" | {row['weight_gbs']:.1f} GB/s, {row['pct_read']:.0f} % of the paired read "
            f"({row['read_gbs']:.1f} GB/s, {row['read_streams']} streams), "
            f"{row['pct_ceiling']:.0f} % of the best read ({best:.1f} GB/s; ceiling "
            + " ".join(f"{k}:{v:.1f}" for k, v in ceiling["gbs"].items())
            + ")"
        )
    print("\n" + line)


def _time(benchmark, case: bench.Case) -> None:
    rng = np.random.default_rng(1)
    w = rng.integers(-1, 2, size=(case.n, case.k), dtype=np.int8)
    x = rng.integers(0, 128, size=(case.batch, case.k), dtype=np.int8)
    op = engine.DenseOp(pack_t2(w), case.k, case.n, np.zeros(case.n, np.int32), x)
    benchmark.pedantic(op.run, kwargs={"threads": 1}, rounds=5, iterations=1, warmup_rounds=1)


@pytest.mark.parametrize("case", [GEMM, GEMV, CACHED], ids=[GEMM.name, GEMV.name, CACHED.name])
@pytest.mark.parametrize("isa", ISAS)
def test_kernel_vs_numpy_and_ceiling(benchmark, case, isa, machine):
    ceiling = bench.read_ceiling(256 << 20, rounds=3)
    with _Selected(case, isa, ceiling["best_streams"]):
        _time(benchmark, case)
        with bench._blas_limits(1):
            row = bench.run_case(case, rounds=7, threads=1, bandwidth=ceiling["best_gbs"])
    _report(benchmark, row, ceiling, machine)


@pytest.mark.parametrize("streams", engine.GEMV_STREAMS)
def test_gemv_stream_counts(benchmark, streams, machine):
    """The VNNI GEMV with each stream count, paired with a read of the same
    bytes with the same count: which way of reading suits this machine."""
    ceiling = bench.read_ceiling(256 << 20, rounds=3)
    with _Selected(GEMV, "avx512vnni", streams):
        _time(benchmark, GEMV)
        with bench._blas_limits(1):
            row = bench.run_case(
                GEMV, rounds=7, threads=1, bandwidth=ceiling["best_gbs"], read_streams=streams
            )
    _report(benchmark, row, ceiling, machine)
