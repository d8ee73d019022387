"""Candidate choice: the temperature search and the shift candidates.

The surrogate backward pass that ranks weight and bias candidates runs in C,
block by block over the trainer's own caches (``CTrainer.rank``;
native/src/train/ct_train_rank.c): the exact gradient with respect to the
integer logits (softmax minus one-hot, over the temperature), back through each
ternary layer and straight-through the requantization (2^-shift inside the
clamp range, ``leak`` times that outside, to revive dead units). Each
parameter's first-order estimate of the loss change of its best single step
ranks the candidates, within each layer. docs/trainer.md describes it.
"""

from __future__ import annotations

import numpy as np

from conntra._native import ffi, lib
from conntra._status import check
from conntra.train.ctrainer import SHIFT

TEMPERATURE_GRID = (0.5, 0.71, 1.0, 1.41, 2.0)


def batch_loss(logits: np.ndarray, y: np.ndarray, temperature: float) -> float:
    """Sum of softmax cross-entropy of feature-major integer logits (C, B) over
    ``temperature``, in C with the trainer's own exp and log, summed in sample
    order: the same bits on every platform."""
    z = np.ascontiguousarray(logits, dtype=np.int32)
    labels = np.ascontiguousarray(y, dtype=np.int32)
    out = ffi.new("double *")
    check(
        lib.ct_train_softmax_loss(
            ffi.from_buffer("int32_t[]", z),
            z.shape[0],
            z.shape[1],
            z.shape[1],
            ffi.from_buffer("int32_t[]", labels),
            float(temperature),
            out,
        ),
        "loss",
    )
    return float(out[0])


def best_temperature(logits: np.ndarray, y: np.ndarray, current: float) -> float:
    """The temperature of a small geometric grid around ``current`` with the
    lowest batch loss (an adaptive temperature removes a knob)."""
    best: tuple[float, float] | None = None
    for f in TEMPERATURE_GRID:
        t = max(current * f, 1e-3)
        loss = batch_loss(logits, y, t)
        if best is None or loss < best[0] - 1e-12:
            best = (loss, t)
    assert best is not None  # the grid is not empty
    return best[1]


def shift_candidates(shifts):
    """+-1 for every hidden layer's shift, where the result stays in 0..24."""
    rows = []
    for layer, s in enumerate(shifts[:-1]):
        rows += [(layer, SHIFT, 0, 0, d) for d in (1, -1) if 0 <= s + d <= 24]
    return np.array(rows, np.int64).reshape(-1, 5)
