"""Python handle on the C trainer for chains of layer kinds (``ct_seq``,
native/include/conntra_train.h): convolutions, pools, flatten and dense
layers, as ``conntra.arch`` builds them.

``SeqTrainer`` offers what ``coordinate.fit`` uses of ``CTrainer`` (the
dense trainer): parameters in and out, the batch, the loss, exact checks and
applications, and a ranking. The ranking takes C's integer surrogate
gradient (``ct_seq_gradient``) and picks each layer's candidates here, with
numpy: a weight steps one value toward the side its gradient falls, a bias
by one step; the best estimates first, ties by index, so the lists are the
same on every platform.
"""

from __future__ import annotations

import numpy as np

from conntra._native import ffi, lib
from conntra._status import check
from conntra.contract import ACT_BITS_DEFAULT, MAX_BIAS, act_max
from conntra.engine import NativeNet
from conntra.errors import ShapeError
from conntra.train.ctrainer import (
    BIAS,
    WEIGHT,
    candidates,
    fetch_layer,
    load_batch,
    store_layer,
)

GRAD_SCALE = float(2 ** int(lib.CT_SEQ_GRAD_BITS))  # the gradient's unit, per error unit
SUM_SCALE = float(2 ** int(lib.CT_SEQ_SUM_BITS))  # the exact sums' unit, per loss unit


def is_chain(net) -> bool:
    """Whether ``net`` (what fit takes as ``sizes``) is a list of layer objects."""
    return len(net) > 0 and not isinstance(net[0], (int, np.integer))


class SeqTrainer:
    """The C trainer for the chain of ``layers`` (layer objects of
    conntra.layers; only their kinds and geometry are read) reading
    ``input_shape``, for batches of up to ``batch_cap`` samples.
    ``act_bits``: one per hidden parameter layer (None: 7 everywhere)."""

    is_chain = True  # coordinate.batch_round ranks it with chain_candidates

    def __init__(self, layers, input_shape, batch_cap: int, act_bits=None):
        self.layers = list(layers)
        self.input_shape = tuple(int(v) for v in input_shape)
        net = NativeNet(self.layers, self.input_shape)
        out = ffi.new("ct_seq **")
        check(lib.ct_seq_new(net._c, net.n_layers, int(batch_cap), out), "chain trainer")
        self._t = ffi.gc(out[0], lib.ct_seq_free)
        n = ffi.new("int32_t *")
        check(lib.ct_seq_params(self._t, n), "chain trainer")
        self.n_layers = int(n[0])  # parameter layers: what candidates name
        self.shapes = []  # (rows, cols) of each parameter layer's weights
        self.param_layers = [ly for ly in self.layers if getattr(ly, "has_params", False)]
        r, c, o = ffi.new("int32_t *"), ffi.new("int32_t *"), ffi.new("int32_t *")
        for i in range(self.n_layers):
            check(lib.ct_seq_param_shape(self._t, i, r, c, o), f"layer {i}")
            self.shapes.append((int(r[0]), int(c[0])))
        self.batch_cap = int(batch_cap)
        self.batch = 0
        n_hidden = self.n_layers - 1
        bits = [ACT_BITS_DEFAULT] * n_hidden if act_bits is None else [int(a) for a in act_bits]
        if len(bits) != n_hidden:
            raise ShapeError(f"act_bits needs {n_hidden} values (one per hidden layer), got {bits}")
        for i, a in enumerate(bits):
            check(lib.ct_seq_set_act_bits(self._t, i, a), f"act_bits of layer {i}")
        self.act_bits = bits
        self.act_max = [act_max(a) for a in bits]
        self.sizes = [self.shapes[0][1]] + [rows for rows, _ in self.shapes]  # for budget shares
        self.n_weights = sum(r * c for r, c in self.shapes)

    # -- parameters -------------------------------------------------------
    def set_layer(self, i: int, weights, bias, shift: int) -> None:
        rows, cols = self.shapes[i]
        w = np.ascontiguousarray(weights, dtype=np.int8)
        if w.size != rows * cols:
            raise ShapeError(f"layer {i} needs {rows} x {cols} weights; got {w.shape}")
        store_layer(lib.ct_seq_set_layer, self._t, i, w.reshape(rows, cols), bias, shift)

    def get_layer(self, i: int):
        """(weights shaped as the layer's own, bias, shift)."""
        shape = self.param_layers[i].weights.shape
        return fetch_layer(lib.ct_seq_get_layer, self._t, i, shape)

    def set_params(self, params) -> None:
        for i, (w, b, s) in enumerate(params):
            self.set_layer(i, w, b, s)
        if self.batch:
            self.recompute()

    def get_params(self):
        return [self.get_layer(i) for i in range(self.n_layers)]

    def shift(self, i: int) -> int:
        return self.get_layer(i)[2]

    # -- batch --------------------------------------------------------------
    def set_batch(self, xq: np.ndarray, y: np.ndarray, temperature: float) -> None:
        n_in = int(np.prod(self.input_shape))
        self.batch = load_batch(lib.ct_seq_set_batch, self._t, xq, y, n_in, temperature)

    def set_temperature(self, temperature: float) -> None:
        check(lib.ct_seq_set_temperature(self._t, float(temperature)), "temperature")

    def recompute(self) -> None:
        check(lib.ct_seq_recompute(self._t), "recompute")

    def loss(self) -> float:
        out = ffi.new("double *")
        check(lib.ct_seq_loss(self._t, out), "loss")
        return float(out[0])

    def logits(self) -> np.ndarray:
        """The batch's logits (batch, classes), copied."""
        p = ffi.new("int32_t **")
        check(lib.ct_seq_logits(self._t, ffi.cast("const int32_t **", p)), "logits")
        classes = self.shapes[-1][0]
        buf = ffi.buffer(p[0], self.batch * classes * 4)
        return np.frombuffer(buf, np.int32).reshape(self.batch, classes).copy()

    def cache(self, layer: int):
        """The dense trainer's view of the output layer: (logits (classes,
        batch), None); ``coordinate.fit`` reads it to pick the temperature."""
        if layer != self.n_layers - 1:
            raise ShapeError("the chain trainer shows only the output layer's cache")
        return self.logits().T, None

    # -- checks -------------------------------------------------------------
    def delta(self, cand) -> float:
        c = _cand(cand)
        out = ffi.new("double *")
        check(lib.ct_seq_delta(self._t, c, out), "delta")
        return float(out[0])

    def apply(self, cand) -> None:
        check(lib.ct_seq_apply(self._t, _cand(cand)), "apply")

    def step(self, cands, min_gain: float = 0.0, screen: int = 0):
        """Sequential step over ``cands`` ((n, 5) rows): (accepted bool (n,), deltas)."""
        cands = candidates(cands)
        n = len(cands)
        acc = np.zeros(n, np.uint8)
        deltas = np.zeros(n, np.float64)
        got = ffi.new("int32_t *")
        check(
            lib.ct_seq_step(
                self._t,
                ffi.cast("const ct_candidate *", ffi.from_buffer(cands)),
                n,
                float(min_gain),
                int(screen),
                ffi.from_buffer("uint8_t[]", acc),
                ffi.from_buffer("double[]", deltas),
                got,
            ),
            "step",
        )
        return acc.astype(bool), deltas

    # -- exact sums (data-parallel training) ---------------------------------
    def partials(self, cands, b0: int, b1: int):
        """Each candidate's loss change over samples [b0, b1) in units of
        1 / SUM_SCALE (ct_seq_partials: integers that add up exactly over a
        split batch), with nothing applied: (sums int64 (n,), valid bool (n,))."""
        cands = candidates(cands)
        n = len(cands)
        sums = np.zeros(n, np.int64)
        ok = np.zeros(n, np.uint8)
        check(
            lib.ct_seq_partials(
                self._t,
                ffi.cast("const ct_candidate *", ffi.from_buffer(cands)),
                n,
                int(b0),
                int(b1),
                ffi.from_buffer("int64_t[]", sums),
                ffi.from_buffer("uint8_t[]", ok),
            ),
            "exact partial sums",
        )
        return sums, ok.astype(bool)

    def loss_sum(self) -> int:
        """The batch loss in units of 1 / SUM_SCALE, as ``partials`` sums."""
        out = ffi.new("int64_t *")
        check(lib.ct_seq_loss_sum(self._t, 0, self.batch, out), "exact loss sum")
        return int(out[0])

    # -- ranking ------------------------------------------------------------
    def gradient(self, samples: int = 0, leak: float = 0.0):
        """Per parameter layer: (weight gradient (rows, cols) int64, bias
        gradient (rows,) int64), in units of 2^-CT_SEQ_GRAD_BITS."""
        n_b = sum(r for r, _ in self.shapes)
        gw = np.empty(self.n_weights, np.int64)
        gb = np.empty(n_b, np.int64)
        check(
            lib.ct_seq_gradient(
                self._t,
                int(samples),
                float(leak),
                ffi.from_buffer("int64_t[]", gw),
                ffi.from_buffer("int64_t[]", gb),
            ),
            "gradient",
        )
        out, wo, bo = [], 0, 0
        for rows, cols in self.shapes:
            out.append((gw[wo : wo + rows * cols].reshape(rows, cols), gb[bo : bo + rows]))
            wo, bo = wo + rows * cols, bo + rows
        return out

    def memory(self) -> dict:
        p, c, d = ffi.new("int64_t *"), ffi.new("int64_t *"), ffi.new("int64_t *")
        check(lib.ct_seq_memory(self._t, p, c, d), "memory")
        return {"parameters": int(p[0]), "caches": int(c[0]), "data": int(d[0])}


def _cand(cand):
    c = ffi.new("ct_candidate *")
    c.layer, c.kind, c.row, c.col, c.value = (int(v) for v in cand)
    return c


def weight_candidates(layer: int, w: np.ndarray, g: np.ndarray, n: int):
    """The ``n`` weight steps of most negative estimate (gradient x step),
    negative ones only, best first (ties by index): rows (layer, WEIGHT,
    row, col, value) and their estimates in gradient units."""
    w2 = w.reshape(g.shape).astype(np.int64)
    up = (g < 0) & (w2 < 1)  # raising the weight lowers the loss
    down = (g > 0) & (w2 > -1)
    est = np.where(up, g, np.where(down, -g, 0)).ravel()
    idx = np.flatnonzero(est < 0)
    if n <= 0 or len(idx) == 0:
        return np.zeros((0, 5), np.int32), np.zeros(0)
    order = idx[np.lexsort((idx, est[idx]))][:n]
    rows, cols = np.divmod(order, g.shape[1])
    values = w2.ravel()[order] + np.where(up.ravel()[order], 1, -1)
    out = np.stack(
        [np.full(len(order), layer), np.full(len(order), WEIGHT), rows, cols, values], axis=1
    )
    return out.astype(np.int32), est[order].astype(np.float64)


def bias_candidates(layer: int, bias: np.ndarray, gb: np.ndarray, n: int, step: int):
    """The ``n`` bias steps (+-``step``) of most negative estimate, best first."""
    sign = -np.sign(gb)
    est = -np.abs(gb) * step
    ok = (sign != 0) & (np.abs(bias.astype(np.int64) + sign * step) <= MAX_BIAS)
    idx = np.flatnonzero(ok)
    if n <= 0 or len(idx) == 0:
        return np.zeros((0, 5), np.int32), np.zeros(0)
    order = idx[np.lexsort((idx, est[idx]))][:n]
    out = np.stack(
        [
            np.full(len(order), layer),
            np.full(len(order), BIAS),
            order,
            np.zeros(len(order), np.int64),
            sign[order] * step,
        ],
        axis=1,
    )
    return out.astype(np.int32), est[order].astype(np.float64)
