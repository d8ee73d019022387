"""Activation bits (docs/format.md 1.1, 1.3, 3.2, 3.4 step 12): hidden layers requantize
to 0 .. 2^a - 1 for a in {1, 2, 4, 7}, in the numpy reference, the C core, model files,
``conntra info``, the trainers' entry points and their errors."""

from __future__ import annotations

import json
import zlib

import numpy as np
import pytest

from conntra import InputQuant, TernaryDense, TernaryModel, modelfile, reference
from conntra.cli import main as cli_main
from conntra.cli import options
from conntra.datasets import Dataset, load
from conntra.errors import CorruptModelError, DTypeError, InputError, UsageError
from conntra.estimator import ConntraClassifier
from conntra.train import api
from conntra.train.coordinate import ConntraConfig

BITS = (1, 2, 4, 7)


def _model(act_bits, seed=3, sizes=(30, 17, 9, 4)):
    return TernaryModel.random(
        list(sizes), InputQuant.pixels(sizes[0]), seed=seed, shifts=[3, 1], act_bits=act_bits
    )


# ---- the contract in numpy and in C ------------------------------------------------


@pytest.mark.parametrize("bits", BITS)
def test_reference_requantize_clamps_at_2_pow_a_minus_1(bits):
    top = (1 << bits) - 1
    acc = np.arange(-40, 4 * 140, dtype=np.int64)
    got = reference.requantize(acc, 2, bits).astype(np.int64)
    want = np.clip((acc + 2) >> 2, 0, top)
    assert np.array_equal(got, want)
    # the documented examples: s = 2, a = 2: 600 -> 3; acc = 10 is the first to reach 3
    assert reference.requantize(np.array([1, 2, 5, 6, -2, 600, 9, 10]), 2, 2).tolist() == [
        0,
        1,
        1,
        2,
        0,
        min(3, top) if bits == 2 else 3,
        2,
        3,
    ]


@pytest.mark.parametrize("act_bits", [1, 2, 4, 7, [4, 1], [1, 7], [2, 4]])
def test_c_core_equals_numpy_reference(act_bits):
    model = _model(act_bits)
    rng = np.random.default_rng(1)
    for n in (1, 3, 4, 300):  # GEMV and GEMM paths
        x = rng.integers(0, 256, size=(n, 30)).astype(np.uint8)
        c, ref = model.logits(x), model.logits(x, backend="numpy")
        assert np.array_equal(c, ref)
    # the hidden activations really are bounded (and reach the top) for each layer
    xq = model.quantize(rng.integers(0, 256, size=(300, 30)).astype(np.uint8))
    a = xq
    for layer in model.layers[:-1]:
        a = reference.requantize(
            reference.dense_acc(a, layer.weights, layer.bias), layer.shift, layer.act_bits
        )
        top = (1 << layer.act_bits) - 1
        assert a.min() == 0 and a.max() <= top
        if layer is model.layers[0] and layer.act_bits < 7:
            assert a.max() == top  # the clamp is hit


def test_fewer_bits_change_the_logits():
    x = np.random.default_rng(0).integers(0, 256, size=(50, 30)).astype(np.uint8)
    logits = {b: _model(b).logits(x) for b in BITS}
    assert not np.array_equal(logits[7], logits[2])
    assert not np.array_equal(logits[2], logits[1])


def test_layer_act_bits_validation():
    w, b = np.zeros((2, 3), np.int8), np.zeros(2, np.int32)
    assert TernaryDense(w, b, 4).act_bits == 7  # the default: what models had before
    assert TernaryDense(w, b, 4, np.int64(2)).act_bits == 2
    assert TernaryDense(w, b, 4, 1).act_max == 1
    assert TernaryDense(w, b, -1).act_bits is None
    for bad in (0, 3, 5, 6, 8, -1):
        with pytest.raises(InputError, match="act_bits must be 1, 2, 4 or 7"):
            TernaryDense(w, b, 4, bad)
    for bad in (2.0, "2", True):
        with pytest.raises(DTypeError, match="act_bits must be an integer"):
            TernaryDense(w, b, 4, bad)
    with pytest.raises(InputError, match="output layer .* has no activation bits"):
        TernaryDense(w, b, -1, 7)
    with pytest.raises(InputError, match="act_bits has 1 values for 2 hidden layers"):
        _model([2])


# ---- model files -------------------------------------------------------------------


def _meta(data: bytes) -> dict:
    return modelfile.read_header(data)[2]


def _with_meta(data: bytes, meta: dict) -> bytes:
    m, _, _ = modelfile.read_header(data)
    text, payload = json.dumps(meta).encode(), data[32 + m :]
    head = modelfile.HEADER.pack(
        modelfile.MAGIC, 1, 32, len(text), len(payload), zlib.crc32(text + payload), 0
    )
    return head + text + payload


def test_7_bit_models_write_no_act_bits_key():
    data = modelfile.to_bytes(_model(7))
    assert b"act_bits" not in data
    assert data == modelfile.to_bytes(_model(None))


@pytest.mark.parametrize("act_bits", [1, 2, 4, [4, 1], [7, 2]])
def test_files_round_trip_act_bits(act_bits, tmp_path):
    model = _model(act_bits)
    path = tmp_path / "m.ctm"
    model.save(path)
    data = path.read_bytes()
    back = modelfile.load(path)
    assert [L.act_bits for L in back.layers] == [L.act_bits for L in model.layers]
    assert modelfile.to_bytes(back) == data
    layers = _meta(data)["layers"]
    for rec, layer in zip(layers, model.layers, strict=True):
        assert ("act_bits" in rec) == (layer.act_bits not in (None, 7))
    x = np.random.default_rng(2).integers(0, 256, size=(20, 30)).astype(np.uint8)
    assert np.array_equal(back.logits(x), model.logits(x))


def test_an_explicit_7_loads_as_7_and_resaves_without_the_key():
    data = modelfile.to_bytes(_model(7))
    meta = _meta(data)
    meta["layers"][0]["act_bits"] = 7
    back = modelfile.from_bytes(_with_meta(data, meta))
    assert back.layers[0].act_bits == 7 and modelfile.to_bytes(back) == data


@pytest.mark.parametrize(
    ("layer", "value", "message"),
    [
        (0, 3, r"layers\[0\]\.act_bits must be 1, 2, 4 or 7, got 3"),
        (0, 0, r"layers\[0\]\.act_bits must be 1\.\.7, got 0"),
        (1, 8, r"layers\[1\]\.act_bits must be 1\.\.7, got 8"),
        (0, 2.0, r"layers\[0\]\.act_bits must be an integer, got 2\.0"),
        (0, "2", r"layers\[0\]\.act_bits must be an integer"),
        (0, True, r"layers\[0\]\.act_bits must be an integer, got true"),
        (0, None, r"layers\[0\]\.act_bits must be an integer, got null"),
        (2, 2, r"layers\[2\] has act_bits, but the output layer has no activation bits"),
        (2, 7, r"layers\[2\] has act_bits, but the output layer"),
    ],
)
def test_reader_checks_act_bits(layer, value, message):
    data = modelfile.to_bytes(_model(4))
    meta = _meta(data)
    meta["layers"][layer]["act_bits"] = value
    with pytest.raises(CorruptModelError, match=message):
        modelfile.from_bytes(_with_meta(data, meta))


def test_reader_rejects_act_bits_on_float_layers():
    from conntra import FloatDense, FloatModel

    model = FloatModel(
        [FloatDense(np.ones((3, 4)), np.zeros(3)), FloatDense(np.ones((2, 3)), np.zeros(2))],
        InputQuant.pixels(4),
    )
    data = modelfile.to_bytes(model)
    meta = _meta(data)
    meta["layers"][0]["act_bits"] = 2
    with pytest.raises(CorruptModelError, match="a float layer has no activation bits"):
        modelfile.from_bytes(_with_meta(data, meta))


def test_info_shows_act_bits(tmp_path, capsys):
    path = tmp_path / "m.ctm"
    _model([2, 7]).save(path)
    assert cli_main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "shift 3, activations 2-bit" in out and "shift 1, activations 7-bit" in out
    assert cli_main(["info", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["layers"]
    assert [r["act_bits"] for r in rows] == [2, 7, None]


# ---- the trainers' entry points ------------------------------------------------------


def test_check_act_bits():
    assert api.check_act_bits(None, 2) == [7, 7]
    assert api.check_act_bits(2, 3) == [2, 2, 2]
    assert api.check_act_bits((4, np.int32(1)), 2) == [4, 1]
    assert api.check_act_bits(4, 0) == []
    for bad, message in [
        (3, "act_bits must be one of 1, 2, 4, 7, got 3"),
        ([2, 2], "act_bits has 2 values but the network has 1 hidden layers"),
        (True, "act_bits must be an integer or one per hidden layer"),
        ("2", "act_bits must be an integer or one per hidden layer"),
        ([2.0], "act_bits must be integers in"),
        (2.5, "act_bits must be an integer or one per hidden layer"),
    ]:
        with pytest.raises(InputError, match=message):
            api.check_act_bits(bad, 1)


def _iris():
    return load("iris")


@pytest.mark.parametrize("trainer", ["conntra", "qat"])
def test_api_train_gives_models_with_act_bits(trainer):
    cfg = ConntraConfig(init_epochs=0.5, rounds=1)
    epochs = 2 if trainer == "conntra" else 40  # QAT on Iris needs many short epochs
    r = api.train(_iris(), [8], trainer, epochs=epochs, seed=0, config=cfg, act_bits=2)
    model = r.model
    assert isinstance(model, TernaryModel)
    assert model.layers[0].act_bits == 2 and model.layers[-1].act_bits is None
    ds = _iris()
    assert model.error_rate(ds.x_test, ds.y_test) < 0.5  # it learned something
    xq = model.quantize(ds.x_test)
    assert np.array_equal(model.logits_quantized(xq), model.logits_quantized(xq, "numpy"))


def test_backprop_ignores_act_bits():
    r = api.train(_iris(), [8], "backprop", epochs=2, seed=0, act_bits=1)
    assert r.model.metadata["trainer"] == "backprop"


def test_api_train_rejects_bad_act_bits_before_reading_data():
    bad = Dataset(
        "user", np.zeros((1, 2)), np.zeros(1), np.zeros((0, 2)), np.zeros(0), 2, None, "tabular"
    )
    with pytest.raises(InputError, match="act_bits must be one of 1, 2, 4, 7, got 5"):
        api.train(bad, [4], "conntra", act_bits=5)
    with pytest.raises(InputError, match="act_bits has 2 values but the network has 1"):
        api.train(bad, [4], "qat", act_bits=[2, 2])


def test_estimator_act_bits():
    ds = _iris()
    clf = ConntraClassifier(hidden=8, epochs=2, act_bits=4, init="random").fit(
        ds.x_train, ds.y_train
    )
    assert clf.model_.layers[0].act_bits == 4
    assert clf.get_params()["act_bits"] == 4
    with pytest.raises(InputError, match="act_bits must be one of 1, 2, 4, 7, got 3"):
        ConntraClassifier(hidden=8, act_bits=3).fit(ds.x_train, ds.y_train)
    with pytest.raises(InputError, match="act_bits has 2 values"):
        ConntraClassifier(hidden=8, act_bits=(2, 2)).fit(ds.x_train, ds.y_train)


def test_cli_act_bits_option_parsing():
    assert options.act_bits("2") == [2]
    assert options.act_bits("4,2") == [4, 2]
    assert options.check_act_bits([2], 3) == [2, 2, 2]
    assert options.check_act_bits(None, 3) is None
    with pytest.raises(UsageError, match="--act-bits has 2 values but the network has 1"):
        options.check_act_bits([4, 2], 1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--act-bits", "3"], "argument --act-bits: activation bits must be 1, 2, 4 or 7"),
        (["--act-bits", "two"], "argument --act-bits: expected 1, 2, 4 or 7"),
        (["--act-bits", "2,"], "argument --act-bits: expected 1, 2, 4 or 7"),
    ],
)
def test_cli_train_rejects_bad_act_bits(argv, message, tmp_path, capsys):
    rc = cli_main(["train", "--dataset", "iris", "--out", str(tmp_path / "m.ctm"), *argv])
    assert rc == 2 and message in capsys.readouterr().err


def test_cli_train_act_bits_count_is_checked(tmp_path, capsys):
    rc = cli_main(
        ["train", "--dataset", "iris", "--out", str(tmp_path / "m.ctm"), "--act-bits", "2,4"]
    )
    assert rc == 2
    assert "--act-bits has 2 values but the network has 1 hidden layer" in capsys.readouterr().err


def test_cli_train_writes_act_bits(tmp_path, capsys):
    out = tmp_path / "m.ctm"
    argv = ["train", "--dataset", "iris", "--hidden", "6,5", "--act-bits", "4,1", "--quiet"]
    rc = cli_main([*argv, "--epochs", "2", "--init", "random", "--out", str(out)])
    assert rc == 0
    model = modelfile.load(out)
    assert [L.act_bits for L in model.layers] == [4, 1, None]


def test_cli_compare_act_bits_count_is_checked(tmp_path, capsys):
    argv = ["compare", "--datasets", "iris", "--trainers", "qat", "--act-bits", "2,2"]
    rc = cli_main([*argv, "--quiet", "--models-dir", str(tmp_path)])
    assert rc == 2
    assert "--act-bits has 2 values but the network has 1 hidden layer" in capsys.readouterr().err


def test_cli_compare_act_bits(tmp_path, capsys):
    argv = ["compare", "--datasets", "iris", "--trainers", "qat", "--act-bits", "1"]
    argv += ["--seeds", "0", "--iris-splits", "1", "--iris-epochs", "2"]
    rc = cli_main([*argv, "--quiet", "--json", "--models-dir", str(tmp_path)])
    assert rc == 0
    model = modelfile.load(tmp_path / "iris-qat-s0-split0.ctm")
    assert model.layers[0].act_bits == 1


def test_qat_fake_quantizes_low_bit_layers_only():
    from conntra.train import floatnet

    rng = np.random.default_rng(0)
    params = floatnet.init_float([20, 16, 12, 3], rng)
    x = rng.random((64, 20)).astype(np.float32)
    plain = floatnet.forward(params, x, ternary=True)
    seven = floatnet.forward(params, x, ternary=True, act_bits=[7, 7])
    assert np.array_equal(plain[0], seven[0])  # 7 bits: the float ReLU, as before
    masks: list = []
    _, hs, _ = floatnet.forward(params, x, ternary=True, act_bits=[2, 1], masks=masks)
    for h, bits in zip(hs[1:], (2, 1), strict=True):
        levels = np.unique(h)
        assert levels.min() == 0 and len(levels) <= 1 << bits  # one step, 2^a levels
    assert all(m.dtype == bool for m in masks) and len(masks) == 2
    g = floatnet.grads(params, x, np.zeros(64, np.int64), ternary=True, act_bits=[2, 1])
    assert all(np.isfinite(gw).all() for gw, _ in g)
    y = np.argmax(plain[0], 1)
    model, _ = floatnet.to_integer(
        params, InputQuant.pixels(20), (x * 127).astype(np.int8), y, act_bits=[2, 1]
    )
    assert [L.act_bits for L in model.layers] == [2, 1, None]
