"""Fuzzing model files with JSON-aware mutations and a recomputed CRC.

Random byte flips almost always stop at the checksum; these mutations edit
the parsed metadata (or its text, or the payload) and re-emit a file with a
valid header and CRC, so they reach every check behind it. Each case is
seeded: ``mutate(seed_file, seed)`` replays it. benchmarks/fuzz_modelfile.py
runs the same mutator for longer.
"""

from __future__ import annotations

import copy
import json
import random
import zlib

import numpy as np
from _conv_models import conv_model

from conntra import FloatDense, FloatModel, InputQuant, TernaryModel, modelfile
from conntra.errors import ModelFormatError

_VALUES = [
    0,
    1,
    -1,
    2,
    5,
    7,
    8,
    24,
    25,
    64,
    65,
    2**20,
    2**20 + 1,
    2**31,
    2**64,
    -(2**63),
    0.5,
    3.9,
    1.0,
    -0.0,
    1e300,
    "3",
    "",
    "t3",
    "int32le",
    "float32le",
    "ternary",
    "float32",
    "float",
    "shift",
    "affine",
    "dense",
    "conv2d",
    "maxpool2d",
    "flatten",
    [3, 3],
    [1, 1, 1, 1],
    [2, 2, 1],
    True,
    False,
    None,
    [],
    {},
    [1, 2],
    {"a": 1},
]
_RAW = [
    "NaN",
    "Infinity",
    "-Infinity",
    "1e999",
    "9" * 70,
    "[" * 40 + "]" * 40,
    '"\\ud800"',
    '{"a":1,"a":2}',
    "1.5e-400",
    "-0",
    '"\\u0000"',
    "[[1,2]]",
]


def seed_files() -> list[bytes]:
    """Small real files: a ternary pixel model (three layers), a float affine
    model, and a convolutional model (version 2: every layer kind)."""
    rng = np.random.default_rng(4)
    ternary = TernaryModel.random(
        [7, 6, 5, 3],
        InputQuant.pixels(7),
        seed=4,
        bias_range=40,
        metadata={"dataset": "fuzz", "seed": 4, "tags": ["a", 1.5]},
    )
    quant = InputQuant.fit_affine(rng.normal(size=(20, 4)))
    floaty = FloatModel(
        [
            FloatDense(rng.normal(size=(5, 4)), rng.normal(size=5)),
            FloatDense(rng.normal(size=(2, 5)), rng.normal(size=2)),
        ],
        quant,
        {"trainer": "backprop"},
    )
    conv = conv_model(4, in_shape=(6, 5, 2), classes=3)
    return [modelfile.to_bytes(ternary), modelfile.to_bytes(floaty), modelfile.to_bytes(conv)]


def _paths(node, path=()):
    yield path
    if isinstance(node, dict):
        for k, v in node.items():
            yield from _paths(v, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _paths(v, path + (i,))


def _get(node, path):
    for p in path:
        node = node[p]
    return node


def _emit(meta_bytes: bytes, payload: bytes, version: int) -> bytes:
    crc = zlib.crc32(meta_bytes + payload)
    header = modelfile.HEADER.pack(
        modelfile.MAGIC, version, 32, len(meta_bytes), len(payload), crc, 0
    )
    return header + meta_bytes + payload


def mutate(data: bytes, seed: int) -> bytes:
    """One to three seeded mutations of a valid model file, re-emitted with a valid CRC."""
    rnd = random.Random(seed)
    m, _, meta = modelfile.read_header(data)
    payload = bytearray(data[32 + m :])
    raw: tuple[str, str] | None = None
    for _ in range(rnd.randint(1, 3)):
        paths = list(_paths(meta))
        path = rnd.choice(paths[1:])
        parent, key = _get(meta, path[:-1]), path[-1]
        op = rnd.randrange(9)
        if op == 0:
            parent[key] = copy.deepcopy(rnd.choice(_VALUES))
        elif op == 1 and isinstance(parent, dict):
            del parent[key]
        elif op == 2 and isinstance(parent, dict):
            parent[rnd.choice(["extra", "shift", "offset", "kind", "metadata"])] = copy.deepcopy(
                rnd.choice(_VALUES)
            )
        elif op == 3 and isinstance(parent[key], int) and not isinstance(parent[key], bool):
            parent[key] += rnd.choice([-5, -1, 1, 5, 127])
        elif op == 4 and isinstance(parent, list):
            parent.insert(rnd.randrange(len(parent) + 1), copy.deepcopy(rnd.choice(parent)))
        elif op == 5 and isinstance(parent, list) and len(parent) > 1:
            i, j = rnd.randrange(len(parent)), rnd.randrange(len(parent))
            parent[i], parent[j] = parent[j], parent[i]
        elif op == 6 and payload:
            for _ in range(rnd.randint(1, 4)):
                payload[rnd.randrange(len(payload))] = rnd.randrange(256)
        elif op == 7:
            raw = (json.dumps(rnd.choice(["x", 0, None])), rnd.choice(_RAW))
            parent[key] = json.loads(raw[0])
        else:
            cut = rnd.randrange(len(payload) + 1)
            payload = payload[:cut] if rnd.random() < 0.5 else payload + bytes(rnd.randrange(9))
    text = json.dumps(
        meta, sort_keys=rnd.random() < 0.5, separators=rnd.choice([(",", ":"), (", ", ": ")])
    )
    if raw is not None:
        text = text.replace(raw[0], raw[1], 1)
    version = modelfile.HEADER.unpack_from(data)[1]
    return _emit(text.encode("utf-8", "surrogatepass"), bytes(payload), version)


def check_one(data: bytes) -> bool:
    """Asserts the contract for one file; True when it loaded."""
    try:
        model = modelfile.from_bytes(data)
    except ModelFormatError:
        return False
    n = model.input_quant.n_features
    x = np.random.default_rng(0).integers(0, 256, size=(3, n)).astype(np.uint8)
    if model.input_quant.kind == "affine":
        x = np.random.default_rng(0).normal(size=(3, n))
    a, b = model.logits(x, backend="c"), model.logits(x, backend="numpy")
    assert np.array_equal(a, b)
    saved = modelfile.to_bytes(model)
    again = modelfile.from_bytes(saved)
    assert modelfile.to_bytes(again) == saved
    assert np.array_equal(again.logits(x), a)
    return True


def test_json_aware_fuzz_only_raises_model_errors():
    loaded = 0
    for k, data in enumerate(seed_files()):
        assert check_one(data)
        for seed in range(k * 100000, k * 100000 + 2000):
            try:
                loaded += check_one(mutate(data, seed))
            except Exception as exc:  # report the replayable case
                raise AssertionError(f"seed file {k}, seed {seed}: {exc!r}") from exc
    assert 0 < loaded < 6000  # some mutations are harmless (key order, metadata values)
