"""conntra.plot: the comparison figures from both layouts of ``conntra compare
--json``, the ternary weight tiles pixel by pixel, the confusion matrix
against hand counts and scikit-learn, and the errors when something is
missing or malformed."""

from __future__ import annotations

import copy
import json
import subprocess
import sys

import numpy as np
import pytest

from conntra import FloatDense, FloatModel, InputQuant, TernaryDense, TernaryModel, plot
from conntra.errors import (
    ComparisonResultError,
    ConntraError,
    InputError,
    MissingDependencyError,
    OutputPathError,
    ShapeError,
)

Image = pytest.importorskip("PIL.Image", reason="Pillow comes with the test extra")
pytest.importorskip("matplotlib", reason="matplotlib comes with the test extra")


def _run(seed: int, err: float, seconds: float, param_bytes: int, peak: int) -> dict:
    rng = np.random.default_rng(seed)
    curve = [
        {
            "seconds": seconds * k / 5,
            "val_error": err * (1 + 2 / k) + 0.001 * rng.random(),
            "test_error": err * (1 + 2 / k),
        }
        for k in range(1, 6)
    ]
    return {
        "seed": seed,
        "train_error": err / 2,
        "val_error": err + 0.002 * seed,
        "test_error": err,
        "seconds": seconds * (1 + 0.1 * seed),
        "param_bytes": param_bytes,
        "peak_memory": {
            "parameters": param_bytes,
            "optimizer": 2 * param_bytes,
            "caches": peak // 2,
            "data": peak // 4,
            "total": peak,
        },
        "curve": curve,
    }


# The layout the redesigned `conntra compare --json` writes (docs/figures.md).
NEW = {
    "machine": "Test CPU, x86_64, 2 CPUs",
    "commit": "0123456789abcdef",
    "datasets": {
        "mnist": {
            "trainers": {
                "conntra": {"runs": [_run(s, 0.026, 400.0, 41717, 60_000_000) for s in range(3)]},
                "backprop": {"runs": [_run(s, 0.02, 9.0, 814120, 200_000_000) for s in range(3)]},
                "qat": {"runs": [_run(s, 0.031, 20.0, 41717, 210_000_000) for s in range(3)]},
            }
        },
        "iris": {
            "trainers": {
                "conntra": {"runs": [_run(s, 0.1, 0.1, 56, 20_000) for s in range(2)]},
                "backprop": {"runs": [_run(s, 0.1, 0.2, 268, 40_000) for s in range(2)]},
            }
        },
    },
}


def _row(dataset, trainer, **values) -> dict:
    row = {
        "dataset": dataset,
        "trainer": trainer,
        "sizes": "4-8-3",
        "epochs": 10,
        "seconds": 0.5,
        "parameter_bytes": 56,
        "file_bytes": 300,
        "kind": "ternary",
        "model": "m.ctm",
        "train_error": 0.01,
        "val_error": 0.0,
        "test_error": 0.1,
    }
    row.update(values)
    return row


# Today's `conntra compare --json` (conntra/cli/compare.py): one row per
# dataset and trainer, one seed, no memory peak, no curve.
OLD = {
    "machine": "Test CPU, x86_64, 2 CPUs",
    "rows": [
        _row("iris", "conntra"),
        _row("iris", "backprop", parameter_bytes=268, float64_bytes=536, kind="float32"),
        _row("mnist", "conntra", seconds=403.5, parameter_bytes=41717, val_error=0.028),
        _row("mnist", "backprop", seconds=9.4, parameter_bytes=814120, val_error=0.0203),
        _row("mnist", "qat", seconds=20.4, parameter_bytes=41717, val_error=None),
    ],
}


def _protocol_run(dataset, trainer, seed, split, err, seconds, param_bytes, peak) -> dict:
    run = _run(seed, err, seconds, param_bytes, peak)
    curve = [
        {"epoch": k + 1, "train_error": p["val_error"] / 2, **p} for k, p in enumerate(run["curve"])
    ]
    curve.append({"epoch": 6, "seconds": None, "train_error": None, "val_error": None})
    return {
        "dataset": dataset,
        "trainer": trainer,
        "seed": seed,
        "split": split,
        "sizes": "4-8-3" if dataset == "iris" else "784-256-10",
        "samples": {"train": 96, "val": 24, "test": 30},
        "config": {"batch": 32, "rounds": 2},
        "epochs": 6,
        "best_epoch": 5,
        "seconds": run["seconds"],
        "train_error": run["train_error"],
        "val_error": run["val_error"],
        "test_error": run["test_error"],
        "parameter_bytes": param_bytes,
        "file_bytes": param_bytes + 200,
        "kind": "ternary",
        "float64_bytes": None,
        "memory": {
            "parameters": param_bytes,
            "optimizer": 0,
            "activations": peak // 2,
            "data": peak // 4,
            "total": peak,
            "phase": "training",
        },
        "model": "m.ctm",
        "curve": curve,
    }


# The protocol's `conntra compare --json` (schema conntra-compare/2,
# docs/comparison.md): a flat list of runs, Iris over seeds and splits.
PROTOCOL = {
    "schema": "conntra-compare/2",
    "machine": "Test CPU, x86_64, 2 CPUs, avx2",
    "protocol": {"seeds": [0, 1], "iris_splits": 3, "tuned": False},
    "tuning": None,
    "summary": [{"dataset": "iris", "trainer": "conntra", "runs": 6}],
    "runs": [
        _protocol_run("iris", t, seed, split, e, sec, b, peak)
        for t, e, sec, b, peak in (
            ("conntra", 0.05, 0.3, 56, 38_768),
            ("backprop", 0.044, 0.1, 268, 14_108),
            ("qat", 0.077, 0.2, 56, 14_220),
        )
        for seed in (0, 1)
        for split in range(3)
    ]
    + [
        _protocol_run("mnist", t, seed, None, e, sec, b, peak)
        for t, e, sec, b, peak in (
            ("conntra", 0.026, 400.0, 41717, 60_000_000),
            ("backprop", 0.02, 9.0, 814120, 200_000_000),
        )
        for seed in (0, 1)
    ],
}

LAYOUTS = {"new": NEW, "old": OLD, "protocol": PROTOCOL}


def check_png(path, min_size=(400, 300), min_colours=5):
    """A readable, not blank PNG of a sensible size."""
    with Image.open(path) as im:
        assert im.format == "PNG"
        assert im.width >= min_size[0] and im.height >= min_size[1], im.size
        assert im.width <= 4000 and im.height <= 4000, im.size
        colours = im.convert("RGB").getcolors(maxcolors=1 << 20)
    assert colours is not None and len(colours) >= min_colours, colours
    return colours


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_comparison_figures_are_written_for_every_dataset(tmp_path, layout):
    result = LAYOUTS[layout]
    before = copy.deepcopy(result)
    paths = plot.comparison_figures(result, tmp_path / "figs")
    names = sorted(p.name for p in paths)
    assert names == sorted(
        f"{d}-{kind}.png" for d in ("iris", "mnist") for kind in ("measures", "curves")
    )
    for path in paths:
        assert path.parent == tmp_path / "figs"
        colours = check_png(path)
        # every trainer's colour is on its dataset's figures
        rgb = {c for _, c in colours}
        assert (214, 39, 40) in rgb and (31, 119, 180) in rgb, path  # conntra, backprop
    assert result == before  # the caller's dict is left alone


def test_figures_of_a_saved_file_match_those_of_the_dict(tmp_path):
    saved = tmp_path / "result.json"
    saved.write_text(json.dumps(OLD))
    loaded = plot.load_comparison(saved)
    assert loaded == plot.normalize_comparison(OLD)
    assert plot.normalize_comparison(loaded) == loaded  # normalizing twice changes nothing


def test_normalize_reads_the_old_rows_as_one_seed_runs():
    out = plot.normalize_comparison(OLD)
    assert out["machine"] == OLD["machine"] and out["commit"] is None
    mnist = out["datasets"]["mnist"]["trainers"]
    assert list(mnist) == ["conntra", "backprop", "qat"]
    (run,) = mnist["conntra"]["runs"]
    assert run["param_bytes"] == 41717 and run["seconds"] == 403.5
    assert run["val_error"] == 0.028 and run["peak_memory"] is None and run["curve"] == []
    assert mnist["qat"]["runs"][0]["val_error"] is None


def test_normalize_groups_the_protocol_runs():
    out = plot.normalize_comparison(PROTOCOL)
    assert out["machine"] == PROTOCOL["machine"] and out["commit"] is None
    assert list(out["datasets"]) == ["iris", "mnist"]
    iris = out["datasets"]["iris"]["trainers"]
    assert list(iris) == ["conntra", "backprop", "qat"]
    runs = iris["qat"]["runs"]
    assert [(r["seed"], r["split"]) for r in runs] == [(s, k) for s in (0, 1) for k in range(3)]
    assert runs[0]["param_bytes"] == 56
    # the peak's "phase" is a note, not a byte count; the epoch without a time is left out
    assert runs[0]["peak_memory"] == {
        "parameters": 56,
        "optimizer": 0,
        "activations": 7110,
        "data": 3555,
        "total": 14220,
    }
    assert len(runs[0]["curve"]) == 5 and set(runs[0]["curve"][0]) == {
        "seconds",
        "val_error",
        "test_error",
    }
    assert plot.normalize_comparison(out) == out


def test_normalize_keeps_seeds_memory_and_curves():
    out = plot.normalize_comparison(NEW)
    runs = out["datasets"]["mnist"]["trainers"]["backprop"]["runs"]
    assert [r["seed"] for r in runs] == [0, 1, 2]
    assert runs[0]["peak_memory"]["total"] == 200_000_000
    assert len(runs[0]["curve"]) == 5 and out["commit"] == "0123456789abcdef"


def _broken(path, value):
    result = copy.deepcopy(NEW)
    where = result
    for key in path[:-1]:
        where = where[key]
    if value is KeyError:
        del where[path[-1]]
    else:
        where[path[-1]] = value
    return result


RUN = ["datasets", "mnist", "trainers", "qat", "runs", 1]


@pytest.mark.parametrize(
    "result,message",
    [
        ([], "result must be an object, got list"),
        ({"rows": 3}, "result['rows'] must be a list"),
        (
            {
                "runs": [
                    {
                        "dataset": "iris",
                        "trainer": "qat",
                        "seconds": 1,
                        "parameter_bytes": 56,
                        "memory": {"data": 3, "phase": "init"},
                    }
                ]
            },
            "result['runs'][0]['memory'] has no 'total'",
        ),
        (
            {"rows": [{"dataset": "iris", "trainer": "qat", "seconds": "1 s"}]},
            "result['rows'][0]['seconds'] must be a number, got '1 s'",
        ),
        ({"machine": "x"}, "not a comparison result: expected 'datasets'"),
        ({"datasets": {}}, "holds no runs"),
        ({"rows": [{"trainer": "qat"}]}, "result['rows'][0] has no 'dataset' name"),
        ({"runs": [{"dataset": "iris"}]}, "result['runs'][0] has no 'trainer' name"),
        (
            {"runs": [{"dataset": "iris", "trainer": "qat", "seconds": 1}]},
            "result['runs'][0] has no 'parameter_bytes'",
        ),
        (_broken([*RUN, "val_error"], "2 %"), "['runs'][1]['val_error'] must be a number or null"),
        (_broken([*RUN, "seconds"], KeyError), "['qat']['runs'][1] has no 'seconds'"),
        (_broken([*RUN, "seconds"], -1.0), "must be a finite number >= 0, got -1.0"),
        (_broken([*RUN, "param_bytes"], True), "['param_bytes'] must be a number, got True"),
        (_broken([*RUN, "peak_memory"], {"data": 3}), "['peak_memory'] has no 'total'"),
        (_broken([*RUN, "curve"], {"a": 1}), "['curve'] must be a list"),
        (_broken(RUN[:-1], []), "['qat']['runs'] must be a non-empty list"),
        (_broken(RUN[:-3], None), "['trainers'] must be an object, got NoneType"),
    ],
)
def test_malformed_results_name_the_bad_entry(result, message):
    with pytest.raises(ComparisonResultError) as info:
        plot.normalize_comparison(result)
    assert message in str(info.value)
    assert isinstance(info.value, ConntraError) and isinstance(info.value, ValueError)


def test_unreadable_result_files(tmp_path):
    with pytest.raises(ComparisonResultError, match="cannot read .*missing.json"):
        plot.load_comparison(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(ComparisonResultError, match="bad.json is not JSON"):
        plot.load_comparison(bad)
    bad.write_text('{"datasets": {"iris": {"trainers": {"qat": {"runs": [{}]}}}}}')
    with pytest.raises(ComparisonResultError, match=r"bad.json: .* has no 'seconds'"):
        plot.load_comparison(bad)


def test_figures_into_a_file_instead_of_a_folder(tmp_path):
    (tmp_path / "taken").write_text("")
    with pytest.raises(OutputPathError, match="not a folder"):
        plot.comparison_figures(OLD, tmp_path / "taken")


def test_one_figure_read_at_a_glance(tmp_path):
    """The measures figure is wide enough for four panels and has the
    trainers' colours in bars of some size, not a sliver."""
    (measures, _, _, _) = plot.comparison_figures(NEW, tmp_path)
    with Image.open(measures) as im:
        assert im.size == (1200, 850)
        rgb = np.asarray(im.convert("RGB"))
    red = np.all(rgb == (214, 39, 40), axis=2).sum()
    assert red > 20_000  # conntra's bars in four panels


# --------------------------------------------------------------------------- weight tiles


def _image_model(n_hidden: int, side: tuple[int, int], seed: int = 3) -> TernaryModel:
    n_in = side[0] * side[1]
    return TernaryModel.random([n_in, n_hidden, 10], InputQuant.pixels(n_in), seed=seed)


def test_weight_tiles_grid_size_and_exact_colours(tmp_path):
    model = _image_model(10, (28, 28))
    out = plot.weight_tiles(model, tmp_path / "w.png", scale=2, legend=False)
    with Image.open(out) as im:
        rgb = np.asarray(im.convert("RGB"))
    cols, rows, gap, tile = 4, 3, 2, 56  # ceil(sqrt(10)) columns
    assert rgb.shape == (rows * (tile + gap) + gap, cols * (tile + gap) + gap, 3)
    weights = model.layers[0].weights.reshape(10, 28, 28)
    for i in range(10):
        r, c = divmod(i, cols)
        y0, x0 = gap + r * (tile + gap), gap + c * (tile + gap)
        block = rgb[y0 : y0 + tile, x0 : x0 + tile]
        want = np.array([plot.TERNARY_COLOURS[int(v)] for v in weights[i].ravel()])
        assert (block[::2, ::2].reshape(-1, 3) == want).all(), i  # one weight, 2x2 pixels
        assert (block[1::2, 1::2].reshape(-1, 3) == want).all(), i
    # the two unused slots of the last row are background
    assert (rgb[gap + 2 * (tile + gap) + 5, -5] == plot.GAP_COLOUR).all()


def test_weight_tiles_known_weights(tmp_path):
    """Hand-made weights: a 2x3 tile per neuron, each colour where it belongs."""
    w = np.array([[-1, 0, 1, 1, 0, -1], [0, 0, 0, 1, 1, 1]], np.int8)
    model = TernaryModel(
        [
            TernaryDense(w, np.zeros(2, np.int32), 0),
            TernaryDense(np.ones((2, 2), np.int8), [0, 0], -1),
        ],
        InputQuant.pixels(6),
    )
    out = plot.weight_tiles(model, tmp_path / "k.png", shape=(2, 3), scale=1, columns=1)
    with Image.open(out) as im:
        rgb = np.asarray(im.convert("RGB"))
    assert rgb.shape == (2 * (2 + 2) + 2 + plot.LEGEND_HEIGHT, 3 + 4, 3)
    blue, white, red = (plot.TERNARY_COLOURS[v] for v in (-1, 0, 1))
    assert [tuple(p) for p in rgb[2, 2:5]] == [blue, white, red]
    assert [tuple(p) for p in rgb[3, 2:5]] == [red, white, blue]
    assert [tuple(p) for p in rgb[6, 2:5]] == [white] * 3
    assert [tuple(p) for p in rgb[7, 2:5]] == [red] * 3


def test_weight_tiles_default_picture_of_an_mnist_sized_model(tmp_path):
    model = _image_model(64, (28, 28))
    out = plot.weight_tiles(model, tmp_path / "m.png")
    # 8x8 tiles of 28x28 weights at 2 pixels each, 2-pixel gaps, the legend below
    with Image.open(out) as im:
        assert im.size == (8 * 58 + 2, 8 * 58 + 2 + plot.LEGEND_HEIGHT)
    check_png(out, min_size=(400, 400), min_colours=4)
    out = plot.weight_tiles(model, tmp_path / "few.png", max_tiles=5, columns=5)
    with Image.open(out) as im:
        assert im.size == (5 * 58 + 2, 58 + 2 + plot.LEGEND_HEIGHT)


def test_tabular_models_are_drawn_as_a_heat_map(tmp_path):
    model = TernaryModel.random([4, 8, 3], InputQuant.fit_affine(np.eye(4)), seed=1)
    out = plot.weight_tiles(model, tmp_path / "t.png", legend=False)
    with Image.open(out) as im:
        rgb = np.asarray(im.convert("RGB"))
    scale = 32  # 512 // 8 rows of hidden neurons
    assert rgb.shape == (8 * scale + 4, 4 * scale + 4, 3)
    w = model.layers[0].weights
    for r in range(8):
        for c in range(4):
            pixel = rgb[2 + r * scale + scale // 2, 2 + c * scale + scale // 2]
            assert tuple(pixel) == plot.TERNARY_COLOURS[int(w[r, c])]


@pytest.mark.parametrize(
    "kwargs,error,message",
    [
        ({"shape": (27, 28)}, ShapeError, "shape=27,28 has 756 pixels but the model takes 784"),
        ({"shape": (28,)}, ShapeError, "shape must be two positive integers"),
        ({"shape": (0, 784)}, ShapeError, "shape must be two positive integers"),
        ({"scale": 0}, InputError, "scale must be a positive integer, got 0"),
        ({"columns": True}, InputError, "columns must be a positive integer"),
        ({"scale": 64, "max_tiles": None}, None, None),
    ],
)
def test_weight_tiles_option_errors(tmp_path, kwargs, error, message):
    model = _image_model(4, (28, 28))
    if error is None:
        plot.weight_tiles(model, tmp_path / "ok.png", **kwargs)
        return
    with pytest.raises(error, match=message):
        plot.weight_tiles(model, tmp_path / "x.png", **kwargs)
    assert not (tmp_path / "x.png").exists()


def test_weight_tiles_refuse_what_they_cannot_draw(tmp_path):
    odd = TernaryModel.random([300, 4, 2], InputQuant.pixels(300), seed=0)
    with pytest.raises(ShapeError, match="cannot infer the image shape of 300 inputs"):
        plot.weight_tiles(odd, tmp_path / "o.png")
    plot.weight_tiles(odd, tmp_path / "o.png", shape=(15, 20))
    floats = FloatModel(
        [FloatDense(np.ones((3, 4)), np.zeros(3))], InputQuant.fit_affine(np.eye(4))
    )
    with pytest.raises(InputError, match="float32 weights"):
        plot.weight_tiles(floats, tmp_path / "f.png")
    with pytest.raises(InputError, match="must be a TernaryModel, got str"):
        plot.weight_tiles("model.ctm", tmp_path / "f.png")
    huge = _image_model(2000, (28, 28))
    with pytest.raises(InputError, match=r"draw fewer tiles \(max_tiles=\)"):
        plot.weight_tiles(huge, tmp_path / "h.png", scale=16)
    with pytest.raises(OutputPathError, match="is a directory"):
        plot.weight_tiles(odd, tmp_path, shape=(15, 20))


# --------------------------------------------------------------------------- confusion


def test_confusion_matrix_by_hand():
    y_true = [0, 0, 1, 1, 1, 2, 2, 2, 2]
    y_pred = [0, 1, 1, 1, 2, 2, 2, 0, 2]
    m = plot.confusion_matrix(y_true, y_pred, 4)
    want = np.array([[1, 1, 0, 0], [0, 2, 1, 0], [1, 0, 3, 0], [0, 0, 0, 0]])
    assert m.dtype == np.int64 and (m == want).all()
    assert plot.class_errors(m) == [0.5, pytest.approx(1 / 3), 0.25, None]


def test_confusion_matrix_agrees_with_scikit_learn():
    metrics = pytest.importorskip("sklearn.metrics")
    rng = np.random.default_rng(7)
    y_true = rng.integers(0, 10, 5000)
    y_pred = np.where(rng.random(5000) < 0.8, y_true, rng.integers(0, 10, 5000))
    ours = plot.confusion_matrix(y_true, y_pred, 10)
    theirs = metrics.confusion_matrix(y_true, y_pred, labels=list(range(10)))
    assert (ours == theirs).all() and ours.sum() == 5000


@pytest.mark.parametrize(
    "y_true,y_pred,n,message",
    [
        ([0, 3], [0, 1], 3, "y_true"),
        ([0, 1], [0, -1], 3, "y_pred"),
        ([0, 1], [0], 3, "y_pred must have 2 labels"),
        ([0, 1], [0, 1], 0, "n_classes must be a positive integer"),
        ([0, 1], [0, 1], 2.0, "n_classes must be a positive integer"),
    ],
)
def test_confusion_matrix_rejects_bad_labels(y_true, y_pred, n, message):
    with pytest.raises(InputError, match=message):
        plot.confusion_matrix(y_true, y_pred, n)


def test_confusion_table_text():
    m = plot.confusion_matrix([0, 0, 1, 2, 2], [0, 1, 1, 2, 0], 3)
    text = plot.confusion_table(m, ["setosa", "versicolor", "virginica"])
    lines = text.splitlines()
    assert lines[0].split() == ["true", "\\", "predicted", "setosa", "versicolor", "virginica"] + [
        "error"
    ]
    assert lines[1].split() == ["setosa", "1", "1", "0", "50.00", "%"]
    assert lines[2].split() == ["versicolor", "0", "1", "0", "0.00", "%"]
    assert lines[-1].split() == ["total", "2", "2", "1", "40.00", "%"]
    empty = plot.confusion_table(np.zeros((2, 2), np.int64))
    assert "n/a" in empty
    with pytest.raises(InputError, match="2 class names for 3 classes"):
        plot.confusion_table(m, ["a", "b"])
    with pytest.raises(ShapeError, match="square"):
        plot.confusion_table(np.zeros((2, 3), np.int64))


def test_confusion_figure(tmp_path):
    rng = np.random.default_rng(0)
    y = rng.integers(0, 10, 1000)
    m = plot.confusion_matrix(y, np.where(rng.random(1000) < 0.9, y, (y + 1) % 10), 10)
    out = plot.confusion_figure(m, tmp_path / "cm.png", class_names=plot.CLASS_NAMES["mnist"])
    check_png(out, min_size=(500, 500))
    with pytest.raises(InputError, match="non-negative integer counts"):
        plot.confusion_figure(m.astype(float), tmp_path / "f.png")


# --------------------------------------------------------------------------- dependencies


def test_missing_matplotlib_says_what_to_install(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)
    monkeypatch.setitem(sys.modules, "matplotlib.figure", None)
    with pytest.raises(MissingDependencyError, match=r"pip install 'conntra\[plots\]'"):
        plot.comparison_figures(OLD, tmp_path / "figs")
    assert not (tmp_path / "figs").exists()  # nothing half-made
    with pytest.raises(MissingDependencyError, match="matplotlib"):
        plot.confusion_figure(np.eye(2, dtype=np.int64), tmp_path / "c.png")
    # the weight tiles need Pillow only
    plot.weight_tiles(_image_model(2, (4, 4)), tmp_path / "w.png")


def test_missing_pillow_says_what_to_install(tmp_path, monkeypatch):
    for name in ("PIL", "PIL.Image", "PIL.ImageDraw"):
        monkeypatch.setitem(sys.modules, name, None)
    with pytest.raises(MissingDependencyError, match=r"Pillow.*pip install 'conntra\[plots\]'"):
        plot.weight_tiles(_image_model(2, (4, 4)), tmp_path / "w.png")


def test_importing_conntra_and_its_cli_does_not_import_matplotlib(tmp_path):
    code = (
        "import sys, conntra, conntra.plot, conntra.cli\n"
        "conntra.cli.build_parser()\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('matplotlib', 'PIL')))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_weight_tiles_of_a_conv_first_layer(tmp_path):
    """One KH x KW tile per filter and input channel, filter by filter; a
    model that starts without weights says so."""
    from _conv_models import conv_model

    model = conv_model(0)  # first layer: 8 filters of 3x3x3
    out = plot.weight_tiles(model, tmp_path / "c.png", scale=1, columns=3, legend=False)
    with Image.open(out) as im:
        rgb = np.asarray(im.convert("RGB"))
    gap, tile, rows = 2, 3, 8  # 24 tiles in 3 columns
    assert rgb.shape == (rows * (tile + gap) + gap, 3 * (tile + gap) + gap, 3)
    w = model.layers[0].weights  # (8, 3, 3, 3)
    for filt, channel in [(0, 0), (0, 2), (5, 1), (7, 2)]:
        r, c = divmod(filt * 3 + channel, 3)
        y0, x0 = gap + r * (tile + gap), gap + c * (tile + gap)
        want = np.array([plot.TERNARY_COLOURS[int(v)] for v in w[filt, :, :, channel].ravel()])
        assert (rgb[y0 : y0 + tile, x0 : x0 + tile].reshape(-1, 3) == want).all()
    from conntra import Flatten, TernaryModel

    dense = TernaryDense(np.ones((2, 360), np.int8), np.zeros(2, np.int32), -1)
    flat_first = TernaryModel([Flatten(), dense], model.input_quant)
    with pytest.raises(InputError, match="starts with a flatten layer, which has none"):
        plot.weight_tiles(flat_first, tmp_path / "f.png")
