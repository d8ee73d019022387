"""``conntra plot weights``, ``conntra plot compare`` and ``conntra eval
--confusion [--plot]``: what they write and print, and their exit status
(0 done, 1 a failure, 2 a usage error)."""

from __future__ import annotations

import json
import sys

import numpy as np
import pytest

import conntra
from conntra import FloatDense, FloatModel, InputQuant, TernaryModel, datasets, plot
from conntra.cli import main

Image = pytest.importorskip("PIL.Image", reason="Pillow comes with the test extra")
pytest.importorskip("matplotlib", reason="matplotlib comes with the test extra")

# the two layouts of compare --json, shared with the library tests
from test_plot import LAYOUTS, check_png  # noqa: E402


def run(capsys, *argv):
    code = main([str(a) for a in argv])
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture
def iris_model(tmp_path):
    iris = datasets.load("iris")
    path = tmp_path / "iris.ctm"
    TernaryModel.random([4, 8, 3], InputQuant.fit_affine(iris.x_train), seed=2).save(path)
    return path


@pytest.fixture
def image_model(tmp_path):
    path = tmp_path / "mnist.ctm"
    TernaryModel.random([784, 12, 10], InputQuant.pixels(784), seed=5).save(path)
    return path


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_plot_compare_writes_the_figures(capsys, tmp_path, layout):
    saved = tmp_path / "result.json"
    saved.write_text(json.dumps(LAYOUTS[layout]))
    code, out, err = run(capsys, "plot", "compare", saved, "--out", tmp_path / "figs")
    assert code == 0, err
    printed = out.split()
    assert len(printed) == 4 and all(p.endswith(".png") for p in printed)
    for name in ("iris-measures", "iris-curves", "mnist-measures", "mnist-curves"):
        check_png(tmp_path / "figs" / f"{name}.png")


def test_plot_compare_failures_exit_1(capsys, tmp_path):
    code, out, err = run(capsys, "plot", "compare", tmp_path / "none.json")
    assert code == 1 and out == ""
    assert err.startswith("conntra plot compare: error: cannot read") and "none.json" in err
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps({"rows": [{"dataset": "iris"}]}))
    code, _, err = run(capsys, "plot", "compare", bad)
    assert code == 1 and "has no 'trainer' name" in err and "Traceback" not in err


def test_plot_weights(capsys, tmp_path, image_model):
    out_png = tmp_path / "tiles.png"
    code, out, err = run(capsys, "plot", "weights", image_model, "--out", out_png)
    assert code == 0, err
    assert f"drawn in {out_png}" in out
    with Image.open(out_png) as im:  # 12 tiles of 28x28 at 2 pixels, 4 columns, 3 rows
        assert im.size == (4 * 58 + 2, 3 * 58 + 2 + plot.LEGEND_HEIGHT)
    code, _, err = run(
        capsys,
        "plot",
        "weights",
        image_model,
        "--out",
        out_png,
        "--shape",
        "14,56",
        "--columns",
        "6",
        "--scale",
        "1",
        "--max-tiles",
        "6",
        "--no-legend",
    )
    assert code == 0, err
    with Image.open(out_png) as im:
        assert im.size == (6 * 58 + 2, 14 + 4)


def test_plot_weights_of_a_tabular_model_is_a_heat_map(capsys, tmp_path, iris_model):
    code, _, err = run(capsys, "plot", "weights", iris_model, "--out", tmp_path / "h.png")
    assert code == 0, err
    with Image.open(tmp_path / "h.png") as im:
        assert im.size == (4 * 32 + 4, 8 * 32 + 4 + plot.LEGEND_HEIGHT)


@pytest.mark.parametrize(
    "extra,code,message",
    [
        (["--shape", "28"], 2, "--shape takes two positive integers H,W such as 28,28; got '28'"),
        (["--shape", "0,784"], 2, "--shape takes two positive integers"),
        (["--shape", "27,28"], 2, "--shape 27,28 has 756 pixels but the model takes 784 inputs"),
        (["--scale", "0"], 2, "argument --scale: must be in [1, 64], got 0"),
        (["--columns", "x"], 2, "argument --columns: expected an integer"),
    ],
)
def test_plot_weights_usage_errors(capsys, tmp_path, image_model, extra, code, message):
    got, out, err = run(capsys, "plot", "weights", image_model, "--out", tmp_path / "x.png", *extra)
    assert got == code, err
    assert message in err and out == "" and "Traceback" not in err
    assert not (tmp_path / "x.png").exists()


def test_plot_weights_failures(capsys, tmp_path):
    code, _, err = run(capsys, "plot", "weights", tmp_path / "missing.ctm")
    assert code == 1 and err.startswith("conntra plot weights: error:") and "missing.ctm" in err
    floats = tmp_path / "float.ctm"
    FloatModel([FloatDense(np.ones((3, 4)), np.zeros(3))], InputQuant.fit_affine(np.eye(4))).save(
        floats
    )
    code, _, err = run(capsys, "plot", "weights", floats)
    assert code == 1 and "float32 weights" in err
    odd = tmp_path / "odd.ctm"
    TernaryModel.random([300, 4, 2], InputQuant.pixels(300), seed=0).save(odd)
    code, _, err = run(capsys, "plot", "weights", odd, "--out", tmp_path / "o.png")
    assert code == 2 and "cannot infer the image shape of 300 inputs" in err
    assert "--shape" in err and "shape=" not in err  # the flag, not the Python keyword


def test_plot_needs_a_figure_name(capsys):
    code, _, err = run(capsys, "plot")
    assert code == 2 and "required" in err
    code, out, _ = run(capsys, "plot", "weights", "--help")
    assert code == 0 and "(default: weights.png)" in out


def test_eval_confusion_table(capsys, iris_model):
    code, out, err = run(capsys, "eval", iris_model, "--dataset", "iris", "--confusion")
    assert code == 0, err
    iris = datasets.load("iris")
    model = conntra.load(iris_model)
    want = plot.confusion_matrix(iris.y_test, model.predict(iris.x_test), 3)
    lines = out.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("confusion matrix"))
    assert "rows: true class, columns: predicted class" in lines[start]
    table = [line.split() for line in lines[start + 1 : start + 6]]
    assert table[0][-4:] == ["setosa", "versicolor", "virginica", "error"]
    names = ("setosa", "versicolor", "virginica")
    for row, name, counts in zip(table[1:4], names, want, strict=True):
        assert row[0] == name and [int(v) for v in row[1:4]] == counts.tolist()
    assert table[4][0] == "total"
    test_error = 100 * model.error_rate(iris.x_test, iris.y_test)
    assert table[4][-2] == f"{test_error:.2f}"  # the total line's error is the test error


def test_eval_confusion_json_and_plot(capsys, tmp_path, iris_model):
    picture = tmp_path / "cm.png"
    code, out, err = run(
        capsys, "eval", iris_model, "--dataset", "iris", "--confusion", "--plot", picture, "--json"
    )
    assert code == 0, err
    conf = json.loads(out)["confusion"]
    assert conf["set"] == "test" and conf["class_names"] == ["setosa", "versicolor", "virginica"]
    matrix = np.array(conf["matrix"])
    assert matrix.shape == (3, 3) and matrix.sum() == 30 and conf["plot"] == str(picture)
    check_png(picture)


def test_eval_confusion_on_mnist(capsys, tmp_path, mnist):
    from conftest import mnist_dir

    path = tmp_path / "m.ctm"
    TernaryModel.random([784, 16, 10], InputQuant.pixels(784), seed=0).save(path)
    code, out, err = run(
        capsys, "eval", path, "--dataset", "mnist", "--data-dir", mnist_dir(), "--confusion"
    )
    assert code == 0, err
    assert "10,000 samples of the mnist test set" in out
    header = next(line for line in out.splitlines() if "true \\ predicted" in line).split()
    assert header[3:] == [str(d) for d in range(10)] + ["error"]


def test_eval_plot_without_confusion_is_a_usage_error(capsys, tmp_path, iris_model):
    code, out, err = run(
        capsys, "eval", iris_model, "--dataset", "iris", "--plot", tmp_path / "cm.png"
    )
    assert code == 2 and out == ""
    assert "--plot draws the confusion matrix: it needs --confusion" in err
    assert not (tmp_path / "cm.png").exists()


def test_eval_plot_without_matplotlib_fails_before_work(capsys, tmp_path, monkeypatch, iris_model):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    code, out, err = run(
        capsys, "eval", iris_model, "--dataset", "iris", "--confusion", "--plot", tmp_path / "c.png"
    )
    assert code == 1 and out == ""
    assert "pip install 'conntra[plots]'" in err
    code, out, err = run(capsys, "plot", "compare", tmp_path / "r.json")
    assert code == 1 and "pip install 'conntra[plots]'" in err
