"""The parts of a layer's model-file record that every layer with parameters
shares (docs/format.md 3.2 and 3.7): the shift, the optional activation bits,
the int32 bias section and the T3 weight section."""

from __future__ import annotations

from typing import Any

import numpy as np

from conntra import filecheck as fc
from conntra.contract import ACT_BITS, ACT_BITS_DEFAULT, MAX_SHIFT, SHIFT_OUTPUT
from conntra.errors import CorruptModelError

SECTION_KEYS = frozenset(
    {
        "bias_offset",
        "bias_bytes",
        "bias_encoding",
        "weight_offset",
        "weight_bytes",
        "weight_encoding",
    }
)


def param_record(layer: Any, offset: int) -> tuple[dict, list[bytes]]:
    """The shift, act_bits (only when not 7, so that 7-bit models keep their
    bytes) and both sections of ``layer``, whose weights go to T3 in
    row-major order."""
    from conntra.packing import pack_t3

    bias = layer.bias.astype("<i4").tobytes()
    weights = pack_t3(layer.weights.reshape(layer.weights.shape[0], -1)).tobytes()
    meta: dict[str, Any] = {
        "shift": layer.shift,
        "bias_encoding": "int32le",
        "weight_encoding": "t3",
        "bias_offset": offset,
        "bias_bytes": len(bias),
        "weight_offset": offset + len(bias),
        "weight_bytes": len(weights),
    }
    if layer.act_bits is not None and layer.act_bits != ACT_BITS_DEFAULT:
        meta["act_bits"] = layer.act_bits
    return meta, [bias, weights]


def record_keys(d: object, keys: frozenset, hidden: bool, where: str) -> dict:
    """``d`` with exactly ``keys``, plus ``act_bits`` where it may be (a hidden
    layer with parameters)."""
    if isinstance(d, dict) and "act_bits" in d:
        if not hidden:
            raise CorruptModelError(
                f"{where} has act_bits, but the output layer has no activation bits"
            )
        return fc.record(d, keys | {"act_bits"}, where)
    return fc.record(d, keys, where)


def check_param_record(
    d: dict, last: bool, sections: fc.Sections, where: str, rows: int, weights: int, what: str
) -> None:
    """Shift, act_bits, encodings and the two sections of a layer with ``rows``
    biases and ``weights`` ternary weights (step 12, after its geometry)."""
    if last:
        fc.integer(d, "shift", SHIFT_OUTPUT, SHIFT_OUTPUT, where)
    else:
        fc.integer(d, "shift", 0, MAX_SHIFT, where)
        if "act_bits" in d:
            bits = fc.integer(d, "act_bits", 1, ACT_BITS_DEFAULT, where)
            if bits not in ACT_BITS:
                raise CorruptModelError(f"{where}.act_bits must be 1, 2, 4 or 7, got {bits}")
    fc.choice(d, "bias_encoding", ("int32le",), where)
    fc.choice(d, "weight_encoding", ("t3",), where)
    sections.take(d, "bias", 4 * rows, where, what)
    sections.take(d, "weight", -(-weights // 5), where, what)


def decode_params(d: dict, payload: memoryview, weights: int) -> tuple[np.ndarray, np.ndarray]:
    """(int32 biases, int8 weights flat) of a checked record."""
    from conntra.packing import unpack_t3_numpy

    bias_at, weight_at = d["bias_offset"], d["weight_offset"]
    bias = np.frombuffer(payload[bias_at : bias_at + d["bias_bytes"]], dtype="<i4")
    raw = np.frombuffer(payload[weight_at : weight_at + d["weight_bytes"]], dtype=np.uint8)
    return bias, unpack_t3_numpy(raw, weights)
