"""Benchmarks of the ternary kernels against numpy float32 (and PyTorch).

The protocol (docs/kernels.md): everything in one process, in interleaved
rounds; each round times the baseline and our kernel in shuffled order, and
the reported ratio is the median of the per-round ratios, so a noisy shared
machine slows both sides of a pair alike. With each result go the times,
GOPS (2 operations per weight and column), weight GB/s, the read bandwidth
of this machine measured in the same run and the share of it our kernel
reaches, and the machine: CPU, BLAS, dispatched kernels.

``run()`` is the library entry point; ``conntra bench`` and
benchmarks/bench_kernels.py both call it.
"""

from __future__ import annotations

import os
import platform
import random
import statistics
import time
from dataclasses import dataclass

import numpy as np

from conntra import engine
from conntra._native import ffi, lib
from conntra._status import check
from conntra.errors import InputError
from conntra.machine import cpu_flags, cpu_model
from conntra.packing import pack_t2


@dataclass(frozen=True)
class Case:
    name: str
    n: int  # output rows
    k: int  # inputs
    batch: int  # columns (1: GEMV)
    streamed: bool  # cycle through copies of the weights larger than 6x L3


CASES = [
    Case("gemv 1024x1024", 1024, 1024, 1, False),
    Case("gemv 4096x4096 cache", 4096, 4096, 1, False),
    Case("gemv 4096x4096 streamed", 4096, 4096, 1, True),
    Case("gemv 16384x16384", 16384, 16384, 1, True),
    Case("gemm 4096x4096 b16", 4096, 4096, 16, False),
    Case("gemm 4096x4096 b64", 4096, 4096, 64, False),
    Case("gemm 4096x4096 b256", 4096, 4096, 256, False),
]
QUICK_CASES = [CASES[0], CASES[1], Case("gemm 1024x1024 b64", 1024, 1024, 64, False)]

MIN_SECONDS = 0.02  # each timed sample runs at least this long
MAX_COPIES = 256  # streamed cases cycle through at most this many weight copies


def _l3_bytes() -> int:
    try:
        with open("/sys/devices/system/cpu/cpu0/cache/index3/size") as f:
            text = f.read().strip()
        return int(text[:-1]) * 1024 if text.endswith("K") else int(text)
    except (OSError, ValueError):
        return 32 << 20


def machine_info(threads: int) -> dict:
    """CPU model and SIMD flags, BLAS, library versions, dispatched kernels."""
    info = {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "flags": cpu_flags(),
        "cpus": os.cpu_count(),
        "l3_bytes": _l3_bytes(),
        "threads": threads,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "openblas_coretype": os.environ.get("OPENBLAS_CORETYPE"),
        "kernels": engine.active_kernels(),
    }
    try:
        from threadpoolctl import threadpool_info

        info["blas"] = [
            {k: d.get(k) for k in ("internal_api", "version", "architecture")}
            for d in threadpool_info()
            if d.get("user_api") == "blas"
        ]
    except ImportError:
        info["blas"] = None
    torch = _torch()
    info["torch"] = torch.__version__ if torch else None
    return info


def _torch():
    try:
        import torch
    except ImportError:
        return None
    return torch


def read_bandwidth(nbytes: int = 512 << 20, repeats: int = 5) -> float:
    """Best single-thread read bandwidth in GB/s: float32 sum of a buffer far
    larger than the caches (numpy's pairwise sum is SIMD and memory-bound)."""
    a = np.ones(nbytes // 4, dtype=np.float32)
    best = 0.0
    for _ in range(repeats):
        t0 = time.perf_counter()
        a.sum()
        best = max(best, nbytes / (time.perf_counter() - t0) / 1e9)
    return best


def read_ceiling(nbytes: int = 512 << 20, rounds: int = 3) -> dict:
    """The single-thread memory read ceiling (C, ct_read_ceiling): a buffer of
    ``nbytes`` read with 1, 2, 4 and 8 concurrent streams in ``rounds``
    interleaved rounds. Returns {"gbs": {streams: best GB/s}, "best_streams",
    "best_gbs"} (best_gbs is the largest of the four)."""
    gbs = ffi.new("double[4]")
    best = ffi.new("int32_t *")
    check(lib.ct_read_ceiling(int(nbytes), int(rounds), gbs, best), "ct_read_ceiling")
    per = {s: float(gbs[i]) for i, s in enumerate(engine.GEMV_STREAMS)}
    return {"gbs": per, "best_streams": int(best[0]), "best_gbs": max(per.values())}


class _Cycler:
    """Calls fns[0], fns[1], ... in turn: each call touches the next copy."""

    def __init__(self, fns):
        self.fns, self.i = fns, 0

    def __call__(self):
        self.fns[self.i % len(self.fns)]()
        self.i += 1


def _calibrate(fn) -> int:
    fn()
    t0 = time.perf_counter()
    fn()
    once = max(time.perf_counter() - t0, 1e-7)
    return max(1, int(MIN_SECONDS / once) + 1)


def _sample(fn, reps: int) -> float:
    t0 = time.perf_counter()
    for _ in range(reps):
        fn()
    return (time.perf_counter() - t0) / reps


def _contenders(case: Case, threads: int, rng, with_ref: bool, read_streams: int = 1) -> dict:
    """name -> zero-argument callable, each on the same shape and data."""
    l3 = _l3_bytes()
    w = rng.integers(-1, 2, size=(case.n, case.k), dtype=np.int8)
    x = rng.integers(0, 128, size=(case.batch, case.k), dtype=np.int8)
    bias = rng.integers(-1000, 1001, size=case.n, dtype=np.int32)
    packed = pack_t2(w)
    # Copies beyond MAX_COPIES only matter for toy shapes (tests).
    copies = min(MAX_COPIES, 1 + (6 * l3) // packed.nbytes) if case.streamed else 1
    ops = [
        engine.DenseOp(packed if i == 0 else packed.copy(), case.k, case.n, bias, x)
        for i in range(copies)
    ]
    out = {"conntra": _Cycler([lambda op=op: op.run(threads=threads) for op in ops])}
    if case.batch == 1 and case.streamed:
        # The ceiling, paired like a baseline: a plain read of the same bytes,
        # with the stream count the read ceiling found fastest.
        sink = ffi.new("uint64_t *")
        bufs = [ffi.from_buffer("uint8_t[]", op._packed) for op in ops]
        out["read"] = _Cycler(
            [lambda b=b: lib.ct_read_streams(b, len(b), read_streams, sink) for b in bufs]
        )

    wf = w.astype(np.float32)
    f_copies = min(MAX_COPIES, 1 + (6 * l3) // wf.nbytes) if case.streamed else 1
    wfs = [wf] + [wf.copy() for _ in range(f_copies - 1)]
    if case.batch == 1:
        xf = x[0].astype(np.float32)
        yf = np.empty(case.n, np.float32)
        out["numpy"] = _Cycler([lambda m=m: np.dot(m, xf, out=yf) for m in wfs])
    else:
        xf = x.astype(np.float32)
        yf = np.empty((case.batch, case.n), np.float32)
        out["numpy"] = _Cycler([lambda m=m: np.matmul(xf, m.T, out=yf) for m in wfs])
    torch = _torch()
    if torch is not None:
        torch.set_num_threads(threads)
        tws = [torch.from_numpy(m) for m in wfs]
        tx = torch.from_numpy(np.ascontiguousarray(xf))
        if case.batch == 1:
            out["torch"] = _Cycler([lambda m=m: torch.mv(m, tx) for m in tws])
        else:
            out["torch"] = _Cycler([lambda m=m: torch.matmul(tx, m.T) for m in tws])
    if with_ref:
        ref = next(
            r["index"]
            for r in engine.kernels()
            if r["isa"] == "ref" and r["family_name"] == ("gemv" if case.batch < 4 else "gemm")
        )
        out["ref"] = lambda: ops[0].run(kernel=ref)
    return out


def run_case(
    case: Case,
    rounds: int = 7,
    threads: int = 1,
    bandwidth: float | None = None,
    seed: int = 0,
    with_ref: bool = False,
    read_streams: int | None = None,
) -> dict:
    """Times one case in `rounds` interleaved, shuffled rounds. The paired
    plain read and the GEMV use ``read_streams`` streams (None: the current
    GEMV setting, engine.gemv_streams())."""
    streams = engine.gemv_streams() if read_streams is None else int(read_streams)
    rng = np.random.default_rng(seed)
    fns = _contenders(case, threads, rng, with_ref, streams)
    reps = {name: _calibrate(fn) for name, fn in fns.items()}
    if "ref" in reps:
        reps["ref"] = 1
    order = list(fns)
    shuffle = random.Random(seed)
    times = {name: [] for name in fns}
    for _ in range(rounds):
        shuffle.shuffle(order)
        for name in order:
            times[name].append(_sample(fns[name], reps[name]))
    ops = 2.0 * case.n * case.k * case.batch
    weight_bytes = case.n * (-(-case.k // 128) * 32)
    t_ours = statistics.median(times["conntra"])
    row = {
        "case": case.name,
        "n": case.n,
        "k": case.k,
        "batch": case.batch,
        "streamed": case.streamed,
        "rounds": rounds,
        "threads": threads,
        "kernel": engine.active_kernels()["gemv" if case.batch < 4 else "gemm"],
        "gemv_streams": engine.gemv_streams(),
        "read_streams": streams,
        "ms": {name: 1e3 * statistics.median(t) for name, t in times.items()},
        "gops": ops / t_ours / 1e9,
        "numpy_gflops": ops / statistics.median(times["numpy"]) / 1e9,
        "weight_gbs": weight_bytes / t_ours / 1e9,
    }
    for base in ("numpy", "torch", "ref", "read"):
        if base in times:
            ratios = [tb / to for tb, to in zip(times[base], times["conntra"], strict=False)]
            row[f"x_{base}"] = statistics.median(ratios)
    if "read" in times:
        # Share of the memory ceiling, paired per round: time of a plain read
        # of the same weight bytes over the kernel's time.
        row["pct_read"] = 100 * row["x_read"]
        row["read_gbs"] = weight_bytes / statistics.median(times["read"]) / 1e9
    if bandwidth and case.batch == 1 and case.streamed:
        # 2-bit ceiling from the best read bandwidth of the run.
        row["ceiling_gops"] = bandwidth / 0.25 * 2
        row["pct_bandwidth"] = 100 * row["weight_gbs"] / bandwidth
    return row


def run(
    quick: bool = False, threads: int = 1, names=None, rounds: int | None = None, progress=None
) -> dict:
    """Runs the benchmark cases (all, the quick set, or those named) and
    returns {"machine", "bandwidth_gbs", "results"}."""
    cases = QUICK_CASES if quick else CASES
    if names:
        known = {c.name: c for c in CASES + QUICK_CASES}
        unknown = [n for n in names if n not in known]
        if unknown:
            raise InputError(f"unknown benchmark case(s) {unknown}; known: {sorted(known)}")
        cases = [known[n] for n in names]
    rounds = rounds or (3 if quick else 7)
    # The read ceiling: 1, 2, 4 and 8 concurrent streams on one thread; the
    # GEMV then reads its weights with the fastest count (restored after).
    ceiling = read_ceiling(128 << 20 if quick else 512 << 20)
    streams_before = engine.gemv_streams()
    engine.set_gemv_streams(ceiling["best_streams"])
    try:
        with _blas_limits(threads):
            numpy_read = read_bandwidth(128 << 20 if quick else 512 << 20)
            bandwidth = max(ceiling["best_gbs"], numpy_read)
            results = []
            for case in cases:
                if progress:
                    progress(case.name)
                with_ref = case.batch == 1 and case.n <= 4096 and not case.streamed
                results.append(run_case(case, rounds, threads, bandwidth, with_ref=with_ref))
                # Re-measure between cases: the ceiling is the best seen in the run.
                bandwidth = max(bandwidth, read_bandwidth(128 << 20, 2))
            for row in results:
                if row["batch"] == 1 and row["streamed"]:
                    row["ceiling_gops"] = bandwidth / 0.25 * 2
                    row["pct_bandwidth"] = 100 * row["weight_gbs"] / bandwidth
    finally:
        engine.set_gemv_streams(streams_before)
    return {
        "machine": machine_info(threads),
        "bandwidth_gbs": bandwidth,
        "read_ceiling": ceiling,
        "numpy_read_gbs": numpy_read,
        "results": results,
    }


def _blas_limits(threads: int):
    """numpy's BLAS limited to `threads` (threadpoolctl), for the duration."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:
        import contextlib

        return contextlib.nullcontext()
    return threadpool_limits(threads)


def format_table(report: dict) -> str:
    m = report["machine"]
    lines = [
        f"machine    {m['cpu']} ({m['machine']}, {m['cpus']} cpus, "
        f"flags {' '.join(m['flags'])}), {m['threads']} thread(s)",
        f"blas       {m['blas']}",
        f"kernels    {m['kernels']}",
    ]
    ceiling = report.get("read_ceiling")
    if ceiling:
        per = "  ".join(f"{s}: {g:.1f}" for s, g in ceiling["gbs"].items())
        lines.append(
            f"read       GB/s by concurrent streams (1 thread) {per}; best "
            f"{ceiling['best_gbs']:.1f} with {ceiling['best_streams']} (the GEMV's streams)"
        )
    lines += [
        f"bandwidth  {report['bandwidth_gbs']:.1f} GB/s read (best of the run); "
        f"2-bit GEMV ceiling {report['bandwidth_gbs'] * 8:.0f} GOPS; streamed GEMV: "
        "%read = share of a plain read of the same bytes (paired rounds), "
        "%bw = share of the best bandwidth",
        "",
        f"{'case':<26}{'ms':>9}{'GOPS':>8}{'GB/s':>7}{'%read':>7}{'%bw':>6}"
        f"{'x numpy':>9}{'x torch':>9}{'x ref':>8}  numpy GFLOPS",
    ]
    for r in report["results"]:
        pct = r.get("pct_bandwidth")
        lines.append(
            f"{r['case']:<26}{r['ms']['conntra']:>9.3f}{r['gops']:>8.1f}{r['weight_gbs']:>7.2f}"
            f"{(format(r['pct_read'], '.0f') if 'pct_read' in r else '-'):>7}"
            f"{(f'{pct:.0f}' if pct else '-'):>6}{r['x_numpy']:>9.2f}"
            f"{(format(r['x_torch'], '.2f') if 'x_torch' in r else '-'):>9}"
            f"{(format(r['x_ref'], '.1f') if 'x_ref' in r else '-'):>8}"
            f"  {r['numpy_gflops']:.1f}"
        )
    return "\n".join(lines)
