"""pytest-benchmark runs of the ternary kernels against numpy float32.

    .venv/bin/python -m pytest benchmarks/bench_kernels.py --benchmark-only
    CONNTRA_BENCH_THREADS=2 ... (opt-in: 2 threads for conntra, BLAS and torch)

Each case: pytest-benchmark times our dispatched kernel (its stats table), and
conntra.bench.run_case measures the paired, interleaved ratios against numpy
float32 of the same shape (and PyTorch where installed) in the same process,
stored in ``extra_info`` with GOPS, weight GB/s and the share of the read
bandwidth measured in this run. No thresholds: numbers are reported, not
asserted (the machine is shared and noisy).
"""

from __future__ import annotations

import os

import numpy as np
import pytest

from conntra import bench, engine
from conntra.packing import pack_t2

THREADS = int(os.environ.get("CONNTRA_BENCH_THREADS", "1"))


@pytest.fixture(scope="module")
def bandwidth():
    with bench._blas_limits(THREADS):
        return bench.read_bandwidth()


@pytest.fixture(scope="module")
def machine():
    return bench.machine_info(THREADS)


@pytest.mark.parametrize("case", bench.CASES, ids=[c.name for c in bench.CASES])
def test_kernel_vs_numpy(benchmark, case, bandwidth, machine):
    rng = np.random.default_rng(1)
    w = rng.integers(-1, 2, size=(case.n, case.k), dtype=np.int8)
    x = rng.integers(0, 128, size=(case.batch, case.k), dtype=np.int8)
    op = engine.DenseOp(pack_t2(w), case.k, case.n, np.zeros(case.n, np.int32), x)
    benchmark.pedantic(op.run, kwargs={"threads": THREADS}, rounds=7, iterations=1, warmup_rounds=1)
    with bench._blas_limits(THREADS):
        row = bench.run_case(case, rounds=7, threads=THREADS, bandwidth=bandwidth)
    benchmark.extra_info.update(row)
    benchmark.extra_info["machine"] = machine
    benchmark.extra_info["bandwidth_gbs"] = bandwidth
