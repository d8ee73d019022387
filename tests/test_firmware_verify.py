"""Generated firmware, compiled with strict flags and run on the host and on emulated
Cortex-M cores, gives exactly the Python model's logits on real data."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from _firmware_helpers import demo_iris_model, demo_mnist_model, require_target
from _tools import require_tools

from conntra import codegen, datasets
from conntra.cli import main as cli_main
from conntra.errors import DataNotFoundError
from conntra.model import TernaryModel
from conntra.quant import InputQuant

N_MNIST = 1000
CMSIS_NN_PER_WEIGHT = {"cortex-m0": 6.16, "cortex-m4": 1.94}  # int8 FC, 784x128, under QEMU


def mnist_dir():
    """$CONNTRA_DATA (set in CI), else <repo>/../shared/data/mnist as the README says."""
    env = os.environ.get("CONNTRA_DATA")
    return Path(env) if env else Path(__file__).resolve().parents[2] / "shared/data/mnist"


@pytest.fixture(scope="module")
def mnist():
    try:
        return datasets.load("mnist", data_dir=mnist_dir())
    except DataNotFoundError as exc:
        if os.environ.get("CONNTRA_DATA"):
            raise
        pytest.skip(f"MNIST not available: {exc}")


@pytest.fixture(scope="module")
def mnist_model(mnist):
    return demo_mnist_model(str(mnist_dir()))


def test_demo_mnist_model_is_a_real_model(mnist, mnist_model):
    # activations neither all zero nor all clamped, accuracy far above chance
    q = mnist_model.quantize(mnist.x_test[:500]).astype(np.int64)
    layer = mnist_model.layers[0]
    acc = q @ layer.weights.T.astype(np.int64) + layer.bias
    from conntra.reference import requantize

    h = requantize(acc, layer.shift)
    assert 0.2 < (h > 0).mean() < 0.9 and (h == 127).mean() < 0.05
    assert mnist_model.error_rate(mnist.x_test, mnist.y_test) < 0.4


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
def test_mnist_identical_on_1000_test_images(mnist, mnist_model, target):
    require_target(target)
    r = codegen.verify(mnist_model, target, mnist.x_test[:N_MNIST], prefix="mnist")
    assert (r["identical"], r["n"]) == (N_MNIST, N_MNIST), r["mismatches"]
    assert r["kernels"] == ("dsp" if target == "cortex-m4" else "portable")
    if target in CMSIS_NN_PER_WEIGHT:  # deterministic counts, not timings
        assert r["instructions_per_weight"] < CMSIS_NN_PER_WEIGHT[target]


@pytest.mark.parametrize("target", ["cortex-m3", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_mnist_identical_on_other_cores(mnist, mnist_model, target):
    require_target(target)
    r = codegen.verify(mnist_model, target, mnist.x_test[-100:], count_instructions=False)
    assert r["identical"] == r["n"] == 100, r["mismatches"]


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
def test_iris_identical_with_affine_inputs(target):
    require_target(target)
    ds = datasets.load("iris")
    x = np.concatenate([ds.x_train, ds.x_test])  # all 150 flowers
    r = codegen.verify(demo_iris_model(), target, x, prefix="iris", count_instructions=False)
    assert r["identical"] == r["n"] == 150, r["mismatches"]


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
def test_odd_shapes_deep_model_and_saturation(target):
    """n_in not a multiple of 4 or 16, three hidden layers (both activation buffers),
    shift 0, a large shift, big biases, all-maximum inputs, and an exact tie in the
    logits (argmax must take the lowest index)."""
    require_target(target)
    base = TernaryModel.random(
        [37, 21, 9, 6, 5], InputQuant.pixels(37), seed=11, shifts=[0, 9, 3], bias_range=2000
    )
    last = base.layers[-1]
    w = last.weights.copy()
    w[3] = w[1]
    b = last.bias.copy()
    b[3] = b[1]  # classes 1 and 3 always tie
    from conntra.model import TernaryDense

    model = TernaryModel(base.layers[:-1] + [TernaryDense(w, b, -1)], base.input_quant)
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, size=(200, 37)).astype(np.uint8)
    x[0] = 255
    x[1] = 0
    r = codegen.verify(model, target, x, count_instructions=False)
    assert r["identical"] == r["n"] == 200, r["mismatches"]


def test_dsp_and_portable_kernels_agree_on_m4(mnist, mnist_model):
    require_target("cortex-m4")
    r = codegen.verify(
        mnist_model,
        "cortex-m4",
        mnist.x_test[:200],
        prefix="mnist",
        extra_flags=["-DMNIST_PORTABLE"],
        count_instructions=False,
    )
    assert r["kernels"] == "portable" and r["identical"] == 200


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
def test_single_layer_model(target):
    """No hidden layer: no accumulator or activation buffers, 784 x 128 logits."""
    require_target(target)
    model = TernaryModel.random([784, 128], InputQuant.pixels(784), seed=3, bias_range=99)
    x = np.random.default_rng(1).integers(0, 256, size=(20, 784)).astype(np.uint8)
    r = codegen.verify(model, target, x, count_instructions=False)
    assert r["identical"] == r["n"] == 20, r["mismatches"]


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m4"])
def test_header_compiles_warning_free_for_arm(mnist_model, tmp_path, cpu):
    require_tools("arm-none-eabi-gcc")
    codegen.export(mnist_model, tmp_path, "mnist", report=False)
    (tmp_path / "impl.c").write_text('#define MNIST_IMPLEMENTATION\n#include "mnist.h"\n')
    for opt in ("-O0", "-O2", "-O3", "-Os"):
        subprocess.run(
            [
                "arm-none-eabi-gcc",
                f"-mcpu={cpu}",
                "-mthumb",
                "-std=c99",
                "-Wall",
                "-Wextra",
                "-Wconversion",
                "-pedantic",
                "-Werror",
                opt,
                "-c",
                "impl.c",
                "-o",
                "impl.o",
            ],
            cwd=tmp_path,
            check=True,
        )


def test_mismatch_is_reported_and_exits_nonzero(mnist_model, mnist, tmp_path, monkeypatch, capsys):
    require_target("host")
    from conntra.codegen import api

    real = api._run

    def corrupt(*args, **kwargs):
        b, result, out = real(*args, **kwargs)
        out = out.copy()
        out[3, 2] += 1  # one logit of input 3 off by one
        return b, result, out

    monkeypatch.setattr(api, "_run", corrupt)
    path = tmp_path / "m.ctm"
    mnist_model.save(path)
    rc = cli_main(
        [
            "verify",
            str(path),
            "--target",
            "host",
            "--dataset",
            "mnist",
            "--limit",
            "10",
            "--data-dir",
            str(mnist_dir()),
        ]
    )
    out = capsys.readouterr().out
    assert rc == 1
    assert "9/10 identical" in out and "first differing inputs: [3]" in out


def test_cli_verify_and_export(mnist_model, mnist, tmp_path, capsys):
    require_target("cortex-m0")
    path = tmp_path / "m.ctm"
    mnist_model.save(path)
    rc = cli_main(
        [
            "verify",
            str(path),
            "--target",
            "cortex-m0",
            "--dataset",
            "mnist",
            "--limit",
            "50",
            "--data-dir",
            str(mnist_dir()),
        ]
    )
    assert rc == 0 and "50/50 identical" in capsys.readouterr().out
    rc = cli_main(
        [
            "verify",
            str(path),
            "--target",
            "host",
            "--dataset",
            "mnist",
            "--limit",
            "20",
            "--json",
            "--data-dir",
            str(mnist_dir()),
        ]
    )
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and d["identical"] == d["n"] == 20 and d["dataset"] == "mnist"
    rc = cli_main(
        [
            "export",
            str(path),
            "--out",
            str(tmp_path / "fw"),
            "--prefix",
            "mnist",
            "--target",
            "cortex-m0",
            "--json",
        ]
    )
    d = json.loads(capsys.readouterr().out)
    assert rc == 0 and Path(d["header"]).name == "mnist.h"
    (rep,) = d["reports"]
    assert rep["weight_bytes"] == 128 * 196 + 10 * 32  # exactly 2 bits per weight
    assert rep["weight_bits_per_weight"] == 2.0
    assert rep["scratch_bytes"] == 1288 and rep["ram_bytes"] < 2048
    assert 0 < rep["code_bytes"] < 2000 and rep["stack_bytes"] > 0
    rc = cli_main(
        [
            "export",
            str(path),
            "--out",
            str(tmp_path / "fw"),
            "--prefix",
            "mnist",
            "--target",
            "cortex-m4",
        ]
    )
    text = capsys.readouterr().out
    assert rc == 0 and "target cortex-m4 (mps2-an386, dsp kernels, -O2)" in text
    assert "instructions per inference" in text


def test_gen_firmware_tool_matches_export(mnist_model, tmp_path):
    path = tmp_path / "m.ctm"
    mnist_model.save(path)
    tool = Path(__file__).resolve().parents[1] / "tools" / "gen_firmware.py"
    subprocess.run(
        [
            sys.executable,
            str(tool),
            str(path),
            "--out",
            str(tmp_path / "a"),
            "--prefix",
            "mnist",
            "--no-report",
        ],
        check=True,
        capture_output=True,
    )
    cli_main(
        ["export", str(path), "--out", str(tmp_path / "b"), "--prefix", "mnist", "--no-report"]
    )
    assert (tmp_path / "a/mnist.h").read_bytes() == (tmp_path / "b/mnist.h").read_bytes()


def test_instruction_counts_are_exact_and_repeatable(mnist_model, mnist):
    require_target("cortex-m4")
    x = mnist.x_test[:5]
    a = codegen.size_report(mnist_model, "cortex-m4", x=x, prefix="mnist")
    b = codegen.size_report(mnist_model, "cortex-m4", x=x, prefix="mnist")
    assert a["instructions_per_inference"] == b["instructions_per_inference"] > 0
    assert a["instructions_per_inference"] * 5 == int(a["instructions_per_inference"] * 5)


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
def test_contract_extremes(target):
    """|bias| = 2^27, all weights +1 or -1, all inputs at 255 (activation 127), shift 24
    and shift 0: the int32 arithmetic of the header must still equal the reference."""
    require_target(target)
    from conntra.model import TernaryDense

    big = 1 << 27
    w0 = np.ones((8, 64), np.int8)
    w0[1::2] = -1
    b0 = np.array([big, -big, big, -big, 0, 5, -5, big], np.int32)
    w1 = np.ones((4, 8), np.int8)
    w1[2] = -1
    b1 = np.array([big, -big, 0, 7], np.int32)
    w2 = np.ones((3, 4), np.int8)
    b2 = np.array([-big, big, 0], np.int32)
    model = TernaryModel(
        [TernaryDense(w0, b0, 24), TernaryDense(w1, b1, 0), TernaryDense(w2, b2, -1)],
        InputQuant.pixels(64),
    )
    x = np.array([np.full(64, 255), np.zeros(64), np.arange(64) * 4], np.uint8)
    r = codegen.verify(model, target, x, count_instructions=False)
    assert r["identical"] == r["n"] == 3, r["mismatches"]


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
@pytest.mark.parametrize("act_bits", [[1, 1, 1], [2, 2, 2], [4, 4, 4], [4, 1, 2], [7, 2, 7]])
def test_act_bits_random_models_identical(target, act_bits):
    """Fewer activation bits clamp each hidden layer at 2^a - 1 (portable kernels on
    M0 and the host, USAT with the bit count on M4); small shifts and big biases put
    many activations on both clamps."""
    require_target(target)
    model = TernaryModel.random(
        [37, 21, 9, 6, 5],
        InputQuant.pixels(37),
        seed=sum(act_bits),
        shifts=[3, 1, 0],
        act_bits=act_bits,
        bias_range=300,
    )
    x = np.random.default_rng(5).integers(0, 256, size=(150, 37)).astype(np.uint8)
    x[0] = 255
    h = model.layers[0]
    from conntra.reference import dense_acc, requantize

    a = requantize(dense_acc(model.quantize(x), h.weights, h.bias), h.shift, h.act_bits)
    top = (1 << act_bits[0]) - 1
    assert (a == top).any() and (a == 0).any() and (a <= top).all()  # both clamps are hit
    r = codegen.verify(model, target, x, count_instructions=False)
    assert r["identical"] == r["n"] == 150, r["mismatches"]
    text = codegen.render_header(model, "n")
    for bits in sorted(set(act_bits)):  # bytes, or bit planes for popcount layers
        assert f"n_requant{bits}(" in text or f"n_planes{bits}(" in text


def test_act_bits_dsp_and_portable_agree_on_m4():
    require_target("cortex-m4")
    model = TernaryModel.random(
        [64, 40, 10], InputQuant.pixels(64), seed=4, shifts=[2], act_bits=2, bias_range=50
    )
    x = np.random.default_rng(2).integers(0, 256, size=(60, 64)).astype(np.uint8)
    r = codegen.verify(
        model, "cortex-m4", x, prefix="m", extra_flags=["-DM_PORTABLE"], count_instructions=False
    )
    assert r["kernels"] == "portable" and r["identical"] == r["n"] == 60, r["mismatches"]


@pytest.fixture(scope="module")
def trained_low_bit_model(mnist):
    """A tiny CoNNTrA model trained on real MNIST with 2-bit activations."""
    from conntra.train import api
    from conntra.train.coordinate import ConntraConfig

    cfg = ConntraConfig(batch=512, budget=512, rounds=2, init_epochs=0.5)
    result = api.train(
        mnist, [24], "conntra", epochs=1, seed=1, config=cfg, max_train=1200, act_bits=2
    )
    return result.model


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
def test_trained_2_bit_model_identical_on_mnist(
    mnist, trained_low_bit_model, target, tmp_path, capsys
):
    require_target(target)
    model = trained_low_bit_model
    assert model.layers[0].act_bits == 2
    assert model.error_rate(mnist.x_test[:500], mnist.y_test[:500]) < 0.6  # it learned
    path = tmp_path / "a2.ctm"
    model.save(path)
    rc = cli_main(
        [
            "verify",
            str(path),
            "--target",
            target,
            "--dataset",
            "mnist",
            "--limit",
            "100",
            "--data-dir",
            str(mnist_dir()),
        ]
    )
    assert rc == 0 and "100/100 identical" in capsys.readouterr().out
