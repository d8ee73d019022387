"""The integer inference contract in numpy: the executable specification.

Written from docs/format.md, independently of the C core; the tests require
the C core (every kernel) and the generated firmware to equal it with ``==``.
int64 throughout, so the reference itself cannot overflow where C would; the
convolution sums in float64, which holds every integer below 2^53 exactly,
and no product or partial sum of the contract reaches 2^28 (1.2), so its
result is the exact integer too, with BLAS doing the products.
It trusts its arguments: the public entry points (``TernaryModel``) check them.
Activation tensors are (n, H, W, C), channels last.
"""

from __future__ import annotations

import numpy as np

from conntra.contract import ACT_BITS_DEFAULT, SHIFT_OUTPUT, act_max
from conntra.errors import InputError


def dense_acc(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """acc[b, j] = bias[j] + sum_i w[j, i] * x[b, i], exactly (int64)."""
    return x.astype(np.int64) @ w.astype(np.int64).T + bias.astype(np.int64)


def conv2d_acc(
    x: np.ndarray,
    w: np.ndarray,
    bias: np.ndarray,
    stride: tuple[int, int],
    padding: tuple[int, int, int, int],
    groups: int,
) -> np.ndarray:
    """acc[b, oy, ox, co] = bias[co] + sum_{ky, kx, g} w[co, ky, kx, g] *
    in(oy * SH + ky - P_top, ox * SW + kx - P_left, c(co, g)), with in() = 0
    outside the image and c(co, g) = g (groups 1) or co (depthwise); int64
    (n, H_out, W_out, C_out). x: (n, H, W, C_in); w: (C_out, KH, KW, G)."""
    n, h, wd, c = x.shape
    c_out, kh, kw, _ = w.shape
    sh, sw = stride
    top, bottom, left, right = padding
    xp = np.zeros((n, h + top + bottom, wd + left + right, c), np.float64)
    xp[:, top : top + h, left : left + wd, :] = x
    h_out, w_out = (h + top + bottom - kh) // sh + 1, (wd + left + right - kw) // sw + 1
    acc = np.zeros((n, h_out, w_out, c_out), np.float64)
    wf = w.astype(np.float64)
    for ky in range(kh):
        for kx in range(kw):
            patch = xp[:, ky : ky + sh * (h_out - 1) + 1 : sh, kx : kx + sw * (w_out - 1) + 1 : sw]
            if groups == 1:
                acc += patch @ wf[:, ky, kx, :].T
            else:  # depthwise: channel co reads input channel co
                acc += patch * wf[:, ky, kx, 0]
    return acc.astype(np.int64) + bias.astype(np.int64)


def maxpool2d(x: np.ndarray, window: tuple[int, int], stride: tuple[int, int]) -> np.ndarray:
    """out[b, oy, ox, c] = max over the window at (oy * SH, ox * SW), no padding."""
    _, h, wd, _ = x.shape
    (ph, pw), (sh, sw) = window, stride
    h_out, w_out = (h - ph) // sh + 1, (wd - pw) // sw + 1
    out = None
    for py in range(ph):
        for px in range(pw):
            v = x[:, py : py + sh * (h_out - 1) + 1 : sh, px : px + sw * (w_out - 1) + 1 : sw]
            out = v if out is None else np.maximum(out, v)
    return np.ascontiguousarray(out)


def requantize(acc: np.ndarray, shift: int, act_bits: int = ACT_BITS_DEFAULT) -> np.ndarray:
    """clamp(floor((acc + round) / 2^shift), 0, 2^act_bits - 1) with round =
    2^(shift-1) (0 when shift is 0): round half up, then ReLU and saturation in
    one clamp."""
    acc = np.asarray(acc, dtype=np.int64)
    rounding = (1 << (shift - 1)) if shift > 0 else 0
    return np.clip((acc + rounding) >> shift, 0, act_max(act_bits)).astype(np.int8)


def forward(x: np.ndarray, layers) -> np.ndarray:
    """Integer logits (int64) of int8 inputs through (w, bias, shift) layers,
    or (w, bias, shift, act_bits) layers (act_bits of a hidden layer; 7 when
    absent); the last layer must have shift == SHIFT_OUTPUT."""
    act = np.asarray(x)
    for layer in layers:
        w, bias, shift = layer[:3]
        acc = dense_acc(act, w, bias)
        if shift == SHIFT_OUTPUT:
            return acc
        bits = layer[3] if len(layer) > 3 and layer[3] is not None else ACT_BITS_DEFAULT
        act = requantize(acc, shift, bits)
    raise InputError("the last layer must be an output layer (shift -1)")


def argmax(logits: np.ndarray) -> np.ndarray:
    """Index of the largest logit per row; numpy's argmax already returns the
    first (lowest) index on ties, which is the contract."""
    return np.argmax(logits, axis=1)
