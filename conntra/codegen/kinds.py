"""The layer kinds the firmware generator runs, each with its one template piece.

A piece (``ctemplates/fw_<kind>.h.j2``) renders one of four parts, chosen by the
variable ``part``:

- ``types``: C types its layers' constants need (once per model, before the data);
- ``data``: the constants of one layer ``L`` (weights, biases, geometry);
- ``kernels``: its functions (once per model; ``Ls`` are its layers);
- ``call``: the statements of ``<prefix>_run`` that compute layer ``L``.

``L`` is what the layer's ``firmware(in_shape)`` method (conntra/layers) returns,
plus what the model's buffer plan adds (conntra/codegen/plan.py): ``index``,
``last``, ``src``, ``src_sh`` and ``dst``. Adding a kind: a ``firmware`` method in
its file under conntra/layers, a piece, and a line here.
"""

from __future__ import annotations

PIECES = {
    "dense": "fw_dense.h.j2",
    "conv2d": "fw_conv2d.h.j2",
    "maxpool2d": "fw_maxpool2d.h.j2",
    "flatten": "fw_flatten.h.j2",
}
