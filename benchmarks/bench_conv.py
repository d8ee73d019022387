"""pytest-benchmark runs of the ternary convolutions against float32 baselines.

    .venv/bin/pytest benchmarks/bench_conv.py --benchmark-only -s

Cases (one thread everywhere):
- conv2d 32x32x32 -> 64, 3x3, pad 1, one image: ``ct_conv_acc_mt`` with the
  dispatched kernel (int32 sums before requantization) against PyTorch
  ``conv2d`` float32 (NCHW, and channels-last, where torch is installed),
  numpy im2col + float32 matmul (the im2col copy included), and our scalar
  reference kernel;
- depthwise 3x3, pad 1, on 32x32x32: the same baselines (torch with groups=32;
  numpy multiplies the 9 shifted images);
- a CIFAR-shaped network (conv 3->32 3x3 pad 1, maxpool 2, conv 32->64 3x3 pad
  1, maxpool 2, flatten, dense 10) through ``ct_net_forward``: images per
  second at batch 1 and 64, against the same network in PyTorch float32.

Protocol (as conntra.bench): one process; each case runs ROUNDS rounds, each
round times every contender in shuffled order (each sample at least 20 ms of
repeated calls, the scalar reference once); a ratio is the median of the
per-round ratios, so a noisy shared machine slows both sides of a pair alike.
``extra_info`` holds the times, the ratios, GMAC/s, the CPU and the dispatched
kernels. No thresholds: numbers are reported, not asserted.
"""

from __future__ import annotations

import os
import platform
import random
import statistics

import numpy as np
import pytest
from conntra._native import ffi, lib
from threadpoolctl import threadpool_info, threadpool_limits

from conntra import engine
from conntra.bench import _calibrate, _sample
from conntra.machine import cpu_flags, cpu_model
from conntra.packing import pack_t2

ROUNDS = int(os.environ.get("CONNTRA_BENCH_ROUNDS", "7"))
RESULTS: list[dict] = []


def _torch():
    try:
        import torch
    except ImportError:
        return None
    torch.set_num_threads(1)
    return torch


def machine() -> dict:
    torch = _torch()
    return {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "flags": cpu_flags(),
        "cpus": os.cpu_count(),
        "numpy": np.__version__,
        "torch": torch.__version__ if torch else None,
        "blas": [
            f"{i.get('internal_api')} {i.get('version')} {i.get('architecture')}"
            for i in threadpool_info()
            if i.get("user_api") == "blas"
        ],
        "kernels": {
            k: v
            for k, v in engine.active_kernels().items()
            if k in ("conv2d", "dwconv2d", "gemm", "gemv")
        },
    }


def paired(fns: dict, once=("ref",), seed: int = 0) -> dict:
    """Median seconds per call of each contender and the median per-round ratio of
    each to "conntra" (> 1: conntra is faster)."""
    reps = {name: 1 if name in once else _calibrate(fn) for name, fn in fns.items()}
    times = {name: [] for name in fns}
    order, shuffle = list(fns), random.Random(seed)
    for _ in range(ROUNDS):
        shuffle.shuffle(order)
        for name in order:
            times[name].append(_sample(fns[name], reps[name]))
    out = {"s": {n: statistics.median(t) for n, t in times.items()}}
    for name in fns:
        if name != "conntra":
            ratios = [tb / to for tb, to in zip(times[name], times["conntra"], strict=True)]
            out[f"x_{name}"] = statistics.median(ratios)
    return out


# ---- layers --------------------------------------------------------------------


class ConvLayer:
    """A conv2d ct_layer (3x3, stride 1, pad 1) with its buffers, for ct_conv_acc_mt."""

    def __init__(self, rng, h, w, c_in, c_out, depthwise=False, batch=1):
        self.c_out = c_in if depthwise else c_out
        g = 1 if depthwise else c_in
        self.wt = rng.integers(-1, 2, size=(self.c_out, 3, 3, g), dtype=np.int8)
        self.bias = rng.integers(-100, 101, size=self.c_out).astype(np.int32)
        self.packed = pack_t2(self.wt.reshape(self.c_out, -1))
        self.x = rng.integers(0, 128, size=(batch, h, w, c_in), dtype=np.int8)
        c = self.c = ffi.new("ct_layer *")
        c.kind, c.n_in, c.n_out = lib.CT_LAYER_CONV2D, h * w * c_in, h * w * self.c_out
        c.shift, c.act_bits = 6, 7
        c.w = ffi.from_buffer("uint8_t[]", self.packed)
        c.bias = ffi.from_buffer("int32_t[]", self.bias)
        c.in_h, c.in_w, c.in_c, c.out_c, c.kh, c.kw = h, w, c_in, self.c_out, 3, 3
        c.stride_h = c.stride_w = 1
        c.pad_top = c.pad_bottom = c.pad_left = c.pad_right = 1
        c.groups = c_in if depthwise else 1
        need = ffi.new("int64_t *")
        assert lib.ct_layer_scratch_bytes(c, batch, need) == lib.CT_OK
        self.scratch, self.scratch_bytes = ffi.new("uint8_t[]", int(need[0])), int(need[0])
        self.acc = np.zeros((batch, c.n_out), np.int32)
        self._x = ffi.from_buffer("int8_t[]", self.x)
        self._acc = ffi.from_buffer("int32_t[]", self.acc)
        self.batch = batch
        self.macs = batch * h * w * self.c_out * 9 * g

    def run(self):
        st = lib.ct_conv_acc_mt(
            self.c, self._x, self.batch, self._acc, self.scratch, self.scratch_bytes, 1
        )
        assert st == lib.CT_OK, st

    def run_with(self, kernel: int):
        st = lib.ct_conv_acc_with(
            kernel, self.c, self._x, self.batch, self._acc, self.scratch, self.scratch_bytes
        )
        assert st == lib.CT_OK, st


def _ref(family: str) -> int:
    return next(
        r["index"] for r in engine.kernels() if r["family_name"] == family and r["isa"] == "ref"
    )


def _numpy_conv(x, wt, depthwise):
    """float32 NHWC 3x3 pad-1 convolution: im2col (copied) + one matmul, or for
    depthwise the 9 shifted images times their weights."""
    xp = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    b, h, w, c = x.shape
    if depthwise:
        out = np.zeros_like(x)
        for ky in range(3):
            for kx in range(3):
                out += xp[:, ky : ky + h, kx : kx + w, :] * wt[:, ky, kx, 0]
        return out
    cols = np.lib.stride_tricks.sliding_window_view(xp, (3, 3), axis=(1, 2))  # b h w c 3 3
    cols = np.ascontiguousarray(cols.transpose(0, 1, 2, 4, 5, 3)).reshape(b * h * w, 9 * c)
    return cols @ wt.reshape(wt.shape[0], -1).T


def conv_contenders(layer: ConvLayer, depthwise: bool) -> dict:
    family = "dwconv2d" if depthwise else "conv2d"
    ref = _ref(family)
    fns = {"conntra": layer.run, "ref": lambda: layer.run_with(ref)}
    xf = layer.x.astype(np.float32)
    wf = layer.wt.astype(np.float32)
    fns["numpy"] = lambda: _numpy_conv(xf, wf, depthwise)
    torch = _torch()
    if torch is not None:
        tx = torch.from_numpy(np.ascontiguousarray(xf.transpose(0, 3, 1, 2)))  # NCHW
        tw = torch.from_numpy(np.ascontiguousarray(wf.transpose(0, 3, 1, 2)))  # O, G, kh, kw
        txl = tx.contiguous(memory_format=torch.channels_last)
        groups = layer.c.in_c if depthwise else 1
        fns["torch"] = lambda: torch.nn.functional.conv2d(tx, tw, padding=1, groups=groups)
        fns["torch_cl"] = lambda: torch.nn.functional.conv2d(txl, tw, padding=1, groups=groups)
    return fns


def _record(benchmark, name, row):
    row = {"case": name, **row, "machine": machine()}
    benchmark.extra_info.update(row)
    RESULTS.append(row)


@pytest.mark.parametrize(
    "depthwise", [False, True], ids=["conv2d 32x32x32->64 3x3", "depthwise 3x3 32x32x32"]
)
def test_conv_layer(benchmark, depthwise):
    rng = np.random.default_rng(1)
    layer = ConvLayer(rng, 32, 32, 32, 64, depthwise)
    with threadpool_limits(1):
        benchmark.pedantic(layer.run, rounds=20, iterations=5, warmup_rounds=2)
        row = paired(conv_contenders(layer, depthwise))
    row["gmacs"] = layer.macs / row["s"]["conntra"] / 1e9
    _record(benchmark, "depthwise 3x3 32x32x32" if depthwise else "conv2d 32x32x32->64 3x3", row)


# ---- the CIFAR-shaped network ----------------------------------------------------------


class CifarNet:
    """conv 3->32 3x3 pad 1, maxpool 2, conv 32->64 3x3 pad 1, maxpool 2, flatten,
    dense 10 on 32x32x3: ct_layer structs for ct_net_forward and the same float32
    network in torch (ReLU for the requantization)."""

    def __init__(self, rng):
        self._keep = []
        specs = [
            ("conv", 3, 32, 32),
            ("pool", 32, 32, 32),
            ("conv", 32, 64, 16),
            ("pool", 64, 16, 16),
        ]
        self.c = ffi.new("ct_layer[]", 6)
        self.float_w = []
        for i, (kind, c_in, c_out, hw) in enumerate(specs):
            c = self.c[i]
            c.in_h = c.in_w = hw
            c.in_c = c_in
            if kind == "conv":
                wt = rng.integers(-1, 2, size=(c_out, 3, 3, c_in), dtype=np.int8)
                packed, bias = pack_t2(wt.reshape(c_out, -1)), np.zeros(c_out, np.int32)
                self._keep += [packed, bias]
                self.float_w.append(wt.astype(np.float32))
                c.kind, c.n_in, c.n_out, c.out_c = (
                    lib.CT_LAYER_CONV2D,
                    hw * hw * c_in,
                    hw * hw * c_out,
                    c_out,
                )
                c.shift, c.act_bits = 7, 7
                c.w, c.bias = (
                    ffi.from_buffer("uint8_t[]", packed),
                    ffi.from_buffer("int32_t[]", bias),
                )
                c.kh = c.kw = 3
                c.stride_h = c.stride_w = c.groups = 1
                c.pad_top = c.pad_bottom = c.pad_left = c.pad_right = 1
            else:
                c.kind, c.n_in, c.n_out = (
                    lib.CT_LAYER_MAXPOOL2D,
                    hw * hw * c_in,
                    hw * hw * c_in // 4,
                )
                c.kh = c.kw = c.stride_h = c.stride_w = 2
        n = 8 * 8 * 64
        c = self.c[4]
        c.kind, c.n_in, c.n_out, c.in_h, c.in_w, c.in_c = lib.CT_LAYER_FLATTEN, n, n, 8, 8, 64
        wd = rng.integers(-1, 2, size=(10, n), dtype=np.int8)
        packed, bias = pack_t2(wd), np.zeros(10, np.int32)
        self._keep += [packed, bias]
        self.float_w.append(wd.astype(np.float32))
        c = self.c[5]
        c.n_in, c.n_out, c.shift, c.act_bits = n, 10, lib.CT_SHIFT_OUTPUT, lib.CT_ACT_BITS_OUTPUT
        c.w, c.bias = ffi.from_buffer("uint8_t[]", packed), ffi.from_buffer("int32_t[]", bias)
        assert lib.ct_net_check(self.c, 6) == lib.CT_OK

    def forward_fn(self, x: np.ndarray):
        batch = x.shape[0]
        need = ffi.new("int64_t *")
        assert lib.ct_net_scratch_bytes(self.c, 6, batch, need) == lib.CT_OK
        scratch = ffi.new("uint8_t[]", int(need[0]))
        out = np.zeros((batch, 10), np.int32)
        xp, op = ffi.from_buffer("int8_t[]", x), ffi.from_buffer("int32_t[]", out)

        def run():
            st = lib.ct_net_forward(self.c, 6, xp, batch, op, scratch, int(need[0]))
            assert st == lib.CT_OK, st

        return run

    def torch_fn(self, x: np.ndarray):
        torch = _torch()
        if torch is None:
            return None
        f = torch.nn.functional
        w1, w2 = (
            torch.from_numpy(np.ascontiguousarray(w.transpose(0, 3, 1, 2)))
            for w in self.float_w[:2]
        )
        wd = torch.from_numpy(self.float_w[2])
        tx = torch.from_numpy(np.ascontiguousarray(x.astype(np.float32).transpose(0, 3, 1, 2)))

        def run():
            y = f.max_pool2d(f.relu(f.conv2d(tx, w1, padding=1)), 2)
            y = f.max_pool2d(f.relu(f.conv2d(y, w2, padding=1)), 2)
            return torch.flatten(y.permute(0, 2, 3, 1), 1) @ wd.T  # NHWC order, as flatten

        return run


@pytest.mark.parametrize("batch", [1, 64])
def test_cifar_net_images_per_second(benchmark, batch):
    rng = np.random.default_rng(2)
    net = CifarNet(rng)
    x = rng.integers(0, 128, size=(batch, 32, 32, 3), dtype=np.int8)
    before = engine.num_threads()
    engine.set_num_threads(1)
    try:
        ours = net.forward_fn(x)
        fns = {"conntra": ours}
        theirs = net.torch_fn(x)
        if theirs is not None:
            fns["torch"] = theirs
        with threadpool_limits(1):
            benchmark.pedantic(ours, rounds=10, iterations=2, warmup_rounds=1)
            row = paired(fns)
    finally:
        engine.set_num_threads(before)
    row["images_per_s"] = batch / row["s"]["conntra"]
    if "torch" in row["s"]:
        row["torch_images_per_s"] = batch / row["s"]["torch"]
    _record(benchmark, f"cifar net batch {batch}", row)


def teardown_module(module):
    """The table of this run (shown with -s)."""
    if not RESULTS:
        return
    m = RESULTS[0]["machine"]
    flags = " ".join(m["flags"])
    print(f"\nmachine  {m['cpu']} ({m['machine']}, {m['cpus']} cpus, flags {flags}), 1 thread")
    print(f"versions numpy {m['numpy']}, torch {m['torch']}, blas {m['blas']}")
    print(f"kernels  {m['kernels']}")
    for r in RESULTS:
        times = "  ".join(f"{k} {1e6 * v:.1f} us" for k, v in r["s"].items())
        ratios = "  ".join(f"{k} {v:.2f}" for k, v in r.items() if k.startswith("x_"))
        extra = f"  {r['gmacs']:.1f} GMAC/s" if "gmacs" in r else ""
        if "images_per_s" in r:
            extra = f"  {r['images_per_s']:.0f} images/s"
            if "torch_images_per_s" in r:
                extra += f" (torch {r['torch_images_per_s']:.0f})"
        print(f"{r['case']:<26} {times}\n{'':<26} {ratios}{extra}")
