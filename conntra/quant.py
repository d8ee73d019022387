"""Input quantization: the one place where float data becomes int8.

Two kinds, fixed at training time and stored in the model:
- ``shift``: unsigned 8-bit pixels, ``q = pixel >> shift`` with shift 1..7
  (images: shift 1, 0..127);
- ``affine``: tabular features, ``q = clamp(floor((x - offset) * scale + 0.5),
  0, 127)`` per feature, computed in float64.

``quantize`` is a public edge: it checks its input once and works in narrow
types or in bounded chunks, so its temporaries stay small next to the input.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from conntra.contract import ACT_MAX, MAX_WIDTH, PIXEL_SHIFT_MAX, PIXEL_SHIFT_MIN
from conntra.errors import DTypeError, InputError, ShapeError
from conntra.validate import as_array
from conntra.validate import integer as _integer

# Elements per chunk of the float paths: a float64 chunk is 512 KiB, whatever
# the batch size.
CHUNK_ELEMENTS = 1 << 16


def _reals(values: object, name: str) -> tuple:
    if not isinstance(values, (list, tuple, np.ndarray)):
        raise DTypeError(f"{name} must be a sequence of numbers, got {values!r}")
    items = tuple(values)
    for v in items:
        # float subclasses (numpy float64) serialise as JSON numbers; float32 does not.
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise DTypeError(f"{name} must hold ints or floats, got {v!r}")
    return items


@dataclass(frozen=True)
class InputQuant:
    n_features: int
    kind: str = "shift"
    shift: int = 1
    offset: tuple = ()
    scale: tuple = ()
    # (H, W, C) of one sample, channels last (docs/format.md 1.2); None is
    # the vector (1, 1, n_features), which is what (1, 1, n) is stored as
    shape: tuple | None = None

    def __post_init__(self) -> None:
        n = _integer(self.n_features, "n_features")
        if not 0 < n <= MAX_WIDTH:
            raise InputError(f"n_features must be 1..{MAX_WIDTH}, got {n}")
        object.__setattr__(self, "n_features", n)
        if self.shape is not None:
            if not isinstance(self.shape, (tuple, list)) or len(self.shape) != 3:
                raise ShapeError(
                    f"input shape must be (height, width, channels), got {self.shape!r}"
                )
            shape = tuple(_integer(v, "input shape") for v in self.shape)
            if min(shape) < 1 or shape[0] * shape[1] * shape[2] != n:
                raise ShapeError(
                    f"input shape {shape} must be positive with n_features = {n} elements"
                )
            object.__setattr__(self, "shape", None if shape[:2] == (1, 1) else shape)
        # Stored as tuples of the values given (not cast to float), so that the
        # model file of a model built from ints keeps its bytes.
        object.__setattr__(self, "offset", _reals(self.offset, "offset"))
        object.__setattr__(self, "scale", _reals(self.scale, "scale"))
        if self.kind == "shift":
            shift = _integer(self.shift, "input shift")
            # shift 0 would map pixels 128..255 outside the activation range 0..127
            if not PIXEL_SHIFT_MIN <= shift <= PIXEL_SHIFT_MAX:
                raise InputError(
                    f"input shift must be {PIXEL_SHIFT_MIN}..{PIXEL_SHIFT_MAX}, got {shift}"
                )
            object.__setattr__(self, "shift", shift)
            if self.offset or self.scale:
                raise InputError("shift quantization takes no offsets or scales")
        elif self.kind == "affine":
            if len(self.offset) != n or len(self.scale) != n:
                raise ShapeError(
                    f"affine quantization needs {n} offsets and "
                    f"scales, got {len(self.offset)} and {len(self.scale)}"
                )
            if not all(math.isfinite(v) for v in self.offset + self.scale) or min(self.scale) <= 0:
                raise InputError("affine offsets must be finite and scales finite and > 0")
        else:
            raise InputError(f"unknown input quantization {self.kind!r} (shift or affine)")

    @property
    def tensor_shape(self) -> tuple[int, int, int]:
        """(H, W, C) of one quantized sample; (1, 1, n_features) for a vector."""
        return (1, 1, self.n_features) if self.shape is None else self.shape

    @classmethod
    def pixels(cls, n_features: int, shift: int = 1, shape: tuple | None = None) -> InputQuant:
        return cls(n_features=n_features, kind="shift", shift=shift, shape=shape)

    @classmethod
    def fit_affine(cls, x: Any) -> InputQuant:
        """Maps each feature's training range [min, max] onto 0..127."""
        x = np.asarray(as_array(x, "x"), dtype=np.float64)
        lo, hi = x.min(axis=0), x.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        return cls(
            n_features=x.shape[1],
            kind="affine",
            offset=tuple(float(v) for v in lo),
            scale=tuple(float(ACT_MAX / s) for s in span),
        )

    def quantize(self, x: Any) -> np.ndarray:
        """int8 codes (n, n_features) in 0..127 for raw inputs x: rows of
        n_features, or, for an input with a shape, images (n, H, W, C) in that
        shape (channels last), which are read as their rows."""
        x = as_array(x, "inputs")
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim == 4 and self.shape is not None and x.shape[1:] == tuple(self.shape):
            x = x.reshape(x.shape[0], -1)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ShapeError(f"inputs must have shape (n, {self.n_features}), got {x.shape}")
        if x.dtype.kind not in "iuf":
            raise DTypeError(f"inputs must be numeric, got dtype {x.dtype}")
        out = np.empty(x.shape, dtype=np.int8)
        if self.kind == "shift":
            self._quantize_pixels(x, out)
        else:
            self._quantize_affine(x, out)
        return out

    def _rows_per_chunk(self) -> int:
        return max(1, CHUNK_ELEMENTS // self.n_features)

    def _quantize_pixels(self, x: np.ndarray, out: np.ndarray) -> None:
        if x.dtype.kind == "f":
            step = self._rows_per_chunk()
            for start in range(0, x.shape[0], step):
                part = x[start : start + step]
                if not np.isfinite(part).all():
                    raise InputError("inputs contain NaN or infinity")
                if (part != np.floor(part)).any():
                    raise InputError("pixel inputs must be whole numbers 0..255")
                if part.min() < 0 or part.max() > 255:
                    raise InputError(
                        f"pixel inputs must be in 0..255, got {part.min()}..{part.max()}"
                    )
                # 0..255 fits int16 exactly; the shift then lands in 0..127
                np.right_shift(
                    part.astype(np.int16),
                    self.shift,
                    out=out[start : start + step],
                    casting="unsafe",
                )
            return
        if x.dtype != np.uint8 and x.size and (x.min() < 0 or x.max() > 255):
            raise InputError(f"pixel inputs must be in 0..255, got {x.min()}..{x.max()}")
        # Shifted in the input's own type straight into the int8 output: 0..255 >> 1..7 is
        # 0..127, so the unsafe cast is exact and no widened copy of the input is made.
        np.right_shift(x, self.shift, out=out, casting="unsafe")

    def _quantize_affine(self, x: np.ndarray, out: np.ndarray) -> None:
        offset = np.array(self.offset, dtype=np.float64)
        scale = np.array(self.scale, dtype=np.float64)
        step = self._rows_per_chunk()
        for start in range(0, x.shape[0], step):
            xf = x[start : start + step].astype(np.float64)
            finite = np.isfinite(xf)
            if not finite.all():
                row, col = (int(i) for i in np.argwhere(~finite)[0])
                raise InputError(f"inputs contain NaN or infinity at ({start + row}, {col})")
            # The same IEEE operations, in the same order, as floor((x - o) * s + 0.5)
            xf -= offset
            xf *= scale
            xf += 0.5
            np.floor(xf, out=xf)
            np.clip(xf, 0, ACT_MAX, out=xf)
            out[start : start + step] = xf

    def to_json(self) -> dict:
        d: dict[str, Any] = {"kind": self.kind, "n_features": self.n_features}
        if self.kind == "shift":
            d["shift"] = self.shift
        else:
            d["offset"], d["scale"] = list(self.offset), list(self.scale)
        if self.shape is not None:  # a version-2 key (docs/format.md 3.7)
            d["shape"] = list(self.shape)
        return d

    @classmethod
    def from_json(cls, d: dict) -> InputQuant:
        """The inverse of ``to_json``; values are type-checked, not converted."""
        shape = tuple(d["shape"]) if "shape" in d else None
        if d.get("kind") == "shift":
            return cls(n_features=d["n_features"], kind="shift", shift=d["shift"], shape=shape)
        return cls(
            n_features=d["n_features"],
            kind=d["kind"],
            offset=tuple(d["offset"]),
            scale=tuple(d["scale"]),
            shape=shape,
        )
