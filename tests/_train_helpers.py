"""Shared helpers of the trainer tests: small random integer networks, and an
observer that stops a run the way Ctrl-C does."""

from __future__ import annotations

import numpy as np

from conntra.events import Observer


class InterruptAt(Observer):
    """Raises KeyboardInterrupt (what SIGINT raises) at the n-th batch; the
    checkpoint of the batch before stays."""

    def __init__(self, n):
        self.n = n

    def phase_advance(self, n=1, **info):
        if "loss" in info:
            self.n -= 1
            if self.n == 0:
                raise KeyboardInterrupt


def random_params(rng, sizes, shifts, bias_range=40):
    params = []
    n = len(sizes) - 1
    for i in range(n):
        w = rng.integers(-1, 2, (sizes[i + 1], sizes[i])).astype(np.int8)
        b = rng.integers(-bias_range, bias_range + 1, sizes[i + 1]).astype(np.int32)
        params.append((w, b, -1 if i == n - 1 else int(shifts[i])))
    return params


def random_batch(rng, n, n_in, n_classes):
    x = rng.integers(0, 128, (n, n_in)).astype(np.int8)
    x[rng.random(x.shape) < 0.3] = 0  # sparse inputs, like MNIST pixels
    return x, rng.integers(0, n_classes, n).astype(np.int32)


def same_params(a, b) -> bool:
    return all(
        np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1]) and int(p[2]) == int(q[2])
        for p, q in zip(a, b, strict=True)
    )


def surrogate_gradients(tr, params, y, temperature, leak=0.0):
    """The surrogate's gradient in float64 numpy, as a test oracle of the C ranking:
    per layer (dL/dW (n_out, n_in), dL/dbias (n_out,)) over ``tr``'s caches. Softmax
    minus one-hot over the temperature at the logits, back through each ternary
    matrix, straight-through the requantization (2^-shift inside the clamp range,
    ``leak`` times that outside)."""
    n = tr.n_layers
    acts = [tr.cache(-1)[1].astype(np.float64)]
    accs = []
    for layer in range(n):
        acc, act = tr.cache(layer)
        accs.append(acc)
        if layer < n - 1:
            acts.append(act.astype(np.float64))
    z = accs[-1] / temperature
    p = np.exp(z - z.max(axis=0))
    p /= p.sum(axis=0)
    p[y, np.arange(len(y))] -= 1.0
    g = p / temperature
    out = [None] * n
    for layer in range(n - 1, -1, -1):
        out[layer] = (g @ acts[layer].T, g.sum(axis=1))
        if layer:
            s = params[layer - 1][2]
            acc = accs[layer - 1]
            top = tr.act_max[layer - 1]  # the layer's 2^act_bits - 1
            inside = (acc >= -(1 << s >> 1)) & (acc < (top << s) + (1 << s >> 1))
            g = (params[layer][0].astype(np.float64).T @ g) * np.where(
                inside, 2.0**-s, leak * 2.0**-s
            )
    return out


def weight_estimates(w, gw):
    """First-order estimate of each weight's best single step (inf where no step
    lowers the loss) and the value it steps to."""
    est = np.where(w == 1, -gw, np.where(w == -1, gw, -np.abs(gw)))
    up = (w == -1) | ((w == 0) & (gw < 0))
    est = np.where(est < 0, est, np.inf)
    return est, w.astype(np.int32) + np.where(up, 1, -1)
