"""Architectures in training (``arch=`` / ``--arch``): the float baselines from
the command line and in ``conntra compare``, the conntra trainer's hand-off
to the conv trainer, and the errors of what cannot work."""

from __future__ import annotations

import json

import pytest

from conntra import arch, datasets, load
from conntra.cli import main
from conntra.errors import InputError
from conntra.train import api, coordinate, protocol, torch_backprop

ARCH = "c4k3,p2,d10"


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


@pytest.mark.parametrize("trainer", ["backprop", "qat", "torch"])
def test_train_an_architecture_from_the_cli(capsys, tmp_path, mnist, trainer):
    path = tmp_path / f"{trainer}.ctm"
    if trainer == "torch" and not torch_backprop.available():  # the optional extra is missing
        code, _, err = run(
            capsys, "train", "--trainer", "torch", "--arch", ARCH, "--dataset", "mnist",
            "--max-train", "600", "--epochs", "1", "--out", str(path), "--quiet",
        )  # fmt: skip
        assert code != 0 and "needs PyTorch" in err and not path.exists()
        return
    code, out, err = run(
        capsys, "train", "--trainer", trainer, "--arch", ARCH, "--dataset", "mnist",
        "--max-train", "600", "--epochs", "1", "--out", str(path), "--json", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    d = json.loads(out)
    assert d["arch"] == ARCH and d["sizes"] == [784, 3136, 784, 784, 10]
    model = load(path)
    assert [L.kind for L in model.layers] == ["conv2d", "maxpool2d", "flatten", "dense"]
    assert model.metadata["arch"] == ARCH and model.input_quant.shape == (28, 28, 1)
    assert d["test_error"] == model.error_rate(mnist.x_test, mnist.y_test) < 0.9


def test_compare_fills_its_table_for_an_architecture(capsys, tmp_path, mnist):
    trainers = "backprop,qat"  # torch's own run is the CLI test's
    code, out, err = run(
        capsys, "compare", "--datasets", "mnist", "--arch", ARCH, "--trainers", trainers,
        "--mnist-max-train", "300", "--mnist-epochs", "1", "--seeds", "0", "--quiet", "--json",
        "--models-dir", str(tmp_path),
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    rows = {r["trainer"]: r for r in doc["summary"]}
    assert set(rows) == set(trainers.split(","))
    for r in rows.values():
        assert r["arch"] == ARCH and r["test_error"]["mean"] is not None
        assert r["parameter_bytes"] > 0 and r["memory"]["total"] > 0 and r["seconds"]["n"] == 1
        assert r["memory"]["activations"] > 0


def test_conntra_trains_an_architecture_from_the_cli(capsys, tmp_path, mnist):
    path = tmp_path / "conntra.ctm"
    code, out, err = run(
        capsys, "train", "--trainer", "conntra", "--arch", "c4k3a4,p2,d10", "--dataset", "mnist",
        "--max-train", "600", "--epochs", "2", "--batch", "256", "--budget", "96",
        "--init-epochs", "1", "--out", str(path), "--json", "--quiet",
    )  # fmt: skip
    assert code == 0, err
    d = json.loads(out)
    model = load(path)
    assert [L.kind for L in model.layers] == ["conv2d", "maxpool2d", "flatten", "dense"]
    assert model.layers[0].act_bits == 4 and model.metadata["arch"] == "c4k3a4,p2,d10"
    assert d["test_error"] == model.error_rate(mnist.x_test, mnist.y_test) < 0.5


def test_compare_gives_conntra_the_chain_settings_on_an_architecture():
    arch_setting = protocol.Setting(hidden=None, max_epochs=1, val_fraction=0.1, arch="cnn")
    dense = protocol.Setting(hidden=[256], max_epochs=1, val_fraction=0.1)
    assert protocol.default_config("mnist", "conntra", arch_setting) == protocol.CHAIN_CONNTRA
    assert (
        protocol.default_config("mnist", "conntra", dense)
        == protocol.DEFAULTS[("mnist", "conntra")]
    )
    assert protocol.default_config("cifar10", "qat", arch_setting)["lr"] > 0
    grid = protocol.grid_for("cifar10", "conntra", arch_setting)
    assert len(grid) == len(protocol.grid_for("cifar10", "qat", arch_setting)) == 4
    assert all(c["split"] == "params" for c in grid)


def test_the_conntra_trainer_hands_the_layer_template_to_fit(monkeypatch, mnist):
    seen = {}

    class Reached(Exception):
        pass

    def fit(xq, y, xq_val, y_val, layers, input_quant, params, temp, cfg, **kw):
        seen.update(layers=layers, params=params, act_bits=kw["act_bits"])
        raise Reached

    monkeypatch.setattr(coordinate, "fit", fit)
    cfg = coordinate.ConntraConfig(init="random")
    with pytest.raises(Reached):
        api.train(mnist, None, "conntra", arch="c4k3a2,p2,d10", max_train=200, config=cfg)
    kinds = [L.kind for L in seen["layers"]]
    assert kinds == ["conv2d", "maxpool2d", "flatten", "dense"]
    assert [w.shape for w, _, _ in seen["params"]] == [(4, 3, 3, 1), (10, 784)]
    assert seen["act_bits"] == [2]


def test_mnist_has_an_image_shape_and_defaults_resolve(mnist):
    assert mnist.shape == (28, 28, 1)
    assert arch.resolve("cnn", "mnist", 10) == arch.ARCH_DEFAULTS["mnist"]
    assert arch.resolve("cnn", "my-photos", 3) == "c32k3,p2,c64k3,p2,d3"
    assert api.resolve_arch(mnist, None, None) is None  # MNIST keeps its dense default
    split = api.prepare(mnist, None, arch="cnn", max_train=100)
    assert split.arch == arch.ARCH_DEFAULTS["mnist"] and split.n_hidden == 2


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"hidden": [8], "arch": ARCH}, "hidden and arch are exclusive"),
        ({"hidden": None, "arch": "c4k3,q2,d10"}, "token 'q2' is not a layer"),
        ({"hidden": None, "arch": "c4k3,p2,d5"}, "the output layer must be d10"),
        ({"hidden": None, "arch": 7}, "arch must be an architecture string"),
    ],
)
def test_bad_architectures_are_clear_input_errors(mnist, kwargs, message):
    with pytest.raises(InputError, match=message):
        api.train(mnist, trainer="backprop", max_train=100, **kwargs)


def test_an_architecture_needs_images():
    with pytest.raises(InputError, match="needs images: dataset iris has no image shape"):
        api.prepare(datasets.load("iris"), None, arch="c4k3,d3")


@pytest.mark.parametrize(
    "argv,message",
    [
        (["--arch", "c4k3,p2"], "--arch: the last layer of 'c4k3,p2' must be dense"),
        (["--arch", ARCH, "--hidden", "8"], "--hidden and --arch are exclusive"),
    ],
)
def test_bad_arch_options_are_usage_errors(capsys, tmp_path, argv, message):
    code, _, err = run(
        capsys, "train", "--dataset", "iris", *argv, "--quiet", "--out", str(tmp_path / "m.ctm")
    )
    assert code == 2 and message in err


def test_arch_on_tabular_data_fails_before_training(capsys, tmp_path):
    code, _, err = run(
        capsys, "train", "--dataset", "iris", "--arch", "c4k3,d3", "--trainer", "backprop",
        "--quiet", "--out", str(tmp_path / "m.ctm"),
    )  # fmt: skip
    assert code != 0 and "iris has no image shape" in err


def test_compare_runs_cifar10_on_its_cnn(capsys, tmp_path, cifar10_dir):
    # the first 300 photos of the real CIFAR-10 folders: the default CNN, max_train obeyed
    code, out, err = run(
        capsys, "compare", "--datasets", "cifar10", "--trainers", "backprop",
        "--cifar10-max-train", "300", "--cifar10-epochs", "1", "--seeds", "0", "--quiet",
        "--json", "--models-dir", str(tmp_path), "--data-dir", str(cifar10_dir.parent),
    )  # fmt: skip
    assert code == 0, err
    doc = json.loads(out)
    (row,) = doc["summary"]
    assert row["test_error"]["mean"] is not None
    assert doc["protocol"]["cifar10_max_train"] == 300
    (run_,) = doc["runs"]
    assert (
        run_["arch"] == arch.ARCH_DEFAULTS["cifar10"]
        and run_["samples"]["train"] + run_["samples"]["val"] == 300
    )
