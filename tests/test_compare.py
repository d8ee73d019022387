"""``conntra compare`` under the protocol: the same stopping rule for every
trainer, tuning on the validation split only, seeds and Iris splits, the JSON
contract (docs/comparison.md)."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

from conntra import datasets
from conntra.cli import main
from conntra.train import api, coordinate, protocol
from conntra.train.coordinate import ConntraConfig


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.fixture(scope="module")
def iris():
    return datasets.load("iris")


def test_every_trainer_has_a_grid_of_the_same_size_holding_its_default():
    for name in datasets.KNOWN_DATASETS:
        sizes = {len(protocol.GRIDS[(name, t)]) for t in api.TRAINERS}
        assert sizes == {4}
        for t in api.TRAINERS:
            assert protocol.DEFAULTS[(name, t)] in protocol.GRIDS[(name, t)]


def test_summary_is_mean_sample_std_min_max():
    s = protocol.summary([0.1, 0.2, 0.3, None])
    assert s["n"] == 3 and s["mean"] == pytest.approx(0.2)
    assert s["std"] == pytest.approx(np.std([0.1, 0.2, 0.3], ddof=1))
    assert (s["min"], s["max"]) == (0.1, 0.3)
    assert protocol.summary([0.5])["std"] is None
    assert protocol.summary([])["mean"] is None


@pytest.mark.parametrize("trainer", ["conntra", "backprop", "qat"])
def test_every_trainer_stops_by_the_same_rule_and_keeps_its_best_epoch(iris, trainer):
    split = api.prepare(iris, [8], val_fraction=0.2, seed=3)
    kwargs = (
        {"config": ConntraConfig(batch=32)}
        if trainer == "conntra"
        else {"lr": 3e-2, "float_batch": 8}
    )
    result = api.train(iris, [8], trainer, epochs=300, seed=3, split=split, patience=2, **kwargs)
    h = result.history
    n_batches = len(split.y) // 32 if trainer == "conntra" else -(-len(split.y) // 8)
    wait = coordinate.patience_for(2, n_batches)
    # stopped because `wait` epochs in a row brought no strict gain, not at the maximum
    assert len(h) < 300 and not any(r["improved"] for r in h[-wait:]) and h[-wait - 1]["improved"]
    best = min(r["val_error"] for r in h)
    last_best = max(r["epoch"] for r in h if r["val_error"] == best)  # ties keep the later
    assert h[-1]["best_epoch"] == last_best
    val = np.mean(result.model.predict_quantized(split.xq_val) != split.y_val)
    assert val == pytest.approx(best)
    # elapsed training time grows epoch by epoch
    assert all(a["elapsed"] <= b["elapsed"] for a, b in zip(h, h[1:], strict=False))


def test_the_stopping_rule_counts_at_least_16_batches():
    assert coordinate.patience_for(5, 1) == 16
    assert coordinate.patience_for(5, 3) == 6
    assert coordinate.patience_for(5, 100) == 5


def test_tuning_never_computes_a_test_error(iris, monkeypatch):
    def forbidden(*a, **k):
        raise AssertionError("a test error was computed during tuning")

    monkeypatch.setattr(protocol, "measure_test_error", forbidden)
    setting = protocol.Setting(hidden=[8], max_epochs=4, val_fraction=0.2)
    found = protocol.tune(iris, "backprop", setting)
    assert len(found["results"]) == 4 and found["tuning_seed"] == protocol.TUNING_SEED
    best = min(r["val_error"] for r in found["results"])
    first = next(r for r in found["results"] if r["val_error"] == best)
    assert found["chosen"] == first["config"]
    # the data tuning trains on has no test set at all
    assert len(protocol.without_test(iris).y_test) == 0


def test_iris_runs_repeat_each_seed_over_the_splits():
    assert protocol.runs("iris", [0, 1], 3) == [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1), (1, 2)]
    assert protocol.runs("mnist", [0, 1], 3) == [(0, None), (1, None)]
    a, b = (protocol.dataset_for("iris", None, k) for k in (0, 1))
    assert len(a.y_test) == 30 and not np.array_equal(a.x_test, b.x_test)


def _check_schema(doc):
    assert doc["schema"] == "conntra-compare/2" and isinstance(doc["machine"], str)
    assert set(doc["protocol"]) >= {"seeds", "patience", "max_epochs", "val_fraction", "tuned"}
    for r in doc["runs"]:
        assert set(r) >= {
            "dataset",
            "trainer",
            "seed",
            "split",
            "config",
            "epochs",
            "best_epoch",
            "seconds",
            "train_error",
            "val_error",
            "test_error",
            "parameter_bytes",
            "memory",
            "curve",
        }
        m = r["memory"]
        assert m["total"] == m["parameters"] + m["optimizer"] + m["activations"] + m["data"]
        assert len(r["curve"]) == r["epochs"]
        secs = [p["seconds"] for p in r["curve"]]
        assert secs == sorted(secs) and secs[-1] <= r["seconds"] + 2e-3
        assert all(0 <= p["test_error"] <= 1 and 0 <= p["val_error"] <= 1 for p in r["curve"])
        # the final model is the best validation epoch's: its errors are that epoch's
        best = r["curve"][r["best_epoch"] - 1]
        assert best["val_error"] == pytest.approx(r["val_error"])
        assert best["test_error"] == pytest.approx(r["test_error"])


def test_compare_json_holds_every_run_with_curves_and_memory(capsys, tmp_path):
    code, out, _ = run(
        capsys,
        "compare",
        "--datasets",
        "iris",
        "--trainers",
        "conntra,backprop",
        "--seeds",
        "0,1",
        "--iris-splits",
        "2",
        "--iris-epochs",
        "6",
        "--quiet",
        "--json",
        "--models-dir",
        str(tmp_path),
    )
    assert code == 0
    doc = json.loads(out)
    _check_schema(doc)
    assert len(doc["runs"]) == 2 * 2 * 2 and doc["tuning"] is None
    assert {(r["seed"], r["split"]) for r in doc["runs"]} == {
        (s, k) for s in (0, 1) for k in (0, 1)
    }
    by = {s["trainer"]: s for s in doc["summary"]}
    assert by["conntra"]["runs"] == 4 and by["conntra"]["config"]["batch"] == 32
    tests = [r["test_error"] for r in doc["runs"] if r["trainer"] == "backprop"]
    assert by["backprop"]["test_error"]["mean"] == pytest.approx(np.mean(tests))
    assert by["backprop"]["test_error"]["std"] == pytest.approx(np.std(tests, ddof=1))
    assert by["backprop"]["float64_bytes"] == 2 * by["backprop"]["parameter_bytes"]
    assert by["conntra"]["float64_bytes"] is None


def test_compare_tune_table(capsys, tmp_path):
    out_file = tmp_path / "table.md"
    code, _, _ = run(
        capsys,
        "compare",
        "--datasets",
        "iris",
        "--trainers",
        "qat",
        "--seeds",
        "0",
        "--iris-splits",
        "2",
        "--iris-epochs",
        "4",
        "--tune",
        "--quiet",
        "--out",
        str(out_file),
    )
    assert code == 0
    text = out_file.read_text()
    assert "| iris | qat | 4-8-3 | 2 |" in text and " ± " in text
    assert "| optimizer / ranking state |" in text and "chosen by --tune" in text


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--seeds", "0,x"], "--seeds must be comma-separated integers"),
        (["--seeds", "1,1"], "--seeds must be distinct"),
        (["--iris-splits", "0"], "argument --iris-splits: must be >= 1"),
        (["--tune", "--val-fraction", "0"], "--tune chooses by validation error"),
    ],
)
def test_bad_protocol_options_are_usage_errors(capsys, argv, message):
    code, _, err = run(capsys, "compare", "--datasets", "iris", "--quiet", *argv)
    assert code == 2 and message in err


def test_nan_free_json(capsys, tmp_path):
    # no validation split: val errors are null, never NaN (which JSON cannot hold)
    code, out, _ = run(
        capsys,
        "compare",
        "--datasets",
        "iris",
        "--trainers",
        "backprop",
        "--seeds",
        "0",
        "--iris-splits",
        "1",
        "--iris-epochs",
        "3",
        "--val-fraction",
        "0",
        "--quiet",
        "--json",
    )
    assert code == 0 and "NaN" not in out
    r = json.loads(out)["runs"][0]
    assert r["val_error"] is None and not math.isnan(r["test_error"])
