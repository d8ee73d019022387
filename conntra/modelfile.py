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
run code. The reader makes the checks of docs/format.md section 3.4 in the
order listed there, and everything it can check from the metadata alone (types,
sizes, chaining, section placement) before it decodes a single weight, so the
work a file can cause is bounded by its own size. Every inconsistency raises a
ModelFormatError subclass.
"""

from __future__ import annotations

import errno
import json
import os
import re
import struct
import zlib
from typing import Any, Union

import numpy as np

from conntra import filecheck as fc
from conntra.contract import (
    ACT_BITS,
    ACT_BITS_DEFAULT,
    MAX_LAYERS,
    MAX_SHIFT,
    MAX_WIDTH,
    PIXEL_SHIFT_MAX,
    PIXEL_SHIFT_MIN,
    SHIFT_OUTPUT,
)
from conntra.errors import (
    ConntraError,
    CorruptModelError,
    DTypeError,
    InputError,
    MetadataError,
    ModelFormatError,
    ModelNotFoundError,
    ModelReadError,
    ModelVersionError,
    NotAModelError,
    TruncatedModelError,
)
from conntra.fileio import atomic_write
from conntra.layers import KINDS, elements
from conntra.layers.conv2d import TernaryConv2D
from conntra.layers.conv2d import check_geometry as check_conv_geometry
from conntra.layers.records import SECTION_KEYS
from conntra.model import (
    MAX_NUMBER_CHARS,
    FloatConv2D,
    FloatDense,
    FloatModel,
    Model,
    TernaryDense,
    TernaryModel,
    check_metadata,
)
from conntra.quant import InputQuant

MAGIC = b"CONNTRA\0"
FORMAT_VERSION = 2  # the newest this code reads and writes
VERSIONS = (1, 2)  # what it reads: 2 for layer kinds and input shapes (docs/format.md 3.7)
HEADER = struct.Struct("<8sHHIQII")
assert HEADER.size == 32
MAX_JSON_DEPTH = 20  # nested objects and arrays in the whole metadata document

PathLike = Union[str, "os.PathLike[str]"]

_TOP_KEYS = frozenset({"model", "input", "layers", "metadata"})
_INPUT_KEYS = {
    "shift": frozenset({"kind", "n_features", "shift"}),
    "affine": frozenset({"kind", "n_features", "offset", "scale"}),
}
_INPUT_SHAPE_KEY = frozenset({"shape"})  # version 2 only
_SECTION_KEYS = SECTION_KEYS | {"kind", "n_in", "n_out"}
# version 2, float models: dense and conv2d records without shift (docs/format.md 3.7)
_FLOAT_DENSE_V2_KEYS = _SECTION_KEYS
_FLOAT_CONV_KEYS = TernaryConv2D.KEYS - {"shift"}
# Per model kind: the layer kind, its record keys and its (bias, weight) encodings.
_LAYER_KINDS = {
    "ternary": ("ternary", _SECTION_KEYS | {"shift"}, ("int32le", "t3")),
    "float": ("float32", _SECTION_KEYS, ("float32le", "float32le")),
}
# A JSON string (escapes included) and a bracket, for the depth scan.
_JSON_STRING = re.compile(r'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)
_JSON_BRACKET = re.compile(r"[\[\]{}]")


# ---- writing -------------------------------------------------------------------


def _encode_layer(layer: Any, offset: int, version: int) -> tuple[dict, list[bytes]]:
    meta: dict[str, Any]
    if not isinstance(layer, (FloatDense, FloatConv2D)):
        # the layer kind writes its own record; a dense one in version 1 is the
        # "ternary" record of before, act_bits written only when it is not 7, so
        # that every dense model keeps the bytes it had before kinds existed
        return layer.to_record(offset, version)
    bias = layer.bias.astype("<f4").tobytes()
    weights = layer.weights.astype("<f4").tobytes()  # conv: w[co][ky][kx][g], row-major
    if isinstance(layer, FloatConv2D):
        meta = {
            "kind": "conv2d",
            "c_in": layer.c_in,
            "c_out": layer.c_out,
            "kernel": list(layer.kernel),
            "stride": list(layer.stride),
            "padding": list(layer.padding),
            "groups": layer.groups,
        }
    else:  # version 1 kept the kind "float32" for a float dense layer
        meta = {"kind": "float32" if version == 1 else "dense"}
        meta.update(n_in=layer.n_in, n_out=layer.n_out)
    meta.update(bias_encoding="float32le", weight_encoding="float32le")
    meta["bias_offset"], meta["bias_bytes"] = offset, len(bias)
    meta["weight_offset"], meta["weight_bytes"] = offset + len(bias), len(weights)
    return meta, [bias, weights]


def to_bytes(model: Model) -> bytes:
    """The model file of ``model``; raises what the model constructor raises
    (MetadataError for metadata that is not plain JSON data) if the model was
    changed after construction into something no reader would accept."""
    if not isinstance(model, (TernaryModel, FloatModel)):
        raise InputError(
            f"only a TernaryModel or FloatModel can be saved, got {type(model).__name__}"
        )
    model.check()
    version = 1 if model.is_dense else 2
    layers, chunks, offset = [], [], 0
    for layer in model.layers:
        meta, parts = _encode_layer(layer, offset, version)
        layers.append(meta)
        chunks += parts
        offset += sum(len(p) for p in parts)
    kind = "ternary" if isinstance(model, TernaryModel) else "float"
    meta = {
        "model": kind,
        "input": model.input_quant.to_json(),
        "layers": layers,
        "metadata": model.metadata,
    }
    try:
        meta_bytes = json.dumps(
            meta, sort_keys=True, separators=(",", ":"), allow_nan=False
        ).encode("utf-8")
    except (TypeError, ValueError) as exc:  # model.check() should have caught it
        raise MetadataError(f"model metadata must be plain JSON data: {exc}") from exc
    payload = b"".join(chunks)
    crc = zlib.crc32(meta_bytes + payload)
    header = HEADER.pack(MAGIC, version, HEADER.size, len(meta_bytes), len(payload), crc, 0)
    return header + meta_bytes + payload


def save(model: Model, path: PathLike) -> None:
    """Writes atomically: a crash mid-write leaves the old file intact.
    OutputPathError (an OSError) names ``path`` when it cannot be written."""
    atomic_write(path, to_bytes(model))


# ---- reading: header and JSON ------------------------------------------------------


def load(path: PathLike) -> Model:
    """Reads a model file. ModelNotFoundError (a FileNotFoundError) when there is
    no file, ModelReadError (an OSError) when it cannot be read, a
    ModelFormatError subclass (a ValueError) when its content is not a model."""
    try:
        name = os.fspath(path)
    except TypeError as exc:
        raise DTypeError(f"a model path must be a str or os.PathLike, got {path!r}") from exc
    try:
        with open(name, "rb") as f:
            data = f.read()
    except FileNotFoundError as exc:
        raise ModelNotFoundError(errno.ENOENT, "no such model file", name) from exc
    except IsADirectoryError as exc:
        raise ModelReadError(errno.EISDIR, "a directory, not a model file", name) from exc
    except OSError as exc:
        raise ModelReadError(
            exc.errno, f"cannot read the model file: {exc.strerror}", name
        ) from exc
    return from_bytes(data, source=str(name))


def read_header(data: bytes, source: str = "<bytes>") -> tuple[int, int, dict]:
    """Checks the header, lengths, checksum and JSON (steps 1-8 of
    docs/format.md 3.4); returns (M, P, metadata). The version is
    ``file_version(data)`` after this."""
    n = len(data)
    if n < HEADER.size:
        # Under 32 bytes only the magic is examined: what is there must begin it.
        if n == 0 or not MAGIC.startswith(bytes(data[: len(MAGIC)])):
            raise NotAModelError(f"{source}: not a conntra model file (no CONNTRA magic)")
        raise TruncatedModelError(
            f"{source}: truncated model file: {n} bytes, the header alone is {HEADER.size}"
        )
    if not bytes(data[: len(MAGIC)]) == MAGIC:
        raise NotAModelError(f"{source}: not a conntra model file (no CONNTRA magic)")
    _, version, header_size, m, p, crc, reserved = HEADER.unpack_from(data)
    if version not in VERSIONS:
        raise ModelVersionError(
            f"{source}: model format version {version}; this conntra reads versions 1 and 2"
        )
    if header_size != HEADER.size or reserved != 0:
        raise CorruptModelError(f"{source}: corrupt header")
    expected = HEADER.size + m + p
    if n < expected:
        raise TruncatedModelError(
            f"{source}: truncated model file: {n} bytes, the header says {expected}"
        )
    if n > expected:
        raise CorruptModelError(
            f"{source}: {n - expected} unexpected bytes after the end of the model"
        )
    view = memoryview(data)
    if zlib.crc32(view[HEADER.size :]) != crc:
        raise CorruptModelError(f"{source}: checksum mismatch: the file is corrupt")
    try:
        text = str(view[HEADER.size : HEADER.size + m], "utf-8")
    except UnicodeDecodeError as exc:
        raise CorruptModelError(f"{source}: unreadable metadata: {exc}") from exc
    try:
        meta = parse_json(text)
    except CorruptModelError as exc:
        raise CorruptModelError(f"{source}: unreadable metadata: {exc}") from exc
    return m, p, meta


def _check_depth(text: str) -> None:
    """Counts bracket nesting outside strings before json.loads, which would
    otherwise recurse once per level and raise RecursionError."""
    depth = 0
    for match in _JSON_BRACKET.finditer(_JSON_STRING.sub('""', text)):
        if match.group() in "[{":
            depth += 1
            if depth > MAX_JSON_DEPTH:
                raise CorruptModelError(f"JSON nested deeper than {MAX_JSON_DEPTH} levels")
        else:
            depth -= 1


def _unique_keys(pairs: list[tuple[str, Any]]) -> dict:
    out: dict[str, Any] = {}
    for key, value in pairs:
        if key in out:
            raise CorruptModelError(f"duplicate key {key[:40]!r}")
        out[key] = value
    return out


def _number_text(text: str) -> str:
    if len(text) > MAX_NUMBER_CHARS:
        raise CorruptModelError(f"a number of {len(text)} characters (at most {MAX_NUMBER_CHARS})")
    return text


def _parse_float(text: str) -> float:
    value = float(_number_text(text))
    if value in (float("inf"), float("-inf")):
        raise CorruptModelError(f"the number {text} overflows a double")
    return value


def _parse_constant(text: str) -> Any:
    raise CorruptModelError(f"{text} is not a JSON number")


def parse_json(text: str) -> Any:
    """Strict JSON (RFC 8259) with the limits of docs/format.md 3.4: no NaN or
    infinities, no duplicate keys, numbers of at most 64 characters and
    finite as doubles, at most 20 levels of nesting. Raises CorruptModelError."""
    _check_depth(text)
    try:
        return json.loads(
            text,
            object_pairs_hook=_unique_keys,
            parse_int=lambda s: int(_number_text(s)),
            parse_float=_parse_float,
            parse_constant=_parse_constant,
        )
    except json.JSONDecodeError as exc:
        raise CorruptModelError(str(exc)) from exc


# ---- reading: the metadata schema ------------------------------------------------


_describe, _record, _choice = fc.describe, fc.record, fc.choice


def _int(record: dict, key: str, lo: int, hi: int | None, where: str) -> int:
    return fc.integer(record, key, lo, hi, where)


def _input_quant(d: object, version: int) -> InputQuant:
    if not isinstance(d, dict):
        raise CorruptModelError(f"input must be an object, got {_describe(d)}")
    if "kind" not in d:
        raise CorruptModelError("input is missing ['kind']")
    kind = _choice(d, "kind", ("shift", "affine"), "input")
    has_shape = version >= 2 and "shape" in d
    _record(d, _INPUT_KEYS[kind] | (_INPUT_SHAPE_KEY if has_shape else frozenset()), "input")
    n = _int(d, "n_features", 1, MAX_WIDTH, "input")
    shape = None
    if has_shape:
        shape = fc.integers(d, "shape", 3, 1, MAX_WIDTH, "input")
        if shape[0] * shape[1] * shape[2] != n:
            raise CorruptModelError(f"input.shape {list(shape)} does not hold {n} features")
    if kind == "shift":
        shift = _int(d, "shift", PIXEL_SHIFT_MIN, PIXEL_SHIFT_MAX, "input")
        return InputQuant(n, "shift", shift, shape=shape)
    for key in ("offset", "scale"):
        values = d[key]
        if not isinstance(values, list) or len(values) != n:
            raise CorruptModelError(f"input.{key} must be an array of {n} numbers")
        if not all(type(v) in (int, float) for v in values):  # JSON numbers, not bools
            raise CorruptModelError(f"input.{key} must hold numbers only")
    if min(d["scale"]) <= 0:
        raise CorruptModelError("input.scale must be > 0")
    return InputQuant(n, "affine", offset=tuple(d["offset"]), scale=tuple(d["scale"]), shape=shape)


def _layer_plan(meta: dict, n_features: int, payload_bytes: int) -> list[dict]:
    """Checks every layer record and the section placement (steps 12-15)."""
    model_kind = meta["model"]
    layer_kind, keys, (bias_enc, weight_enc) = _LAYER_KINDS[model_kind]
    layers = meta["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        count = len(layers) if isinstance(layers, list) else _describe(layers)
        raise CorruptModelError(f"layers must be an array of 1..{MAX_LAYERS} layers, got {count}")
    cursor, n_prev = 0, n_features
    kind_is_ternary = model_kind == "ternary"
    for i, d in enumerate(layers):
        where = f"layers[{i}]"
        if isinstance(d, dict) and "kind" in d:  # the kind decides which keys belong
            _choice(d, "kind", (layer_kind,), where)
        hidden_ternary = kind_is_ternary and i < len(layers) - 1
        if isinstance(d, dict) and "act_bits" in d:
            if not hidden_ternary:
                what = "the output layer" if kind_is_ternary else "a float layer"
                raise CorruptModelError(f"{where} has act_bits, but {what} has no activation bits")
            _record(d, keys | {"act_bits"}, where)
        else:
            _record(d, keys, where)
        kind = layer_kind
        n_in = _int(d, "n_in", 1, MAX_WIDTH, where)
        n_out = _int(d, "n_out", 1, MAX_WIDTH, where)
        if n_in != n_prev:
            source = "the input has" if i == 0 else f"layers[{i - 1}] has"
            raise CorruptModelError(
                f"{where}.n_in is {n_in} but {source} {n_prev} "
                f"{'features' if i == 0 else 'outputs'}"
            )
        n_prev = n_out
        if kind == "ternary":
            if i == len(layers) - 1:
                _int(d, "shift", SHIFT_OUTPUT, SHIFT_OUTPUT, where)
            else:
                _int(d, "shift", 0, MAX_SHIFT, where)
                if "act_bits" in d:
                    bits = _int(d, "act_bits", 1, ACT_BITS_DEFAULT, where)
                    if bits not in ACT_BITS:
                        raise CorruptModelError(
                            f"{where}.act_bits must be 1, 2, 4 or 7, got {bits}"
                        )
        _choice(d, "bias_encoding", (bias_enc,), where)
        _choice(d, "weight_encoding", (weight_enc,), where)
        weights = -(-n_in * n_out // 5) if kind == "ternary" else 4 * n_in * n_out
        for name, size in (("bias", 4 * n_out), ("weight", weights)):
            offset = _int(d, f"{name}_offset", 0, None, where)
            length = _int(d, f"{name}_bytes", 0, None, where)
            if length != size:
                raise CorruptModelError(
                    f"{where}.{name}_bytes is {length}, a {n_out}x{n_in} {kind} layer has {size}"
                )
            if offset != cursor:
                raise CorruptModelError(
                    f"{where}.{name}_offset is {offset}, expected {cursor}: "
                    f"sections follow each other without gaps or overlaps"
                )
            cursor += size
            if cursor > payload_bytes:
                raise CorruptModelError(
                    f"the {name} section of {where} ends at {cursor}, "
                    f"past the {payload_bytes}-byte payload"
                )
    if cursor != payload_bytes:
        raise CorruptModelError(f"the layers cover {cursor} of the {payload_bytes} payload bytes")
    return layers


def _float_record_v2(
    d: dict, shape: tuple, last: bool, sections: fc.Sections, where: str
) -> tuple[int, int, int]:
    """Step 12 of version 2 for a layer of a float model (docs/format.md 3.7):
    a dense or conv2d layer without shift or activation bits, float32 sections."""
    if d["kind"] == "dense":
        _record(d, _FLOAT_DENSE_V2_KEYS, where)
        n_in = _int(d, "n_in", 1, MAX_WIDTH, where)
        n_out = _int(d, "n_out", 1, MAX_WIDTH, where)
        if shape[:2] != (1, 1) or n_in != shape[2]:
            raise CorruptModelError(f"{where}.n_in is {n_in} but it reads the tensor {shape}")
        rows, weights, out = n_out, n_in * n_out, (1, 1, n_out)
        what = f"a {n_out}x{n_in} float layer"
    else:
        _record(d, _FLOAT_CONV_KEYS, where)
        out, (c_out, kh, kw, g) = check_conv_geometry(d, shape, last, where)
        rows, weights = c_out, c_out * kh * kw * g
        what = f"a float conv2d layer of {c_out} filters {kh}x{kw}x{g}"
    fc.choice(d, "bias_encoding", ("float32le",), where)
    fc.choice(d, "weight_encoding", ("float32le",), where)
    sections.take(d, "bias", 4 * rows, where, what)
    sections.take(d, "weight", 4 * weights, where, what)
    return out


def _layer_plan_v2(meta: dict, quant: InputQuant, payload_bytes: int) -> list[dict]:
    """Step 12 of version 2 (docs/format.md 3.7): each record is checked by
    its kind, reading the shape the layer before writes."""
    is_float = meta["model"] == "float"
    layers = meta["layers"]
    if not isinstance(layers, list) or not 1 <= len(layers) <= MAX_LAYERS:
        count = len(layers) if isinstance(layers, list) else _describe(layers)
        raise CorruptModelError(f"layers must be an array of 1..{MAX_LAYERS} layers, got {count}")
    sections = fc.Sections(payload_bytes)
    shape = quant.tensor_shape
    for i, d in enumerate(layers):
        where = f"layers[{i}]"
        last = i == len(layers) - 1
        if not isinstance(d, dict):
            raise CorruptModelError(f"{where} must be an object, got {_describe(d)}")
        if "kind" not in d:
            raise CorruptModelError(f"{where} is missing ['kind']")
        kind = _choice(d, "kind", tuple(KINDS), where)
        if is_float and kind in ("dense", "conv2d"):
            shape = _float_record_v2(d, shape, last, sections, where)
        else:
            shape = KINDS[kind].check_record(d, shape, last, sections, where)
        if elements(shape) > MAX_WIDTH:
            raise CorruptModelError(f"{where} writes {elements(shape)} elements, at most 2^20")
    if sections.cursor != payload_bytes:
        raise CorruptModelError(
            f"the layers cover {sections.cursor} of the {payload_bytes} payload bytes"
        )
    return layers


def _decode_float_v2(d: dict, payload: memoryview) -> Any:
    """The float layer of a checked version-2 record (other kinds decode themselves)."""
    if d["kind"] not in ("dense", "conv2d"):
        return KINDS[d["kind"]].from_record(d, payload)
    bias_at, weight_at = d["bias_offset"], d["weight_offset"]
    bias = np.frombuffer(payload[bias_at : bias_at + d["bias_bytes"]], dtype="<f4")
    w = np.frombuffer(payload[weight_at : weight_at + d["weight_bytes"]], dtype="<f4")
    if d["kind"] == "dense":
        return FloatDense(w.reshape(d["n_out"], d["n_in"]), bias)
    kh, kw = d["kernel"]
    shape = (d["c_out"], kh, kw, d["c_in"] // d["groups"])
    return FloatConv2D(
        w.reshape(shape),
        bias,
        stride=tuple(d["stride"]),
        padding=tuple(d["padding"]),
        groups=d["groups"],
    )


def _decode_layer(payload: memoryview, d: dict) -> Any:
    from conntra.packing import unpack_t3_numpy

    n_in, n_out = d["n_in"], d["n_out"]
    bias_at, weight_at = d["bias_offset"], d["weight_offset"]
    bias_raw = payload[bias_at : bias_at + d["bias_bytes"]]
    weight_raw = payload[weight_at : weight_at + d["weight_bytes"]]
    if d["kind"] == "ternary":
        bias = np.frombuffer(bias_raw, dtype="<i4")
        w = unpack_t3_numpy(np.frombuffer(weight_raw, dtype=np.uint8), n_in * n_out)
        return TernaryDense(w.reshape(n_out, n_in), bias, d["shift"], d.get("act_bits"))
    return FloatDense(
        np.frombuffer(weight_raw, dtype="<f4").reshape(n_out, n_in),
        np.frombuffer(bias_raw, dtype="<f4"),
    )


def _from_meta(meta: object, payload: memoryview, version: int) -> Model:
    meta = _record(meta, _TOP_KEYS, "the metadata document")
    _choice(meta, "model", ("ternary", "float"), "the metadata document")
    quant = _input_quant(meta["input"], version)
    if version >= 2:
        layers = _layer_plan_v2(meta, quant, len(payload))
    else:
        layers = _layer_plan(meta, quant.n_features, len(payload))
    user = meta["metadata"]
    if user is None:  # version-1 writers stored a model built with metadata=None as null
        user = {}
    try:
        check_metadata(user)
    except MetadataError as exc:
        raise CorruptModelError(str(exc)) from exc
    if version >= 2 and meta["model"] == "float":
        decoded = [_decode_float_v2(d, payload) for d in layers]
    elif version >= 2:
        decoded = [KINDS[d["kind"]].from_record(d, payload) for d in layers]
    else:
        decoded = [_decode_layer(payload, d) for d in layers]
    cls = TernaryModel if meta["model"] == "ternary" else FloatModel
    return cls(decoded, quant, user)


def from_bytes(data: bytes, source: str = "<bytes>") -> Model:
    m, _, meta = read_header(data, source)
    version = HEADER.unpack_from(data)[1]
    try:
        return _from_meta(meta, memoryview(data)[HEADER.size + m :], version)
    except ModelFormatError as exc:
        raise type(exc)(f"{source}: {exc}") from exc
    except ConntraError as exc:  # a well-formed file holding invalid values (T3 code, bias)
        raise CorruptModelError(f"{source}: invalid model content: {exc}") from exc
