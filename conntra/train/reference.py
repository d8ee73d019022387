"""The trainer's specification in slow numpy: full forward pass per candidate.

``slow_step`` does what ``ct_train_step`` does, but evaluates every candidate
by recomputing the whole network and the whole batch loss. Tests require the
C step to accept the same changes and reach the same loss; the exhaustive
candidate list (every parameter, every allowed value) lives here too.
"""

from __future__ import annotations

import numpy as np

from conntra import reference
from conntra.train.ctrainer import BIAS, SHIFT, WEIGHT


def sample_losses(logits: np.ndarray, y: np.ndarray, temperature: float) -> np.ndarray:
    """Per-sample softmax cross-entropy of integer logits / T (float64)."""
    z = np.asarray(logits, dtype=np.int64)
    mx = z.max(axis=1, keepdims=True)
    s = np.exp((z - mx).astype(np.float64) / temperature).sum(axis=1)
    zy = z[np.arange(z.shape[0]), y]
    return np.log(s) + (mx[:, 0] - zy).astype(np.float64) / temperature


def with_bits(params, act_bits=None):
    """(w, bias, shift, act_bits) layers for the numpy reference: act_bits of
    each hidden layer (None: 7 everywhere), None for the output layer."""
    bits = list(act_bits) if act_bits is not None else [None] * (len(params) - 1)
    return [(w, b, s, a) for (w, b, s), a in zip(params, bits + [None], strict=True)]


def batch_loss(params, xq, y, temperature: float, act_bits=None) -> float:
    logits = reference.forward(xq, with_bits(params, act_bits))
    return float(sample_losses(logits, y, temperature).sum())


def apply_candidate(params, c):
    """A new parameter list with candidate c = (layer, kind, row, col, value) applied."""
    layer, kind, row, col, value = (int(v) for v in c)
    out = [(w.copy(), b.copy(), s) for w, b, s in params]
    w, b, s = out[layer]
    if kind == WEIGHT:
        w[row, col] = value
    elif kind == BIAS:
        b[row] = b[row] + value
    elif kind == SHIFT:
        s = s + value
    out[layer] = (w, b, s)
    return out


def slow_step(params, xq, y, temperature, cands, mode="sequential", min_gain=0.0, act_bits=None):
    """Returns (params after the round, accepted bool array, deltas)."""
    cands = np.asarray(cands, dtype=np.int64).reshape(-1, 5)
    n = cands.shape[0]
    accepted = np.zeros(n, bool)
    deltas = np.zeros(n)
    params = [(np.asarray(w, np.int8), np.asarray(b, np.int64), int(s)) for w, b, s in params]
    current = batch_loss(params, xq, y, temperature, act_bits)

    def limit():  # the C core's threshold: a decrease beyond float64 rounding
        return -(min_gain + 1e-12 * (abs(current) + 1.0))

    def check(i):
        trial = apply_candidate(params, cands[i])
        new = batch_loss(trial, xq, y, temperature, act_bits)
        return trial, new - current, new

    if mode == "sequential":
        order = range(n)
    else:
        scores = [check(i)[1] for i in range(n)]
        deltas[:] = scores
        order = [i for i in sorted(range(n), key=lambda i: (scores[i], i)) if scores[i] < limit()]
    for i in order:
        trial, d, new = check(i)
        deltas[i] = d
        if d < limit():
            params, current = trial, new
            accepted[i] = True
    return params, accepted, deltas


def exhaustive_candidates(params, bias_steps=(1,)) -> np.ndarray:
    """Every weight to each other allowed value, every bias by +-each step,
    every hidden shift by +-1: the exhaustive mode's list."""
    rows = []
    last = len(params) - 1
    for layer, (w, _b, shift) in enumerate(params):
        n_out, n_in = w.shape
        for j in range(n_out):
            for i in range(n_in):
                for v in (-1, 0, 1):
                    if v != w[j, i]:
                        rows.append((layer, WEIGHT, j, i, v))
            for step in bias_steps:
                rows += [(layer, BIAS, j, 0, step), (layer, BIAS, j, 0, -step)]
        if layer != last:
            rows += [(layer, SHIFT, 0, 0, d) for d in (1, -1) if 0 <= shift + d <= 24]
    return np.array(rows, dtype=np.int32).reshape(-1, 5)
