"""Trainer engine benchmarks (pytest-benchmark), ratios against baselines
timed in the same run, interleaved, median of per-round ratios.

Run: .venv/bin/python -m pytest benchmarks/bench_train.py --benchmark-only -s

- exact checks: candidates evaluated per second on a 1024-wide hidden layer
  and on the output layer (network 1024-1024-10, batch 1024), against one
  full forward pass of the batch through the trainer (the alternative to an
  incremental check; scalar reference kernels) and against numpy's float32
  GEMM of the same layer and batch;
- one CoNNTrA epoch against one numpy backprop epoch on the same data.
"""

from __future__ import annotations

import json
import platform
import statistics
import time

import numpy as np
import pytest
from threadpoolctl import threadpool_info, threadpool_limits

from conntra.engine import kernels
from conntra.train.ctrainer import WEIGHT, CTrainer

WIDTH, BATCH, CLASSES, N_CANDS = 1024, 1024, 10, 2048


def machine():
    blas = [
        f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
        for i in threadpool_info()
    ]
    isa = sorted({k["isa"] for k in kernels() if k["active"]})
    return {"cpu": platform.processor() or platform.machine(), "blas": blas, "dispatched_isa": isa}


@pytest.fixture(scope="module")
def loaded():
    rng = np.random.default_rng(0)
    sizes = [WIDTH, WIDTH, CLASSES]
    tr = CTrainer(sizes, BATCH)
    params = [
        (rng.integers(-1, 2, (WIDTH, WIDTH)).astype(np.int8), np.zeros(WIDTH, np.int32), 6),
        (rng.integers(-1, 2, (CLASSES, WIDTH)).astype(np.int8), np.zeros(CLASSES, np.int32), -1),
    ]
    tr.set_params(params)
    x = rng.integers(0, 128, (BATCH, WIDTH)).astype(np.int8)
    x[rng.random(x.shape) < 0.5] = 0
    tr.set_batch(x, rng.integers(0, CLASSES, BATCH), 100.0)
    return tr, params, rng


def cands_for(layer, params, rng, n):
    w = params[layer][0]
    j = rng.integers(0, w.shape[0], n)
    i = rng.integers(0, w.shape[1], n)
    value = np.where(w[j, i] == 1, 0, w[j, i] + 1)
    return np.stack([np.full(n, layer), np.full(n, WEIGHT), j, i, value], 1).astype(np.int32)


def timed(fn):
    t0 = time.perf_counter()
    fn()
    return time.perf_counter() - t0


@pytest.mark.parametrize("layer", [0, 1], ids=["hidden-1024", "output"])
def test_exact_check_vs_full_forward(benchmark, loaded, layer):
    tr, params, rng = loaded
    cands = cands_for(layer, params, rng, N_CANDS)
    # min_gain = inf: every candidate is checked exactly, none is applied
    check = lambda: tr.step(cands, min_gain=float("inf"))  # noqa: E731
    # the float alternative: numpy float32 GEMM of the same layer and batch
    wf = params[layer][0].astype(np.float32)
    xf = rng.random((BATCH, wf.shape[1]), dtype=np.float32)
    gemm = lambda: xf @ wf.T  # noqa: E731
    ratios, per_check, forward, gemm_t, gemm_ratios = [], [], [], [], []
    with threadpool_limits(1):
        for r in range(7):
            pair = [("check", check), ("forward", tr.recompute), ("gemm", gemm)]
            if r % 2:
                pair.reverse()
            t = {name: timed(fn) for name, fn in pair}
            per_check.append(t["check"] / N_CANDS)
            forward.append(t["forward"])
            gemm_t.append(t["gemm"])
            ratios.append(t["forward"] / per_check[-1])
            gemm_ratios.append(t["gemm"] / per_check[-1])
        benchmark.pedantic(check, rounds=3, iterations=1)
    info = {
        "layer": "hidden 1024x1024" if layer == 0 else "output 10x1024",
        "batch": BATCH,
        "candidates_per_s": 1.0 / statistics.median(per_check),
        "check_us": 1e6 * statistics.median(per_check),
        "full_forward_ms": 1e3 * statistics.median(forward),
        "forward_over_check": statistics.median(ratios),
        "numpy_f32_layer_gemm_ms": 1e3 * statistics.median(gemm_t),
        "numpy_gemm_over_check": statistics.median(gemm_ratios),
        **machine(),
    }
    benchmark.extra_info.update(info)
    print(json.dumps(info))


def test_conntra_epoch_vs_backprop_epoch(benchmark):
    from conntra.datasets import Dataset
    from conntra.train import api
    from conntra.train.coordinate import ConntraConfig

    rng = np.random.default_rng(1)
    centers = rng.integers(0, 256, (10, 784))
    y = rng.integers(0, 10, 8192)
    x = np.clip(centers[y] + rng.normal(0, 80, (8192, 784)), 0, 255).astype(np.uint8)
    data = Dataset("synthetic", x, y, x[:100], y[:100], 10, None, "image")
    split = api.prepare(data, [256], val_fraction=0.0)
    cfg = ConntraConfig(init="random", batch=4096)  # 2 batches per epoch
    conntra = lambda: api.train(data, [256], "conntra", epochs=1, config=cfg, split=split)  # noqa: E731
    backprop = lambda: api.train(data, [256], "backprop", epochs=1, split=split)  # noqa: E731
    ratios = []
    with threadpool_limits(1):
        for r in range(3):
            pair = [("c", conntra), ("b", backprop)]
            if r % 2:
                pair.reverse()
            t = {name: timed(fn) for name, fn in pair}
            ratios.append(t["c"] / t["b"])
        benchmark.pedantic(conntra, rounds=1, iterations=1)
    info = {"conntra_over_backprop_epoch": statistics.median(ratios), **machine()}
    benchmark.extra_info.update(info)
    print(json.dumps(info))
