"""Progress on stderr, early stopping, Ctrl-C with a resume hint, the split
named beside each error, and compare checking its inputs before training."""

from __future__ import annotations

import io
import json
import math
import shlex

import pytest

from conntra.cli import main
from conntra.cli import progress as progress_mod
from conntra.cli.progress import TqdmObserver


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def record(epoch, train, val, improved=True):
    return {
        "epoch": epoch,
        "epochs": 3,
        "train_error": train,
        "val_error": val,
        "improved": improved,
        "seconds": 0.5,
    }


def feed(obs):
    obs.phase_start("loading mnist", total=4, unit="file")
    obs.phase_advance(4)
    obs.phase_start("hybrid init", total=10, unit="step")
    for _ in range(10):
        obs.phase_advance(1, loss=0.5)
    obs.phase_end()
    for e in (1, 2):
        obs.phase_start(f"epoch {e}/3", total=5, unit="batch")
        for _ in range(5):
            obs.phase_advance(1, loss=0.25)
        obs.epoch_end(record(e, 0.1 / e, 0.2 / e))
    obs.stopped_early(2, 1, 1)
    obs.close()


def test_observer_without_a_terminal_prints_one_line_per_epoch():
    stream = io.StringIO()
    feed(TqdmObserver(stream=stream, tty=False))
    lines = stream.getvalue().splitlines()
    assert lines[0].startswith("loading mnist: 4/4 file in")
    assert lines[1].startswith("hybrid init: 10/10 step in") and "loss 0.5" in lines[1]
    epochs = [ln for ln in lines if ln.startswith("epoch ")]
    assert len(epochs) == 2 and "\r" not in stream.getvalue()
    assert epochs[0].startswith("epoch 1/3: training error 10.00 %, validation error 20.00 %")
    assert "5/5 batch" in epochs[0] and "loss 0.25" in epochs[0]
    assert lines[-1] == (
        "stopped early after epoch 2: the validation error has not improved "
        "for 1 epochs; keeping the model of epoch 1"
    )


def test_observer_on_a_terminal_draws_bars_with_eta_and_rate():
    stream = io.StringIO()
    feed(TqdmObserver(stream=stream, tty=True))
    text = stream.getvalue()
    assert "\r" in text and "hybrid init" in text and "epoch 2/3" in text
    assert "<" in text and "batch/s" in text  # tqdm's elapsed<remaining and throughput
    assert "epoch 1/3: training error 10.00 %" in text and "keeping the model of epoch 1" in text


def test_observer_quiet_prints_nothing_and_nan_is_na():
    stream = io.StringIO()
    feed(TqdmObserver(stream=stream, tty=False, enabled=False))
    assert stream.getvalue() == ""
    assert progress_mod.epoch_line(record(1, 0.5, math.nan)).endswith(
        "validation error n/a (best so far), 0.5 s"
    )


def test_train_prints_each_epoch_as_it_ends(capsys, tmp_path):
    code, out, err = run(
        capsys,
        "train",
        "--dataset",
        "iris",
        "--epochs",
        "3",
        "--init",
        "random",
        "--out",
        str(tmp_path / "m.ctm"),
    )
    assert code == 0
    assert [ln.split(":")[0] for ln in err.splitlines() if ln.startswith("epoch ")] == [
        "epoch 1/3",
        "epoch 2/3",
        "epoch 3/3",
    ]
    assert "training error" in err and "validation error" in err
    assert "(30 samples of the iris test set)" in out
    assert "(108 samples of the iris training set trained on)" in out


def test_eval_names_the_split_of_each_error(capsys, tmp_path):
    path = tmp_path / "m.ctm"
    assert (
        run(capsys, "train", "--dataset", "iris", "--epochs", "2", "--quiet", "--out", str(path))[0]
        == 0
    )
    code, out, _ = run(capsys, "eval", str(path), "--dataset", "iris")
    assert code == 0
    assert "(30 samples of the iris test set)" in out and "test error" in out
    assert "(120 samples of the iris training set" in out
    code, out, _ = run(capsys, "eval", str(path), "--dataset", "iris", "--json")
    assert json.loads(out)["samples"] == {"train": 120, "test": 30}


def test_ctrl_c_keeps_the_checkpoint_and_prints_the_resume_command(capsys, tmp_path, monkeypatch):
    ck, out_a, out_b = tmp_path / "ck", tmp_path / "a.ctm", tmp_path / "b.ctm"
    argv = [
        "train",
        "--dataset",
        "iris",
        "--epochs",
        "4",
        "--init",
        "random",
        "--checkpoint-dir",
        str(ck),
        "--quiet",
    ]
    assert run(capsys, *argv, "--out", str(out_a))[0] == 0  # the uninterrupted run

    real_advance = TqdmObserver.phase_advance

    def interrupt_in_epoch_3(self, n=1, **info):
        if self.phase is not None and self.phase["name"].startswith("epoch 3/"):
            raise KeyboardInterrupt
        real_advance(self, n, **info)

    import shutil

    shutil.rmtree(ck)
    monkeypatch.setattr(TqdmObserver, "phase_advance", interrupt_in_epoch_3)
    code, _, err = run(capsys, *argv, "--out", str(out_b))
    assert code == 130 and not out_b.exists()
    assert (ck / "checkpoint.npz").exists()
    assert f"the last checkpoint in {ck} is kept" in err
    command = err.strip().splitlines()[-1].strip()
    assert command.startswith("conntra train ") and command.endswith(" --resume")
    monkeypatch.setattr(TqdmObserver, "phase_advance", real_advance)
    assert run(capsys, *shlex.split(command)[1:])[0] == 0  # exactly what it printed
    assert out_a.read_bytes() == out_b.read_bytes()


def test_ctrl_c_without_checkpoints_says_how_to_get_them(capsys, tmp_path, monkeypatch):
    from conntra.train import api

    def interrupted(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(api, "train", interrupted)
    code, _, err = run(
        capsys, "train", "--dataset", "iris", "--quiet", "--out", str(tmp_path / "m.ctm")
    )
    assert code == 130 and "pass --checkpoint-dir DIR to be able to resume" in err


@pytest.mark.parametrize(
    "extra,message",
    [
        (["--out", "{tmp}/no/such/folder/table.md"], "does not exist"),
        (["--out", "{tmp}"], "is a directory"),
        (["--datasets", "iris,mnist", "--data-dir", "{tmp}/empty"], "MNIST files missing"),
    ],
)
def test_compare_checks_every_input_before_training(capsys, tmp_path, monkeypatch, extra, message):
    from conntra.cli import compare

    def no_training(*a, **k):
        raise AssertionError("compare trained before checking its inputs")

    monkeypatch.setattr(compare, "call_train", no_training)
    argv = ["compare", "--datasets", "iris", "--quiet", *[a.format(tmp=tmp_path) for a in extra]]
    code, _, err = run(capsys, *argv)
    assert code == 1 and message in err and err.startswith("conntra compare: error:")
