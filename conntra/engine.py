"""Integer inference through the C core.

``NativeNet`` holds T2-packed layers in C structs that point into numpy
arrays it keeps alive, and runs batches through ``ct_net_forward`` in chunks
over one reusable scratch buffer.
"""

from __future__ import annotations

import numpy as np

from conntra._native import ffi, lib
from conntra._status import check
from conntra.errors import InputError, ShapeError

SHIFT_OUTPUT = int(lib.CT_SHIFT_OUTPUT)
CHUNK = 512  # samples per C call: scratch stays a few MB for wide layers


class NativeNet:
    """A chain of dense ternary layers ready for the C core."""

    def __init__(self, layers):
        """``layers``: sequence of (packed_t2 uint8, n_in, n_out, bias int32, shift)."""
        self._keep = []
        self.n_layers = len(layers)
        if self.n_layers == 0:
            raise ShapeError("a network needs at least one layer")
        self._c = ffi.new("ct_layer[]", self.n_layers)
        for i, (packed, n_in, n_out, bias, shift) in enumerate(layers):
            packed = np.ascontiguousarray(packed, dtype=np.uint8)
            bias = np.ascontiguousarray(bias, dtype=np.int32)
            self._keep += [packed, bias]
            c = self._c[i]
            c.n_in, c.n_out, c.shift = int(n_in), int(n_out), int(shift)
            c.w = ffi.from_buffer("uint8_t[]", packed)
            c.bias = ffi.from_buffer("int32_t[]", bias)
        check(lib.ct_net_check(self._c, self.n_layers), "network")
        self.n_in = int(self._c[0].n_in)
        self.n_out = int(self._c[self.n_layers - 1].n_out)
        self._scratch = None

    def _scratch_for(self, batch: int):
        need = ffi.new("int64_t *")
        check(lib.ct_net_scratch_bytes(self._c, self.n_layers, batch, need), "scratch size")
        if self._scratch is None or len(self._scratch) < need[0]:
            self._scratch = ffi.new("uint8_t[]", int(need[0]))
        return self._scratch

    def logits(self, xq: np.ndarray) -> np.ndarray:
        """int32 logits (n, n_out) of quantized int8 inputs (n, n_in) in 0..127."""
        xq = np.asarray(xq)
        if xq.dtype != np.int8:
            raise InputError(f"quantized inputs must be int8, got {xq.dtype}")
        if xq.ndim != 2 or xq.shape[1] != self.n_in:
            raise ShapeError(f"quantized inputs must have shape (n, {self.n_in}), got {xq.shape}")
        xq = np.ascontiguousarray(xq)
        n = xq.shape[0]
        out = np.empty((n, self.n_out), dtype=np.int32)
        for start in range(0, n, CHUNK):
            stop = min(n, start + CHUNK)
            scratch = self._scratch_for(stop - start)
            check(lib.ct_net_forward(self._c, self.n_layers,
                                     ffi.from_buffer("int8_t[]", xq[start:stop]), stop - start,
                                     ffi.from_buffer("int32_t[]", out[start:stop]),
                                     scratch, len(scratch)), "ct_net_forward")
        return out


def argmax(logits: np.ndarray) -> np.ndarray:
    logits = np.ascontiguousarray(logits, dtype=np.int32)
    n, k = logits.shape
    out = np.empty(n, dtype=np.int32)
    check(lib.ct_argmax(ffi.from_buffer("int32_t[]", logits), n, k,
                        ffi.from_buffer("int32_t[]", out)), "ct_argmax")
    return out


def kernels() -> list[dict]:
    """Every registered kernel: name, family, ISA, whether this CPU runs it,
    and whether it is the one dispatched for its family."""
    name, isa = ffi.new("const char **"), ffi.new("const char **")
    family, supported, active = ffi.new("int32_t *"), ffi.new("int32_t *"), ffi.new("int32_t *")
    rows = []
    for i in range(lib.ct_kernel_count()):
        check(lib.ct_kernel_info(i, name, family, isa, supported), "ct_kernel_info")
        check(lib.ct_kernel_active(family[0], active), "ct_kernel_active")
        rows.append({
            "index": i,
            "name": ffi.string(name[0]).decode(),
            "family": int(family[0]),
            "isa": ffi.string(isa[0]).decode(),
            "supported": bool(supported[0]),
            "active": active[0] == i,
        })
    return rows
