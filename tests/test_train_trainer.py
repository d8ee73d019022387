"""The CoNNTrA trainer end to end: determinism, SIGKILL resume, Iris, baselines."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from conntra import datasets, load
from conntra.errors import CheckpointError, InputError
from conntra.model import FloatModel, TernaryModel
from conntra.train import api, checkpoint, floatnet
from conntra.train.coordinate import ConntraConfig

ROOT = Path(__file__).resolve().parents[1]
CHILD = [sys.executable, str(ROOT / "tests" / "_train_resume_child.py")]


@pytest.fixture(scope="module")
def iris():
    return datasets.load("iris")


def test_same_seed_same_model_bytes(iris, tmp_path):
    cfg = dict(init="hybrid", init_epochs=5, patience=5)
    paths = []
    for k, seed in enumerate((3, 3, 4)):
        r = api.train(iris, [6], "conntra", epochs=6, seed=seed, config=ConntraConfig(**cfg))
        paths.append(tmp_path / f"m{k}.ctm")
        r.model.save(paths[-1])
    assert paths[0].read_bytes() == paths[1].read_bytes()
    assert paths[0].read_bytes() != paths[2].read_bytes()


def test_sigkill_then_resume_gives_the_uninterrupted_model(tmp_path):
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1")
    whole = tmp_path / "whole.ctm"
    subprocess.run(CHILD + [str(tmp_path / "ck_whole"), str(whole), "0", "0"], check=True,
                   env=env, timeout=120)
    folder = tmp_path / "ck"
    proc = subprocess.Popen(CHILD + [str(folder), str(tmp_path / "never.ctm"), "0", "1"],
                            env=env)
    deadline = time.monotonic() + 60
    while not (folder / checkpoint.NAME).exists():
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.4)  # a few more batches, possibly mid-write of the next checkpoint
    os.kill(proc.pid, signal.SIGKILL)
    assert proc.wait(timeout=30) == -signal.SIGKILL
    assert not (tmp_path / "never.ctm").exists()
    _, _, state = checkpoint.load(folder)
    assert not state["done"]
    resumed = tmp_path / "resumed.ctm"
    subprocess.run(CHILD + [str(folder), str(resumed), "1", "0"], check=True, env=env,
                   timeout=120)
    assert resumed.read_bytes() == whole.read_bytes()


def test_resume_refuses_a_checkpoint_of_another_run(iris, tmp_path):
    cfg = ConntraConfig(init="random")
    api.train(iris, [4], "conntra", epochs=1, seed=0, config=cfg, checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match="another seed"):
        api.train(iris, [4], "conntra", epochs=2, seed=1, config=ConntraConfig(init="random"),
                  checkpoint_dir=tmp_path, resume=True)
    (tmp_path / checkpoint.NAME).write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="cannot be read"):
        api.train(iris, [4], "conntra", epochs=2, seed=0, config=ConntraConfig(init="random"),
                  checkpoint_dir=tmp_path, resume=True)


def test_iris_conntra_reaches_a_sane_error(iris):
    r = api.train(iris, [8], "conntra", epochs=30, seed=0, config=ConntraConfig())
    assert isinstance(r.model, TernaryModel)
    assert r.model.error_rate(iris.x_test, iris.y_test) <= 0.15
    assert min(h["train_error"] for h in r.history) <= 0.1
    # the saved model evaluates bit-exactly the same in C and numpy
    xq = r.model.quantize(iris.x_test)
    assert np.array_equal(r.model.logits_quantized(xq), r.model.logits_quantized(xq, "numpy"))


def test_exhaustive_mode_learns_from_random_init(iris):
    cfg = ConntraConfig(exhaustive=True, init="random", rounds=3, patience=20)
    r = api.train(iris, [4], "conntra", epochs=8, seed=1, config=cfg)
    first, last = r.history[0]["train_error"], min(h["train_error"] for h in r.history)
    assert last <= 0.2 and last <= first


def test_random_init_with_gradient_candidates_learns(iris):
    cfg = ConntraConfig(init="random", patience=20, rounds=4, exhaustive=False)
    r = api.train(iris, [8], "conntra", epochs=15, seed=2, config=cfg)
    assert min(h["train_error"] for h in r.history) <= 0.3


@pytest.mark.parametrize("trainer,kind", [("backprop", FloatModel), ("qat", TernaryModel)])
def test_baselines_produce_models_that_round_trip(iris, tmp_path, trainer, kind):
    r = api.train(iris, [8], trainer, epochs=60, seed=0)
    assert isinstance(r.model, kind)
    err = r.model.error_rate(iris.x_test, iris.y_test)
    assert err <= 0.35
    path = tmp_path / f"{trainer}.ctm"
    r.model.save(path)
    again = load(path)
    assert type(again) is kind
    assert np.array_equal(again.predict(iris.x_test), r.model.predict(iris.x_test))


def test_qat_conversion_matches_its_float_simulation():
    rng = np.random.default_rng(0)
    from conntra.quant import InputQuant

    params = floatnet.init_float([20, 16, 3], rng)
    xq = rng.integers(0, 128, (400, 20)).astype(np.int8)
    x = xq.astype(np.float32) / 127
    y = np.argmax(floatnet.forward(params, x, ternary=True)[0], 1)  # teacher labels
    model, temp = floatnet.to_integer(params, InputQuant.pixels(20), xq, y)
    pred = np.argmax(model.logits_quantized(xq), 1)
    assert temp > 0 and np.mean(pred == y) >= 0.9


def test_bad_training_arguments(iris):
    with pytest.raises(InputError, match="unknown trainer 'sgd'"):
        api.train(iris, [4], "sgd")
    with pytest.raises(InputError, match="epochs must be >= 1, got 0"):
        api.train(iris, [4], "conntra", epochs=0)
    with pytest.raises(InputError, match="unknown budget split 'layerwise'"):
        api.train(iris, [4], "conntra", config=ConntraConfig(split="layerwise"))
    with pytest.raises(InputError, match="hidden layer sizes must be positive"):
        api.train(iris, [0], "conntra")
    with pytest.raises(InputError, match="max_train must be at least 6"):
        api.train(iris, [4], "conntra", max_train=3)
    with pytest.raises(InputError, match=r"val_fraction must be in \[0, 1\), got 1.0"):
        api.train(iris, [4], "conntra", val_fraction=1.0)


def test_torch_trainer_is_optional(iris, monkeypatch):
    from conntra.train import torch_backprop

    if torch_backprop.available():
        r = api.train(iris, [8], "torch", epochs=30, seed=0)
        assert isinstance(r.model, FloatModel) and len(r.history) == 30
    monkeypatch.setattr(torch_backprop, "available", lambda: False)
    with pytest.raises(InputError, match="trainer 'torch' needs PyTorch"):
        api.train(iris, [8], "torch", epochs=1)


def test_python_mirror_of_the_parameters_stays_equal_to_c(iris):
    from conntra.train import coordinate
    from conntra.train.ctrainer import CTrainer

    split = api.prepare(iris, [6], seed=0)
    params, temp = api.random_init(split, seed=0)
    params = [(w.copy(), b.copy(), s) for w, b, s in params]
    cfg = ConntraConfig(init="random", exhaustive=False, budget=64, rounds=1)
    tr = CTrainer(split.sizes, len(split.y))
    tr.set_params(params)
    wf = [w.astype(np.float32) for w, _, _ in params]
    y = split.y.astype(np.int32)
    for r in range(6):
        tr.set_batch(split.xq, y, temp)
        coordinate.batch_round(cfg, tr, params, wf, y, temp, r, None)
    for (w, b, s), (cw, cb, cs) in zip(params, tr.get_params()):
        assert np.array_equal(w, cw) and np.array_equal(b, cb) and s == cs
