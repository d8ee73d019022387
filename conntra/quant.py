"""Input quantization: the one place where float data becomes int8.

Two kinds, fixed at training time and stored in the model:
- ``shift``: unsigned 8-bit pixels, ``q = pixel >> shift`` (images: shift 1,
  0..127);
- ``affine``: tabular features, ``q = clamp(floor((x - offset) * scale + 0.5),
  0, 127)`` per feature, computed in float64.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from conntra.errors import DTypeError, InputError, ShapeError

ACT_MAX = 127


@dataclass(frozen=True)
class InputQuant:
    n_features: int
    kind: str = "shift"
    shift: int = 1
    offset: tuple = ()
    scale: tuple = ()

    def __post_init__(self):
        if self.n_features <= 0:
            raise InputError(f"n_features must be positive, got {self.n_features}")
        if self.kind == "shift":
            if not 0 <= self.shift <= 7:
                raise InputError(f"input shift must be 0..7, got {self.shift}")
        elif self.kind == "affine":
            if len(self.offset) != self.n_features or len(self.scale) != self.n_features:
                raise ShapeError(f"affine quantization needs {self.n_features} offsets and "
                                 f"scales, got {len(self.offset)} and {len(self.scale)}")
            values = np.array(self.offset + self.scale, dtype=np.float64)
            if not np.isfinite(values).all() or min(self.scale) <= 0:
                raise InputError("affine offsets must be finite and scales finite and > 0")
        else:
            raise InputError(f"unknown input quantization {self.kind!r} (shift or affine)")

    @classmethod
    def pixels(cls, n_features: int, shift: int = 1) -> InputQuant:
        return cls(n_features=n_features, kind="shift", shift=shift)

    @classmethod
    def fit_affine(cls, x: np.ndarray) -> InputQuant:
        """Maps each feature's training range [min, max] onto 0..127."""
        x = np.asarray(x, dtype=np.float64)
        lo, hi = x.min(axis=0), x.max(axis=0)
        span = np.where(hi > lo, hi - lo, 1.0)
        return cls(n_features=x.shape[1], kind="affine",
                   offset=tuple(float(v) for v in lo),
                   scale=tuple(float(ACT_MAX / s) for s in span))

    def quantize(self, x) -> np.ndarray:
        """int8 codes (n, n_features) in 0..127 for raw inputs x."""
        x = np.asarray(x)
        if x.ndim == 1:
            x = x.reshape(1, -1)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ShapeError(f"inputs must have shape (n, {self.n_features}), got {x.shape}")
        if x.dtype.kind not in "iuf":
            raise DTypeError(f"inputs must be numeric, got dtype {x.dtype}")
        if self.kind == "shift":
            if x.dtype.kind == "f":
                if not np.isfinite(x).all():
                    raise InputError("inputs contain NaN or infinity")
                if (x != np.floor(x)).any():
                    raise InputError("pixel inputs must be whole numbers 0..255")
            if x.size and (x.min() < 0 or x.max() > 255):
                raise InputError(f"pixel inputs must be in 0..255, got {x.min()}..{x.max()}")
            return (x.astype(np.int64) >> self.shift).astype(np.int8)
        xf = x.astype(np.float64)
        if not np.isfinite(xf).all():
            bad = np.argwhere(~np.isfinite(xf))[0]
            raise InputError(f"inputs contain NaN or infinity at {tuple(int(i) for i in bad)}")
        q = np.floor((xf - np.array(self.offset)) * np.array(self.scale) + 0.5)
        return np.clip(q, 0, ACT_MAX).astype(np.int8)

    def to_json(self) -> dict:
        d = {"kind": self.kind, "n_features": self.n_features}
        if self.kind == "shift":
            d["shift"] = self.shift
        else:
            d["offset"], d["scale"] = list(self.offset), list(self.scale)
        return d

    @classmethod
    def from_json(cls, d: dict) -> InputQuant:
        return cls(n_features=int(d["n_features"]), kind=str(d["kind"]),
                   shift=int(d.get("shift", 1)),
                   offset=tuple(float(v) for v in d.get("offset", ())),
                   scale=tuple(float(v) for v in d.get("scale", ())))
