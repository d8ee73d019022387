"""Layer kinds: each kind of layer is one class in one file of this package,
and ``KINDS`` lists them. docs/layers.md says how to add one.

A kind implements, once, for every part of conntra:

- ``kind``: its name in docs/format.md and in model files (version 2);
  ``has_params``: whether it has ternary weights, biases and a shift;
- ``out_shape(in_shape)``: the (H, W, C) it writes from the one it reads, or
  a ShapeError;
- ``forward(act, in_shape)``: the numpy reference on (n, H * W * C) integer
  activations, channels last: int64 pre-activations for a kind with
  parameters (the model requantizes them), the output activations otherwise;
- ``n_params``; ``to_record(offset, version)``, ``check_record(...)`` and
  ``from_record(...)``: its model-file record and payload sections, the
  reader's checks of them (3.7), and the layer they describe;
- ``c_fill(c, in_shape, keep)``: its ``ct_layer`` struct for the C core;
- ``firmware(in_shape)``: the context of its piece of the generated header
  (conntra/codegen/kinds.py lists the pieces).
"""

from __future__ import annotations

from typing import Any

from conntra.layers.common import Shape, elements, vector
from conntra.layers.conv2d import TernaryConv2D
from conntra.layers.dense import TernaryDense
from conntra.layers.flatten import Flatten
from conntra.layers.maxpool2d import MaxPool2D

KINDS: dict[str, Any] = {
    TernaryDense.kind: TernaryDense,
    TernaryConv2D.kind: TernaryConv2D,
    MaxPool2D.kind: MaxPool2D,
    Flatten.kind: Flatten,
}
LAYER_TYPES = tuple(KINDS.values())

__all__ = [
    "KINDS",
    "LAYER_TYPES",
    "Flatten",
    "MaxPool2D",
    "Shape",
    "TernaryConv2D",
    "TernaryDense",
    "elements",
    "vector",
]
