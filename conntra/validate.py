"""Checks on the arrays users hand to conntra, made once at the public edge.

The public entry points (``InputQuant.quantize``, ``TernaryModel.logits``,
``logits_quantized``, ``error_rate``, the layer constructors, the trainers'
``train``) call these and
pass checked arrays inward; the inner layers (the numpy reference, the C
binding's trusted path) do not check again. Every error names what was
expected and what was got.
"""

from __future__ import annotations

import numpy as np

from conntra.errors import DTypeError, InputError, LabelError, ShapeError

__all__ = ["as_array", "check_features", "check_labels", "integer"]

# Only real numbers are labels; bool is excluded because True/False are almost
# always a mistaken mask.
_NUMERIC_KINDS = "iuf"


def as_array(x: object, name: str) -> np.ndarray:
    """``np.asarray(x)``, with ragged nested sequences reported as a ShapeError."""
    try:
        return np.asarray(x)
    except ValueError as exc:  # ragged nested lists: numpy refuses to build an array
        raise ShapeError(
            f"{name} must be a rectangular array, got a ragged sequence ({exc})"
        ) from exc


def integer(value: object, name: str) -> int:
    """``value`` as a Python int; a DTypeError unless it is an integer (bool is
    an int subclass in Python, but True is never a meaningful size or shift)."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise DTypeError(f"{name} must be an integer, got {value!r}")
    return int(value)


def _first_index(mask: np.ndarray) -> tuple[int, ...]:
    """Index of the first True in `mask`, as plain ints for readable messages."""
    return tuple(int(i) for i in np.argwhere(mask)[0])


def check_features(x: object, n_features: int | None = None, *, name: str = "x") -> np.ndarray:
    """Return `x` as a C-contiguous, non-empty 2-D array: uint8 stays uint8
    (pixels are quantized from it without a float round trip), every other real
    dtype becomes float64 and must be finite."""
    arr = as_array(x, name)
    if arr.dtype.kind not in _NUMERIC_KINDS:
        raise DTypeError(
            f"{name} must have a real numeric dtype (integer or float), got dtype {arr.dtype}"
        )
    if arr.ndim != 2:
        raise ShapeError(
            f"{name} must be 2-D (n_samples, n_features), "
            f"got {arr.ndim}-D array of shape {arr.shape}"
        )
    if arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ShapeError(f"{name} must be non-empty, got shape {arr.shape}")
    if n_features is not None and arr.shape[1] != n_features:
        raise ShapeError(f"{name} must have {n_features} features (columns), got shape {arr.shape}")
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
    arr = as_array(y, name)
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
