"""The CoNNTrA trainer end to end: determinism, SIGKILL resume, Iris, baselines."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from _train_helpers import same_params

from conntra import datasets, load
from conntra.errors import CheckpointError, InputError
from conntra.model import FloatModel, TernaryModel
from conntra.train import api, checkpoint, coordinate, floatnet
from conntra.train.coordinate import ConntraConfig
from conntra.train.ctrainer import CTrainer

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


@pytest.fixture(scope="module")
def child_whole(tmp_path_factory):
    """The child's model from one uninterrupted run."""
    folder = tmp_path_factory.mktemp("child")
    whole = folder / "whole.ctm"
    subprocess.run(
        CHILD + [str(folder / "ck_whole"), str(whole), "0", "0"],
        check=True,
        env=CHILD_ENV,
        timeout=120,
    )
    return whole.read_bytes()


CHILD_ENV = dict(os.environ, OPENBLAS_NUM_THREADS="1")


def _stop_child_mid_run(folder, out, sig):
    proc = subprocess.Popen(
        CHILD + [str(folder), str(out), "0", "1"], env=CHILD_ENV, stderr=subprocess.PIPE
    )
    deadline = time.monotonic() + 60
    while not (folder / checkpoint.NAME).exists():
        assert proc.poll() is None, "the run ended before its first checkpoint"
        assert time.monotonic() < deadline
        time.sleep(0.02)
    time.sleep(0.4)  # a few more batches, possibly mid-write of the next checkpoint
    os.kill(proc.pid, sig)
    _, err = proc.communicate(timeout=30)
    return proc.returncode, err.decode()


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGINT])
def test_a_stopped_run_resumes_to_the_uninterrupted_model(tmp_path, child_whole, sig):
    folder = tmp_path / "ck"
    code, err = _stop_child_mid_run(folder, tmp_path / "never.ctm", sig)
    if sig == signal.SIGINT:  # Ctrl-C: KeyboardInterrupt propagates out of train()
        assert "KeyboardInterrupt" in err and code != 0
    else:
        assert code == -signal.SIGKILL
    assert not (tmp_path / "never.ctm").exists()
    if sig == signal.SIGINT:  # an orderly stop leaves no temporary behind
        assert sorted(os.listdir(folder)) == [checkpoint.NAME]
    _, _, state = checkpoint.load(folder)
    assert not state["done"]
    resumed = tmp_path / "resumed.ctm"
    subprocess.run(
        CHILD + [str(folder), str(resumed), "1", "0"], check=True, env=CHILD_ENV, timeout=120
    )
    assert resumed.read_bytes() == child_whole
    # a temporary a kill left mid-write is gone after the resumed run's writes
    assert sorted(os.listdir(folder)) == [checkpoint.NAME]


def test_resume_refuses_a_checkpoint_of_another_run(iris, tmp_path):
    cfg = ConntraConfig(init="random")
    api.train(iris, [4], "conntra", epochs=1, seed=0, config=cfg, checkpoint_dir=tmp_path)
    with pytest.raises(CheckpointError, match="seed: checkpoint 0, this run 1"):
        api.train(
            iris,
            [4],
            "conntra",
            epochs=2,
            seed=1,
            config=ConntraConfig(init="random"),
            checkpoint_dir=tmp_path,
            resume=True,
        )
    (tmp_path / checkpoint.NAME).write_bytes(b"not a zip")
    with pytest.raises(CheckpointError, match="cannot be read"):
        api.train(
            iris,
            [4],
            "conntra",
            epochs=2,
            seed=0,
            config=ConntraConfig(init="random"),
            checkpoint_dir=tmp_path,
            resume=True,
        )


def test_iris_conntra_reaches_a_sane_error(iris):
    r = api.train(iris, [8], "conntra", epochs=30, seed=0, config=ConntraConfig())
    assert isinstance(r.model, TernaryModel)
    assert r.model.error_rate(iris.x_test, iris.y_test) <= 0.15
    assert min(h["train_error"] for h in r.history) <= 0.1
    # the saved model evaluates bit-exactly the same in C and numpy
    xq = r.model.quantize(iris.x_test)
    assert np.array_equal(r.model.logits_quantized(xq), r.model.logits_quantized(xq, "numpy"))


def _params_sha256(model) -> str:
    h = hashlib.sha256()
    for layer in model.layers:
        h.update(layer.weights.astype(np.int8).tobytes())
        h.update(layer.bias.astype("<i4").tobytes())
        h.update(np.int32(layer.shift).astype("<i4").tobytes())
    return h.hexdigest()


def test_exhaustive_mode_learns_from_random_init(iris):
    cfg = ConntraConfig(exhaustive=True, init="random", rounds=3, patience=20)
    r = api.train(iris, [4], "conntra", epochs=5, seed=1, config=cfg)
    first, last = r.history[0]["train_error"], r.history[-1]["train_error"]
    assert last < first and last <= 0.2
    # exhaustive checks from a random init run no BLAS and no libm (the C core's own
    # exp and log), so the parameters are the same bits everywhere: these are the
    # ones the trainer produced before its parameters moved to one store in C
    assert [h["accepted"] for h in r.history] == [[35, 19], [16, 12], [6, 8], [6, 9], [6, 9]]
    assert (
        _params_sha256(r.model)
        == "d49040116a014252301c80f9c3909d96433acfd654e56d6f65f011184215af8d"
    )


def test_one_exhaustive_round_strictly_lowers_the_batch_loss(iris):
    split = api.prepare(iris, [4], seed=1)
    params, temp = api.random_init(split, seed=1)
    tr = CTrainer(split.sizes, len(split.y))
    tr.set_params(params)
    y = split.y.astype(np.int32)
    tr.set_batch(split.xq, y, temp)
    before = tr.loss()
    accepted = coordinate.batch_round(ConntraConfig(exhaustive=True), tr, temp, 0)
    assert accepted.tolist() == [16, 8]
    assert tr.loss() < before
    # every accepted change strictly lowered the loss, so it cannot have returned
    assert not same_params(tr.get_params(), params)


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


def test_float_passes_over_codes_equal_passes_over_a_float_copy():
    """The hybrid init trains on batches converted from the int8 codes
    (rows=, to_float=) instead of a permuted float copy of the data: the same
    parameters to the bit."""
    rng0 = np.random.default_rng(3)
    xq = rng0.integers(0, 128, (300, 20)).astype(np.int8)
    y = rng0.integers(0, 4, 300)
    rows = rng0.permutation(300)[:250]

    def run(gathered: bool):
        rng = np.random.default_rng(9)
        params = floatnet.init_float([20, 12, 4], rng)
        to_float = lambda a: a.astype(np.float32) / np.float32(127)  # noqa: E731
        if gathered:
            floatnet.train_epochs(
                params, to_float(xq)[rows], y[rows], epochs=2, batch=32, lr=1e-2, rng=rng,
                ternary=True,
            )  # fmt: skip
        else:
            floatnet.train_epochs(
                params, xq, y, rows=rows, to_float=to_float, epochs=2, batch=32, lr=1e-2,
                rng=rng, ternary=True,
            )  # fmt: skip
        return params

    for (wa, ba), (wb, bb) in zip(run(True), run(False), strict=True):
        assert np.array_equal(wa, wb) and np.array_equal(ba, bb)


def test_bad_training_arguments(iris):
    with pytest.raises(InputError, match="unknown trainer 'sgd'"):
        api.train(iris, [4], "sgd")
    with pytest.raises(InputError, match="epochs must be >= 1, got 0"):
        api.train(iris, [4], "conntra", epochs=0)
    with pytest.raises(InputError, match="unknown budget split 'layerwise'"):
        api.train(iris, [4], "conntra", config=ConntraConfig(split="layerwise"))
    with pytest.raises(InputError, match=r"hidden layer sizes must be integers in 1\.\.1048576"):
        api.train(iris, [0], "conntra")
    with pytest.raises(InputError, match="max_train must be at least 6"):
        api.train(iris, [4], "conntra", max_train=3)
    with pytest.raises(InputError, match=r"val_fraction must be in \[0, 1\), got 1.0"):
        api.train(iris, [4], "conntra", val_fraction=1.0)


def test_torch_trainer_is_optional(iris, monkeypatch):
    from conntra.train import torch_backprop

    if torch_backprop.available():
        r = api.train(iris, [8], "torch", epochs=30, seed=0)
        # the comparison's stopping rule: at most 30 epochs, the best by validation kept
        assert isinstance(r.model, FloatModel) and 1 <= len(r.history) <= 30
        assert r.model.error_rate(iris.x_test, iris.y_test) <= 0.2
    monkeypatch.setattr(torch_backprop, "available", lambda: False)
    with pytest.raises(InputError, match="trainer 'torch' needs PyTorch"):
        api.train(iris, [8], "torch", epochs=1)


def test_batch_round_works_on_the_parameters_held_in_c(iris):
    """batch_round keeps no copy of its own: an oracle trainer that ranks the
    same way, steps the ranked list as one candidate array, and replays the
    accepted rows with the numpy reference sees the same acceptances and ends at
    the parameters C holds."""
    from conntra.train import surrogate
    from conntra.train.reference import apply_candidate

    split = api.prepare(iris, [6], seed=0)
    params, temp = api.random_init(split, seed=0)
    cfg = ConntraConfig(init="random", exhaustive=False, budget=64, rounds=1, screen=0.0)
    y = split.y.astype(np.int32)
    tr, oracle = CTrainer(split.sizes, len(split.y)), CTrainer(split.sizes, len(split.y))
    tr.set_params(params)
    oracle.set_params(params)
    mirror = [(w.copy(), b.copy(), s) for w, b, s in params]
    total = 0
    for r in range(6):
        tr.set_batch(split.xq, y, temp)
        oracle.set_batch(split.xq, y, temp)
        got = coordinate.batch_round(cfg, tr, temp, r)
        coordinate._rank_layers(cfg, oracle, [0, 1], temp)
        cands = coordinate._ranked_candidates(cfg, oracle, [0, 1])
        cands = np.concatenate(
            [cands, surrogate.shift_candidates([s for _, _, s in mirror]).astype(np.int32)]
        )
        accepted, _ = oracle.step(cands)
        for c in cands[accepted]:
            mirror = apply_candidate(mirror, c)
        assert got.tolist() == np.bincount(cands[accepted][:, 0], minlength=2).tolist()
        total += int(got.sum())
    assert total > 0
    assert same_params(tr.get_params(), mirror)


def test_screening_checks_the_first_samples_then_the_whole_batch(iris):
    """A screened round equals a replay on two trainers: one holding only the
    batch's first ``screen x batch`` samples (where a weight or bias candidate
    must lower the loss) and one holding the whole batch (where it must pass
    the threshold); shifts skip the screen. Same acceptances, same parameters."""
    from conntra.errors import ConntraError
    from conntra.train import surrogate

    split = api.prepare(iris, [6], seed=0)
    params, temp = api.random_init(split, seed=0)
    cfg = ConntraConfig(init="random", exhaustive=False, budget=64, rounds=1, screen=0.25)
    y = split.y.astype(np.int32)
    n = len(y)
    k = coordinate.screen_samples(cfg, n)
    assert 0 < k < n
    tr, full, part = (CTrainer(split.sizes, n) for _ in range(3))
    for t in (tr, full, part):
        t.set_params(params)
    total, screened_out = 0, 0
    for r in range(6):
        tr.set_batch(split.xq, y, temp)
        full.set_batch(split.xq, y, temp)
        part.set_batch(np.ascontiguousarray(split.xq[:k]), y[:k], temp)
        got = coordinate.batch_round(cfg, tr, temp, r)
        coordinate._rank_layers(cfg, full, [0, 1], temp)
        cands = coordinate._ranked_candidates(cfg, full, [0, 1])
        shifts = [full.shift(i) for i in range(2)]
        cands = np.concatenate([cands, surrogate.shift_candidates(shifts).astype(np.int32)])
        want = np.zeros(2, np.int64)
        for c in cands:
            try:
                d_full = full.delta(c)
            except ConntraError:  # out of range by now (a bias after earlier steps)
                continue
            if c[1] != 2 and not part.delta(c) < 0.0:  # kind 2: a shift, never screened
                screened_out += 1
                continue
            if d_full < -1e-12 * (abs(full.loss()) + 1.0):
                full.apply(c)
                part.apply(c)
                want[c[0]] += 1
        assert got.tolist() == want.tolist()
        total += int(got.sum())
    assert total > 0 and screened_out > 0
    assert same_params(tr.get_params(), full.get_params())


def test_new_schedule_settings_are_checked_and_mean_what_they_say():
    assert coordinate.screen_samples(ConntraConfig(screen=0.0), 8192) == 0
    assert coordinate.screen_samples(ConntraConfig(screen=0.125), 8192) == 1024
    assert coordinate.screen_samples(ConntraConfig(screen=1.0), 8192) == 0  # the whole: off
    assert coordinate.screen_samples(ConntraConfig(screen=0.01), 20) == 0  # under one sample
    cfg = ConntraConfig(batch=8192, batch_start=2048)
    assert [coordinate.batch_of_epoch(cfg, e, 54000) for e in range(4)] == [2048, 4096, 8192, 8192]
    assert coordinate.batch_of_epoch(cfg, 99, 3000) == 3000
    assert coordinate.batch_of_epoch(ConntraConfig(batch=512), 0, 54000) == 512
    bad_settings = (
        dict(screen=-0.1),
        dict(screen=1.5),
        dict(round_stop=2.0),
        dict(batch_start=-1),
        dict(rank_share=1.5),
    )
    for bad in bad_settings:
        with pytest.raises(InputError, match=next(iter(bad))):
            ConntraConfig(**bad).check()


THREADS_CHILD = """
import hashlib, sys
import numpy as np
from conntra import datasets
from conntra.train import api
from conntra.train.coordinate import ConntraConfig
cfg = ConntraConfig(init="random", exhaustive=False, budget=96, bias_checks=4, rounds=2,
                    screen=0.25)
r = api.train(datasets.load("iris"), [40, 24], "conntra", epochs=4, seed=1, config=cfg)
h = hashlib.sha256()
for layer in r.model.layers:
    h.update(np.ascontiguousarray(layer.weights).tobytes())
    h.update(np.ascontiguousarray(layer.bias).tobytes())
    h.update(str(layer.shift).encode())
print(h.hexdigest(), sum(sum(e["accepted"]) for e in r.history))
"""


def test_same_model_bytes_for_one_and_two_threads():
    """CONNTRA_NUM_THREADS splits the ranking's blocks between threads and
    checks candidates ahead on them (screening included); the model is the
    same bytes either way."""
    out = []
    for threads in ("1", "2"):
        env = dict(os.environ, CONNTRA_NUM_THREADS=threads, OPENBLAS_NUM_THREADS="1")
        p = subprocess.run(
            [sys.executable, "-c", THREADS_CHILD],
            capture_output=True,
            text=True,
            env=env,
            cwd=ROOT / "tests",
            check=False,
        )
        assert p.returncode == 0, p.stderr
        out.append(p.stdout.split())
    assert out[0] == out[1]
    assert int(out[0][1]) > 0
