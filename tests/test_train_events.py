"""What the trainers tell an observer (conntra.events), and Ctrl-C during training."""

from __future__ import annotations

import math
import os

import pytest
from _train_helpers import InterruptAt
from _train_resume_child import synthetic

from conntra import datasets
from conntra.events import Observer
from conntra.train import api, checkpoint, coordinate
from conntra.train.coordinate import ConntraConfig


class Recorder(Observer):
    def __init__(self):
        self.events = []

    def phase_start(self, name, total=None, unit="it"):
        self.events.append(("start", name, total, unit))

    def phase_advance(self, n=1, **info):
        self.events.append(("advance", n, info))

    def phase_end(self):
        self.events.append(("end",))

    def epoch_end(self, record):
        self.events.append(("epoch_end", record))

    def stopped_early(self, epoch, best_epoch, patience):
        self.events.append(("stopped", epoch, best_epoch, patience))


def phases(events):
    """[(name, total, unit, [advance events], ended)] in order."""
    out = []
    for e in events:
        if e[0] == "start":
            out.append([e[1], e[2], e[3], [], False])
        elif e[0] == "advance":
            out[-1][3].append(e)
        elif e[0] == "end":
            out[-1][4] = True
    return out


@pytest.fixture(scope="module")
def iris():
    return datasets.load("iris")


def test_conntra_reports_hybrid_init_batches_epochs_and_the_early_stop(iris, monkeypatch):
    # one batch per epoch would give at least 16 epochs of patience; the events
    # are the subject here, not the tiny-set rule
    monkeypatch.setattr(coordinate, "MIN_PATIENCE_BATCHES", 1)
    rec = Recorder()
    cfg = ConntraConfig(init="hybrid", init_epochs=1, exhaustive=True, patience=1)
    r = api.train(iris, [4], "conntra", epochs=20, seed=1, config=cfg, val_fraction=0, observer=rec)
    ph = phases(rec.events)
    name, total, unit, advances, ended = ph[0]
    assert (name, unit, ended) == ("hybrid init", "epoch", True)
    assert total >= 1 and sum(a[1] for a in advances) == total
    epochs = ph[1:]
    assert len(epochs) == len(r.history) < 20
    for k, (name, total, unit, advances, ended) in enumerate(epochs):
        assert (name, total, unit, ended) == (f"epoch {k + 1}/20", 1, "batch", True)
        assert len(advances) == 1 and advances[0][1] == 1
        assert set(advances[0][2]) == {"loss"} and math.isfinite(advances[0][2]["loss"])
    records = [e[1] for e in rec.events if e[0] == "epoch_end"]
    assert records == r.history
    for k, h in enumerate(r.history):
        assert h["epoch"] == k + 1 and h["epochs"] == 20
        assert {"train_error", "val_error", "improved", "seconds"} <= set(h)
        assert math.isnan(h["val_error"])  # no validation split
    # patience 1: the first epoch without a strict gain ends the run
    assert all(h["improved"] for h in r.history[:-1]) and not r.history[-1]["improved"]
    stops = [e for e in rec.events if e[0] == "stopped"]
    assert stops == [("stopped", len(r.history), len(r.history), 1)]  # ties keep the later
    assert rec.events[-1] == stops[0]


def test_a_run_that_uses_every_epoch_reports_no_early_stop(iris):
    rec = Recorder()
    cfg = ConntraConfig(init="random", exhaustive=True, patience=20)
    r = api.train(iris, [4], "conntra", epochs=3, seed=0, config=cfg, observer=rec)
    assert len(r.history) == 3
    assert not [e for e in rec.events if e[0] == "stopped"]
    assert [e[1] for e in rec.events if e[0] == "start"] == ["epoch 1/3", "epoch 2/3", "epoch 3/3"]


@pytest.mark.parametrize("trainer", ["backprop", "qat"])
def test_baselines_report_each_batch_and_each_epoch(iris, trainer):
    rec = Recorder()
    r = api.train(iris, [6], trainer, epochs=3, seed=0, observer=rec)
    batch, _ = api.float_defaults(len(api.prepare(iris, [6]).y))
    n_batches = -(-len(api.prepare(iris, [6]).y) // batch)
    ph = phases(rec.events)
    assert [(p[0], p[1], p[2], p[4]) for p in ph] == [
        (f"epoch {e}/3", n_batches, "batch", True) for e in (1, 2, 3)
    ]
    assert all(sum(a[1] for a in p[3]) == n_batches for p in ph)
    records = [e[1] for e in rec.events if e[0] == "epoch_end"]
    assert records == r.history and [h["epoch"] for h in records] == [1, 2, 3]
    assert all(h["epochs"] == 3 and isinstance(h["improved"], bool) for h in records)
    assert records[0]["improved"]


def test_observer_must_be_an_observer(iris):
    from conntra.errors import InputError

    with pytest.raises(InputError, match="observer must be a conntra.events.Observer"):
        api.train(iris, [4], "conntra", observer=lambda *a: None)


# -- Ctrl-C --------------------------------------------------------------------

CHILD_CFG = dict(batch=256, budget=256, rounds=2, init="random", checkpoint_every=2, patience=10)


def _run(folder, observer=None, resume=False):
    return api.train(
        synthetic(),
        [16],
        "conntra",
        epochs=4,
        seed=11,
        config=ConntraConfig(**CHILD_CFG),
        checkpoint_dir=folder,
        resume=resume,
        observer=observer,
    )


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """(model bytes, accepted changes per epoch) of the run without a stop."""
    folder = tmp_path_factory.mktemp("whole")
    path = folder / "whole.ctm"
    r = _run(folder / "ck")
    r.model.save(path)
    return path.read_bytes(), [h["accepted"] for h in r.history]


def test_keyboard_interrupt_leaves_the_last_checkpoint_and_resume_matches(tmp_path, uninterrupted):
    folder = tmp_path / "ck"
    with pytest.raises(KeyboardInterrupt):
        _run(folder, InterruptAt(7))
    assert sorted(os.listdir(folder)) == [checkpoint.NAME]
    _, _, state = checkpoint.load(folder)
    assert (state["epoch"], state["batch"]) == (1, 2)  # the checkpoint after batch 6
    out = tmp_path / "resumed.ctm"
    r = _run(folder, resume=True)
    r.model.save(out)
    assert out.read_bytes() == uninterrupted[0]
    # the epoch cut in two counts the changes of both of its parts
    assert [h["accepted"] for h in r.history] == uninterrupted[1]


def test_keyboard_interrupt_inside_a_checkpoint_write(tmp_path, monkeypatch, uninterrupted):
    from conntra import fileio

    folder = tmp_path / "ck"
    calls = {"n": 0}
    real = os.fsync

    def fsync(fd):
        calls["n"] += 1
        if calls["n"] == 3:  # the third checkpoint, half written
            raise KeyboardInterrupt
        real(fd)

    monkeypatch.setattr(fileio.os, "fsync", fsync)
    with pytest.raises(KeyboardInterrupt):
        _run(folder)
    monkeypatch.setattr(fileio.os, "fsync", real)
    assert sorted(os.listdir(folder)) == [checkpoint.NAME]  # no temporary left
    _, _, state = checkpoint.load(folder)  # the second checkpoint, whole
    assert (state["epoch"], state["batch"]) == (1, 0)
    out = tmp_path / "resumed.ctm"
    _run(folder, resume=True).model.save(out)
    assert out.read_bytes() == uninterrupted[0]
