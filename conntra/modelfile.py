"""The model file: versioned, checksummed, packed, and free of code.

Layout (docs/format.md, "Model files", is normative):

    offset  size  field
    0       8     magic b"CONNTRA\\0"
    8       2     format version (uint16 LE), currently 1
    10      2     header size (uint16 LE), 32
    12      4     metadata length M (uint32 LE)
    16      8     payload length P (uint64 LE)
    24      4     CRC-32 of metadata + payload (uint32 LE, zlib polynomial)
    28      4     reserved, zero
    32      M     metadata: UTF-8 JSON (layer shapes, shifts, section offsets,
                  input quantization, free-form metadata)
    32+M    P     payload: per layer, the bias then the weights, each at the
                  offset the metadata gives; ternary weights in T3 (1.6 bits)

Loading parses JSON and raw little-endian arrays only: nothing in a file can
run code. Every inconsistency raises a ModelFormatError subclass.
"""

from __future__ import annotations

import json
import os
import struct
import zlib

import numpy as np

from conntra.errors import (
    ConntraError,
    CorruptModelError,
    ModelVersionError,
    NotAModelError,
    TruncatedModelError,
)
from conntra.model import FloatDense, FloatModel, TernaryDense, TernaryModel
from conntra.quant import InputQuant

MAGIC = b"CONNTRA\0"
FORMAT_VERSION = 1
HEADER = struct.Struct("<8sHHIQII")
assert HEADER.size == 32


def _encode_layer(layer, offset: int) -> tuple[dict, list[bytes]]:
    from conntra.packing import pack_t3

    if isinstance(layer, TernaryDense):
        bias = layer.bias.astype("<i4").tobytes()
        weights = pack_t3(layer.weights).tobytes()
        meta = {"kind": "ternary", "n_in": layer.n_in, "n_out": layer.n_out,
                "shift": layer.shift, "bias_encoding": "int32le", "weight_encoding": "t3"}
    else:
        bias = layer.bias.astype("<f4").tobytes()
        weights = layer.weights.astype("<f4").tobytes()
        meta = {"kind": "float32", "n_in": layer.n_in, "n_out": layer.n_out,
                "bias_encoding": "float32le", "weight_encoding": "float32le"}
    meta["bias_offset"], meta["bias_bytes"] = offset, len(bias)
    meta["weight_offset"], meta["weight_bytes"] = offset + len(bias), len(weights)
    return meta, [bias, weights]


def to_bytes(model) -> bytes:
    layers, chunks, offset = [], [], 0
    for layer in model.layers:
        meta, parts = _encode_layer(layer, offset)
        layers.append(meta)
        chunks += parts
        offset += sum(len(p) for p in parts)
    kind = "ternary" if isinstance(model, TernaryModel) else "float"
    meta = {"model": kind, "input": model.input_quant.to_json(), "layers": layers,
            "metadata": model.metadata}
    try:
        meta_bytes = json.dumps(meta, sort_keys=True, separators=(",", ":"),
                                allow_nan=False).encode("utf-8")
    except (TypeError, ValueError) as exc:
        raise ConntraError(f"model metadata must be plain JSON data: {exc}") from exc
    payload = b"".join(chunks)
    crc = zlib.crc32(meta_bytes + payload)
    header = HEADER.pack(MAGIC, FORMAT_VERSION, HEADER.size, len(meta_bytes), len(payload),
                         crc, 0)
    return header + meta_bytes + payload


def save(model, path) -> None:
    """Writes atomically: a crash mid-write leaves the old file intact."""
    data = to_bytes(model)
    path = os.fspath(path)
    tmp = f"{path}.tmp{os.getpid()}"
    try:
        with open(tmp, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def load(path):
    with open(os.fspath(path), "rb") as f:
        data = f.read()
    return from_bytes(data, source=os.fspath(path))


def read_header(data: bytes, source: str = "<bytes>") -> tuple[int, int, dict]:
    """Checks the header, lengths and checksum; returns (M, P, metadata)."""
    if len(data) < len(MAGIC):
        if data and MAGIC.startswith(data):
            raise TruncatedModelError(f"{source}: truncated model file ({len(data)} bytes)")
        raise NotAModelError(f"{source}: not a conntra model file (no CONNTRA magic)")
    if not data.startswith(MAGIC):
        raise NotAModelError(f"{source}: not a conntra model file (no CONNTRA magic)")
    if len(data) < HEADER.size:
        raise TruncatedModelError(f"{source}: truncated model file: {len(data)} bytes, "
                                  f"the header alone is {HEADER.size}")
    _, version, header_size, m, p, crc, reserved = HEADER.unpack_from(data)
    if version != FORMAT_VERSION:
        raise ModelVersionError(f"{source}: model format version {version}; this conntra "
                                f"reads version {FORMAT_VERSION}")
    if header_size != HEADER.size or reserved != 0:
        raise CorruptModelError(f"{source}: corrupt header")
    expected = HEADER.size + m + p
    if len(data) < expected:
        raise TruncatedModelError(f"{source}: truncated model file: {len(data)} bytes, "
                                  f"the header says {expected}")
    if len(data) > expected:
        raise CorruptModelError(f"{source}: {len(data) - expected} unexpected bytes after "
                                f"the end of the model")
    if zlib.crc32(data[HEADER.size:]) != crc:
        raise CorruptModelError(f"{source}: checksum mismatch: the file is corrupt")
    try:
        meta = json.loads(data[HEADER.size:HEADER.size + m].decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise CorruptModelError(f"{source}: unreadable metadata: {exc}") from exc
    return m, p, meta


def _section(payload: bytes, layer: dict, name: str, dtype: str, count: int) -> np.ndarray:
    off, size = int(layer[f"{name}_offset"]), int(layer[f"{name}_bytes"])
    need = count * np.dtype(dtype).itemsize if dtype != "t3" else -(-count // 5)
    if size != need or off < 0 or off + size > len(payload):
        raise CorruptModelError(f"{name} section of {size} bytes at {off} does not fit "
                                f"(expected {need} bytes inside a {len(payload)}-byte payload)")
    return np.frombuffer(payload[off:off + size], dtype=np.uint8 if dtype == "t3" else dtype)


def _decode_layer(payload: bytes, d: dict):
    from conntra.packing import unpack_t3_numpy

    n_in, n_out = int(d["n_in"]), int(d["n_out"])
    if n_in <= 0 or n_out <= 0:
        raise CorruptModelError(f"layer size {n_out}x{n_in} is not positive")
    if d["kind"] == "ternary":
        bias = _section(payload, d, "bias", "<i4", n_out)
        packed = _section(payload, d, "weight", "t3", n_in * n_out)
        w = unpack_t3_numpy(packed, n_in * n_out).reshape(n_out, n_in)
        return TernaryDense(w, bias.astype(np.int32), int(d["shift"]))
    if d["kind"] == "float32":
        bias = _section(payload, d, "bias", "<f4", n_out)
        w = _section(payload, d, "weight", "<f4", n_in * n_out).reshape(n_out, n_in)
        return FloatDense(w, bias)
    raise CorruptModelError(f"unknown layer kind {d['kind']!r}")


def from_bytes(data: bytes, source: str = "<bytes>"):
    m, _, meta = read_header(data, source)
    payload = data[HEADER.size + m:]
    try:
        quant = InputQuant.from_json(meta["input"])
        layers = [_decode_layer(payload, d) for d in meta["layers"]]
        cls = {"ternary": TernaryModel, "float": FloatModel}[meta["model"]]
        return cls(layers, quant, dict(meta.get("metadata") or {}))
    except CorruptModelError as exc:
        raise CorruptModelError(f"{source}: {exc}") from exc
    except (KeyError, TypeError, AttributeError) as exc:
        raise CorruptModelError(f"{source}: metadata is missing or mistypes {exc}") from exc
    except (ConntraError, ValueError) as exc:  # a well-formed file holding invalid values
        raise CorruptModelError(f"{source}: invalid model content: {exc}") from exc
