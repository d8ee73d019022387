"""Arguments and settings are checked once, at the edge: InputError naming the
parameter, never a traceback from deep inside a trainer."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conntra import datasets
from conntra.errors import InputError, LabelError
from conntra.train import api
from conntra.train.coordinate import ConntraConfig


@pytest.fixture(scope="module")
def iris():
    return datasets.load("iris")


@pytest.mark.parametrize(
    "setting,value,message",
    [
        ("init_epochs", float("nan"), "init_epochs must be a finite number >= 0.0, got nan"),
        ("init_epochs", float("inf"), "init_epochs must be a finite number >= 0.0, got inf"),
        ("init_epochs", -1.0, "init_epochs must be a finite number >= 0.0, got -1.0"),
        ("init_samples", -1, "init_samples must be an integer >= 0, got -1"),
        ("init_samples", 2.5, "init_samples must be an integer >= 0, got 2.5"),
        ("patience", 0, "patience must be an integer >= 1, got 0"),
        ("patience", -1, "patience must be an integer >= 1, got -1"),
        ("checkpoint_every", -5, "checkpoint_every must be an integer >= 0, got -5"),
        ("batch", 0, "batch must be an integer >= 1, got 0"),
        ("batch", 2.5, "batch must be an integer >= 1, got 2.5"),
        ("budget", -1, "budget must be an integer >= 0, got -1"),
        ("rounds", True, "rounds must be an integer >= 1, got True"),
        ("bias_checks", -2, "bias_checks must be an integer >= 0, got -2"),
        ("min_gain", float("inf"), "min_gain must be a finite number >= 0.0, got inf"),
        ("min_gain", float("nan"), "min_gain must be a finite number >= 0.0, got nan"),
        ("leak", 1.5, r"leak must be a finite number in \[0.0, 1.0\], got 1.5"),
        ("shifts", 1, "shifts must be True or False, got 1"),
        ("exhaustive", "yes", "exhaustive must be None, True or False, got 'yes'"),
        ("mode", "greedy", "unknown step mode 'greedy'"),
        ("init", "zeros", "unknown initialisation 'zeros'"),
    ],
)
def test_a_bad_setting_is_named(iris, setting, value, message):
    cfg = dataclasses.replace(ConntraConfig(), **{setting: value})
    with pytest.raises(InputError, match=message):
        cfg.check()
    with pytest.raises(InputError, match=message):  # train() checks before any work
        api.train(iris, [4], "conntra", epochs=1, config=cfg)


@pytest.mark.parametrize(
    "kwargs,message",
    [
        (dict(seed=-1), "seed must be an integer >= 0, got -1"),
        (dict(seed=1.5), "seed must be an integer >= 0, got 1.5"),
        (dict(epochs=2.5), "epochs must be >= 1, got 2.5"),
        (dict(epochs=-3), "epochs must be >= 1, got -3"),
        (dict(resume=True), "resume needs checkpoint_dir"),
        (dict(config="fast"), "config must be a ConntraConfig"),
        (dict(max_train=7.5), "max_train must be at least 6"),
    ],
)
@pytest.mark.parametrize("trainer", ["conntra", "backprop"])
def test_bad_arguments_are_named(iris, kwargs, message, trainer):
    with pytest.raises(InputError, match=message):
        api.train(iris, [4], trainer, **kwargs)


@pytest.mark.parametrize("hidden", [[0], [1 << 20 | 1], [4.5], [True], "abc", None, 0, True])
def test_hidden_widths_are_1_to_max_width(iris, hidden):
    with pytest.raises(InputError, match=r"hidden layer sizes must be integers in 1\.\.1048576"):
        api.train(iris, hidden, "conntra")


def test_one_int_is_one_hidden_layer(iris):
    assert api.prepare(iris, 8, seed=0).sizes == api.prepare(iris, [8], seed=0).sizes == [4, 8, 3]


def test_seed_is_checked_by_prepare_too(iris):
    with pytest.raises(InputError, match="seed must be an integer >= 0, got -1"):
        api.prepare(iris, [4], seed=-1)


def _with_labels(iris, y):
    return dataclasses.replace(iris, y_train=y)


def test_labels_are_checked_like_the_models(iris):
    y = iris.y_train
    with pytest.raises(
        LabelError, match="dataset.y_train must hold integer class labels, got dtype bool"
    ):
        api.train(_with_labels(iris, y == 1), [4], "conntra")
    bad = y.astype(np.float64)
    bad[5] = np.nan
    with pytest.raises(
        LabelError, match="dataset.y_train must hold integer class labels, got nan at index 5"
    ):
        api.train(_with_labels(iris, bad), [4], "backprop")
    bad = y.copy()
    bad[2] = 3
    with pytest.raises(LabelError, match=r"dataset.y_train must be in 0\.\.2"):
        api.train(_with_labels(iris, bad), [4], "conntra")
    # integral floats are labels, as for the model's error_rate
    r = api.train(_with_labels(iris, y.astype(np.float64)), [4], "backprop", epochs=1)
    assert len(r.history) == 1


def test_non_finite_features_are_named(iris):
    x = iris.x_train.copy()
    x[3, 1] = np.inf
    with pytest.raises(InputError, match=r"dataset.x_train must contain only finite values"):
        api.train(dataclasses.replace(iris, x_train=x), [4], "conntra")


def test_baseline_hyperparameters_are_checked():
    with pytest.raises(InputError, match="batch must be an integer >= 1, got 0"):
        api.float_defaults(100, batch=0)
    with pytest.raises(InputError, match="lr must be a finite number > 0, got nan"):
        api.float_defaults(100, lr=float("nan"))
    assert api.float_defaults(100) == (12, 1e-2)
