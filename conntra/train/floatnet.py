"""Float baselines on the same architecture, in numpy: float32 backpropagation
with Adam, and ternary quantization-aware training (TWN-style) whose result
is converted onto the integer contract.

Both read the quantized inputs scaled to 0..1 (what ``FloatModel`` sees), so
every trainer in a comparison sees identical data.

Activation bits: QAT with a hidden layer of fewer than 7 bits simulates that
layer's integer requantization in the forward pass (fake quantization): the
pre-activation is divided by the step the integer model will use (the
layer's accumulator unit times 2^shift, the shift chosen from the batch as
``to_integer`` first guesses it), rounded half up and clamped to
0 .. 2^bits - 1, and the gradient passes straight through inside that range
(zero outside). At 7 bits the float ReLU is kept, as it always was: 128
levels are close to continuous, and existing runs stay what they were.
Float backpropagation ignores activation bits (it is the float baseline).
"""

from __future__ import annotations

import numpy as np

from conntra import floatconv, reference
from conntra.layers import TernaryConv2D
from conntra.model import FloatConv2D, FloatDense, FloatModel, TernaryDense, TernaryModel

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


def _first_shift(acc_int: np.ndarray, top: int) -> int:
    """The shift that puts the 99.9th percentile of the positive accumulator
    values at the top activation (to_integer's first guess), 0..24."""
    pos = acc_int[acc_int > 0]
    hi = float(np.percentile(pos, 99.9)) if pos.size else 1.0
    return int(min(24, max(0, np.ceil(np.log2(max(hi, 1.0) / top)))))


def _hidden_output(h, i, alphas, act_bits, unit_in):
    """The activation of hidden layer ``i`` from its pre-activation ``h``:
    (output, straight-through mask, the float value of one step of it)."""
    bits = act_bits[i] if alphas is not None else 7
    if bits < 7:
        assert alphas is not None
        unit = alphas[i] * unit_in  # float value of one accumulator step
        top = (1 << bits) - 1
        step = np.float32(unit * (1 << _first_shift(h / unit, top)))
        q = np.clip(np.floor(h / step + np.float32(0.5)), 0, top)
        mask = (h >= -step / 2) & (h < (top + np.float32(0.5)) * step)
        return (q * step).astype(np.float32), mask, float(step)
    mask = h > 0
    if alphas is not None:
        unit_in = alphas[i] * unit_in  # not requantized: a rough unit
    return np.maximum(h, 0), mask, unit_in


def forward(params, x, ternary=False, act_bits=None, masks=None, net=None, caches=None):
    """Returns (logits, hidden activations list, weights used) for float inputs
    x (n, d). With ``ternary`` and ``act_bits`` (one per hidden layer), layers
    of fewer than 7 bits are fake-quantized (module docstring); ``masks``, if
    a list, receives each hidden layer's straight-through mask. ``net``: the
    chain (``floatconv.Net``; None: dense layers only); ``caches``, if a list,
    receives what each layer's backward pass needs."""
    net = net or floatconv.dense_net(len(params))
    ws = _weights(params, ternary)
    alphas = [ternarize(w)[1] for w, _ in params] if ternary and act_bits is not None else None
    hs = [x]
    h = net.prepare(x)
    unit_in = 1.0 / 127.0  # float value of one integer input step
    i = 0
    for op in net.ops:
        if not op.has_params:
            h, cache = op.forward(h)
        else:
            h, cache = op.forward(h, ws[i], params[i][1])
            if i < len(params) - 1:
                h, mask, unit_in = _hidden_output(h, i, alphas, act_bits, unit_in)
                if masks is not None:
                    masks.append(mask)
                hs.append(h)
            i += 1
        if caches is not None:
            caches.append(cache)
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


def grads(params, x, y, ternary=False, act_bits=None, net=None):
    """Mean cross-entropy gradients; with ternary=True the forward pass uses
    ternary weights and the gradient passes straight through to the shadows
    (and through fake-quantized activations, inside their range). ``net``:
    the chain (None: dense layers only)."""
    net = net or floatconv.dense_net(len(params))
    masks: list = []
    caches: list = []
    logits, hs, ws = forward(params, x, ternary, act_bits, masks, net, caches)
    z = logits - logits.max(axis=1, keepdims=True)
    p = np.exp(z)
    p /= p.sum(axis=1, keepdims=True)
    g = p
    g[np.arange(len(y)), y] -= 1
    g /= len(y)
    out: list = [None] * len(params)
    i = len(params) - 1
    for k in range(len(net.ops) - 1, -1, -1):
        op = net.ops[k]
        if not op.has_params:
            g = op.backward(g, caches[k])
            continue
        if i < len(params) - 1:
            g = g * masks[i]
        dx, dw, db = op.backward(g, caches[k], ws[i], need_dx=k > 0)
        out[i] = [dw, db]
        g = dx
        i -= 1
    return out


def train_epochs(
    params,
    x,
    y,
    *,
    epochs,
    batch,
    lr,
    rng,
    ternary=False,
    opt=None,
    on_batch=None,
    act_bits=None,
    rows=None,
    to_float=None,
    net=None,
):
    """Minibatch Adam over (x float32, y). Returns the optimizer (to continue).
    ``on_batch()`` is called after each optimizer step; ``act_bits`` (QAT
    only): bits per hidden layer, see the module docstring. ``rows``: train on
    x[rows], y[rows] (in that order) without gathering them first; ``to_float``:
    x holds codes, converted one batch at a time (the same values as
    converting x whole, without a float copy of the data); ``net``: the
    chain (``floatconv.Net``; None: dense layers only)."""
    opt = opt or Adam(params, lr)
    n = x.shape[0] if rows is None else len(rows)
    for _ in range(epochs):
        order = rng.permutation(n)
        for start in range(0, n, batch):
            idx = order[start : start + batch]
            if rows is not None:
                idx = rows[idx]
            xb = x[idx] if to_float is None else to_float(x[idx])
            opt.update(params, grads(params, xb, y[idx], ternary, act_bits, net))
            if on_batch is not None:
                on_batch()
    return opt


def float_model(params, input_quant, metadata=None, net=None) -> FloatModel:
    """The float32 model of ``params``; ``net`` (a chain built from a layer
    template) gives conv, pool and flatten layers and the input's shape."""
    template = net.template if net is not None else ()
    if not template:
        return FloatModel([FloatDense(w, b) for w, b in params], input_quant, dict(metadata or {}))
    layers: list = []
    it = iter(params)
    for layer in template:
        if not layer.has_params:
            layers.append(layer)
            continue
        w, b = next(it)
        if layer.kind == "conv2d":
            layers.append(
                FloatConv2D(w, b, stride=layer.stride, padding=layer.padding, groups=layer.groups)
            )
        else:
            layers.append(FloatDense(w, b))
    return FloatModel(layers, input_quant, dict(metadata or {}))


def _hidden_acc(model: TernaryModel, xq: np.ndarray, index: int) -> np.ndarray:
    """int64 pre-activations of the ``index``-th layer with parameters on the
    codes ``xq``, by the numpy reference (each layer's ``forward``, hidden
    outputs requantized with the model's shifts and bits)."""
    act: np.ndarray = xq
    k = 0
    for layer, shape in zip(model.layers, model.shapes(), strict=False):
        out = layer.forward(act, shape)
        if not layer.has_params:
            act = out
            continue
        if k == index:
            return out
        act = reference.requantize(out, layer.shift, layer.act_bits)
        k += 1
    raise ValueError(f"the model has no layer with parameters number {index}")


def to_integer(
    params, input_quant, xq_fit, y_fit, metadata=None, act_bits=None, shifts=None, net=None
):
    """Ternarise float (shadow) parameters onto the integer contract.
    ``act_bits``: activation bits per hidden layer (None: 7 everywhere); each
    hidden layer of the result requantizes to 0 .. 2^bits - 1. ``shifts``: the
    hidden layers' shifts to use instead of choosing them (a fine-tuning
    test converts a model's shadow weights back with the model's own).
    ``net``: the chain the parameters belong to (None: dense layers only); its
    template gives the conv geometry and the pool and flatten layers.

    Each layer keeps its TWN codes; biases become integers in the units of the
    layer's accumulator; each hidden shift is chosen (greedily, layer by layer)
    as the one with the lowest cross-entropy on (xq_fit, y_fit). Returns
    (TernaryModel, temperature): logits / temperature approximates the float
    logits, which is the trainer's natural starting temperature.
    """
    from conntra.train.reference import sample_losses

    codes, alphas = zip(*(ternarize(w) for w, _ in params), strict=True)
    n = len(params)
    bits = list(act_bits) if act_bits is not None else [7] * (n - 1)
    template = list(net.template) if net is not None and net.template else [None] * n

    def build(shifts):
        unit_in = 1.0 / 127.0
        layers = []
        unit = 1.0
        i = 0
        for like in template:
            if like is not None and not like.has_params:
                layers.append(like)  # pool and flatten: no parameters, no units
                continue
            unit = alphas[i] * unit_in
            bias = np.clip(np.round(params[i][1] / unit), -(1 << 27), 1 << 27).astype(np.int32)
            last = i == n - 1
            shift, layer_bits = (-1, None) if last else (shifts[i], bits[i])
            if like is None or like.kind != "conv2d":
                layers.append(TernaryDense(codes[i], bias, shift, layer_bits))
            else:
                layers.append(
                    TernaryConv2D(
                        codes[i],
                        bias,
                        shift,
                        layer_bits,
                        stride=like.stride,
                        padding=like.padding,
                        groups=like.groups,
                    )
                )
            if not last:
                unit_in = unit * (1 << shifts[i])
            i += 1
        return TernaryModel(layers, input_quant, dict(metadata or {})), 1.0 / unit

    def loss(shifts):
        model, temp = build(shifts)
        logits = model.logits_quantized(xq_fit)
        return float(sample_losses(logits, y_fit, temp).mean())

    if shifts is not None:
        return build(list(shifts))
    xq_fit = np.ascontiguousarray(xq_fit, np.int8)
    shifts = []
    for i in range(n - 1):  # first guess: the 99.9th percentile of acc fits 0..2^bits - 1
        model, _ = build(shifts + [0] * (n - 1 - len(shifts)))
        acc = _hidden_acc(model, xq_fit, i)
        shifts.append(_first_shift(acc, (1 << bits[i]) - 1))
    for i in range(n - 1):  # then refine each shift on the fit loss
        tries = [s for s in range(shifts[i] - 2, shifts[i] + 3) if 0 <= s <= 24]
        scores = [(loss(shifts[:i] + [s] + shifts[i + 1 :]), s) for s in tries]
        shifts[i] = min(scores)[1]
    return build(shifts)
