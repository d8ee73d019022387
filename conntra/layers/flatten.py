"""Flatten: (H, W, C) becomes the vector (1, 1, H * W * C), element (y, x, c)
at (y * W + x) * C + c, which is where channels-last storage already holds
it (docs/format.md 1.2): no byte moves."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from conntra import filecheck as fc
from conntra.errors import CorruptModelError
from conntra.layers.common import Shape, elements, vector


@dataclass(frozen=True, eq=False)
class Flatten:
    kind: ClassVar[str] = "flatten"
    has_params: ClassVar[bool] = False
    n_params: ClassVar[int] = 0
    KEYS: ClassVar[frozenset] = frozenset({"kind"})

    def out_shape(self, in_shape: Shape) -> Shape:
        return vector(elements(in_shape))

    def forward(self, act: np.ndarray, in_shape: Shape) -> np.ndarray:
        return act

    def to_record(self, offset: int, version: int) -> tuple[dict, list[bytes]]:
        return {"kind": self.kind}, []

    @classmethod
    def check_record(
        cls, d: object, in_shape: Shape, last: bool, sections: fc.Sections, where: str
    ) -> Shape:
        fc.record(d, cls.KEYS, where)
        if last:
            raise CorruptModelError(f"{where} is a flatten layer; the last layer must be dense")
        return vector(elements(in_shape))

    @classmethod
    def from_record(cls, d: dict, payload: memoryview) -> Flatten:
        return cls()

    def c_fill(self, c: Any, in_shape: Shape, keep: list) -> None:
        from conntra.engine import LAYER_KINDS

        c.kind = LAYER_KINDS[self.kind]
        c.n_in = c.n_out = elements(in_shape)
        c.in_h, c.in_w, c.in_c = in_shape

    def firmware(self, in_shape: Shape) -> dict[str, Any]:
        """What the firmware generator needs of this layer (conntra/codegen/kinds.py):
        nothing moves, so its output is its input's buffer (``in_place``)."""
        return {
            "kind": self.kind,
            "in_shape": tuple(in_shape),
            "out_shape": self.out_shape(in_shape),
            "in_place": True,
            "scratch": {},
        }
