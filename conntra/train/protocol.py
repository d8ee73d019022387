"""The comparison protocol of ``conntra compare`` (docs/comparison.md).

- Stopping: every trainer stops after PATIENCE epochs without a strict gain
  in validation error (at least 16 batches, ``coordinate.patience_for``), or
  at MAX_EPOCHS, and keeps its best validation epoch.
- Tuning: GRIDS holds the same number of configurations per trainer; each runs
  once on TUNING_SEED and the lowest validation error wins (ties: the earlier
  configuration of the grid). Tuning runs on data without a test set, so no
  test error can be computed before the choice is final.
- Defaults: DEFAULTS, the winners of ``conntra compare --tune`` on this
  protocol (docs/comparison.md lists the runs).
- Seeds and splits: results over SEEDS; Iris over IRIS_SPLITS stratified
  120/30 splits for each seed (``datasets.load_iris(seed=split)``), since one
  test sample is 3.3 points there.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from conntra import datasets
from conntra.errors import InputError
from conntra.train import api
from conntra.train.coordinate import MIN_PATIENCE_BATCHES, ConntraConfig

SEEDS = (0, 1, 2)
TUNING_SEED = 100  # not one of the reported seeds
PATIENCE = 10
MIN_PATIENCE_BATCHES = MIN_PATIENCE_BATCHES  # compare records it with the protocol
# the datasets compare runs: the built-in ones and CIFAR-10 by name (an image folder)
DATASETS = ("iris", "mnist", "cifar10")
MAX_EPOCHS = {"iris": 300, "mnist": 60, "cifar10": 30}
VAL_FRACTION = {"iris": 0.2, "mnist": 0.1, "cifar10": 0.1}  # Iris: 24 validation samples, not 12
IRIS_SPLITS = 10
FLOAT_TRAINERS = ("backprop", "qat", "torch")

# Four configurations per trainer and dataset: learning rate x batch for the
# float trainers, batch x gradient rounds per batch for CoNNTrA.
_FLOAT_GRID = {
    "iris": [{"lr": lr, "batch": b} for lr in (3e-3, 3e-2) for b in (8, 32)],
    "mnist": [{"lr": lr, "batch": b} for lr in (1e-3, 3e-3) for b in (128, 512)],
    "cifar10": [{"lr": lr, "batch": b} for lr in (1e-3, 3e-3) for b in (128, 512)],
}
_CONNTRA_GRID = {
    "iris": [{"batch": b, "rounds": r} for b in (32, 8192) for r in (2, 4)],
    "mnist": [{"batch": b, "rounds": r} for b in (4096, 8192) for r in (2, 4)],
    "cifar10": [{"batch": b, "rounds": r} for b in (2048, 4096) for r in (1, 2)],
}
# CoNNTrA on an architecture: CHAIN_CONNTRA (below) with the same four batch x
# rounds variations
CHAIN_GRID = [{"batch": b, "rounds": r} for b in (2048, 4096) for r in (1, 2)]
GRIDS = {
    (name, trainer): (_CONNTRA_GRID if trainer == "conntra" else _FLOAT_GRID)[name]
    for name in DATASETS
    for trainer in api.TRAINERS
}

# CoNNTrA on an architecture (any dataset): a check of a first-layer
# convolution weight costs about 100 dense ones (docs/trainer.md), so the
# budget is split by weight count (a first convolution gets few checks), the
# ranking reads a quarter of the batch, and the budget and rounds are smaller.
# Chosen by cost on this machine, not tuned.
CHAIN_CONNTRA = {"batch": 4096, "rounds": 2, "rank_share": 0.25, "budget": 2048, "split": "params"}

# The winners of `conntra compare --tune` (docs/comparison.md has the runs),
# MNIST on the full training set.
DEFAULTS: dict[tuple[str, str], dict] = {
    ("iris", "conntra"): {"batch": 32, "rounds": 2},
    ("iris", "backprop"): {"lr": 3e-2, "batch": 8},
    ("iris", "qat"): {"lr": 3e-2, "batch": 8},
    ("iris", "torch"): {"lr": 3e-2, "batch": 8},
    ("mnist", "conntra"): {"batch": 4096, "rounds": 4},
    ("mnist", "backprop"): {"lr": 1e-3, "batch": 128},
    ("mnist", "qat"): {"lr": 1e-3, "batch": 512},
    ("mnist", "torch"): {"lr": 3e-3, "batch": 512},
    # CIFAR-10: not tuned on it yet. The float trainers take MNIST's winners,
    # CoNNTrA the settings of every architecture (CHAIN_CONNTRA).
    ("cifar10", "conntra"): dict(CHAIN_CONNTRA),
    ("cifar10", "backprop"): {"lr": 1e-3, "batch": 128},
    ("cifar10", "qat"): {"lr": 1e-3, "batch": 512},
    ("cifar10", "torch"): {"lr": 3e-3, "batch": 512},
}


def grid_for(name: str, trainer: str, setting) -> list:
    """The configurations --tune tries: GRIDS, or for CoNNTrA on an
    architecture CHAIN_CONNTRA with CHAIN_GRID's variations."""
    if trainer == "conntra" and setting.arch is not None:
        return [{**CHAIN_CONNTRA, **c} for c in CHAIN_GRID]
    return GRIDS[(name, trainer)]


def default_config(name: str, trainer: str, setting) -> dict:
    """The configuration a run takes without --tune: DEFAULTS, or for CoNNTrA
    on an architecture CHAIN_CONNTRA."""
    if trainer == "conntra" and setting.arch is not None:
        return dict(CHAIN_CONNTRA)
    return DEFAULTS[(name, trainer)]


@dataclasses.dataclass
class Setting:
    """What a run needs besides its trainer and configuration."""

    hidden: list
    max_epochs: int
    val_fraction: float
    patience: int = PATIENCE
    max_train: int | None = None
    budget: int | None = None  # CoNNTrA's checks per round (None: its default)
    act_bits: int | list | None = None  # hidden activation bits (None: 7; docs/format.md)
    arch: str | None = None  # an architecture (conntra.arch) instead of hidden sizes


def runs(name: str, seeds, iris_splits: int = IRIS_SPLITS) -> list:
    """(seed, split) pairs of the reported runs: Iris repeats each seed over
    ``iris_splits`` splits; MNIST has its one published split (None)."""
    if name == "iris":
        return [(s, k) for s in seeds for k in range(iris_splits)]
    return [(s, None) for s in seeds]


def dataset_for(name: str, loaded, split):
    """The dataset of one run: Iris split ``split`` (a stratified 120/30 split
    of the 150 rows), else the loaded dataset."""
    return datasets.load_iris(seed=split) if name == "iris" and split is not None else loaded


def without_test(dataset):
    """The dataset with an empty test set: what tuning trains on, so that no
    test error can be computed before the choice is final."""
    return dataclasses.replace(dataset, x_test=dataset.x_test[:0], y_test=dataset.y_test[:0])


def trainer_kwargs(trainer: str, config: dict, setting: Setting) -> dict:
    """api.train's keywords for ``config`` (one grid entry)."""
    if trainer == "conntra":
        cfg = ConntraConfig(patience=setting.patience)
        for key, value in config.items():
            setattr(cfg, key, value)
        if setting.budget is not None:
            cfg.budget = setting.budget
        return {"config": cfg, "patience": setting.patience}
    return {"lr": config["lr"], "float_batch": config["batch"], "patience": setting.patience}


def measure_test_error(model, dataset) -> float:
    """The one place compare computes a test error."""
    return float(model.error_rate(dataset.x_test, dataset.y_test))


def train_run(dataset, trainer, config, seed, setting, *, observer=None, record_test=True):
    """One run under the protocol: (TrainResult, Split). With ``record_test``
    each epoch's record also holds that epoch's model's test error (for the
    time-to-accuracy curves; nothing chooses by it)."""
    split = api.prepare(
        dataset,
        setting.hidden,
        val_fraction=setting.val_fraction,
        seed=seed,
        max_train=setting.max_train,
        arch=setting.arch,
    )
    monitor = None
    if record_test and len(dataset.y_test):

        def monitor(model):
            return {"test_error": measure_test_error(model, dataset)}

    result = api.train(
        dataset,
        setting.hidden,
        trainer,
        epochs=setting.max_epochs,
        seed=seed,
        split=split,
        observer=observer,
        monitor=monitor,
        act_bits=setting.act_bits,
        **trainer_kwargs(trainer, config, setting),
    )
    return result, split


def tune(dataset, trainer, setting, *, observer_for=None) -> dict:
    """Runs every configuration of the grid once on TUNING_SEED, on the
    training data only (validation split held out of it; no test set), and
    returns {"grid", "results", "chosen"}: the lowest validation error wins."""
    if dataset.name == "iris":
        dataset = dataset_for("iris", dataset, 0)
    blind = without_test(dataset)
    results = []
    for config in grid_for(dataset.name, trainer, setting):
        observer = observer_for(config) if observer_for else None
        result, split = train_run(blind, trainer, config, TUNING_SEED, setting, observer=observer)
        if observer is not None:
            observer.close()
        best = min(
            (r["val_error"] for r in result.history if not math.isnan(r["val_error"])),
            default=math.nan,
        )
        results.append(
            {
                "config": dict(config),
                "val_error": best,
                "epochs": len(result.history),
                "seconds": round(result.seconds, 3),
            }
        )
    ok = [r for r in results if not math.isnan(r["val_error"])]
    if not ok:
        raise InputError(f"tuning {trainer} on {dataset.name} needs a validation split")
    chosen = min(ok, key=lambda r: r["val_error"])  # min keeps the first of ties
    return {
        "tuning_seed": TUNING_SEED,
        "grid": [dict(c) for c in grid_for(dataset.name, trainer, setting)],
        "results": results,
        "chosen": dict(chosen["config"]),
    }


def summary(values) -> dict:
    """mean, sample standard deviation (None for one value), min, max, n."""
    v = np.asarray([x for x in values if x is not None], np.float64)
    if v.size == 0:
        return {"mean": None, "std": None, "min": None, "max": None, "n": 0}
    return {
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else None,
        "min": float(v.min()),
        "max": float(v.max()),
        "n": int(v.size),
    }
