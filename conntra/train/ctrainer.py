"""Python handle on the C trainer object (native/include/conntra_train.h).

``CTrainer`` owns a ``ct_trainer``: parameters, the feature-major caches of
the current batch, and the exact incremental checks. Candidates travel as an
int32 array of shape (n, 5) with columns (layer, kind, row, col, value), one
C call per batch round.
"""

from __future__ import annotations

import numpy as np

from conntra._native import ffi, lib
from conntra._status import check
from conntra.contract import ACT_BITS_DEFAULT, act_max
from conntra.errors import InputError, ShapeError

WEIGHT = int(lib.CT_CAND_WEIGHT)
BIAS = int(lib.CT_CAND_BIAS)
SHIFT = int(lib.CT_CAND_SHIFT)
SEQUENTIAL = int(lib.CT_STEP_SEQUENTIAL)
SCORED = int(lib.CT_STEP_SCORED)
MODES = {"sequential": SEQUENTIAL, "scored": SCORED}
_EXP_TABLE = 1024  # CT_TAB of ct_train_internal.h: exp(m / T) for |m| <= 1024


def candidates(rows) -> np.ndarray:
    """An (n, 5) int32 candidate array from (layer, kind, row, col, value) rows."""
    return np.ascontiguousarray(np.asarray(rows, dtype=np.int32).reshape(-1, 5))


class CTrainer:
    """The C trainer state for layer ``sizes`` and batches up to ``batch_cap``.

    ``act_bits``: one int per hidden layer (1, 2, 4 or 7; None: 7 for all),
    set in C so that every check and forward requantizes to 0 .. 2^bits - 1."""

    def __init__(self, sizes, batch_cap: int, act_bits=None):
        self.sizes = [int(s) for s in sizes]
        if len(self.sizes) < 2:
            raise ShapeError("a network needs at least an input and an output size")
        self.n_layers = len(self.sizes) - 1
        self.batch_cap = int(batch_cap)
        out = ffi.new("ct_trainer **")
        c_sizes = ffi.new("int32_t[]", self.sizes)
        check(lib.ct_train_new(c_sizes, self.n_layers, self.batch_cap, out), "trainer")
        self._t = ffi.gc(out[0], lib.ct_train_free)
        self.batch = 0  # samples of the loaded batch: the caches' valid width
        n_hidden = self.n_layers - 1
        bits = [ACT_BITS_DEFAULT] * n_hidden if act_bits is None else [int(a) for a in act_bits]
        if len(bits) != n_hidden:
            raise ShapeError(f"act_bits needs {n_hidden} values (one per hidden layer), got {bits}")
        for i, a in enumerate(bits):
            check(lib.ct_train_set_act_bits(self._t, i, a), f"act_bits of layer {i}")
        self.act_bits = bits
        self.act_max = [act_max(a) for a in bits]  # per hidden layer: 2^bits - 1

    def memory(self) -> dict:
        """Bytes the C trainer allocates (ct_train_new in
        native/src/train/ct_train_state.c, mirrored array by array):
        ``parameters`` (int8 weights, their transposed copy, int32 biases),
        ``caches`` (per-batch int32 pre-activations and int8 activations with
        their spare copies for shift checks, the inputs, the softmax caches)
        and ``scratch`` (the incremental checks' change lists). A test checks
        these against malloc's own count."""
        cap, width = self.batch_cap, max(self.sizes[1:])
        classes = self.sizes[-1]
        pairs = list(zip(self.sizes[:-1], self.sizes[1:], strict=True))
        params = sum(2 * a * b + 4 * b for a, b in pairs)
        caches = sum(2 * 4 * b * cap for _, b in pairs)  # acc and alt_acc
        caches += sum(2 * b * cap for _, b in pairs[:-1])  # act and alt_act (hidden)
        caches += self.sizes[0] * cap + 3 * 4 * cap  # x; y, zy, zmax
        caches += 3 * 8 * classes * cap + 2 * 8 * cap  # sminus, ecache(_s); loss, lns
        caches += 8 * (2 * _EXP_TABLE + 1) + cap  # the exp table; ones
        scratch = 8 * (2 * classes + 2) + 2 * 4 * cap + 4 * width + 4 * classes
        scratch += 2 * (4 * cap + 4 * (cap + 1) + 2 * 4 * cap * width)  # two stages
        return {"parameters": params, "caches": caches, "scratch": scratch}

    # -- parameters -------------------------------------------------------
    def set_layer(self, i: int, weights, bias, shift: int) -> None:
        w = np.ascontiguousarray(weights, dtype=np.int8)
        b = np.ascontiguousarray(bias, dtype=np.int32)
        if w.shape != (self.sizes[i + 1], self.sizes[i]) or b.shape != (self.sizes[i + 1],):
            raise ShapeError(
                f"layer {i} needs weights {(self.sizes[i + 1], self.sizes[i])} "
                f"and bias ({self.sizes[i + 1]},); got {w.shape}, {b.shape}"
            )
        check(
            lib.ct_train_set_layer(
                self._t,
                i,
                ffi.from_buffer("int8_t[]", w),
                ffi.from_buffer("int32_t[]", b),
                int(shift),
            ),
            f"layer {i}",
        )

    def get_layer(self, i: int):
        w = np.empty((self.sizes[i + 1], self.sizes[i]), np.int8)
        b = np.empty(self.sizes[i + 1], np.int32)
        s = ffi.new("int32_t *")
        check(
            lib.ct_train_get_layer(
                self._t, i, ffi.from_buffer("int8_t[]", w), ffi.from_buffer("int32_t[]", b), s
            ),
            f"layer {i}",
        )
        return w, b, int(s[0])

    def set_params(self, params) -> None:
        """params: list of (weights, bias, shift) per layer."""
        for i, (w, b, s) in enumerate(params):
            self.set_layer(i, w, b, s)
        if self.batch:
            check(lib.ct_train_recompute(self._t), "recompute")

    def get_params(self):
        """The current parameters, copied out of C: [(weights, bias, shift), ...]."""
        return [self.get_layer(i) for i in range(self.n_layers)]

    # -- batch and caches ---------------------------------------------------
    def set_batch(self, xq: np.ndarray, y: np.ndarray, temperature: float) -> None:
        xq = np.ascontiguousarray(xq, dtype=np.int8)
        y = np.ascontiguousarray(y, dtype=np.int32)
        if xq.ndim != 2 or xq.shape[1] != self.sizes[0] or y.shape != (xq.shape[0],):
            raise ShapeError(
                f"batch needs x (n, {self.sizes[0]}) and y (n,); got {xq.shape}, {y.shape}"
            )
        check(
            lib.ct_train_set_batch(
                self._t,
                ffi.from_buffer("int8_t[]", xq),
                ffi.from_buffer("int32_t[]", y),
                xq.shape[0],
                float(temperature),
            ),
            "batch",
        )
        self.batch = int(xq.shape[0])

    def set_temperature(self, temperature: float) -> None:
        check(lib.ct_train_set_temperature(self._t, float(temperature)), "temperature")

    def recompute(self) -> None:
        check(lib.ct_train_recompute(self._t), "recompute")

    def loss(self) -> float:
        out = ffi.new("double *")
        check(lib.ct_train_loss(self._t, out), "loss")
        return float(out[0])

    def cache(self, layer: int):
        """(acc int32 (n_out, batch) or None, act int8 (n, batch) or None): views
        that stay valid until the next call that changes the trainer."""
        acc = ffi.new("int32_t **")
        act = ffi.new("int8_t **")
        stride = ffi.new("int32_t *")
        check(
            lib.ct_train_cache(
                self._t,
                layer,
                ffi.cast("const int32_t **", acc),
                ffi.cast("const int8_t **", act),
                stride,
            ),
            "cache",
        )
        n = self.sizes[layer + 1] if layer >= 0 else self.sizes[0]
        cap, b = int(stride[0]), self.batch
        acc_v = act_v = None
        if acc[0] != ffi.NULL:
            buf = ffi.buffer(acc[0], n * cap * 4)
            acc_v = np.frombuffer(buf, np.int32).reshape(n, cap)[:, :b]
        if act[0] != ffi.NULL:
            buf = ffi.buffer(act[0], n * cap)
            act_v = np.frombuffer(buf, np.int8).reshape(n, cap)[:, :b]
        return acc_v, act_v

    # -- candidates ---------------------------------------------------------
    def _cand(self, c):
        arr = candidates(c)
        if arr.shape[0] != 1:
            raise InputError("expected one candidate")
        return ffi.from_buffer("ct_candidate *", arr), arr

    def delta(self, c) -> float:
        p, _keep = self._cand(c)
        out = ffi.new("double *")
        check(lib.ct_train_delta(self._t, p, out), "candidate")
        return float(out[0])

    def apply(self, c) -> None:
        p, _keep = self._cand(c)
        check(lib.ct_train_apply(self._t, p), "candidate")

    def step(self, cands, mode="sequential", min_gain: float = 0.0, max_accept: int = 0):
        """One batch round in C. Returns (accepted bool array, exact deltas)."""
        arr = candidates(cands)
        n = arr.shape[0]
        acc = np.zeros(n, np.uint8)
        deltas = np.zeros(n, np.float64)
        n_acc = ffi.new("int32_t *")
        if mode not in MODES:
            raise InputError(f"unknown step mode {mode!r} (sequential or scored)")
        check(
            lib.ct_train_step(
                self._t,
                ffi.from_buffer("ct_candidate[]", arr),
                n,
                MODES[mode],
                float(min_gain),
                int(max_accept),
                ffi.from_buffer("uint8_t[]", acc),
                ffi.from_buffer("double[]", deltas),
                n_acc,
            ),
            "step",
        )
        return acc.astype(bool), deltas
