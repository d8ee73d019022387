"""Checks on the arrays users hand to conntra.

Each check converts what it accepts to the exact dtype and layout the C core
reads, so callers never pass a strided or wrongly typed buffer across the
boundary. Every error names what was expected and what was got.
"""

from __future__ import annotations

import numpy as np

from conntra.errors import DTypeError, InputError, LabelError, ShapeError

__all__ = ["check_features", "check_int8_activations", "check_labels"]

# Only real numbers are features; bool is excluded because True/False are almost
# always a mistaken mask, and complex has no ordering the quantizer could use.
_NUMERIC_KINDS = "iuf"
_INT_KINDS = "iu"


def _as_array(x: object, name: str) -> np.ndarray:
    try:
        return np.asarray(x)
    except ValueError as exc:  # ragged nested lists: numpy refuses to build an array
        raise ShapeError(
            f"{name} must be a rectangular 2-D array, got a ragged sequence ({exc})"
        ) from exc


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    """Index of the first True in `mask`, as plain ints for readable messages."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def _check_2d(arr: np.ndarray, n_features: int | None, name: str) -> None:
    if arr.ndim != 2:
        raise ShapeError(
            f"{name} must be 2-D (n_samples, n_features), "
            f"got {arr.ndim}-D array of shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(f"{name} must be non-empty, got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ShapeError(f"{name} must have {n_features} features (columns), got shape {arr.shape}")


def check_features(x: object, n_features: int | None = None, *, name: str = "x") -> np.ndarray:
    """Return `x` as a C-contiguous 2-D array: uint8 stays uint8, anything else float64.

    uint8 is kept because image pixels are quantized from it without a float
    round trip; every other real dtype is widened to float64.
    """
    arr = _as_array(x, name)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise DTypeError(
            f"{name} must have a real numeric dtype (integer or float), got dtype {arr.dtype}"
        )
    _check_2d(arr, n_features, name)
    if arr.dtype == np.uint8:
        return np.ascontiguousarray(arr)
    out = np.ascontiguousarray(arr, dtype=np.float64)
    finite = np.isfinite(out)
    if not finite.all():
        idx = _first_index(~finite)
        raise InputError(
            f"{name} must contain only finite values, got {out[idx]} at "
            f"index {idx} ({int((~finite).sum())} non-finite values in total)"
        )
    return out


def check_labels(y: object, n_samples: int, n_classes: int, *, name: str = "y") -> np.ndarray:
    """Return `y` as a C-contiguous int64 vector of length `n_samples` in 0..n_classes-1.

    Floats are accepted when every value is integral (labels often arrive as
    float columns from CSV or pandas), but a fractional value is a LabelError.
    """
    if isinstance(n_classes, bool) or not isinstance(n_classes, (int, np.integer)) or n_classes < 1:
        raise InputError(f"n_classes must be a positive integer, got {n_classes!r}")
    arr = _as_array(y, name)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise DTypeError(f"{name} must hold integer class labels, got dtype {arr.dtype}")
    if arr.ndim != 1:
        raise ShapeError(
            f"{name} must be 1-D (n_samples,), got {arr.ndim}-D array of shape {arr.shape}"
        )
    if arr.shape[0] != n_samples:
        raise ShapeError(
            f"{name} must have {n_samples} labels (one per sample), got {arr.shape[0]}"
        )
    if arr.dtype.kind == "f":
        bad = ~np.isfinite(arr) | (arr != np.floor(arr))
        if bad.any():
            i = _first_index(bad)[0]
            raise LabelError(f"{name} must hold integer class labels, got {arr[i]} at index {i}")
    # Compare before casting so a huge uint64 or float cannot wrap into range.
    bad = (arr < 0) | (arr >= n_classes)
    if bad.any():
        i = _first_index(bad)[0]
        raise LabelError(
            f"{name} must be in 0..{n_classes - 1} (n_classes={n_classes}), "
            f"got {arr[i]} at index {i}"
        )
    return np.ascontiguousarray(arr, dtype=np.int64)


def check_int8_activations(x: object, n_features: int) -> np.ndarray:
    """Return quantized inputs as a C-contiguous int8 2-D array with values 0..127.

    The C core reads activations as int8 and assumes they are non-negative, so
    a value of 128..255 (a uint8 pixel that was never rescaled) must not wrap.
    """
    name = "x"
    arr = _as_array(x, name)
    if arr.dtype.kind not in _INT_KINDS:
        raise DTypeError(
            f"quantized {name} must have an integer dtype with values 0..127, got dtype {arr.dtype}"
        )
    _check_2d(arr, n_features, name)
    bad = (arr < 0) | (arr > 127)
    if bad.any():
        idx = _first_index(bad)
        raise InputError(f"quantized {name} must be in 0..127, got {arr[idx]} at index {idx}")
    return np.ascontiguousarray(arr, dtype=np.int8)
