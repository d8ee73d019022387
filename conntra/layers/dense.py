"""The dense layer: a vector in, a vector out (docs/format.md 1.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from conntra import filecheck as fc
from conntra import reference
from conntra.contract import MAX_WIDTH, act_max
from conntra.errors import CorruptModelError, ShapeError
from conntra.layers import records
from conntra.layers.common import Matrix, Shape, shift_and_bits, ternary_params, vector


def _check_width(shape: tuple, what: str) -> None:
    if len(shape) != 2 or not 0 < shape[0] <= MAX_WIDTH or not 0 < shape[1] <= MAX_WIDTH:
        raise ShapeError(f"{what} must be 2-D (n_out, n_in), 1..2^20 each; got {shape}")


@dataclass(frozen=True, eq=False)
class TernaryDense(Matrix):
    """One dense layer of the integer contract (see docs/format.md).

    ``act_bits`` is a hidden layer's activation precision: it requantizes to
    0 .. 2^act_bits - 1, with act_bits in {1, 2, 4, 7} (None, the default,
    means 7: the 0 .. 127 of models made before the field). The output layer
    has no activations, so its act_bits stays None."""

    weights: np.ndarray  # int8 (n_out, n_in), values in {-1, 0, 1}
    bias: np.ndarray  # int32 (n_out,), |bias| <= 2^27
    shift: int  # 0..24 for a hidden layer, -1 for the output layer
    act_bits: int | None = None  # hidden: 1, 2, 4 or 7 (None -> 7); output: None

    kind: ClassVar[str] = "dense"
    has_params: ClassVar[bool] = True
    KEYS: ClassVar[frozenset] = records.SECTION_KEYS | {"kind", "n_in", "n_out", "shift"}

    def __post_init__(self) -> None:
        w, b = ternary_params(self.weights, self.bias)
        _check_width(w.shape, "weights")
        shift, bits = shift_and_bits(self.shift, self.act_bits, output_allowed=True)
        object.__setattr__(self, "weights", w)
        object.__setattr__(self, "bias", b)
        object.__setattr__(self, "shift", shift)
        object.__setattr__(self, "act_bits", bits)

    @property
    def act_max(self) -> int | None:
        """The largest activation, 2^act_bits - 1 (None for the output layer)."""
        return None if self.act_bits is None else act_max(self.act_bits)

    @property
    def n_params(self) -> int:
        return int(self.weights.size + self.bias.size)

    def out_shape(self, in_shape: Shape) -> Shape:
        if tuple(in_shape) != vector(self.n_in):
            raise ShapeError(
                f"a dense layer of {self.n_in} inputs reads a vector (1, 1, {self.n_in}), "
                f"got {tuple(in_shape)}"
                + (" (a flatten goes before it)" if in_shape[0] * in_shape[1] > 1 else "")
            )
        return vector(self.n_out)

    def forward(self, act: np.ndarray, in_shape: Shape) -> np.ndarray:
        """The reference: int64 pre-activations (n, n_out)."""
        return reference.dense_acc(act, self.weights, self.bias)

    # -- model files ----------------------------------------------------------
    def to_record(self, offset: int, version: int) -> tuple[dict, list[bytes]]:
        meta, chunks = records.param_record(self, offset)
        meta.update(kind="ternary" if version == 1 else "dense", n_in=self.n_in, n_out=self.n_out)
        return meta, chunks

    @classmethod
    def check_record(
        cls, d: object, in_shape: Shape, last: bool, sections: fc.Sections, where: str
    ) -> Shape:
        d = records.record_keys(d, cls.KEYS, not last, where)
        n_in = fc.integer(d, "n_in", 1, MAX_WIDTH, where)
        n_out = fc.integer(d, "n_out", 1, MAX_WIDTH, where)
        if in_shape[:2] != (1, 1) or n_in != in_shape[2]:
            raise CorruptModelError(
                f"{where}.n_in is {n_in} but it reads the tensor {tuple(in_shape)}"
                + (" (a flatten goes before a dense layer)" if in_shape[:2] != (1, 1) else "")
            )
        what = f"a {n_out}x{n_in} ternary layer"
        records.check_param_record(d, last, sections, where, n_out, n_in * n_out, what)
        return vector(n_out)

    @classmethod
    def from_record(cls, d: dict, payload: memoryview) -> TernaryDense:
        n_in, n_out = d["n_in"], d["n_out"]
        bias, w = records.decode_params(d, payload, n_in * n_out)
        return cls(w.reshape(n_out, n_in), bias, d["shift"], d.get("act_bits"))

    # -- the C core -----------------------------------------------------------
    def c_fill(self, c: Any, in_shape: Shape, keep: list) -> None:
        """The ct_layer struct (zeroed by cffi): kind 0 is dense."""
        from conntra.engine import fill_params

        c.n_in, c.n_out = self.n_in, self.n_out
        fill_params(c, self, keep)

    # -- firmware -------------------------------------------------------------
    def firmware(self, in_shape: Shape) -> dict[str, Any]:
        """What the firmware generator needs of this layer (conntra/codegen/kinds.py,
        docs/firmware.md): the weights in layout F2, the biases, and the scratch its
        kernel uses (a hidden layer's int32 accumulators)."""
        from conntra.codegen import layout

        return {
            "kind": self.kind,
            "in_shape": tuple(in_shape),
            "out_shape": self.out_shape(in_shape),
            "n_in": self.n_in,
            "n_out": self.n_out,
            "shift": self.shift,
            "act_bits": self.act_bits,
            "n_groups": layout.n_groups(self.n_in),
            "codes": layout.encode(self.weights),
            "bias": np.asarray(self.bias, np.int32),
            "scratch": {"acc": 0 if self.act_bits is None else self.n_out},
        }
