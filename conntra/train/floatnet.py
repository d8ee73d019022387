"""Float baselines on the same architecture, in numpy: float32 backpropagation
with Adam, and ternary quantization-aware training (TWN-style) whose result
is converted onto the integer contract.

Both read the quantized inputs scaled to 0..1 (what ``FloatModel`` sees), so
every trainer in a comparison sees identical data.
"""

from __future__ import annotations

import numpy as np

from conntra.model import FloatDense, FloatModel, TernaryDense, TernaryModel

TWN_THRESHOLD = 0.7  # Li & Liu: delta = 0.7 * mean |W|


def init_float(sizes, rng) -> list:
    """He-uniform weights, zero biases (float32)."""
    params = []
    for n_in, n_out in zip(sizes[:-1], sizes[1:], strict=True):
        lim = np.sqrt(6.0 / n_in)
        params.append(
            [rng.uniform(-lim, lim, (n_out, n_in)).astype(np.float32), np.zeros(n_out, np.float32)]
        )
    return params


def ternarize(w: np.ndarray):
    """TWN: (codes in {-1,0,1} int8, scale alpha) for one float matrix."""
    a = np.abs(w)
    delta = TWN_THRESHOLD * float(a.mean())
    mask = a > delta
    alpha = float(a[mask].mean()) if mask.any() else 1.0
    return (np.sign(w) * mask).astype(np.int8), alpha


def _weights(params, ternary: bool):
    if not ternary:
        return [w for w, _ in params]
    out = []
    for w, _ in params:
        codes, alpha = ternarize(w)
        out.append(codes.astype(np.float32) * np.float32(alpha))
    return out


def forward(params, x, ternary=False):
    """Returns (logits, hidden activations list) for float inputs x (n, d)."""
    ws = _weights(params, ternary)
    hs = [x]
    h = x
    for i, (w, (_, b)) in enumerate(zip(ws, params, strict=True)):
        h = h @ w.T + b
        if i < len(params) - 1:
            h = np.maximum(h, 0)
            hs.append(h)
    return h, hs, ws


class Adam:
    def __init__(self, params, lr=1e-3, b1=0.9, b2=0.999, eps=1e-8):
        self.lr, self.b1, self.b2, self.eps = lr, b1, b2, eps
        self.m = [[np.zeros_like(p) for p in layer] for layer in params]
        self.v = [[np.zeros_like(p) for p in layer] for layer in params]
        self.t = 0

    def memory(self) -> int:
        """Bytes of the two moments (the optimizer's state between steps)."""
        return sum(a.nbytes for moment in (self.m, self.v) for layer in moment for a in layer)

    def update(self, params, grads):
        self.t += 1
        c1 = 1 - self.b1**self.t
        c2 = 1 - self.b2**self.t
        for layer, glayer, ml, vl in zip(params, grads, self.m, self.v, strict=True):
            for k in range(2):
                g = glayer[k]
                ml[k] = self.b1 * ml[k] + (1 - self.b1) * g
                vl[k] = self.b2 * vl[k] + (1 - self.b2) * g * g
                step = self.lr * (ml[k] / c1) / (np.sqrt(vl[k] / c2) + self.eps)
                layer[k] = (layer[k] - step.astype(np.float32)).astype(np.float32)


def grads(params, x, y, ternary=False):
    """Mean cross-entropy gradients; with ternary=True the forward pass uses
    ternary weights and the gradient passes straight through to the shadows."""
    logits, hs, ws = forward(params, x, ternary)
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    g = p
    g[np.arange(len(y)), y] -= 1
    g /= len(y)
    out = [None] * len(params)
    for i in range(len(params) - 1, -1, -1):
        out[i] = [g.T @ hs[i], g.sum(axis=0)]
        if i:
            g = (g @ ws[i]) * (hs[i] > 0)
    return out


def train_epochs(params, x, y, *, epochs, batch, lr, rng, ternary=False, opt=None, on_batch=None):
    """Minibatch Adam over (x float32, y). Returns the optimizer (to continue).
    ``on_batch()`` is called after each optimizer step."""
    opt = opt or Adam(params, lr)
    n = x.shape[0]
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            opt.update(params, grads(params, x[idx], y[idx], ternary))
            if on_batch is not None:
                on_batch()
    return opt


def float_model(params, input_quant, metadata=None) -> FloatModel:
    return FloatModel([FloatDense(w, b) for w, b in params], input_quant, dict(metadata or {}))


def to_integer(params, input_quant, xq_fit, y_fit, metadata=None):
    """Ternarise float (shadow) parameters onto the integer contract.

    Each layer keeps its TWN codes; biases become integers in the units of the
    layer's accumulator; each hidden shift is chosen (greedily, layer by layer)
    as the one with the lowest cross-entropy on (xq_fit, y_fit). Returns
    (TernaryModel, temperature): logits / temperature approximates the float
    logits, which is the trainer's natural starting temperature.
    """
    from conntra.train.reference import sample_losses

    codes, alphas = zip(*(ternarize(w) for w, _ in params), strict=True)
    n = len(params)

    def build(shifts):
        unit_in = 1.0 / 127.0
        layers = []
        unit = 1.0
        for i in range(n):
            unit = alphas[i] * unit_in
            bias = np.clip(np.round(params[i][1] / unit), -(1 << 27), 1 << 27)
            shift = shifts[i] if i < n - 1 else -1
            layers.append(TernaryDense(codes[i], bias.astype(np.int32), shift))
            if i < n - 1:
                unit_in = unit * (1 << shifts[i])
        return TernaryModel(layers, input_quant, dict(metadata or {})), 1.0 / unit

    def loss(shifts):
        model, temp = build(shifts)
        logits = model.logits_quantized(xq_fit)
        return float(sample_losses(logits, y_fit, temp).mean())

    xq_fit = np.ascontiguousarray(xq_fit, np.int8)
    shifts = []
    for i in range(n - 1):  # first guess: the 99.9th percentile of acc fits 0..127
        model, _ = build(shifts + [0] * (n - 1 - len(shifts)))
        a = xq_fit.astype(np.int64)
        for layer in model.layers[:i]:
            acc = a @ layer.weights.T.astype(np.int64) + layer.bias
            a = np.clip((acc + ((1 << layer.shift) >> 1)) >> layer.shift, 0, 127)
        layer = model.layers[i]
        acc = a @ layer.weights.T.astype(np.int64) + layer.bias
        hi = float(np.percentile(acc[acc > 0], 99.9)) if (acc > 0).any() else 1.0
        shifts.append(int(min(24, max(0, np.ceil(np.log2(max(hi, 1.0) / 127.0))))))
    for i in range(n - 1):  # then refine each shift on the fit loss
        tries = [s for s in range(shifts[i] - 2, shifts[i] + 3) if 0 <= s <= 24]
        scores = [(loss(shifts[:i] + [s] + shifts[i + 1 :]), s) for s in tries]
        shifts[i] = min(scores)[1]
    return build(shifts)
