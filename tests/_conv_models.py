"""Convolutional test models and an oracle of docs/format.md 1.2 written as
plain loops over the formulas, independent of conntra.reference."""

from __future__ import annotations

import numpy as np

from conntra import Flatten, InputQuant, MaxPool2D, TernaryConv2D, TernaryDense, TernaryModel


def conv_model(seed=0, in_shape=(12, 10, 3), act_bits=(7, 7, 4), classes=5):
    """conv 3x3 same -> maxpool 2 -> depthwise 3x3 -> conv 2x3 stride (2, 1)
    with asymmetric padding -> flatten -> dense: every geometry option once."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.integers(-1, 2, shape).astype(np.int8)

    def b(n, r=60):
        return rng.integers(-r, r + 1, n).astype(np.int32)

    c = in_shape[2]
    layers = [
        TernaryConv2D(w(8, 3, 3, c), b(8), 3, act_bits[0], padding="same"),
        MaxPool2D(2),
        TernaryConv2D(w(8, 3, 3, 1), b(8), 2, act_bits[1], padding=1, groups=8),
        TernaryConv2D(w(6, 2, 3, 8), b(6), 3, act_bits[2], stride=(2, 1), padding=(0, 1, 1, 0)),
        Flatten(),
    ]
    quant = InputQuant.pixels(int(np.prod(in_shape)), shape=in_shape)
    shape = in_shape
    for layer in layers:
        shape = layer.out_shape(shape)
    layers.append(TernaryDense(w(classes, int(np.prod(shape))), b(classes, 200), -1))
    return TernaryModel(layers, quant, {"test": "conv"})


def mnist_conv_model(seed=0):
    """A small CNN on 28x28x1 digits with random ternary weights."""
    rng = np.random.default_rng(seed)

    def w(*shape):
        return rng.choice(np.array([-1, 0, 1], np.int8), size=shape, p=[0.3, 0.4, 0.3])

    layers = [
        TernaryConv2D(w(8, 3, 3, 1), np.zeros(8, np.int32), 4, padding="same"),
        MaxPool2D(2),
        TernaryConv2D(w(8, 3, 3, 1), np.zeros(8, np.int32), 2, padding=1, groups=8),
        TernaryConv2D(w(16, 3, 3, 8), np.zeros(16, np.int32), 4, stride=2),
        Flatten(),
        TernaryDense(w(10, 6 * 6 * 16), np.zeros(10, np.int32), -1),
    ]
    return TernaryModel(layers, InputQuant.pixels(784, shape=(28, 28, 1)))


def oracle_conv(x, w, bias, stride, padding, groups):
    """acc of one conv2d layer, loop by loop: x (H, W, C_in) ints, w (C_out,
    KH, KW, G); Python ints, so nothing can overflow."""
    h, wd, _ = x.shape
    c_out, kh, kw, g_count = w.shape
    top, bottom, left, right = padding
    h_out = (h + top + bottom - kh) // stride[0] + 1
    w_out = (wd + left + right - kw) // stride[1] + 1
    out = np.zeros((h_out, w_out, c_out), np.int64)
    for oy in range(h_out):
        for ox in range(w_out):
            for co in range(c_out):
                s = int(bias[co])
                for ky in range(kh):
                    for kx in range(kw):
                        y, xx = oy * stride[0] + ky - top, ox * stride[1] + kx - left
                        if not (0 <= y < h and 0 <= xx < wd):
                            continue  # padding reads 0
                        for g in range(g_count):
                            c = g if groups == 1 else co
                            s += int(w[co, ky, kx, g]) * int(x[y, xx, c])
                out[oy, ox, co] = s
    return out


def oracle_pool(x, window, stride):
    h, wd, c = x.shape
    h_out, w_out = (h - window[0]) // stride[0] + 1, (wd - window[1]) // stride[1] + 1
    out = np.zeros((h_out, w_out, c), np.int64)
    for oy in range(h_out):
        for ox in range(w_out):
            for ch in range(c):
                out[oy, ox, ch] = max(
                    int(x[oy * stride[0] + py, ox * stride[1] + px, ch])
                    for py in range(window[0])
                    for px in range(window[1])
                )
    return out


def oracle_requant(acc, shift, bits):
    r = (1 << (shift - 1)) if shift > 0 else 0
    return np.clip((np.asarray(acc, np.int64) + r) >> shift, 0, (1 << bits) - 1)


def oracle_logits(model, xq):
    """Logits of one model on int8 codes (n, n_features), sample by sample."""
    out = []
    for row in xq:
        act = np.asarray(row, np.int64).reshape(model.input_shape)
        for layer in model.layers:
            if isinstance(layer, TernaryConv2D):
                acc = oracle_conv(
                    act, layer.weights, layer.bias, layer.stride, layer.padding, layer.groups
                )
                act = oracle_requant(acc, layer.shift, layer.act_bits)
            elif isinstance(layer, MaxPool2D):
                act = oracle_pool(act, layer.window, layer.stride)
            elif isinstance(layer, Flatten):
                act = act.reshape(1, 1, -1)
            else:
                acc = layer.weights.astype(np.int64) @ act.reshape(-1) + layer.bias
                if layer.shift == -1:
                    out.append(acc)
                    break
                act = oracle_requant(acc, layer.shift, layer.act_bits).reshape(1, 1, -1)
    return np.array(out)
