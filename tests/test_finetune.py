"""Fine-tuning a saved ternary model (``train --from``, ``init_model=``):
CoNNTrA starts from its integer parameters exactly, QAT from shadow weights
that ternarise to its codes, resume is exact and refuses another start, and
every setting that contradicts the model is refused by name."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import re

import numpy as np
import pytest
from _train_helpers import InterruptAt

from conntra import datasets, load
from conntra.cli import main
from conntra.datasets import Dataset
from conntra.errors import (
    CheckpointError,
    CorruptModelError,
    InputError,
    ModelNotFoundError,
    ShapeError,
)
from conntra.events import Observer
from conntra.model import TernaryModel
from conntra.modelfile import to_bytes
from conntra.quant import InputQuant
from conntra.train import api, finetune, floatnet
from conntra.train.coordinate import ConntraConfig
from conntra.train.surrogate import batch_loss

NO_CHANGES = {"budget": 0, "bias_checks": 0, "shifts": False, "exhaustive": False, "rounds": 1}


def blobs(seed, n=1200, features=48, classes=4, moved=0):
    """Image-like synthetic data: class centres plus noise; ``moved`` shifts
    every pixel value up (a brighter sensor), the new data of these tests."""
    rng = np.random.default_rng(seed)
    centres = np.random.default_rng(5).integers(0, 200, (classes, features))
    y = rng.integers(0, classes, n)
    x = np.clip(centres[y] + moved + rng.normal(0, 60, (n, features)), 0, 255).astype(np.uint8)
    cut = n * 5 // 6
    return Dataset("blobs", x[:cut], y[:cut], x[cut:], y[cut:], classes, None, "image")


@pytest.fixture(scope="module")
def iris():
    return datasets.load("iris")


@pytest.fixture(scope="module")
def deployed():
    """A small deployed model: CoNNTrA on the original blobs, 2-bit activations."""
    cfg = ConntraConfig(batch=256, budget=256, rounds=2, init="random")
    return api.train(blobs(1), [16], "conntra", epochs=3, seed=0, config=cfg, act_bits=2).model


@pytest.fixture(scope="module")
def iris_model(iris):
    return api.train(iris, [8], "conntra", epochs=3, config=ConntraConfig(init="random")).model


def same_model(a, b) -> bool:
    return a.input_quant == b.input_quant and all(
        np.array_equal(p.weights, q.weights)
        and np.array_equal(p.bias, q.bias)
        and p.shift == q.shift
        and p.act_bits == q.act_bits
        for p, q in zip(a.layers, b.layers, strict=True)
    )


def sha256(path) -> str:
    return "sha256:" + hashlib.sha256(path.read_bytes()).hexdigest()


def run_cli(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


# --- CoNNTrA starts from the model, exactly -------------------------------------------


def test_a_run_without_changes_returns_the_model_bit_for_bit(deployed):
    new = blobs(2, moved=30)
    cfg = ConntraConfig(batch=256, **NO_CHANGES)
    r = api.train(new, None, "conntra", epochs=1, seed=3, config=cfg, init_model=deployed)
    assert same_model(r.model, deployed)
    assert r.history[0]["accepted"] == [0, 0]
    assert r.model.metadata["init"] == "model"
    assert r.model.metadata["finetuned_from"] == finetune.model_hash(deployed)


def test_fit_gets_the_integer_parameters_and_the_logits_spread_and_no_float_state(
    deployed, monkeypatch
):
    seen = {}
    fit = api.coordinate.fit

    def spy(xq, y, xq_val, y_val, sizes, input_quant, params, temperature, cfg, **kw):
        seen.update(params=[(w.copy(), b.copy(), s) for w, b, s in params], temp=temperature)
        seen.update(iq=input_quant, bits=kw["act_bits"], sizes=sizes, xq=xq)
        return fit(xq, y, xq_val, y_val, sizes, input_quant, params, temperature, cfg, **kw)

    def no_float(*args, **kwargs):
        raise AssertionError("a fine-tuning CoNNTrA run built float state")

    monkeypatch.setattr(api.coordinate, "fit", spy)
    for name in ("init_float", "train_epochs", "to_integer"):
        monkeypatch.setattr(floatnet, name, no_float)
    monkeypatch.setattr(api, "hybrid_init", no_float)
    cfg = ConntraConfig(batch=256, budget=64, rounds=1)  # init "hybrid" is not used
    api.train(blobs(2, moved=30), None, "conntra", epochs=1, config=cfg, init_model=deployed)
    for (w, b, s), layer in zip(seen["params"], deployed.layers, strict=True):
        assert np.array_equal(w, layer.weights) and np.array_equal(b, layer.bias)
        assert s == layer.shift
    assert seen["iq"] == deployed.input_quant and seen["bits"] == [2]
    assert seen["sizes"] == deployed.sizes
    spread = deployed.logits_quantized(np.ascontiguousarray(seen["xq"][:1024])).std()
    assert seen["temp"] == max(1.0, float(spread))


class FirstLoss(Observer):
    def __init__(self):
        self.losses = []

    def phase_advance(self, n=1, **info):
        if "loss" in info:
            self.losses.append(info["loss"])


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_fine_tuning_never_makes_the_first_batch_loss_worse(deployed, seed):
    new = blobs(10 + seed, moved=40)
    cfg = ConntraConfig(batch=300, budget=128, rounds=2)
    split = api.prepare(new, [16], seed=seed, input_quant=deployed.input_quant)
    batch = np.random.default_rng([seed, 0]).permutation(len(split.y))[: cfg.batch]
    temp = finetune.logits_spread(deployed, split.xq)
    logits = deployed.logits_quantized(np.ascontiguousarray(split.xq[batch])).T
    before = batch_loss(logits, split.y[batch], temp) / cfg.batch
    obs = FirstLoss()
    api.train(
        new, None, "conntra", epochs=1, seed=seed, config=cfg, split=split, observer=obs,
        init_model=deployed,
    )  # fmt: skip
    # the temperature search keeps the start's if no other is better; every
    # accepted change lowers the batch loss strictly
    assert obs.losses[0] <= before * (1 + 1e-12)
    assert obs.losses[0] < before  # and on shifted data something is accepted


# --- QAT, the baseline -----------------------------------------------------------------


def test_qat_starts_from_shadow_weights_that_ternarise_to_the_codes(deployed, monkeypatch):
    seen = {}
    run = api._float_run

    def spy(split, **kw):
        seen["params"] = [[w.copy(), b.copy()] for w, b in kw["init_params"]]
        seen["split"] = split
        return run(split, **kw)

    monkeypatch.setattr(api, "_float_run", spy)
    r = api.train(blobs(2, moved=30), None, "qat", epochs=2, init_model=deployed, lr=1e-3)
    temp = r.config["temperature"]
    for (w, _), layer in zip(seen["params"], deployed.layers, strict=True):
        codes, alpha = floatnet.ternarize(w)
        assert np.array_equal(codes, layer.weights)
        want = 127.0 / temp if layer.shift < 0 else 2.0**-layer.shift
        assert alpha == pytest.approx(want, rel=1e-6)
    # converted back with the model's shifts, it is the model again
    split = seen["split"]
    shifts = [L.shift for L in deployed.layers[:-1]]
    back, back_temp = floatnet.to_integer(
        seen["params"], deployed.input_quant, split.xq, split.y, act_bits=[2], shifts=shifts
    )
    assert same_model(back, deployed)
    assert back_temp == pytest.approx(temp, rel=1e-6)
    assert r.model.metadata["finetuned_from"] == finetune.model_hash(deployed)
    assert r.model.layers[0].act_bits == 2 and r.model.sizes == deployed.sizes


def test_the_shadow_weights_keep_the_codes_of_any_model():
    iq = InputQuant.pixels(30)
    for seed, p_zero in ((0, 0.0), (1, 0.5), (2, 0.95), (3, 1.0)):
        model = TernaryModel.random([30, 20, 7, 5], iq, seed=seed, p_zero=p_zero, bias_range=500)
        for (w, _), layer in zip(finetune.shadow_params(model, 37.5), model.layers, strict=True):
            assert np.array_equal(floatnet.ternarize(w)[0], layer.weights)


def test_fine_tuning_memory_has_no_float_state_for_conntra(deployed):
    new = blobs(2, moved=30)
    cfg = ConntraConfig(batch=256, budget=64, rounds=1)
    c = api.train(new, None, "conntra", epochs=1, config=cfg, init_model=deployed).memory
    q = api.train(new, None, "qat", epochs=1, init_model=deployed).memory
    assert c is not None and q is not None
    assert c.phase == "coordinate descent"  # no hybrid init phase
    # int8 weights (and the start model's copy) against float32 shadows and codes;
    # on a network this small the ranking state is larger than Adam's moments
    assert c.parameters < q.parameters / 2


# --- the command line ----------------------------------------------------------------


def test_cli_from_round_trip(capsys, tmp_path, iris):
    first, second, third = tmp_path / "a.ctm", tmp_path / "b.ctm", tmp_path / "c.ctm"
    code, _, _ = run_cli(
        capsys, "train", "--dataset", "iris", "--epochs", "3", "--init", "random",
        "--out", first, "--quiet",
    )  # fmt: skip
    assert code == 0
    code, out, _ = run_cli(
        capsys, "train", "--dataset", "iris", "--from", first, "--epochs", "3", "--seed", "1",
        "--out", second, "--json",
    )  # fmt: skip
    assert code == 0
    d = json.loads(out)
    assert d["init_model"] == str(first) and d["finetuned_from"] == sha256(first)
    model, start = load(second), load(first)
    assert model.sizes == start.sizes and model.input_quant == start.input_quant
    assert model.metadata["finetuned_from"] == sha256(first)
    assert d["test_error"] == model.error_rate(iris.x_test, iris.y_test)
    code, out, _ = run_cli(
        capsys, "train", "--dataset", "iris", "--from", first, "--trainer", "qat",
        "--epochs", "3", "--hidden", "8", "--act-bits", "7", "--out", third,
    )  # fmt: skip
    assert code == 0 and f"fine-tuned from {first}" in out
    assert load(third).metadata["finetuned_from"] == sha256(first)
    assert "--from MODEL.ctm" in run_cli(capsys, "train", "--help")[1]


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--hidden", "9"], r"--hidden \[9\] disagrees .* \[8\]"),
        (["--hidden", "8,4"], r"--hidden \[8, 4\] disagrees .* \[8\]"),
        (["--act-bits", "2"], r"--act-bits \[2\] disagrees .* \[7\]"),
        (["--trainer", "backprop"], "trainer backprop cannot start from a ternary model"),
        (["--trainer", "torch"], "trainer torch cannot start from a ternary model"),
        (["--init", "hybrid"], "--init has no effect with --from"),
    ],
)
def test_cli_options_that_contradict_the_model_are_usage_errors(
    capsys, tmp_path, iris_model, extra, message
):
    path = tmp_path / "m.ctm"
    iris_model.save(path)
    code, _, err = run_cli(capsys, "train", "--dataset", "iris", "--from", path, *extra)
    assert code == 2
    assert re.search(message, err), err


def test_cli_missing_corrupt_or_mismatched_models_fail(capsys, tmp_path, deployed, iris_model):
    missing = tmp_path / "none.ctm"
    code, _, err = run_cli(capsys, "train", "--dataset", "iris", "--from", missing)
    assert code == 1 and "no such model file" in err
    bad = tmp_path / "bad.ctm"
    data = bytearray(to_bytes(iris_model))
    data[-3] ^= 0xFF
    bad.write_bytes(bytes(data))
    code, _, err = run_cli(capsys, "train", "--dataset", "iris", "--from", bad)
    assert code == 1 and "checksum mismatch" in err
    other = tmp_path / "blobs.ctm"
    deployed.save(other)
    code, _, err = run_cli(capsys, "train", "--dataset", "iris", "--from", other)
    assert code == 1
    assert "takes 48 features and has 4 classes" in err and "has 4 features and 3" in err


# --- the library's errors ------------------------------------------------------------


def test_data_that_does_not_fit_the_model_is_a_shape_error(deployed):
    wide = blobs(2, features=50)
    with pytest.raises(ShapeError, match="takes 48 features .* has 50 features"):
        api.train(wide, None, "conntra", init_model=deployed)
    more = blobs(2, classes=5)
    with pytest.raises(ShapeError, match="has 4 classes; .* 5 classes"):
        api.train(more, None, "qat", init_model=deployed)


def test_settings_that_contradict_the_model_are_input_errors(deployed):
    new = blobs(2)
    with pytest.raises(InputError, match=r"hidden \[32\] disagrees .* \[16\]"):
        api.train(new, [32], "conntra", init_model=deployed)
    with pytest.raises(InputError, match=r"act_bits \[4\] disagrees .* \[2\]"):
        api.train(new, [16], "conntra", init_model=deployed, act_bits=4)
    for trainer in ("backprop", "torch"):
        with pytest.raises(InputError, match=f"trainer '{trainer}' cannot start"):
            api.train(new, None, trainer, init_model=deployed)
    other = api.prepare(new, [16])  # quantized by its own shift, not the model's
    other = dataclasses.replace(other, input_quant=InputQuant.pixels(48, shift=2))
    with pytest.raises(InputError, match="another input quantization"):
        api.train(new, None, "conntra", split=other, init_model=deployed)


def test_a_model_that_is_not_ternary_is_refused(tmp_path, iris):
    float_model = api.train(iris, [4], "backprop", epochs=1).model
    with pytest.raises(InputError, match="is a FloatModel"):
        api.train(iris, None, "conntra", init_model=float_model)
    path = tmp_path / "float.ctm"
    float_model.save(path)
    with pytest.raises(InputError, match=f"{path} is a FloatModel"):
        api.train(iris, None, "qat", init_model=path)
    with pytest.raises(InputError, match="is a dict"):
        api.train(iris, None, "conntra", init_model={})


def test_missing_and_corrupt_files_raise_the_model_file_errors(tmp_path, iris, iris_model):
    with pytest.raises(ModelNotFoundError):
        api.train(iris, None, "conntra", init_model=tmp_path / "none.ctm")
    path = tmp_path / "m.ctm"
    data = bytearray(to_bytes(iris_model))
    data[-1] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(CorruptModelError):
        api.train(iris, None, "conntra", init_model=path)


def test_a_path_and_the_loaded_model_give_the_same_hash(tmp_path, iris, iris_model):
    path = tmp_path / "m.ctm"
    iris_model.save(path)
    cfg = ConntraConfig(**NO_CHANGES)
    by_path = api.train(iris, None, "conntra", epochs=1, config=cfg, init_model=path)
    by_object = api.train(iris, [8], "conntra", epochs=1, config=cfg, init_model=load(path))
    assert by_path.model.metadata["finetuned_from"] == sha256(path)
    assert to_bytes(by_path.model) == to_bytes(by_object.model)


# --- checkpoints ---------------------------------------------------------------------


def test_resume_from_a_fine_tuning_checkpoint_gives_the_same_bytes(tmp_path, deployed):
    new = blobs(3, moved=30)
    cfg = ConntraConfig(batch=250, budget=128, rounds=2, checkpoint_every=1, patience=10)

    def go(folder=None, **kw):
        return api.train(
            new, None, "conntra", epochs=3, seed=4, config=cfg, init_model=deployed,
            checkpoint_dir=folder, **kw,
        )  # fmt: skip

    whole = to_bytes(go().model)
    for stop in (2, 5):  # mid-epoch (3 batches per epoch) and after an epoch's first
        folder = tmp_path / f"stop{stop}"
        with pytest.raises(KeyboardInterrupt):
            go(folder, observer=InterruptAt(stop))
        assert to_bytes(go(folder, resume=True).model) == whole


def test_resume_refuses_a_checkpoint_of_another_start(tmp_path, deployed):
    new = blobs(3, moved=30)
    cfg = ConntraConfig(batch=250, budget=64, rounds=1)
    other = api.train(new, None, "conntra", epochs=1, config=cfg, init_model=deployed).model
    api.train(
        new, None, "conntra", epochs=1, config=cfg, init_model=deployed, checkpoint_dir=tmp_path
    )
    mine, theirs = finetune.model_hash(deployed), finetune.model_hash(other)
    with pytest.raises(
        CheckpointError, match=f"init_model: checkpoint '{mine}', this run '{theirs}'"
    ):
        api.train(
            new, None, "conntra", epochs=2, config=cfg, init_model=other,
            checkpoint_dir=tmp_path, resume=True,
        )  # fmt: skip
    with pytest.raises(CheckpointError, match="this run none .not fine-tuned from a model."):
        api.train(
            new, [16], "conntra", epochs=2, config=cfg, act_bits=2,
            checkpoint_dir=tmp_path, resume=True,
        )  # fmt: skip


def test_cli_resume_with_from_refuses_another_model(capsys, tmp_path, iris_model):
    a, b = tmp_path / "a.ctm", tmp_path / "b.ctm"
    iris_model.save(a)
    common = ["train", "--dataset", "iris", "--epochs", "2", "--checkpoint-dir", tmp_path / "ck"]
    assert run_cli(capsys, *common, "--from", a, "--out", b, "--quiet")[0] == 0
    code, _, err = run_cli(capsys, *common, "--from", b, "--resume", "--quiet")
    # the library's init_model is --from on the command line
    assert code == 1 and f"--from: checkpoint '{sha256(a)}', this run '{sha256(b)}'" in err
