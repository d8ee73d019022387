"""Model files of version 2 (docs/format.md 3.7): layer kinds and input
shapes, every check of a record, and version 1 left as it was."""

from __future__ import annotations

import json
import zlib
from pathlib import Path

import numpy as np
import pytest
from _conv_models import conv_model

import conntra
from conntra import Flatten, InputQuant, TernaryModel, modelfile
from conntra.errors import CorruptModelError

DATA = Path(__file__).resolve().parent / "data"


def version_of(data: bytes) -> int:
    return modelfile.HEADER.unpack_from(data)[1]


def emit(meta: dict, payload: bytes, version: int) -> bytes:
    text = json.dumps(meta).encode()
    crc = zlib.crc32(text + payload)
    return modelfile.HEADER.pack(modelfile.MAGIC, version, 32, len(text), len(payload), crc, 0) + (
        text + payload
    )


def test_conv_models_round_trip_as_version_2(tmp_path):
    model = conv_model(0)
    data = modelfile.to_bytes(model)
    assert version_of(data) == 2
    assert modelfile.to_bytes(model) == data  # deterministic
    path = tmp_path / "conv.ctm"
    model.save(path)
    again = conntra.load(path)
    assert modelfile.to_bytes(again) == data
    assert again.input_shape == (12, 10, 3) and again.shapes() == model.shapes()
    for a, b in zip(model.layers, again.layers, strict=True):
        assert type(a) is type(b)
        for name in ("weights", "bias", "shift", "act_bits", "stride", "padding", "groups"):
            if hasattr(a, name):
                assert np.array_equal(getattr(a, name), getattr(b, name)), name
    x = np.random.default_rng(0).integers(0, 256, (9, model.sizes[0])).astype(np.uint8)
    assert np.array_equal(again.logits(x, backend="numpy"), model.logits(x, backend="numpy"))
    assert np.array_equal(again.logits(x), model.logits(x, backend="numpy"))


def test_a_dense_model_stays_version_1_and_a_shaped_input_makes_it_version_2():
    dense = TernaryModel.random([12, 5, 3], InputQuant.pixels(12), seed=1, bias_range=9)
    data = modelfile.to_bytes(dense)
    assert version_of(data) == 1
    assert b'"kind":"ternary"' in data and b"shape" not in data
    shaped = TernaryModel(
        [Flatten(), *dense.layers], InputQuant.pixels(12, shape=(2, 2, 3)), dense.metadata
    )
    data2 = modelfile.to_bytes(shaped)
    assert version_of(data2) == 2
    meta = modelfile.read_header(data2)[2]
    assert meta["input"]["shape"] == [2, 2, 3]
    assert [d["kind"] for d in meta["layers"]] == ["flatten", "dense", "dense"]
    x = np.random.default_rng(1).integers(0, 256, (5, 12)).astype(np.uint8)
    assert np.array_equal(modelfile.from_bytes(data2).logits(x), dense.logits(x))
    # (1, 1, n) is the vector: stored without the key, as version 1
    flat = TernaryModel(dense.layers, InputQuant.pixels(12, shape=(1, 1, 12)), dense.metadata)
    assert modelfile.to_bytes(flat) == data


def test_a_trained_version_1_model_keeps_its_logits_and_bytes(mnist):
    """A CoNNTrA-trained MNIST model (784-32-16-10, 4-bit first hidden layer)
    written before layer kinds existed."""
    expected = json.loads((DATA / "v1_mnist_trained.json").read_text())
    data = (DATA / expected["file"]).read_bytes()
    assert version_of(data) == 1
    model = conntra.load(DATA / expected["file"])
    assert modelfile.to_bytes(model) == data
    x = mnist.x_test[:300]
    for backend in ("c", "numpy"):
        assert model.logits(x, backend=backend).tolist() == expected["logits"]
    errors = int((model.predict(x) != mnist.y_test[:300]).sum())
    assert errors == expected["errors_on_them"]


def base():
    data = modelfile.to_bytes(conv_model(1))
    m, _, meta = modelfile.read_header(data)
    return meta, data[32 + m :]


def edited(edit):
    meta, payload = base()
    edit(meta)
    return emit(meta, payload, 2)


def layer(i, key, value):
    def edit(meta):
        meta["layers"][i][key] = value

    return edit


def drop(i, key):
    def edit(meta):
        del meta["layers"][i][key]

    return edit


@pytest.mark.parametrize(
    "edit, message",
    [
        (layer(0, "kind", "conv3d"), r"layers\[0\].kind must be 'dense' or 'conv2d'"),
        (drop(0, "groups"), r"layers\[0\] is missing \['groups'\]"),
        (layer(1, "act_bits", 4), r"layers\[1\] has unknown keys \['act_bits'\]"),
        (layer(0, "kernel", [3]), r"kernel must be an array of 2 integers"),
        (layer(0, "kernel", [3.0, 3]), r"kernel\[0\] must be an integer"),
        (layer(0, "stride", [0, 1]), r"stride\[0\] must be 1\.\."),
        (layer(0, "padding", [3, 0, 0, 0]), r"padding exceeds the kernel"),
        (layer(0, "c_in", 4), r"c_in is 4 but it reads the tensor \(12, 10, 3\)"),
        (layer(2, "groups", 2), r"groups is 2"),
        (layer(2, "c_out", 4), r"groups is 8"),
        (layer(0, "shift", -1), r"layers\[0\].shift must be 0\.\.24"),
        (layer(0, "shift", True), r"shift must be an integer"),
        (layer(0, "act_bits", 3), r"act_bits must be 1, 2, 4 or 7"),
        (
            layer(0, "weight_bytes", 1),
            r"weight_bytes is 1, a conv2d layer of 8 filters 3x3x3 has 44",
        ),
        (layer(0, "weight_encoding", "t2"), r"weight_encoding must be 't3'"),
        (layer(1, "window", [13, 2]), r"the window 13x2 does not fit"),
        (layer(4, "extra", 1), r"layers\[4\] has unknown keys"),
        (layer(5, "n_in", 71), r"n_in is 71 but it reads the tensor \(1, 1, 72\)"),
        (lambda m: m["layers"].pop(4), r"a flatten goes before a dense layer"),
        (lambda m: m["layers"].pop(5), r"flatten layer; the last layer must be dense"),
        (lambda m: m["input"].update(shape=[12, 10]), r"shape must be an array of 3 integers"),
        (lambda m: m["input"].update(shape=[10, 12, 3]), r"c_in is 3|n_in is 72|does not"),
        (
            lambda m: m["input"].update(shape=[12, 10, 2]),
            r"input.shape \[12, 10, 2\] does not hold",
        ),
        # a float model may be version 2; a ternary record is not a float one
        (lambda m: m.update(model="float"), r"layers\[0\] has unknown keys \['shift'\]"),
        (layer(0, "weight_offset", 33), r"weight_offset is 33, expected 32"),
    ],
)
def test_version_2_records_are_checked(edit, message):
    with pytest.raises(CorruptModelError, match=message):
        modelfile.from_bytes(edited(edit))


def test_version_1_files_cannot_use_version_2_keys():
    meta, payload = base()
    dense = TernaryModel.random([12, 5, 3], InputQuant.pixels(12), seed=1)
    data = modelfile.to_bytes(dense)
    m, _, meta1 = modelfile.read_header(data)
    meta1["input"]["shape"] = [2, 2, 3]
    with pytest.raises(CorruptModelError, match=r"input has unknown keys \['shape'\]"):
        modelfile.from_bytes(emit(meta1, data[32 + m :], 1))
    with pytest.raises(CorruptModelError, match=r"input has unknown keys \['shape'\]"):
        modelfile.from_bytes(emit(meta, payload, 1))
    del meta["input"]["shape"]
    with pytest.raises(CorruptModelError, match="kind must be 'ternary'"):
        modelfile.from_bytes(emit(meta, payload, 1))


def test_payload_of_a_conv_layer_is_decoded_and_checked():
    meta, payload = base()
    bad = bytearray(payload)
    at = meta["layers"][0]["weight_offset"]
    bad[at] = 243  # not a T3 byte
    with pytest.raises(CorruptModelError, match="invalid model content"):
        modelfile.from_bytes(emit(meta, bytes(bad), 2))
