"""The integer inference contract in numpy: the executable specification.

Written from docs/format.md, independently of the C core; the tests require
the C core (every kernel) and the generated firmware to equal it with ``==``.
int64 throughout, so the reference itself cannot overflow where C would.
It trusts its arguments: the public entry points (``TernaryModel``) check them.
"""

from __future__ import annotations

import numpy as np

from conntra.contract import ACT_BITS_DEFAULT, SHIFT_OUTPUT, act_max
from conntra.errors import InputError


def dense_acc(x: np.ndarray, w: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """acc[b, j] = bias[j] + sum_i w[j, i] * x[b, i], exactly (int64)."""
    return x.astype(np.int64) @ w.astype(np.int64).T + bias.astype(np.int64)


def requantize(acc: np.ndarray, shift: int, act_bits: int = ACT_BITS_DEFAULT) -> np.ndarray:
    """clamp(floor((acc + round) / 2^shift), 0, 2^act_bits - 1) with round =
    2^(shift-1) (0 when shift is 0): round half up, then ReLU and saturation in
    one clamp."""
    acc = np.asarray(acc, dtype=np.int64)
    rounding = (1 << (shift - 1)) if shift > 0 else 0
    return np.clip((acc + rounding) >> shift, 0, act_max(act_bits)).astype(np.int8)


def forward(x: np.ndarray, layers) -> np.ndarray:
    """Integer logits (int64) of int8 inputs through (w, bias, shift) layers,
    or (w, bias, shift, act_bits) layers (act_bits of a hidden layer; 7 when
    absent); the last layer must have shift == SHIFT_OUTPUT."""
    act = np.asarray(x)
    for layer in layers:
        w, bias, shift = layer[:3]
        acc = dense_acc(act, w, bias)
        if shift == SHIFT_OUTPUT:
            return acc
        bits = layer[3] if len(layer) > 3 and layer[3] is not None else ACT_BITS_DEFAULT
        act = requantize(acc, shift, bits)
    raise InputError("the last layer must be an output layer (shift -1)")


def argmax(logits: np.ndarray) -> np.ndarray:
    """Index of the largest logit per row; numpy's argmax already returns the
    first (lowest) index on ties, which is the contract."""
    return np.argmax(logits, axis=1)
