"""Convolution kernels and networks with layer kinds, against numpy oracles.

Every registered conv2d and depthwise kernel (read from the registry, so a
new one is tested without touching this file) runs through
``ct_conv_acc_with`` and must equal its family's ref kernel and an int64
numpy oracle written here from docs/format.md 1.2, bit for bit: kernel sizes
1, 3, 5, strides 1 and 2, no / "same" / asymmetric padding, odd channel
counts, images as small as the kernel, the overflow bound, code-3 weights,
and 1, 2, 3 threads. Whole networks (conv -> maxpool -> depthwise -> conv ->
flatten -> dense, dense-only) go through ``ct_net_forward`` against the same
oracles, also on real MNIST images; bad geometry gives the documented
statuses. Kernels this CPU cannot run are held to their refusal (tests/test_kernels.py);
tests/test_kernels_aarch64.py runs the NEON ones under qemu-aarch64.
"""

from __future__ import annotations

import os
from dataclasses import dataclass

import numpy as np
import pytest
import test_kernels
from conntra._native import ffi, lib

from conntra import engine
from conntra.packing import padded_k

SEED = 20261129
# kernels this CPU cannot run: tests/test_kernels.py holds them to their refusal
KERNELS = [
    r for r in engine.kernels() if r["family_name"] in ("conv2d", "dwconv2d") and r["supported"]
]
FAMILY = {"conv2d": int(lib.CT_FAMILY_CONV2D), "dwconv2d": int(lib.CT_FAMILY_DWCONV2D)}
MAX_BIAS = int(lib.CT_MAX_BIAS)
MAX_INPUTS = int(lib.CT_MAX_INPUTS)


def _ref_index(family_name: str) -> int:
    return next(
        r["index"] for r in KERNELS if r["family_name"] == family_name and r["isa"] == "ref"
    )


# ---- the oracle, from docs/format.md 1.2 and 1.3 ------------------------------------


@dataclass
class Geom:
    """A conv2d layer's geometry: input (h, w, c_in), c_out, kernel, strides,
    padding (top, bottom, left, right), depthwise (groups = c_in)."""

    h: int
    w: int
    c_in: int
    c_out: int
    kh: int
    kw: int
    sh: int = 1
    sw: int = 1
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    depthwise: bool = False

    @property
    def g(self) -> int:
        return 1 if self.depthwise else self.c_in

    @property
    def out_c(self) -> int:
        return self.c_in if self.depthwise else self.c_out

    @property
    def out_hw(self) -> tuple[int, int]:
        pt, pb, pl, pr = self.pad
        return (self.h + pt + pb - self.kh) // self.sh + 1, (
            self.w + pl + pr - self.kw
        ) // self.sw + 1


def conv_oracle(x: np.ndarray, w: np.ndarray, bias: np.ndarray, g: Geom) -> np.ndarray:
    """acc (batch, h_out, w_out, c_out) in int64: x (batch, h, w, c_in), w
    (c_out, kh, kw, G); padding reads 0."""
    pt, pb, pl, pr = g.pad
    ho, wo = g.out_hw
    xp = np.pad(x.astype(np.int64), ((0, 0), (pt, pb), (pl, pr), (0, 0)))
    w64 = w.astype(np.int64)
    acc = np.zeros((x.shape[0], ho, wo, g.out_c), np.int64) + bias.astype(np.int64)
    if g.kh * g.kw > 4096:  # huge windows: every window at once rather than a loop over taps
        win = np.lib.stride_tricks.sliding_window_view(xp, (g.kh, g.kw), axis=(1, 2))
        win = win[:, :: g.sh, :: g.sw][:, :ho, :wo]  # (batch, ho, wo, c_in, kh, kw)
        if g.depthwise:
            return acc + np.einsum("bhwcyx,cyx->bhwc", win, w64[..., 0])
        return acc + np.einsum("bhwcyx,oyxc->bhwo", win, w64)
    for ky in range(g.kh):
        for kx in range(g.kw):
            patch = xp[
                :, ky : ky + g.sh * (ho - 1) + 1 : g.sh, kx : kx + g.sw * (wo - 1) + 1 : g.sw
            ]
            if g.depthwise:
                acc += patch * w64[:, ky, kx, 0]
            else:
                acc += patch @ w64[:, ky, kx, :].T
    return acc


def maxpool_oracle(x: np.ndarray, ph: int, pw: int, sh: int, sw: int) -> np.ndarray:
    ho, wo = (x.shape[1] - ph) // sh + 1, (x.shape[2] - pw) // sw + 1
    out = np.full((x.shape[0], ho, wo, x.shape[3]), np.iinfo(np.int64).min, np.int64)
    for py in range(ph):
        for px in range(pw):
            out = np.maximum(
                out, x[:, py : py + sh * (ho - 1) + 1 : sh, px : px + sw * (wo - 1) + 1 : sw]
            )
    return out


def requant_oracle(acc: np.ndarray, shift: int, bits: int) -> np.ndarray:
    """clamp(floor((acc + r) / 2^shift), 0, 2^bits - 1), r = 2^(shift-1) or 0."""
    t = acc.astype(np.int64) + ((1 << (shift - 1)) if shift > 0 else 0)
    return np.clip(t >> shift, 0, (1 << bits) - 1)


def pack_any(w2d: np.ndarray, pad3: bool = False) -> np.ndarray:
    """T2 bytes of (rows, k) weights from the layout prose, accepting w = 2
    (code 3); pad3 puts code 3 in every padding column, which no kernel may
    read."""
    rows, k = w2d.shape
    kp = padded_k(k)
    codes = np.full((rows, kp), 3 if pad3 else 0, np.uint8)
    codes[:, :k] = (w2d.astype(np.int64) + 1).astype(np.uint8)
    c = np.arange(kp)
    out = np.zeros((rows, kp // 4), np.uint8)
    shifted = codes << (2 * ((c % 128) // 32)).astype(np.uint8)
    np.bitwise_or.at(out, (slice(None), (c // 128) * 32 + c % 32), shifted)
    return out.reshape(-1)


# ---- C layers ----------------------------------------------------------------------


class Layer:
    """A ct_layer and the numpy arrays it points into (kept alive)."""

    def __init__(self, **fields):
        self.c = ffi.new("ct_layer *")
        self._keep = []
        for name, value in fields.items():
            if name in ("w", "bias"):
                if value is None:
                    continue
                self._keep.append(value)
                value = ffi.from_buffer("uint8_t[]" if name == "w" else "int32_t[]", value)
            setattr(self.c, name, value)


def conv_layer(g: Geom, w: np.ndarray, bias: np.ndarray, shift=6, act_bits=7, pad3=False):
    ho, wo = g.out_hw
    pt, pb, pl, pr = g.pad
    return Layer(
        kind=lib.CT_LAYER_CONV2D,
        n_in=g.h * g.w * g.c_in,
        n_out=ho * wo * g.out_c,
        shift=shift,
        act_bits=act_bits,
        w=pack_any(w.reshape(g.out_c, -1), pad3),
        bias=np.ascontiguousarray(bias, np.int32),
        in_h=g.h,
        in_w=g.w,
        in_c=g.c_in,
        out_c=g.out_c,
        kh=g.kh,
        kw=g.kw,
        stride_h=g.sh,
        stride_w=g.sw,
        pad_top=pt,
        pad_bottom=pb,
        pad_left=pl,
        pad_right=pr,
        groups=g.c_in if g.depthwise else 1,
    )


def scratch_for(layer: Layer, batch: int):
    need = ffi.new("int64_t *")
    assert lib.ct_layer_scratch_bytes(layer.c, batch, need) == lib.CT_OK
    return ffi.new("uint8_t[]", max(int(need[0]), 1)), int(need[0])


def run_with(kernel: int, layer: Layer, x: np.ndarray) -> np.ndarray:
    """ct_conv_acc_with: int32 (batch, n_out), scratch of exactly the advertised size."""
    batch = x.shape[0]
    x = np.ascontiguousarray(x, np.int8).reshape(batch, -1)
    acc = np.zeros((batch, layer.c.n_out), np.int32)
    scratch, n = scratch_for(layer, batch)
    st = lib.ct_conv_acc_with(
        kernel,
        layer.c,
        ffi.from_buffer("int8_t[]", x),
        batch,
        ffi.from_buffer("int32_t[]", acc),
        scratch,
        n,
    )
    assert st == lib.CT_OK, st
    return acc


def run_mt(layer: Layer, x: np.ndarray, threads: int) -> np.ndarray:
    """ct_conv_acc_mt with the dispatched kernel on `threads` threads."""
    batch = x.shape[0]
    x = np.ascontiguousarray(x, np.int8).reshape(batch, -1)
    acc = np.zeros((batch, layer.c.n_out), np.int32)
    scratch, n = scratch_for(layer, batch)
    st = lib.ct_conv_acc_mt(
        layer.c,
        ffi.from_buffer("int8_t[]", x),
        batch,
        ffi.from_buffer("int32_t[]", acc),
        scratch,
        n,
        threads,
    )
    assert st == lib.CT_OK, st
    return acc


def random_case(rng, g: Geom, batch: int, fill: str = "random", bias_max: int = 10**5):
    """x (batch, h, w, c_in) in 0..127, w (c_out, kh, kw, G), bias."""
    w = rng.integers(-1, 2, size=(g.out_c, g.kh, g.kw, g.g), dtype=np.int8)
    x = rng.integers(0, 128, size=(batch, g.h, g.w, g.c_in), dtype=np.int8)
    if fill in ("plus", "minus", "two", "plus_two"):
        w[:] = {"plus": 1, "minus": -1, "two": 2, "plus_two": 1}[fill]
        x[:] = 127
    if fill == "plus_two":  # code 3 among +1 weights: the SIMD kernels' int16 flush bound
        w.reshape(-1)[::37] = 2
    bias = rng.integers(-bias_max, bias_max + 1, size=g.out_c, dtype=np.int64).astype(np.int32)
    return x, w, bias


def check_kernel_case(kernel: dict, g: Geom, x, w, bias, pad3: bool = False) -> None:
    layer = conv_layer(g, w, bias, pad3=pad3)
    want = conv_oracle(x, w, bias, g).reshape(x.shape[0], -1)
    where = f"{kernel['name']} {g} batch={x.shape[0]} seed={SEED}"
    got = run_with(kernel["index"], layer, x).astype(np.int64)
    assert np.array_equal(got, want), where
    ref = run_with(_ref_index(kernel["family_name"]), layer, x).astype(np.int64)
    assert np.array_equal(ref, want), where


# ---- the geometry sweep ---------------------------------------------------------------------


def sweep_geoms(depthwise: bool) -> list[Geom]:
    """Kernel sizes 1, 3, 5 x strides 1, 2 x padding none / "same" / asymmetric, with
    input channels 1, 3 and odd counts and output channels around the SIMD widths
    (16 per block, 8 per vector); then small images, rectangular kernels, long K."""
    c_ins = [1, 3, 5, 17, 33] if not depthwise else [2, 3, 5, 17, 33]
    c_outs = [1, 7, 16, 17, 31]
    out = []
    i = 0
    for k in (1, 3, 5):
        for s in (1, 2):
            for pad in ("none", "same", "asym"):
                p = {
                    "none": (0, 0, 0, 0),
                    "same": ((k - 1) // 2,) * 4,
                    "asym": (k - 1, 0, k // 3, k - 1),
                }[pad]
                out.append(Geom(9, 7, c_ins[i % 5], c_outs[(i * 3) % 5], k, k, s, s, p, depthwise))
                i += 1
    out += [
        Geom(3, 3, 4, 5, 3, 3, depthwise=depthwise),  # image exactly the kernel
        Geom(5, 5, 3, 9, 5, 5, 2, 1, depthwise=depthwise),
        Geom(1, 1, 9, 18, 1, 1, depthwise=depthwise),
        Geom(
            2, 2, 2, 3, 3, 3, pad=(2, 0, 0, 2), depthwise=depthwise
        ),  # image smaller than the kernel
        Geom(1, 6, 3, 4, 1, 3, 1, 2, (0, 0, 2, 1), depthwise),
        Geom(4, 9, 6, 17, 3, 2, 2, 3, (2, 1, 0, 1), depthwise),
        Geom(8, 8, 32, 64, 3, 3, pad=(1, 1, 1, 1), depthwise=depthwise),
        Geom(6, 5, 35, 21, 3, 3, pad=(1, 1, 1, 1), depthwise=depthwise),
        Geom(4, 3, 130, 19, 3, 3, pad=(1, 1, 1, 1), depthwise=depthwise),  # K = 1170
    ]
    if not depthwise:
        out.append(Geom(3, 3, 600, 17, 3, 3, pad=(1, 1, 1, 1)))  # K = 5400: two im2col chunks
    else:
        out.append(Geom(3, 5, 40, 0, 12, 12, pad=(11, 11, 11, 0), depthwise=True))  # 144 taps
    return out


@pytest.mark.parametrize("kernel", KERNELS, ids=[r["name"] for r in KERNELS])
def test_every_conv_kernel_matches_ref_and_oracle(kernel):
    depthwise = kernel["family_name"] == "dwconv2d"
    rng = np.random.default_rng(SEED)
    for i, g in enumerate(sweep_geoms(depthwise)):
        if depthwise and g.c_in == 1:
            continue  # groups == in_c == 1 is a groups-1 layer (family conv2d)
        x, w, bias = random_case(rng, g, batch=1 + i % 3)
        check_kernel_case(kernel, g, x, w, bias)
        if i % 4 == 0:  # code 3 in the padding columns of the T2 rows: never read
            check_kernel_case(kernel, g, x, w, bias, pad3=True)


@pytest.mark.parametrize("kernel", KERNELS, ids=[r["name"] for r in KERNELS])
def test_conv_overflow_bound(kernel):
    """The largest K with every weight +1 (or -1), x = 127 and biases at +-2^27,
    and the SIMD kernels' int16 flush bounds (every weight a code 3; +1 with
    code 3 among them)."""
    rng = np.random.default_rng(SEED + 1)
    if kernel["family_name"] == "conv2d":
        largest = Geom(32, 32, 1024, 3, 32, 32)  # K = 32 * 32 * 1024 = 2^20, one output pixel
        flush = [Geom(3, 3, 1024, 3, 3, 3), Geom(1, 1, 4096, 17, 1, 1)]
    else:
        largest = Geom(724, 724, 2, 0, 724, 724, depthwise=True)  # 524176 taps, 2^20 inputs
        flush = [Geom(16, 16, 33, 0, 16, 16, depthwise=True)]  # 256 taps
    assert largest.kh * largest.kw * largest.g <= MAX_INPUTS
    assert largest.h * largest.w * largest.c_in <= MAX_INPUTS
    for fill in ("plus", "minus"):
        x, w, _ = random_case(rng, largest, 1, fill)
        bias = np.array([MAX_BIAS, -MAX_BIAS, 0][: largest.out_c], np.int32)
        check_kernel_case(kernel, largest, x, w, bias)
        got = run_with(kernel["index"], conv_layer(largest, w, bias), x)
        k = largest.kh * largest.kw * largest.g
        sign = 1 if fill == "plus" else -1
        assert got[0, 0] == sign * 127 * k + MAX_BIAS and got[0, 1] == sign * 127 * k - MAX_BIAS
    for g in flush:
        for fill in ("plus", "two", "plus_two"):
            x, w, bias = random_case(rng, g, 1, fill, bias_max=MAX_BIAS)
            check_kernel_case(kernel, g, x, w, bias)


@pytest.mark.parametrize("family", ["conv2d", "dwconv2d"])
def test_threads_give_the_same_bits(family):
    """ct_conv_acc_mt with each kernel of the family selected in turn: 1, 2 and 3
    threads give the ref's bits (the layer is large enough to start threads)."""
    rng = np.random.default_rng(SEED + 2)
    g = Geom(32, 32, 32, 64, 3, 3, pad=(1, 1, 1, 1), depthwise=family == "dwconv2d")
    x, w, bias = random_case(rng, g, batch=3)
    layer = conv_layer(g, w, bias)
    want = conv_oracle(x, w, bias, g).reshape(3, -1)
    assert np.array_equal(run_with(_ref_index(family), layer, x), want)
    try:
        for kernel in (r for r in KERNELS if r["family_name"] == family and r["supported"]):
            engine.select_kernel(FAMILY[family], kernel["index"])
            for threads in (1, 2, 3):
                assert np.array_equal(run_mt(layer, x, threads), want), (kernel["name"], threads)
    finally:
        engine.select_kernel(FAMILY[family], -1)


def test_conv_entry_point_statuses():
    rng = np.random.default_rng(SEED + 3)
    g = Geom(5, 5, 3, 4, 3, 3, pad=(1, 1, 1, 1))
    x, w, bias = random_case(rng, g, batch=2)
    layer = conv_layer(g, w, bias)
    scratch, n = scratch_for(layer, 2)
    acc = np.zeros((2, layer.c.n_out), np.int32)
    xs = np.ascontiguousarray(x.reshape(2, -1))

    def call(kernel=None, lay=layer, xx=xs, batch=2, nbytes=n, scr=scratch):
        xp, ap = ffi.from_buffer("int8_t[]", xx), ffi.from_buffer("int32_t[]", acc)
        if kernel is None:
            return lib.ct_conv_acc_mt(lay.c, xp, batch, ap, scr, nbytes, 0)
        return lib.ct_conv_acc_with(kernel, lay.c, xp, batch, ap, scr, nbytes)

    ref, dw_ref = _ref_index("conv2d"), _ref_index("dwconv2d")
    assert call(ref) == lib.CT_OK and call() == lib.CT_OK
    assert call(ref, nbytes=n - 1) == lib.CT_E_SCRATCH
    assert call(nbytes=n - 1) == lib.CT_E_SCRATCH
    assert call(ref, scr=ffi.NULL) == lib.CT_E_NULL
    assert call(ref, batch=0) == lib.CT_E_SHAPE
    assert call(dw_ref) == lib.CT_E_UNKNOWN  # a kernel of the other conv family
    assert call(test_kernels._ref_index("gemm")) == lib.CT_E_UNKNOWN
    assert call(-1) == lib.CT_E_UNKNOWN and call(lib.ct_kernel_count()) == lib.CT_E_UNKNOWN
    bad = xs.copy()
    bad[1, -1] = -1  # activations are 0..127
    assert call(ref, xx=bad) == lib.CT_E_RANGE and call(xx=bad) == lib.CT_E_RANGE
    dense = Layer(
        n_in=75, n_out=4, shift=3, act_bits=7, w=pack_any(np.zeros((4, 75), np.int8)), bias=bias
    )
    assert call(ref, lay=dense) == lib.CT_E_RANGE  # not a convolution
    need = ffi.new("int64_t *")
    assert lib.ct_layer_scratch_bytes(dense.c, 2, need) == lib.CT_OK and need[0] == 0
    assert lib.ct_layer_scratch_bytes(layer.c, 0, need) == lib.CT_E_SHAPE


# ---- whole networks -------------------------------------------------------------------------


@dataclass
class Spec:
    """One layer of a test network: kind and geometry (parameters are made)."""

    kind: str
    out: int = 0  # conv2d c_out / dense n_out
    k: tuple[int, int] = (1, 1)
    s: tuple[int, int] = (1, 1)
    pad: tuple[int, int, int, int] = (0, 0, 0, 0)
    depthwise: bool = False


class Net:
    """A network of kinds built from an input shape and specs: numpy parameters for
    the oracle, ct_layer structs for C. Shifts map each layer's sum spread onto its
    activation range, so activations neither vanish nor saturate."""

    def __init__(self, rng, shape, specs, act_bits=7):
        self.shape, self.layers, self.params = shape, [], []
        h, w, c = shape
        in_max = 127
        for i, sp in enumerate(specs):
            last = i == len(specs) - 1
            if sp.kind in ("conv2d", "dense"):
                if sp.kind == "conv2d":
                    g = Geom(
                        h, w, c, sp.out, sp.k[0], sp.k[1], sp.s[0], sp.s[1], sp.pad, sp.depthwise
                    )
                    k = g.kh * g.kw * g.g
                    wt = rng.integers(-1, 2, size=(g.out_c, g.kh, g.kw, g.g), dtype=np.int8)
                    n = g.out_c
                else:
                    assert h == 1 and w == 1 or i == 0
                    k, n = h * w * c, sp.out
                    wt = rng.integers(-1, 2, size=(n, k), dtype=np.int8)
                spread = in_max * np.sqrt(2 * k / 9)
                bias = rng.integers(-int(spread / 3), int(spread / 3) + 1, size=n).astype(np.int32)
                shift = (
                    -1 if last else max(0, int(np.ceil(np.log2(max(spread, 1) / (1 << act_bits)))))
                )
                bits = 0 if last else act_bits
                if sp.kind == "conv2d":
                    self.layers.append(conv_layer(g, wt, bias, shift, bits))
                    self.params.append(("conv2d", g, wt, bias, shift, bits))
                    (h, w), c = g.out_hw, g.out_c
                else:
                    lay = Layer(
                        n_in=k, n_out=n, shift=shift, act_bits=bits, w=pack_any(wt), bias=bias
                    )
                    self.layers.append(lay)
                    self.params.append(("dense", None, wt, bias, shift, bits))
                    h, w, c = 1, 1, n
                if not last:
                    in_max = (1 << act_bits) - 1
            elif sp.kind == "maxpool2d":
                ho, wo = (h - sp.k[0]) // sp.s[0] + 1, (w - sp.k[1]) // sp.s[1] + 1
                self.layers.append(
                    Layer(
                        kind=lib.CT_LAYER_MAXPOOL2D,
                        n_in=h * w * c,
                        n_out=ho * wo * c,
                        in_h=h,
                        in_w=w,
                        in_c=c,
                        kh=sp.k[0],
                        kw=sp.k[1],
                        stride_h=sp.s[0],
                        stride_w=sp.s[1],
                    )
                )
                self.params.append(("maxpool2d", sp))
                h, w = ho, wo
            else:
                self.layers.append(
                    Layer(
                        kind=lib.CT_LAYER_FLATTEN,
                        n_in=h * w * c,
                        n_out=h * w * c,
                        in_h=h,
                        in_w=w,
                        in_c=c,
                    )
                )
                self.params.append(("flatten",))
                h, w, c = 1, 1, h * w * c
        self.c = ffi.new("ct_layer[]", len(self.layers))
        for i, lay in enumerate(self.layers):
            self.c[i] = lay.c[0]
        self.n_out = c

    def oracle(self, x: np.ndarray) -> np.ndarray:
        """int64 logits of x (batch, h, w, c) int8."""
        t = x.astype(np.int64)
        for p in self.params:
            if p[0] == "conv2d":
                _, g, wt, bias, shift, bits = p
                t = requant_oracle(conv_oracle(t, wt, bias, g), shift, bits)
            elif p[0] == "dense":
                _, _, wt, bias, shift, bits = p
                t = t.reshape(t.shape[0], -1) @ wt.astype(np.int64).T + bias
                t = t if shift < 0 else requant_oracle(t, shift, bits)
                t = t.reshape(t.shape[0], 1, 1, -1)
            elif p[0] == "maxpool2d":
                sp = p[1]
                t = maxpool_oracle(t, sp.k[0], sp.k[1], sp.s[0], sp.s[1])
            else:
                t = t.reshape(t.shape[0], 1, 1, -1)
        return t.reshape(t.shape[0], -1)

    def check(self) -> int:
        return int(lib.ct_net_check(self.c, len(self.layers)))

    def forward(self, x: np.ndarray) -> np.ndarray:
        batch = x.shape[0]
        need = ffi.new("int64_t *")
        assert lib.ct_net_scratch_bytes(self.c, len(self.layers), batch, need) == lib.CT_OK
        scratch = ffi.new("uint8_t[]", int(need[0]) + 7)
        out = np.zeros((batch, self.n_out), np.int32)
        xs = np.ascontiguousarray(x, np.int8).reshape(batch, -1)
        st = lib.ct_net_forward(
            self.c,
            len(self.layers),
            ffi.from_buffer("int8_t[]", xs),
            batch,
            ffi.from_buffer("int32_t[]", out),
            scratch + 7,  # unaligned, exactly the advertised size
            int(need[0]),
        )
        assert st == lib.CT_OK, st
        return out


CHAIN = [
    Spec("conv2d", 8, (3, 3), pad=(1, 1, 1, 1)),
    Spec("maxpool2d", k=(2, 2), s=(2, 2)),
    Spec("conv2d", k=(3, 3), pad=(1, 1, 1, 1), depthwise=True),
    Spec("conv2d", 19, (3, 3), (2, 2)),
    Spec("flatten"),
    Spec("dense", 10),
]


@pytest.mark.parametrize("act_bits", [1, 2, 4, 7])
def test_net_forward_chain_vs_oracle(act_bits):
    """conv -> maxpool -> depthwise -> conv -> flatten -> dense, batch 1 (GEMV) and
    5 (GEMM for the dense layer), and an odd chain with rectangular windows."""
    rng = np.random.default_rng(SEED + act_bits)
    net = Net(rng, (12, 10, 3), CHAIN, act_bits)
    assert net.check() == lib.CT_OK
    odd = Net(
        rng,
        (11, 9, 2),
        [
            Spec("conv2d", 5, (5, 2), (2, 1), (4, 0, 1, 0)),
            Spec("maxpool2d", k=(3, 2), s=(1, 2)),
            Spec("conv2d", k=(5, 5), s=(2, 2), pad=(2, 2, 2, 2), depthwise=True),
            Spec("conv2d", 3, (1, 1)),
            Spec("flatten"),
            Spec("dense", 17),
            Spec("dense", 4),
        ],
        act_bits,
    )
    for n in (net, odd):
        for batch in (1, 5):
            x = rng.integers(0, 128, size=(batch, *n.shape), dtype=np.int8)
            want = n.oracle(x)
            assert np.array_equal(n.forward(x), want), (act_bits, batch)
            assert len(np.unique(want[:, 0])) > 1 or batch == 1  # not a constant network


def test_dense_only_net_is_unchanged():
    """A dense-only chain of zeroed structs (kind 0) through ct_net_forward equals
    the numpy oracle, conntra's own NativeNet, and the same structs with garbage in
    the geometry fields (which a dense layer ignores)."""
    rng = np.random.default_rng(SEED + 9)
    net = Net(rng, (1, 1, 300), [Spec("dense", 64), Spec("dense", 33), Spec("dense", 10)], 4)
    x = rng.integers(0, 128, size=(6, 1, 1, 300), dtype=np.int8)
    want = net.oracle(x)
    assert np.array_equal(net.forward(x), want)
    layers = []
    for p in net.params:
        _, _, wt, bias, shift, bits = p
        layers.append(
            (pack_any(wt), wt.shape[1], wt.shape[0], bias, shift, None if shift < 0 else bits)
        )
    assert np.array_equal(engine.NativeNet(layers).logits(x.reshape(6, -1)), want)
    for i in range(3):
        c = net.c[i]
        c.in_h, c.in_w, c.in_c, c.out_c, c.kh, c.groups, c.pad_left = 7, -3, 99, 5, 0, 2, 9
    assert net.check() == lib.CT_OK
    assert np.array_equal(net.forward(x), want)


def test_mnist_conv_chain_is_exact(mnist):
    """Real MNIST test images (pixel >> 1, shape 28 x 28 x 1) through a conv chain:
    ct_net_forward equals the numpy oracle, in batches of 1 and 250."""
    rng = np.random.default_rng(SEED + 10)
    net = Net(
        rng,
        (28, 28, 1),
        [
            Spec("conv2d", 8, (3, 3), pad=(1, 1, 1, 1)),
            Spec("maxpool2d", k=(2, 2), s=(2, 2)),
            Spec("conv2d", k=(3, 3), pad=(1, 1, 1, 1), depthwise=True),
            Spec("conv2d", 16, (3, 3), (2, 2), (1, 1, 1, 1)),
            Spec("maxpool2d", k=(2, 2), s=(2, 2)),
            Spec("flatten"),
            Spec("dense", 10),
        ],
        act_bits=4,
    )
    x = (np.asarray(mnist.x_test[:1000]) >> 1).astype(np.int8).reshape(-1, 28, 28, 1)
    want = net.oracle(x)
    got = np.concatenate([net.forward(x[i : i + 250]) for i in range(0, 1000, 250)])
    assert np.array_equal(got, want)
    assert np.array_equal(net.forward(x[:1]), want[:1])
    assert len(np.unique(want.argmax(axis=1))) > 1  # the logits depend on the image


def test_cifar_shaped_net_same_bits_with_forced_scalar(tmp_path):
    """The benchmark's CIFAR-shaped network in a child process with
    CONNTRA_FORCE_SCALAR=1 (every family on its ref kernel) gives this process's
    logits (SIMD kernels), and both equal the oracle."""
    script = """
import sys, numpy as np
sys.path.insert(0, sys.argv[1])
import test_kernels_conv as t
net = t.cifar_net(np.random.default_rng(5))
x = np.random.default_rng(6).integers(0, 128, size=(3, 32, 32, 3), dtype=np.int8)
np.save(sys.argv[2], net.forward(x))
from conntra import engine
print(engine.active_kernels()["conv2d"])
"""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CONNTRA_")}
    env["CONNTRA_FORCE_SCALAR"] = "1"
    here = os.path.dirname(os.path.abspath(__file__))
    done = test_kernels.run_child(
        [script, here, str(tmp_path / "s.npy")], env, tmp_path, timeout=300
    )
    assert done.stdout.strip() == "ct_t2_s8_conv2d__ref"
    net = cifar_net(np.random.default_rng(5))
    x = np.random.default_rng(6).integers(0, 128, size=(3, 32, 32, 3), dtype=np.int8)
    got = net.forward(x)
    assert np.array_equal(got, np.load(tmp_path / "s.npy"))
    assert np.array_equal(got, net.oracle(x))


def cifar_net(rng, act_bits: int = 7) -> Net:
    """conv 3->32 3x3 pad 1, maxpool 2, conv 32->64 3x3 pad 1, maxpool 2, flatten,
    dense 10 on 32 x 32 x 3 (benchmarks/bench_conv.py)."""
    return Net(
        rng,
        (32, 32, 3),
        [
            Spec("conv2d", 32, (3, 3), pad=(1, 1, 1, 1)),
            Spec("maxpool2d", k=(2, 2), s=(2, 2)),
            Spec("conv2d", 64, (3, 3), pad=(1, 1, 1, 1)),
            Spec("maxpool2d", k=(2, 2), s=(2, 2)),
            Spec("flatten"),
            Spec("dense", 10),
        ],
        act_bits,
    )


# ---- statuses of bad geometry -----------------------------------------------------------------

E = {
    "ok": lib.CT_OK,
    "null": lib.CT_E_NULL,
    "shape": lib.CT_E_SHAPE,
    "range": lib.CT_E_RANGE,
    "chain": lib.CT_E_CHAIN,
}

# (layer, field, value, status of the layer alone, status of the network)
BAD = [
    (0, "kind", 4, "range", "range"),
    (0, "kind", -1, "range", "range"),
    (0, "w", None, "null", "null"),
    (0, "bias", None, "null", "null"),
    (0, "kh", 0, "shape", "shape"),
    (0, "kw", -3, "shape", "shape"),
    (0, "stride_h", 0, "shape", "shape"),
    (0, "out_c", 0, "shape", "shape"),
    (0, "in_c", 0, "shape", "shape"),
    (0, "in_h", MAX_INPUTS + 1, "shape", "shape"),
    (0, "in_h", 7, "shape", "shape"),  # n_in is no longer its element count
    (0, "n_out", 289, "shape", "shape"),
    (0, "pad_top", 3, "range", "range"),  # 0 .. kh - 1
    (0, "pad_right", -1, "range", "range"),
    (0, "groups", 2, "range", "range"),  # 1 or in_c
    (0, "groups", 0, "range", "range"),
    (0, "groups", 3, "shape", "shape"),  # depthwise with out_c 8 != in_c 3
    (0, "shift", -1, "range", "range"),  # a convolution is always hidden
    (0, "shift", 25, "range", "range"),
    (0, "act_bits", 0, "range", "range"),
    (0, "act_bits", 3, "range", "range"),
    (1, "w", "weights", "range", "range"),  # maxpool2d has no parameters
    (1, "shift", 1, "range", "range"),
    (1, "act_bits", 7, "range", "range"),
    (1, "kw", 7, "shape", "shape"),  # window wider than the image
    (1, "stride_w", 0, "shape", "shape"),
    (1, "pad_left", 1, "range", "range"),  # no padding in the contract's pooling
    (1, "in_c", 9, "shape", "chain"),  # the network compares shapes first
    (2, "out_c", 9, "shape", "shape"),  # depthwise out_c != in_c
    (3, "bias", "bias", "range", "range"),  # flatten has no parameters
    (3, "n_out", 71, "shape", "shape"),
    (3, "in_w", 0, "shape", "chain"),
]


@pytest.mark.parametrize(
    "layer, field, value, own, whole", BAD, ids=[f"{b[0]}-{b[1]}={b[2]}" for b in BAD]
)
def test_bad_geometry_statuses(layer, field, value, own, whole):
    rng = np.random.default_rng(SEED + 11)
    specs = [
        Spec("conv2d", 8, (3, 3), pad=(1, 1, 1, 1)),
        Spec("maxpool2d", k=(2, 2), s=(2, 2)),
        Spec("conv2d", k=(3, 3), pad=(1, 1, 1, 1), depthwise=True),
        Spec("flatten"),
        Spec("dense", 4),
    ]
    net = Net(rng, (6, 6, 3), specs)
    assert net.check() == lib.CT_OK
    c = net.c[layer]
    if value is None:
        setattr(c, field, ffi.NULL)
    elif value == "weights":
        c.w = net.c[0].w
    elif value == "bias":
        c.bias = net.c[0].bias
    else:
        setattr(c, field, value)
    need = ffi.new("int64_t *")
    assert lib.ct_layer_scratch_bytes(ffi.addressof(net.c, layer), 1, need) == E[own]
    assert net.check() == E[whole]


def test_chain_statuses():
    rng = np.random.default_rng(SEED + 12)
    net = Net(rng, (6, 6, 3), CHAIN[:3] + [Spec("flatten"), Spec("dense", 4)])
    n = len(net.layers)
    assert lib.ct_net_check(net.c, n) == lib.CT_OK
    assert lib.ct_net_check(net.c, n - 1) == lib.CT_E_CHAIN  # ends at a flatten
    assert lib.ct_net_check(net.c, 1) == lib.CT_E_CHAIN  # ends at a convolution
    # a dense layer straight after a 3 x 3 x 8 tensor needs a flatten first
    layers = ffi.new("ct_layer[]", 4)
    for i in range(3):
        layers[i] = net.c[i]
    layers[3] = net.c[4]
    assert lib.ct_net_check(layers, 4) == lib.CT_E_CHAIN
    # a kernel larger than the padded image has no output row
    net.c[0].kh, net.c[0].pad_top, net.c[0].pad_bottom = 9, 1, 1
    assert lib.ct_net_check(net.c, n) == lib.CT_E_SHAPE
    # K above 2^20 on a 1 x 1 image (33 x 32 x 1024), and just below it
    g = Geom(1, 1, 1024, 8, 33, 32, pad=(32, 0, 31, 0))
    big = conv_layer(g, np.zeros((8, 33, 32, 1024), np.int8), np.zeros(8, np.int32))
    need = ffi.new("int64_t *")
    assert lib.ct_layer_scratch_bytes(big.c, 1, need) == lib.CT_E_SHAPE
    big.c.kw, big.c.pad_left = 31, 30
    assert lib.ct_layer_scratch_bytes(big.c, 1, need) == lib.CT_OK


# ---- the check tests/test_kernels.py runs for the conv families -----------------------------


def _registry_check(kernel: dict) -> None:
    """The conv families' entry in test_kernels.CHECKS: a short version of the
    sweep above (the full one runs here)."""
    rng = np.random.default_rng(SEED + 13)
    depthwise = kernel["family_name"] == "dwconv2d"
    for g in sweep_geoms(depthwise)[1::5]:
        if not (depthwise and g.c_in == 1):
            check_kernel_case(kernel, g, *random_case(rng, g, batch=2))
