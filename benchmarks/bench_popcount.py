"""Hidden-layer throughput of the popcount kernels against the int8 kernels.

    CONNTRA_NUM_THREADS=1 .venv/bin/python benchmarks/bench_popcount.py [--quick] [--json]

Same weights, one thread, the registered kernels called by index on the
calling thread: for each layer (n x n) and batch (1: GEMV, 64: GEMM), the
int8-activation kernel the int8 path dispatches (``ct_t2_s8_gemv`` /
``_gemm``, AVX2 here) against each popcount kernel (``ct_tm_bp_mm``, AVX2 and
AVX-512 VPOPCNTDQ where the CPU has them) at 1, 2 and 4 bits. Activations are
random in 0 .. 2^a - 1 for both. The popcount kernels read bit planes made
beforehand; the column ``planes`` is the dispatched int8 -> bit-plane
conversion of the same batch (``ct_bp_pack``), which ``ct_net_forward`` adds
once per layer. Finally whole networks through ``ct_net_forward`` with and
without masks (ratios of median times): 784 -> n -> n -> 10 with hidden layers
at a bits, and a convolutional one (conv 3 -> 32 on 32 x 32 x 3 images, conv
32 -> 64, both 3x3 pad 1, flatten, dense 10), where the second conv and the
dense layer read a bits.

Protocol (as conntra.bench): one process; ROUNDS rounds, each timing every
contender in shuffled order (each sample at least 20 ms of repeated calls);
a speedup is the median of the per-round ratios int8 time / popcount time.
No thresholds: numbers are reported, not asserted.
"""

from __future__ import annotations

import json
import os
import random
import statistics
import sys

import numpy as np
from conntra._native import ffi, lib

from conntra import engine
from conntra.bench import _calibrate, _sample
from conntra.machine import cpu_flags, cpu_model
from conntra.packing import pack_t2

ROUNDS = int(os.environ.get("CONNTRA_BENCH_ROUNDS", "7"))
BITS = (1, 2, 4)


def _kernel(name: str) -> int | None:
    for k in engine.kernels():
        if k["name"] == name and k["supported"]:
            return int(k["index"])
    return None


def paired(fns: dict, base: str, seed: int = 0) -> dict:
    """Median seconds per call of each contender and the median per-round ratio
    base / contender (> 1: the contender is faster)."""
    reps = {name: _calibrate(fn) for name, fn in fns.items()}
    times: dict = {name: [] for name in fns}
    order, shuffle = list(fns), random.Random(seed)
    for _ in range(ROUNDS):
        shuffle.shuffle(order)
        for name in order:
            times[name].append(_sample(fns[name], reps[name]))
    out = {"us": {n: 1e6 * statistics.median(t) for n, t in times.items()}, "x": {}}
    for name in fns:
        if name != base:
            ratios = [b / t for b, t in zip(times[base], times[name], strict=True)]
            out["x"][name] = statistics.median(ratios)
    return out


def layer_case(rng, n: int, batch: int) -> dict:
    w = rng.integers(-1, 2, size=(n, n), dtype=np.int8)
    bias = rng.integers(-1000, 1001, size=n, dtype=np.int32)
    packed = pack_t2(w)
    isa_int8 = "avx2" if _kernel("ct_t2_s8_gemv__avx2") is not None else "neon"
    fam = "gemv" if batch < 4 else "gemm"
    fns, planes = {}, {}
    for bits in BITS:
        x = rng.integers(0, 1 << bits, size=(batch, n), dtype=np.int8)
        if bits == 1:  # the int8 kernel's time does not depend on the values
            op8 = engine.DenseOp(packed, n, n, bias, x)
            k8 = _kernel(f"ct_t2_s8_{fam}__{isa_int8}")
            fns["int8"] = lambda op=op8, k=k8: op.run(kernel=k)
        for isa in ("avx2", "avx512vpopcnt", "neon"):
            kpc = _kernel(f"ct_tm_bp_mm__{isa}")
            if kpc is None:
                continue
            op = engine.PopcountOp(packed, n, n, bias, x, bits)
            want = engine.DenseOp(packed, n, n, bias, x).run()
            assert np.array_equal(op.run(kernel=kpc), want)  # the same sums
            fns[f"pc{bits}_{isa}"] = lambda op=op, k=kpc: op.run(kernel=k)
        planes[bits] = lambda x=x, b=bits: engine.bp_pack_with(None, x, b)
    res = paired(fns, "int8")
    res["planes_us"] = {b: 1e6 * _sample(fn, _calibrate(fn)) for b, fn in planes.items()}
    return res


def net_case(rng, n: int, batch: int) -> dict:
    sizes = (784, n, n, 10)
    x = rng.integers(0, 128, size=(batch, 784), dtype=np.int8)
    fns: dict = {}
    for bits in BITS:
        layers = []
        for i in range(3):
            w = rng.integers(-1, 2, size=(sizes[i + 1], sizes[i]), dtype=np.int8)
            bias = rng.integers(-50, 51, size=sizes[i + 1], dtype=np.int32)
            last = i == 2
            layers.append(
                (
                    pack_t2(w),
                    sizes[i],
                    sizes[i + 1],
                    bias,
                    -1 if last else 8,
                    None if last else bits,
                )
            )
        plain = engine.NativeNet(layers, popcount=False)
        pc = engine.NativeNet(layers, popcount=True)
        assert pc.popcount_layers == [1, 2]
        assert np.array_equal(plain.logits(x), pc.logits(x))
        fns[f"int8_{bits}"] = lambda net=plain: net.logits_trusted(x)
        fns[f"pc_{bits}"] = lambda net=pc: net.logits_trusted(x)
    res = paired(fns, "int8_1")
    res["x"] = {b: statistics.median([res["us"][f"int8_{b}"] / res["us"][f"pc_{b}"]]) for b in BITS}
    return res


def _conv_layer(c, rng, keep, h, w, cin, cout, bits):
    """A 3x3 pad-1 conv2d ct_layer (groups 1) with random weights."""
    wt = rng.integers(-1, 2, size=(cout, 9 * cin), dtype=np.int8)
    packed, bias = pack_t2(wt), rng.integers(-50, 51, size=cout, dtype=np.int32)
    keep += [packed, bias]
    c.kind, c.n_in, c.n_out = engine.LAYER_KINDS["conv2d"], h * w * cin, h * w * cout
    c.shift, c.act_bits = 8, bits
    c.w, c.bias = ffi.from_buffer("uint8_t[]", packed), ffi.from_buffer("int32_t[]", bias)
    c.in_h, c.in_w, c.in_c, c.out_c, c.kh, c.kw = h, w, cin, cout, 3, 3
    c.stride_h = c.stride_w = c.groups = 1
    c.pad_top = c.pad_bottom = c.pad_left = c.pad_right = 1


def conv_case(rng, batch: int) -> dict:
    """conv 3 -> 32 (reads the 7-bit input), conv 32 -> 64 (K = 288; masks),
    flatten, dense 65536 -> 10 (masks) on 32 x 32 images, hidden layers at a
    bits, through ct_net_forward with and without masks."""
    fns: dict = {}
    keep: list = []
    x = rng.integers(0, 128, size=(batch, 32 * 32 * 3), dtype=np.int8)
    for bits in BITS:
        c = ffi.new("ct_layer[]", 4)
        keep.append(c)
        _conv_layer(c[0], rng, keep, 32, 32, 3, 32, bits)
        _conv_layer(c[1], rng, keep, 32, 32, 32, 64, bits)
        c[2].kind, c[2].n_in, c[2].n_out = engine.LAYER_KINDS["flatten"], 65536, 65536
        c[2].in_h, c[2].in_w, c[2].in_c = 32, 32, 64
        wd = pack_t2(rng.integers(-1, 2, size=(10, 65536), dtype=np.int8))
        bd = rng.integers(-50, 51, size=10, dtype=np.int32)
        keep += [wd, bd]
        c[3].n_in, c[3].n_out, c[3].shift, c[3].act_bits = 65536, 10, -1, 0
        c[3].w, c[3].bias = ffi.from_buffer("uint8_t[]", wd), ffi.from_buffer("int32_t[]", bd)
        outs = {}
        plain = c
        for mode in ("int8", "pc"):
            if mode == "pc":  # a copy of the structs with masks; the int8 run keeps its own
                c = ffi.new("ct_layer[]", 4)
                keep.append(c)
                for i in range(4):
                    c[i] = plain[i]
                for i in (1, 3):
                    rows, k = engine._matrix_shape(c[i])
                    n = int(lib.ct_t2_packed_bytes(rows, k))
                    masks = engine.tm_pack(ffi.buffer(c[i].w, n), rows, k)
                    keep.append(masks)
                    c[i].pc_w = ffi.from_buffer("uint64_t[]", masks)
            need = ffi.new("int64_t *")
            assert lib.ct_net_scratch_bytes(c, 4, batch, need) == lib.CT_OK
            scratch = ffi.new("uint8_t[]", int(need[0]))
            out = np.zeros((batch, 10), dtype=np.int32)
            args = (c, 4, ffi.from_buffer("int8_t[]", x), batch)
            args += (ffi.from_buffer("int32_t[]", out), scratch, int(need[0]))
            keep += [scratch, out]

            def run(args=args):
                st = lib.ct_net_forward(*args)
                assert st == lib.CT_OK, st

            run()
            outs[mode] = out.copy()
            fns[f"{mode}_{bits}"] = run
        assert np.array_equal(outs["int8"], outs["pc"])
    res = paired(fns, "int8_1")
    res["x"] = {b: res["us"][f"int8_{b}"] / res["us"][f"pc_{b}"] for b in BITS}
    return res


def main(argv: list[str]) -> int:
    quick = "--quick" in argv
    rng = np.random.default_rng(0)
    sizes = (256, 1024) if quick else (256, 1024, 4096)
    report: dict = {
        "machine": {"cpu": cpu_model(), "flags": cpu_flags(), "cpus": os.cpu_count()},
        "threads": engine.num_threads(),
        "layers": [],
        "nets": [],
    }
    for n in sizes:
        for batch in (1, 64):
            res = layer_case(rng, n, batch)
            report["layers"].append({"n": n, "batch": batch, **res})
            speed = "  ".join(f"{k} {v:.2f}x" for k, v in res["x"].items())
            planes = "  ".join(f"{b}b {v:.1f}" for b, v in res["planes_us"].items())
            print(f"{n}x{n} batch {batch:<3} int8 {res['us']['int8']:9.1f} us  {speed}")
            print(f"{'':18} planes us: {planes}", flush=True)
    for n, batch in ((1024, 1), (1024, 64)):
        res = net_case(rng, n, batch)
        report["nets"].append({"n": n, "batch": batch, **res})
        row = "  ".join(
            f"{b}b {res['us'][f'int8_{b}']:.1f}/{res['us'][f'pc_{b}']:.1f} us {res['x'][b]:.2f}x"
            for b in BITS
        )
        print(f"net 784-{n}-{n}-10 batch {batch:<3} (int8/popcount) {row}", flush=True)
    for batch in (1, 8):
        res = conv_case(rng, batch)
        report["nets"].append({"conv": True, "batch": batch, **res})
        row = "  ".join(
            f"{b}b {res['us'][f'int8_{b}']:.1f}/{res['us'][f'pc_{b}']:.1f} us {res['x'][b]:.2f}x"
            for b in BITS
        )
        print(f"conv net 32x32 3-32-64 batch {batch:<3} (int8/popcount) {row}", flush=True)
    if "--json" in argv:
        print(json.dumps(report, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
