"""Max pooling over windows, per channel, without padding (docs/format.md 1.2)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from conntra import filecheck as fc
from conntra import reference
from conntra.contract import MAX_WIDTH
from conntra.errors import CorruptModelError, ShapeError
from conntra.layers.common import Shape, elements, ints


@dataclass(frozen=True, eq=False)
class MaxPool2D:
    """The integer maximum of each ``window`` (PH, PW) at ``stride`` (SH, SW;
    default: the window). No parameters; the activation range passes through."""

    window: Any = 2
    stride: Any = None

    kind: ClassVar[str] = "maxpool2d"
    has_params: ClassVar[bool] = False
    n_params: ClassVar[int] = 0
    KEYS: ClassVar[frozenset] = frozenset({"kind", "window", "stride"})

    def __post_init__(self) -> None:
        window = ints(self.window, 2, "window", 1)
        stride = window if self.stride is None else ints(self.stride, 2, "stride", 1)
        object.__setattr__(self, "window", window)
        object.__setattr__(self, "stride", stride)

    def out_shape(self, in_shape: Shape) -> Shape:
        h, w, c = in_shape
        (ph, pw), (sh, sw) = self.window, self.stride
        if ph > h or pw > w:
            raise ShapeError(f"a {ph}x{pw} max pool does not fit the tensor {tuple(in_shape)}")
        return ((h - ph) // sh + 1, (w - pw) // sw + 1, c)

    def forward(self, act: np.ndarray, in_shape: Shape) -> np.ndarray:
        x = act.reshape(act.shape[0], *in_shape)
        return reference.maxpool2d(x, self.window, self.stride).reshape(act.shape[0], -1)

    def to_record(self, offset: int, version: int) -> tuple[dict, list[bytes]]:
        return {"kind": self.kind, "window": list(self.window), "stride": list(self.stride)}, []

    @classmethod
    def check_record(
        cls, d: object, in_shape: Shape, last: bool, sections: fc.Sections, where: str
    ) -> Shape:
        d = fc.record(d, cls.KEYS, where)
        ph, pw = fc.integers(d, "window", 2, 1, MAX_WIDTH, where)
        sh, sw = fc.integers(d, "stride", 2, 1, MAX_WIDTH, where)
        h, w, c = in_shape
        if ph > h or pw > w:
            raise CorruptModelError(f"{where}: the window {ph}x{pw} does not fit {in_shape}")
        if last:
            raise CorruptModelError(f"{where} is a maxpool2d layer; the last layer must be dense")
        return ((h - ph) // sh + 1, (w - pw) // sw + 1, c)

    @classmethod
    def from_record(cls, d: dict, payload: memoryview) -> MaxPool2D:
        return cls(tuple(d["window"]), tuple(d["stride"]))

    def c_fill(self, c: Any, in_shape: Shape, keep: list) -> None:
        from conntra.engine import LAYER_KINDS

        c.kind = LAYER_KINDS[self.kind]
        c.n_in, c.n_out = elements(in_shape), elements(self.out_shape(in_shape))
        c.in_h, c.in_w, c.in_c = in_shape
        c.kh, c.kw = self.window
        c.stride_h, c.stride_w = self.stride

    def firmware(self, in_shape: Shape) -> dict[str, Any]:
        """What the firmware generator needs of this layer (conntra/codegen/kinds.py):
        its geometry; no constants, no scratch."""
        return {
            "kind": self.kind,
            "in_shape": tuple(in_shape),
            "out_shape": self.out_shape(in_shape),
            "window": tuple(self.window),
            "stride": tuple(self.stride),
            "scratch": {},
        }
