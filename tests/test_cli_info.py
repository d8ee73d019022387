"""``conntra info``: the numbers it prints match the file."""

import json
import os
import subprocess
import sys

import pytest

from conntra import InputQuant, TernaryModel
from conntra.cli import main


@pytest.fixture
def saved(tmp_path):
    model = TernaryModel.random(
        [784, 256, 10],
        InputQuant.pixels(784),
        seed=5,
        metadata={"dataset": "mnist", "trainer": "random"},
    )
    path = tmp_path / "m.ctm"
    model.save(path)
    return model, path


def test_info_json_bytes_match_the_file(saved, capsys):
    model, path = saved
    assert main(["info", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert d["file_bytes"] == os.path.getsize(path)
    assert d["header_bytes"] + d["parameter_bytes"] == d["file_bytes"]
    assert d["parameters"] == 784 * 256 + 256 + 256 * 10 + 10 == model.n_params
    assert d["sizes"] == [784, 256, 10]
    assert d["bits_per_parameter"] == pytest.approx(8 * d["parameter_bytes"] / d["parameters"])
    assert d["bits_per_parameter"] < 1.8
    assert [row["shift"] for row in d["layers"]] == [model.layers[0].shift, -1]


def test_info_text(saved, capsys):
    _, path = saved
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "784-256-10" in out and f"{os.path.getsize(path)} bytes in the file" in out
    assert "layer 0     784 -> 256" in out


def test_info_on_bad_files(tmp_path, capsys):
    bad = tmp_path / "bad.ctm"
    bad.write_bytes(b"not a model")
    assert main(["info", str(bad)]) == 1
    assert "not a conntra model file" in capsys.readouterr().err
    assert main(["info", str(tmp_path / "missing.ctm")]) == 1
    assert "No such file" in capsys.readouterr().err


def test_console_entry_point_runs(saved):
    _, path = saved
    out = subprocess.run(
        [sys.executable, "-m", "conntra", "info", str(path), "--json"],
        check=True,
        capture_output=True,
        text=True,
        cwd=path.parent,
    ).stdout  # not the checkout: test the install
    assert json.loads(out)["file_bytes"] == os.path.getsize(path)


def test_info_on_a_convolutional_model(tmp_path, capsys):
    from _conv_models import conv_model

    path = tmp_path / "conv.ctm"
    model = conv_model(0)
    model.save(path)
    assert main(["info", str(path), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert [row["kind"] for row in d["layers"]] == [
        "conv2d",
        "maxpool2d",
        "conv2d",
        "conv2d",
        "flatten",
        "dense",
    ]
    assert d["layers"][0]["in_shape"] == [12, 10, 3] and d["layers"][0]["out_shape"] == [12, 10, 8]
    assert d["layers"][2]["groups"] == 8 and d["layers"][3]["padding"] == [0, 1, 1, 0]
    assert d["parameters"] == model.n_params and "weights" not in d["layers"][1]
    assert main(["info", str(path)]) == 0
    out = capsys.readouterr().out
    assert "layer 0     conv2d 3x3, stride 1x1, padding [1, 1, 1, 1]: 12x10x3 -> 12x10x8" in out
    assert "layer 1     maxpool2d 2x2, stride 2x2: 12x10x8 -> 6x5x8" in out
    assert "layer 2     depthwise conv2d 3x3" in out and "shape 12x10x3" in out
