"""The integer inference contract in numpy: the executable specification.

Written from docs/format.md, independently of the C core; the tests require
the C core (every kernel) and the generated firmware to equal it with ``==``.
int64 throughout, so the reference itself cannot overflow where C would.
It trusts its arguments: the public entry points (``TernaryModel``) check them.
"""

from __future__ import annotations

import numpy as np

from conntra.contract import ACT_MAX, SHIFT_OUTPUT
from conntra.errors import InputError


def dense_acc(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """acc[b, j] = bias[j] + sum_i w[j, i] * x[b, i], exactly (int64)."""
    return x.astype(np.int64) @ w.astype(np.int64).T + bias.astype(np.int64)


def requantize(acc: np.ndarray, shift: int) -> np.ndarray:
    """clamp(floor((acc + round) / 2^shift), 0, 127) with round = 2^(shift-1)
    (0 when shift is 0): round half up, then ReLU and saturation in one clamp."""
    acc = np.asarray(acc, dtype=np.int64)
    rounding = (1 << (shift - 1)) if shift > 0 else 0
    return np.clip((acc + rounding) >> shift, 0, ACT_MAX).astype(np.int8)


def forward(x: np.ndarray, layers) -> np.ndarray:
    """Integer logits (int64) of int8 inputs through (w, bias, shift) layers;
    the last layer must have shift == SHIFT_OUTPUT."""
    act = np.asarray(x)
    for w, bias, shift in layers:
        acc = dense_acc(act, w, bias)
        if shift == SHIFT_OUTPUT:
            return acc
        act = requantize(acc, shift)
    raise InputError("the last layer must be an output layer (shift -1)")


def argmax(logits: np.ndarray) -> np.ndarray:
    """Index of the largest logit per row; numpy's argmax already returns the
    first (lowest) index on ties, which is the contract."""
    return np.argmax(logits, axis=1)
