"""Python handle on the C trainer object (native/include/conntra_train.h).

``CTrainer`` owns a ``ct_trainer``: parameters, the feature-major caches of
the current batch, and the exact incremental checks. Candidates travel as an
int32 array of shape (n, 5) with columns (layer, kind, row, col, value), one
C call per batch round. The same object ranks candidates in C
(``rank``, ``ranked``, ``rank_step``: native/src/train/ct_train_rank.c) and
reports its state in bytes (``memory``).
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


def candidates(rows) -> np.ndarray:
    """An (n, 5) int32 candidate array from (layer, kind, row, col, value) rows."""
    return np.ascontiguousarray(np.asarray(rows, dtype=np.int32).reshape(-1, 5))


def load_batch(set_batch, handle, xq, y, n_in: int, temperature: float) -> int:
    """Checks a batch (x (n, n_in) int8 codes, y (n,) labels), hands it to a C
    trainer's ``set_batch`` (ct_train_set_batch or ct_seq_set_batch, which
    share their arguments) and returns n."""
    xq = np.ascontiguousarray(xq, dtype=np.int8)
    y = np.ascontiguousarray(y, dtype=np.int32)
    if xq.ndim != 2 or xq.shape[1] != n_in or y.shape != (xq.shape[0],):
        raise ShapeError(f"batch needs x (n, {n_in}) and y (n,); got {xq.shape}, {y.shape}")
    check(
        set_batch(
            handle,
            ffi.from_buffer("int8_t[]", xq),
            ffi.from_buffer("int32_t[]", y),
            xq.shape[0],
            float(temperature),
        ),
        "batch",
    )
    return int(xq.shape[0])


def store_layer(set_layer, handle, i: int, w: np.ndarray, bias, shift: int) -> None:
    """One layer's int8 weights (already shaped) and int32 biases into a C
    trainer (ct_train_set_layer or ct_seq_set_layer, which share their arguments)."""
    b = np.ascontiguousarray(bias, dtype=np.int32)
    if b.shape != (w.shape[0],):
        raise ShapeError(f"layer {i} needs {w.shape[0]} biases; got {b.shape}")
    w = np.ascontiguousarray(w, dtype=np.int8)
    args = (ffi.from_buffer("int8_t[]", w), ffi.from_buffer("int32_t[]", b), int(shift))
    check(set_layer(handle, i, *args), f"layer {i}")


def fetch_layer(get_layer, handle, i: int, shape):
    """(weights of ``shape``, bias, shift) of one layer, copied out of a C
    trainer (ct_train_get_layer or ct_seq_get_layer)."""
    w = np.empty(shape, np.int8)
    b = np.empty(shape[0], np.int32)
    s = ffi.new("int32_t *")
    out = (ffi.from_buffer("int8_t[]", w), ffi.from_buffer("int32_t[]", b), s)
    check(get_layer(handle, i, *out), f"layer {i}")
    return w, b, int(s[0])


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
        self._rank = None  # the ranking state, made by the first rank()
        self._rank_caps = (0, 0)

    # -- parameters -------------------------------------------------------
    def set_layer(self, i: int, weights, bias, shift: int) -> None:
        shape = (self.sizes[i + 1], self.sizes[i])
        w = np.ascontiguousarray(weights, dtype=np.int8)
        if w.shape != shape:
            raise ShapeError(f"layer {i} needs weights {shape}; got {w.shape}")
        store_layer(lib.ct_train_set_layer, self._t, i, w, bias, shift)

    def get_layer(self, i: int):
        return fetch_layer(lib.ct_train_get_layer, self._t, i, (self.sizes[i + 1], self.sizes[i]))

    def set_params(self, params) -> None:
        """params: list of (weights, bias, shift) per layer."""
        for i, (w, b, s) in enumerate(params):
            self.set_layer(i, w, b, s)
        if self.batch:
            check(lib.ct_train_recompute(self._t), "recompute")

    def shift(self, i: int) -> int:
        """Layer i's shift (-1 for the output layer), without copying weights."""
        s = ffi.new("int32_t *")
        check(lib.ct_train_shift(self._t, i, s), f"layer {i}")
        return int(s[0])

    def get_params(self):
        """The current parameters, copied out of C: [(weights, bias, shift), ...]."""
        return [self.get_layer(i) for i in range(self.n_layers)]

    # -- batch and caches ---------------------------------------------------
    def set_batch(self, xq: np.ndarray, y: np.ndarray, temperature: float) -> None:
        self.batch = load_batch(lib.ct_train_set_batch, self._t, xq, y, self.sizes[0], temperature)

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

    # -- ranking ------------------------------------------------------------
    def reserve_ranking(self, n_weights: int, n_bias: int) -> None:
        """Sizes the ranking state for lists of up to ``n_weights`` weight and
        ``n_bias`` bias candidates per layer. Growing it forgets the ranked lists."""
        max_w, max_b = self._rank_caps
        if self._rank is None or n_weights > max_w or n_bias > max_b:
            caps = (max(int(n_weights), max_w), max(int(n_bias), max_b))
            out = ffi.new("ct_rank **")
            check(lib.ct_rank_new(self._t, caps[0], caps[1], 0, out), "ranking")
            self._rank = ffi.gc(out[0], lib.ct_rank_free)
            self._rank_caps = caps

    def rank(
        self,
        layer: int,
        n_weights: int,
        n_bias: int,
        bias_step: int,
        leak: float = 0.0,
        samples: int = 0,
    ):
        """Ranks layer ``layer`` in C on the current state: its ``n_weights``
        weight steps and ``n_bias`` bias steps (+-``bias_step``) of most negative
        first-order estimate, from the batch's first ``samples`` (0: all). The
        list waits in C for ``rank_step`` or ``ranked``. Call ``reserve_ranking``
        first when ranking several layers for one step."""
        self.reserve_ranking(n_weights, n_bias)
        check(
            lib.ct_rank_layer(
                self._rank,
                self._t,
                layer,
                int(n_weights),
                int(n_bias),
                int(bias_step),
                float(leak),
                int(samples),
            ),
            f"ranking layer {layer}",
        )

    def ranked(self, layer: int):
        """Layer ``layer``'s ranked list: (candidates (n, 5) int32, estimates float64),
        weights best first, then biases."""
        if self._rank is None:
            return np.zeros((0, 5), np.int32), np.zeros(0)
        cap = sum(self._rank_caps)
        arr = np.zeros((cap, 5), np.int32)
        est = np.zeros(cap, np.float64)
        n = ffi.new("int32_t *")
        check(
            lib.ct_rank_candidates(
                self._rank,
                self._t,
                layer,
                ffi.from_buffer("ct_candidate[]", arr),
                ffi.from_buffer("double[]", est),
                cap,
                n,
            ),
            f"ranked layer {layer}",
        )
        return arr[: n[0]].copy(), est[: n[0]].copy()

    def rank_step(self, extra, min_gain: float = 0.0, screen: int = 0) -> np.ndarray:
        """The sequential step over the ranked lists (layer by layer, weights then
        biases), then over ``extra`` (shift candidates). Returns the changes
        accepted per layer; the lists are consumed. ``screen`` > 0: weight and
        bias candidates are first checked on the batch's first ``screen``
        samples and rejected unless they gain there (0: off)."""
        arr = candidates(extra)
        accepted = np.zeros(self.n_layers, np.int32)
        if self._rank is None:
            if len(arr):
                acc, _ = self.step(arr, min_gain=min_gain)
                return np.bincount(arr[acc][:, 0], minlength=self.n_layers).astype(np.int32)
            return accepted
        check(
            lib.ct_rank_step(
                self._rank,
                self._t,
                ffi.from_buffer("ct_candidate[]", arr),
                arr.shape[0],
                float(min_gain),
                int(screen),
                ffi.from_buffer("int32_t[]", accepted),
            ),
            "step",
        )
        return accepted

    def memory(self) -> dict[str, int]:
        """The trainer's state in bytes by part: ``parameters`` (int8 weights, the
        transposed copy the exact checks read by column, int32 biases, shifts),
        ``ranking`` (the ranking's heaps and block scratch; 0 before the first
        ``rank``), ``caches`` (the batch's pre-activations and activations, the
        loss caches, the exact checks' scratch) and ``data`` (the batch's int8
        inputs and labels), all held in C."""
        parts = ffi.new("int64_t[3]")
        check(lib.ct_train_memory(self._t, parts, parts + 1, parts + 2), "memory")
        ranking = ffi.new("int64_t *")
        if self._rank is not None:
            check(lib.ct_rank_memory(self._rank, ranking), "memory")
        return {
            "parameters": int(parts[0]),
            "ranking": int(ranking[0]),
            "caches": int(parts[1]),
            "data": int(parts[2]),
        }

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
