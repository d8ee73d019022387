"""What the layer kinds share: tensor shapes, frozen arrays, and the checks
of the parameters of a layer that has them (ternary weights, int32 biases,
shift, activation bits; docs/format.md 1.1)."""

from __future__ import annotations

import numpy as np

from conntra.contract import (
    ACT_BITS,
    ACT_BITS_DEFAULT,
    MAX_BIAS,
    MAX_SHIFT,
    MAX_WIDTH,
    SHIFT_OUTPUT,
)
from conntra.errors import DTypeError, InputError, ShapeError
from conntra.validate import as_array, integer

Shape = tuple[int, int, int]  # (H, W, C) of one sample's activations, channels last


def vector(n: int) -> Shape:
    return (1, 1, int(n))


def elements(shape: Shape) -> int:
    return int(shape[0]) * int(shape[1]) * int(shape[2])


def check_shape(shape: object, what: str) -> Shape:
    """(H, W, C) of positive integers with at most 2^20 elements."""
    if not isinstance(shape, (tuple, list)) or len(shape) != 3:
        raise ShapeError(f"{what} must be (height, width, channels), got {shape!r}")
    h, w, c = (integer(v, what) for v in shape)
    if min(h, w, c) < 1 or h * w * c > MAX_WIDTH:
        raise ShapeError(f"{what} must be positive with at most 2^20 elements, got {(h, w, c)}")
    return (h, w, c)


class Matrix:
    """The sizes of a layer whose weights are a matrix (n_out, n_in): the
    ternary dense layer and the float one of the baselines."""

    weights: np.ndarray

    @property
    def n_in(self) -> int:
        return int(self.weights.shape[1])

    @property
    def n_out(self) -> int:
        return int(self.weights.shape[0])


class Filters:
    """The sizes of a convolution whose weights are (C_out, KH, KW, C_in /
    groups): the ternary conv2d layer and the float one of the baselines."""

    weights: np.ndarray
    groups: int

    @property
    def c_out(self) -> int:
        return int(self.weights.shape[0])

    @property
    def c_in(self) -> int:
        return int(self.weights.shape[3]) * self.groups

    @property
    def kernel(self) -> tuple[int, int]:
        return int(self.weights.shape[1]), int(self.weights.shape[2])


def frozen(a: np.ndarray) -> np.ndarray:
    a = np.array(a, copy=True)
    a.flags.writeable = False
    return a


def ints(value: object, count: int, name: str, lo: int) -> tuple[int, ...]:
    """An int, or a sequence of ``count`` ints, each >= lo, as a tuple."""
    if isinstance(value, (list, tuple)):
        items = tuple(integer(v, name) for v in value)
    else:
        items = (integer(value, name),) * count
    if len(items) != count or min(items) < lo:
        raise InputError(f"{name} must be {count} integers >= {lo}, got {value!r}")
    return items


def ternary_params(weights: object, bias: object, n_rows: int | None = None):
    """(weights int8 in {-1, 0, 1}, bias int32 with |bias| <= 2^27, one per
    row of the weights' first axis), frozen."""
    w, b = as_array(weights, "weights"), as_array(bias, "bias")
    if not np.issubdtype(w.dtype, np.integer) or not np.issubdtype(b.dtype, np.integer):
        raise DTypeError(f"weights and bias must be integers, got {w.dtype} and {b.dtype}")
    if w.size and ((w < -1) | (w > 1)).any():
        raise InputError("ternary weights must be in {-1, 0, 1}")
    rows = w.shape[0] if n_rows is None else n_rows
    if b.shape != (rows,):
        raise ShapeError(f"bias must have shape ({rows},), got {b.shape}")
    if b.size and np.abs(b.astype(np.int64)).max() > MAX_BIAS:
        raise InputError(f"|bias| must be <= 2^27, got {np.abs(b.astype(np.int64)).max()}")
    return frozen(w.astype(np.int8)), frozen(b.astype(np.int32))


def shift_and_bits(shift: object, act_bits: object, *, output_allowed: bool) -> tuple:
    """(shift, act_bits) of a layer: the output layer has shift -1 and no
    activation bits; a hidden one shift 0..24 and bits 1, 2, 4 or 7 (None -> 7)."""
    s = integer(shift, "shift")
    if s == SHIFT_OUTPUT and output_allowed:
        if act_bits is not None:
            raise InputError(
                f"the output layer (shift -1) has no activation bits, got act_bits={act_bits!r}"
            )
        return s, None
    if not 0 <= s <= MAX_SHIFT:
        tail = " (or -1 for the output layer)" if output_allowed else ""
        raise InputError(f"shift must be 0..{MAX_SHIFT}{tail}, got {s}")
    bits = ACT_BITS_DEFAULT if act_bits is None else integer(act_bits, "act_bits")
    if bits not in ACT_BITS:
        raise InputError(f"act_bits must be 1, 2, 4 or 7, got {bits}")
    return s, bits
