"""Candidate choice: a float surrogate backward pass over the C caches.

The gradient of the batch loss with respect to the integer logits is exact
(softmax minus one-hot, over the temperature); it goes back through each
ternary layer as a float matrix product and through the requantization
straight-through: d act / d acc = 2^-shift inside the clamp range, zero
outside (``leak`` lets a fraction through outside, to revive dead units).
Each parameter's first-order estimate of the loss change of its best single
step ranks the candidates, within each layer.
"""

from __future__ import annotations

import numpy as np

from conntra.train.ctrainer import BIAS, SHIFT, WEIGHT


def softmax_grad(logits: np.ndarray, y: np.ndarray, temperature: float) -> np.ndarray:
    """d(sum of losses)/d logits for feature-major logits (C, B), float32."""
    z = logits.astype(np.float64) / temperature
    z -= z.max(axis=0, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=0, keepdims=True)
    p[y, np.arange(logits.shape[1])] -= 1.0
    return (p / temperature).astype(np.float32)


def best_temperature(logits: np.ndarray, y: np.ndarray, current: float) -> float:
    """The temperature of a small geometric grid around ``current`` with the
    lowest batch loss (an adaptive temperature removes a knob)."""
    z = logits.astype(np.float64)
    best: tuple[float, float] | None = None
    for f in (0.5, 0.71, 1.0, 1.41, 2.0):
        t = max(current * f, 1e-3)
        s = z / t
        mx = s.max(axis=0)
        lse = np.log(np.exp(s - mx).sum(axis=0)) + mx
        loss = float((lse - s[y, np.arange(z.shape[1])]).sum())
        if best is None or loss < best[0] - 1e-12:
            best = (loss, t)
    assert best is not None  # the grid is not empty
    return best[1]


def gradients(tr, params, y, temperature, leak=0.0, x_f32=None):
    """Per-layer (dL/dW float32 (n_out, n_in), dL/dbias float32 (n_out,)) at the
    parameters ``params`` ((weights, bias, shift) per layer, as read from ``tr``)
    over ``tr``'s caches of the loaded batch."""
    n = tr.n_layers
    acts = [x_f32 if x_f32 is not None else tr.cache(-1)[1].astype(np.float32)]
    accs = []
    for layer in range(n):
        acc, act = tr.cache(layer)
        accs.append(acc)
        if layer < n - 1:
            acts.append(act.astype(np.float32))
    g = softmax_grad(accs[-1], y, temperature)
    out = [None] * n
    for layer in range(n - 1, -1, -1):
        out[layer] = (g @ acts[layer].T, g.sum(axis=1))
        if layer:
            s = params[layer - 1][2]
            # the first layer's weights are never needed as floats: only later layers
            # carry the gradient back
            gact = params[layer][0].astype(np.float32).T @ g
            acc = accs[layer - 1]
            lo = -(1 << s >> 1)
            top = tr.act_max[layer - 1]  # the layer's 2^act_bits - 1
            inside = (acc >= lo) & (acc < (top << s) + (1 << s >> 1))
            scale = np.float32(2.0**-s)
            g = gact * np.where(inside, scale, np.float32(leak) * scale)
    return out


def layer_candidates(layer, w, gw, gb, budget, bias_step, n_bias):
    """Up to ``budget`` weight candidates of one layer, best estimate first,
    then up to ``n_bias`` bias candidates. Rows: (layer, kind, row, col, value)."""
    rows = []
    if budget > 0:
        est_down = np.where(w > -1, -gw, np.inf)  # a step down changes L by about -g
        est_up = np.where(w < 1, gw, np.inf)  # a step up by about +g
        down = est_down <= est_up
        est = np.minimum(est_down, est_up)
        flat = est.ravel()
        k = min(budget, flat.size)
        part = np.argpartition(flat, k - 1)[:k] if k < flat.size else np.arange(flat.size)
        part = part[np.argsort(flat[part], kind="stable")]
        part = part[flat[part] < 0]
        j, i = np.divmod(part, w.shape[1])
        value = w[j, i].astype(np.int32) + np.where(down.ravel()[part], -1, 1)
        rows.append(np.stack([np.full_like(j, layer), np.full_like(j, WEIGHT), j, i, value], 1))
    if n_bias > 0 and bias_step > 0:
        est = -np.abs(gb) * bias_step
        order = np.argsort(est, kind="stable")[:n_bias]
        order = order[est[order] < 0]
        value = np.where(gb[order] > 0, -bias_step, bias_step)
        rows.append(
            np.stack(
                [
                    np.full_like(order, layer),
                    np.full_like(order, BIAS),
                    order,
                    np.zeros_like(order),
                    value,
                ],
                1,
            )
        )
    return rows


def shift_candidates(shifts):
    """+-1 for every hidden layer's shift, where the result stays in 0..24."""
    rows = []
    for layer, s in enumerate(shifts[:-1]):
        rows += [(layer, SHIFT, 0, 0, d) for d in (1, -1) if 0 <= s + d <= 24]
    return np.array(rows, np.int64).reshape(-1, 5)


def round_memory(sizes, batch: int, budget: int) -> int:
    """Bytes of the ranking state one gradient round holds at once
    (``gradients`` and ``layer_candidates`` above; the accounting of
    conntra.train.memory reads it from here, so a change of the ranking
    changes the numbers): the float32 copies of every layer's input
    activations over the batch, the logits' gradient, the gradient matrices,
    the float copy of a weight matrix and the gradient it carries back, and
    for the layer being ranked its three float32 estimate arrays, the
    direction mask and the budget's int64 indices."""
    pairs = list(zip(sizes[:-1], sizes[1:], strict=True))
    acts = 4 * batch * sum(sizes[:-1])
    grads = 4 * sum(a * b + b for a, b in pairs) + 8 * sizes[-1] * batch
    back = max((4 * a * b + 3 * 4 * a * batch for a, b in pairs[1:]), default=0)
    rank = max(13 * a * b for a, b in pairs) + 3 * 8 * budget
    return acts + grads + back + rank
