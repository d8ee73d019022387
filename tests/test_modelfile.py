"""Model files: round trips, size, and a clear error for every bad file."""

import json
import struct
import zlib

import numpy as np
import pytest

import conntra
from conntra import FloatDense, FloatModel, InputQuant, TernaryModel, modelfile
from conntra.errors import (
    CorruptModelError,
    MetadataError,
    ModelFormatError,
    ModelVersionError,
    NotAModelError,
    TruncatedModelError,
)


@pytest.fixture
def model():
    return TernaryModel.random(
        [784, 64, 10],
        InputQuant.pixels(784),
        seed=3,
        bias_range=50,
        metadata={"dataset": "mnist", "trainer": "random"},
    )


def rewrite(data: bytes, meta=None, version=None) -> bytes:
    """Re-emits a file with edited metadata or version and a valid CRC."""
    m, p, old = modelfile.read_header(data)
    meta_bytes = json.dumps(old if meta is None else meta).encode()
    payload = data[32 + m :]
    header = modelfile.HEADER.pack(
        modelfile.MAGIC,
        version or 1,
        32,
        len(meta_bytes),
        len(payload),
        zlib.crc32(meta_bytes + payload),
        0,
    )
    return header + meta_bytes + payload


def test_round_trip_is_exact_and_deterministic(model, tmp_path):
    path = tmp_path / "m.ctm"
    model.save(path)
    loaded = conntra.load(path)
    assert isinstance(loaded, TernaryModel)
    assert loaded.metadata == model.metadata
    for a, b in zip(model.layers, loaded.layers, strict=False):
        assert (a.weights == b.weights).all() and (a.bias == b.bias).all()
        assert a.shift == b.shift
    x = np.random.default_rng(0).integers(0, 256, size=(50, 784))
    np.testing.assert_array_equal(model.logits(x), loaded.logits(x))
    model.save(tmp_path / "again.ctm")
    assert (tmp_path / "again.ctm").read_bytes() == path.read_bytes()


def test_file_is_packed_parameters_plus_a_small_header(model, tmp_path):
    path = tmp_path / "m.ctm"
    model.save(path)
    packed = sum(-(-L.weights.size // 5) + 4 * L.bias.size for L in model.layers)
    size = path.stat().st_size
    assert packed < size <= packed + 1024
    assert 8 * size / model.n_weights < 2.0  # well under 2 bits per weight on disk


def test_float_and_affine_models_round_trip(tmp_path):
    rng = np.random.default_rng(1)
    quant = InputQuant.fit_affine(rng.normal(size=(30, 4)))
    fm = FloatModel(
        [
            FloatDense(rng.normal(size=(8, 4)), rng.normal(size=8)),
            FloatDense(rng.normal(size=(3, 8)), rng.normal(size=3)),
        ],
        quant,
        {"trainer": "backprop"},
    )
    fm.save(tmp_path / "f.ctm")
    loaded = conntra.load(tmp_path / "f.ctm")
    assert isinstance(loaded, FloatModel)
    assert loaded.input_quant == quant
    x = rng.normal(size=(10, 4))
    np.testing.assert_array_equal(fm.logits(x), loaded.logits(x))


@pytest.mark.parametrize("cut", [1, 7, 8, 20, 31, 32, 100, -1])
def test_truncated_files(model, tmp_path, cut):
    data = modelfile.to_bytes(model)
    path = tmp_path / "t.ctm"
    path.write_bytes(data[:cut] if cut > 0 else data[:-1])
    with pytest.raises(TruncatedModelError, match="truncated model file"):
        conntra.load(path)


def test_not_a_model(tmp_path):
    for content in (b"", b"hello world, this is text\n" * 4, bytes(range(256))):
        path = tmp_path / "x.ctm"
        path.write_bytes(content)
        with pytest.raises(NotAModelError, match="not a conntra model file"):
            conntra.load(path)


def test_wrong_version(model, tmp_path):
    path = tmp_path / "v.ctm"
    path.write_bytes(rewrite(modelfile.to_bytes(model), version=3))
    with pytest.raises(ModelVersionError, match="format version 3; this conntra reads versions 1"):
        conntra.load(path)
    # a version-1 document under a version-2 header: its "ternary" records are
    # not a kind of version 2
    path.write_bytes(rewrite(modelfile.to_bytes(model), version=2))
    with pytest.raises(CorruptModelError, match="kind must be 'dense' or 'conv2d'"):
        conntra.load(path)


def test_flipped_byte_fails_the_checksum(model, tmp_path):
    data = bytearray(modelfile.to_bytes(model))
    data[len(data) // 2] ^= 0x10
    path = tmp_path / "c.ctm"
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptModelError, match="checksum mismatch"):
        conntra.load(path)


def test_trailing_bytes(model, tmp_path):
    path = tmp_path / "c.ctm"
    path.write_bytes(modelfile.to_bytes(model) + b"\0")
    with pytest.raises(CorruptModelError, match="1 unexpected bytes"):
        conntra.load(path)


def test_inconsistent_metadata_with_a_valid_checksum(model):
    data = modelfile.to_bytes(model)
    _, _, meta = modelfile.read_header(data)
    cases = []
    m = json.loads(json.dumps(meta))
    m["layers"][0]["weight_bytes"] += 1
    cases.append((m, r"layers\[0\].weight_bytes is 10037, a 64x784 ternary layer has 10036"))
    m = json.loads(json.dumps(meta))
    del m["layers"][1]["n_out"]
    cases.append((m, r"layers\[1\] is missing \['n_out'\]"))
    m = json.loads(json.dumps(meta))
    m["layers"][0]["kind"] = "quaternary"
    cases.append((m, r"layers\[0\].kind must be 'ternary', got \"quaternary\""))
    m = json.loads(json.dumps(meta))
    m["layers"][0]["shift"] = 99
    cases.append((m, r"layers\[0\].shift must be 0..24, got 99"))
    m = json.loads(json.dumps(meta))
    m["input"]["n_features"] = 10
    cases.append((m, r"layers\[0\].n_in is 784 but the input has 10 features"))
    for bad, message in cases:
        with pytest.raises(CorruptModelError, match=message):
            modelfile.from_bytes(rewrite(data, meta=bad))


def test_invalid_t3_code_in_payload(model):
    data = bytearray(modelfile.to_bytes(model))
    m, p, meta = modelfile.read_header(bytes(data))
    off = 32 + m + meta["layers"][0]["weight_offset"]
    data[off] = 250  # above 242: not a base-3 byte
    data[24:28] = struct.pack("<I", zlib.crc32(bytes(data[32:])))
    with pytest.raises(CorruptModelError, match="T3 byte above 242"):
        modelfile.from_bytes(bytes(data))


def test_random_damage_never_escapes_as_anything_but_a_model_error(model):
    """Fuzz: flips, cuts and splices give ModelFormatError, never a crash or
    another exception type."""
    data = modelfile.to_bytes(model)
    rng = np.random.default_rng(99)
    for _ in range(300):
        d = bytearray(data)
        op = rng.integers(3)
        if op == 0:
            for i in rng.integers(0, len(d), size=rng.integers(1, 4)):
                d[i] = rng.integers(256)
        elif op == 1:
            d = d[: rng.integers(0, len(d))]
        else:
            i = rng.integers(0, 64)
            d[i : i + 4] = rng.integers(0, 256, 4).astype(np.uint8).tobytes()
        if bytes(d) == data:
            continue
        with pytest.raises(ModelFormatError):
            modelfile.from_bytes(bytes(d))


def test_metadata_must_be_json(model):
    model.metadata["bad"] = object()
    with pytest.raises(MetadataError, match=r"metadata\['bad'\] has type object, which is not"):
        modelfile.to_bytes(model)
