"""``conntra train``, ``conntra eval`` and ``conntra compare``."""

from __future__ import annotations

import json

import pytest

from conntra import datasets, load
from conntra.cli import main


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_then_eval_iris(capsys, tmp_path):
    path = tmp_path / "iris.ctm"
    code, out, err = run(
        capsys, "train", "--dataset", "iris", "--epochs", "4", "--out", str(path), "--json"
    )
    assert code == 0
    d = json.loads(out)
    assert d["trainer"] == "conntra" and d["sizes"] == [4, 8, 3] and len(d["history"]) >= 1
    assert set(d["history"][0]) >= {"train_error", "val_error"}
    assert "epoch" in err  # the progress bar goes to stderr
    iris = datasets.load("iris")
    assert d["test_error"] == load(path).error_rate(iris.x_test, iris.y_test)
    code, out, _ = run(capsys, "eval", str(path), "--dataset", "iris", "--json")
    assert code == 0
    ev = json.loads(out)
    assert ev["kind"] == "ternary" and ev["test_error"] == pytest.approx(d["test_error"])
    code, out, _ = run(capsys, "eval", str(path), "--dataset", "iris")
    assert code == 0 and "test error" in out


def test_train_takes_the_speed_settings(capsys, tmp_path):
    path = tmp_path / "iris.ctm"
    code, out, _ = run(
        capsys,
        *("train", "--dataset", "iris", "--epochs", "3", "--no-exhaustive", "--init", "random"),
        *("--batch", "64", "--batch-start", "16", "--screen", "0.25", "--round-stop", "0.5"),
        *("--rank-share", "0.5"),
        *("--out", str(path), "--json", "--quiet"),
    )
    assert code == 0
    d = json.loads(out)
    assert len(d["history"]) == 3 and load(path).sizes == [4, 8, 3]


def test_train_text_output_and_backprop_model(capsys, tmp_path):
    path = tmp_path / "bp.ctm"
    code, out, _ = run(
        capsys,
        "train",
        "--dataset",
        "iris",
        "--trainer",
        "backprop",
        "--epochs",
        "20",
        "--hidden",
        "6",
        "--out",
        str(path),
        "--quiet",
    )
    assert code == 0
    assert "validation error" in out and f"model written to {path}" in out
    assert load(path).sizes == [4, 6, 3]


def test_train_with_checkpoints_and_resume(capsys, tmp_path):
    ck = tmp_path / "ck"
    args = [
        "train",
        "--dataset",
        "iris",
        "--epochs",
        "3",
        "--init",
        "random",
        "--checkpoint-dir",
        str(ck),
        "--quiet",
        "--json",
    ]
    code, out, _ = run(capsys, *args, "--out", str(tmp_path / "a.ctm"))
    assert code == 0 and (ck / "checkpoint.npz").exists()
    code, out, _ = run(capsys, *args, "--resume", "--out", str(tmp_path / "b.ctm"))
    assert code == 0
    assert (tmp_path / "a.ctm").read_bytes() == (tmp_path / "b.ctm").read_bytes()


@pytest.mark.parametrize(
    "argv,message",
    [
        (["train", "--dataset", "iris", "--hidden", "8,x"], "--hidden must be comma-separated"),
        (["train", "--dataset", "iris", "--hidden", "0"], "--hidden sizes must be 1..1048576"),
        (["train", "--dataset", "iris", "--epochs", "0"], "argument --epochs: must be >= 1, got 0"),
        (["train", "--dataset", "iris", "--resume"], "--resume needs --checkpoint-dir"),
        (
            ["train", "--dataset", "iris", "--val-fraction", "1.5"],
            "argument --val-fraction: must be in [0.0, 1.0), got 1.5",
        ),
        (["train", "--dataset", "iris", "--screen", "1.5"], "argument --screen: must be in"),
        (["train", "--dataset", "iris", "--round-stop", "-1"], "argument --round-stop: must be"),
        (["train", "--dataset", "iris", "--batch-start", "-4"], "argument --batch-start"),
        (["compare", "--datasets", "cifar"], "--datasets takes a comma-separated subset"),
        (["compare", "--datasets", "iris", "--trainers", "sgd"], "--trainers takes"),
    ],
)
def test_bad_inputs_give_clear_errors(capsys, tmp_path, argv, message):
    code, _, err = run(
        capsys,
        *argv,
        "--quiet" if argv[0] == "train" else "--json",
        *(["--out", str(tmp_path / "m.ctm")] if argv[0] == "train" else []),
    )
    assert code == 2
    assert f"conntra {argv[0]}: error: " in err and message in err


def test_eval_rejects_a_model_of_another_shape(capsys, tmp_path):
    from conntra.model import TernaryModel
    from conntra.quant import InputQuant

    path = tmp_path / "wrong.ctm"
    TernaryModel.random([5, 4, 3], InputQuant.pixels(5)).save(path)
    code, _, err = run(capsys, "eval", str(path), "--dataset", "iris")
    assert code == 1 and "takes 5 features and has 3 classes" in err
    code, _, err = run(capsys, "eval", str(tmp_path / "missing.ctm"), "--dataset", "iris")
    assert code == 1 and "missing.ctm" in err


def test_compare_iris_table(capsys, tmp_path):
    out_file = tmp_path / "table.md"
    common = ["--datasets", "iris", "--seeds", "0", "--iris-splits", "1", "--quiet"]
    code, _, _ = run(
        capsys,
        "compare",
        *common,
        "--trainers",
        "conntra,backprop,qat",
        "--iris-epochs",
        "5",
        "--out",
        str(out_file),
        "--models-dir",
        str(tmp_path / "models"),
    )
    assert code == 0
    text = out_file.read_text()
    assert "| iris | conntra | 4-8-3 | 1 |" in text and "| iris | backprop |" in text
    code, out, _ = run(
        capsys, "compare", *common, "--trainers", "conntra,backprop", "--iris-epochs", "3", "--json"
    )
    rows = json.loads(out)["summary"]
    tern = next(r for r in rows if r["trainer"] == "conntra")
    flt = next(r for r in rows if r["trainer"] == "backprop")
    assert flt["parameter_bytes"] > tern["parameter_bytes"]
    assert flt["float64_bytes"] == 2 * flt["parameter_bytes"]
