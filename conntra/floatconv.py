"""Float layers of the baselines on architectures (``conntra.arch``): the
forward and backward pass of each layer kind on float NHWC batches.

Each kind is one pair of functions, ``<kind>_forward(x, ...) -> (y, cache)``
and ``<kind>_backward(g, cache, ...)``, with the geometry of
docs/format.md 1.2 (conv2d padding reads 0 outside the image; maxpool2d has
no padding; flatten keeps the NHWC element order, so it is a reshape).
Everything is vectorised over samples and pixels: a groups-1 convolution is
one matrix product over its im2col rows (``sliding_window_view``), a
depthwise one and a pool loop only over their KH * KW kernel taps, so a
Python loop never runs per pixel or per sample.

``Net`` strings the kinds into a chain built from a layer template (what
``conntra.arch.random_layers`` returns, or a model's layers), so that
``conntra.train.floatnet``'s forward, gradients, Adam loop and conversion drive it as they
drive a chain of dense layers. Parameters are ``[weights, bias]`` per layer
with parameters, in layer order; conv weights are (C_out, KH, KW, C_in /
groups), as the ternary layer stores them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

Shape = tuple[int, int, int]


def _taps(kh: int, kw: int, sh: int, sw: int, ho: int, wo: int):
    """(ky, kx, rows, cols): the slices of a (padded) input that kernel tap
    (ky, kx) reads for every output pixel."""
    for ky in range(kh):
        for kx in range(kw):
            yield (
                ky,
                kx,
                slice(ky, ky + sh * (ho - 1) + 1, sh),
                slice(kx, kx + sw * (wo - 1) + 1, sw),
            )


def _pad(x: np.ndarray, padding) -> np.ndarray:
    top, bottom, left, right = padding
    if not (top or bottom or left or right):
        return x
    return np.pad(x, ((0, 0), (top, bottom), (left, right), (0, 0)))


# -- dense ------------------------------------------------------------------------


def dense_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray):
    """y = x w^T + b for x (n, K), w (N, K); a (n, 1, 1, K) tensor is read as
    its vector. The cache is x as a matrix, and x's shape."""
    x2 = x.reshape(len(x), -1)
    return x2 @ w.T + b, (x2, x.shape)


def dense_backward(g: np.ndarray, cache, w: np.ndarray, need_dx: bool = True):
    """(dx or None, dw, db) of ``dense_forward``."""
    x2, shape = cache
    return ((g @ w).reshape(shape) if need_dx else None), g.T @ x2, g.sum(axis=0)


# -- conv2d -----------------------------------------------------------------------


def conv2d_forward(x: np.ndarray, w: np.ndarray, b: np.ndarray, stride, padding, groups: int):
    """acc[n, oy, ox, co] = b[co] + sum w[co, ky, kx, g] * in(oy SH + ky - P_top,
    ox SW + kx - P_left, c(co, g)) for x (n, H, W, C_in), w (C_out, KH, KW, G);
    groups 1 (c = g) or depthwise (groups = C_in, c = co)."""
    n, h, wd, c = x.shape
    c_out, kh, kw, _ = w.shape
    sh, sw = stride
    top, bottom, left, right = padding
    ho, wo = (h + top + bottom - kh) // sh + 1, (wd + left + right - kw) // sw + 1
    xp = _pad(x, padding)
    if groups == 1:
        # (n, ho, wo, C, KH, KW) windows, reordered to the weights' (KH, KW, C) rows
        win = sliding_window_view(xp, (kh, kw), axis=(1, 2))[:, : sh * (ho - 1) + 1 : sh]
        win = win[:, :, : sw * (wo - 1) + 1 : sw]
        cols = np.ascontiguousarray(win.transpose(0, 1, 2, 4, 5, 3)).reshape(n * ho * wo, -1)
        y = (cols @ w.reshape(c_out, -1).T + b).reshape(n, ho, wo, c_out)
        return y, (cols, x.shape)
    y = np.zeros((n, ho, wo, c_out), np.result_type(x, w))
    for ky, kx, rows, cols_ in _taps(kh, kw, sh, sw, ho, wo):
        y += xp[:, rows, cols_] * w[:, ky, kx, 0]
    return y + b, (xp, x.shape)


def conv2d_backward(g, cache, w, stride, padding, groups: int, need_dx: bool = True):
    """(dx or None, dw, db) of ``conv2d_forward`` for the output gradient g
    (n, H_out, W_out, C_out)."""
    saved, in_shape = cache
    n, h, wd, c = in_shape
    c_out, kh, kw, _ = w.shape
    sh, sw = stride
    top, _, left, _ = padding
    _, ho, wo, _ = g.shape
    db = g.sum(axis=(0, 1, 2))
    hp = h + padding[0] + padding[1]
    wp = wd + padding[2] + padding[3]
    if groups == 1:
        g2 = g.reshape(-1, c_out)
        dw = (g2.T @ saved).reshape(w.shape)
        if not need_dx:
            return None, dw, db
        dcols = (g2 @ w.reshape(c_out, -1)).reshape(n, ho, wo, kh, kw, c)
        dxp = np.zeros((n, hp, wp, c), g.dtype)
        for ky, kx, rows, cols_ in _taps(kh, kw, sh, sw, ho, wo):
            dxp[:, rows, cols_] += dcols[:, :, :, ky, kx]
        return dxp[:, top : top + h, left : left + wd], dw, db
    dw = np.zeros_like(w)
    dxp = np.zeros((n, hp, wp, c), g.dtype)
    for ky, kx, rows, cols_ in _taps(kh, kw, sh, sw, ho, wo):
        dw[:, ky, kx, 0] = np.einsum("nyxc,nyxc->c", g, saved[:, rows, cols_])
        if need_dx:
            dxp[:, rows, cols_] += g * w[:, ky, kx, 0]
    return (dxp[:, top : top + h, left : left + wd] if need_dx else None), dw, db


# -- maxpool2d --------------------------------------------------------------------


def maxpool2d_forward(x: np.ndarray, window, stride):
    """The maximum of each window; the cache holds which tap won (the first
    of equal ones), where the gradient goes."""
    n, h, wd, c = x.shape
    (ph, pw), (sh, sw) = window, stride
    ho, wo = (h - ph) // sh + 1, (wd - pw) // sw + 1
    out = np.empty(0)
    arg = np.zeros((n, ho, wo, c), np.int32)
    for k, (_, _, rows, cols) in enumerate(_taps(ph, pw, sh, sw, ho, wo)):
        v = x[:, rows, cols]
        if k == 0:
            out = v.copy()
            continue
        better = v > out
        np.copyto(out, v, where=better)
        arg[better] = k
    return out, (arg, x.shape)


def maxpool2d_backward(g: np.ndarray, cache, window, stride) -> np.ndarray:
    arg, in_shape = cache
    (ph, pw), (sh, sw) = window, stride
    _, ho, wo, _ = g.shape
    dx = np.zeros(in_shape, g.dtype)
    for k, (_, _, rows, cols) in enumerate(_taps(ph, pw, sh, sw, ho, wo)):
        dx[:, rows, cols] += np.where(arg == k, g, 0)
    return dx


# -- flatten ----------------------------------------------------------------------


def flatten_forward(x: np.ndarray):
    """(n, H, W, C) -> (n, H * W * C): NHWC order is already the flattened one."""
    return x.reshape(len(x), -1), x.shape


def flatten_backward(g: np.ndarray, shape) -> np.ndarray:
    return g.reshape(shape)


# -- chains -----------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One layer of a float chain: its kind and geometry (no parameters)."""

    kind: str  # "dense", "conv2d", "maxpool2d", "flatten"
    stride: tuple = (1, 1)
    padding: tuple = (0, 0, 0, 0)
    groups: int = 1
    window: tuple = (1, 1)

    @property
    def has_params(self) -> bool:
        return self.kind in ("dense", "conv2d")

    def forward(self, x, w=None, b=None):
        if self.kind == "dense":
            return dense_forward(x, w, b)
        if self.kind == "conv2d":
            return conv2d_forward(x, w, b, self.stride, self.padding, self.groups)
        if self.kind == "maxpool2d":
            return maxpool2d_forward(x, self.window, self.stride)
        return flatten_forward(x)

    def backward(self, g, cache, w=None, need_dx: bool = True):
        """(dx, dw, db) for a layer with parameters, dx otherwise."""
        if self.kind == "dense":
            return dense_backward(g, cache, w, need_dx)
        if self.kind == "conv2d":
            return conv2d_backward(g, cache, w, self.stride, self.padding, self.groups, need_dx)
        if self.kind == "maxpool2d":
            return maxpool2d_backward(g, cache, self.window, self.stride)
        return flatten_backward(g, cache)


DENSE = Op("dense")


@dataclass(frozen=True)
class Net:
    """A float chain: its ops, the input's (H, W, C) (None: vectors) and the
    layer template it was built from (what ``to_integer`` fills with codes)."""

    ops: tuple
    input_shape: Any = None
    template: tuple = ()

    def prepare(self, x: np.ndarray) -> np.ndarray:
        """Rows of features (n, H * W * C) as the first layer reads them."""
        return x if self.input_shape is None else x.reshape(len(x), *self.input_shape)

    @property
    def n_params(self) -> int:
        return sum(op.has_params for op in self.ops)


def dense_net(n_layers: int) -> Net:
    return Net((DENSE,) * n_layers)


def op_of(layer) -> Op:
    """The float op of a template layer (ternary or float, any kind)."""
    kind = layer.kind
    if kind == "conv2d":
        return Op("conv2d", tuple(layer.stride), tuple(layer.padding), int(layer.groups))
    if kind == "maxpool2d":
        return Op("maxpool2d", stride=tuple(layer.stride), window=tuple(layer.window))
    return Op(kind)


def net_of(layers, input_shape) -> Net:
    """The chain of ``layers`` (conntra.arch.random_layers, or a model's)
    reading ``input_shape`` (H, W, C)."""
    return Net(tuple(op_of(L) for L in layers), tuple(input_shape), tuple(layers))


def init(template, rng) -> list:
    """He-uniform weights (fan-in: KH * KW * G for a conv, the inputs for a
    dense layer) and zero biases, float32, for every layer with parameters."""
    params = []
    for layer in template:
        if not getattr(layer, "has_params", False):
            continue
        shape = layer.weights.shape
        lim = np.sqrt(6.0 / int(np.prod(shape[1:])))
        w = rng.uniform(-lim, lim, shape).astype(np.float32)
        params.append([w, np.zeros(shape[0], np.float32)])
    return params
