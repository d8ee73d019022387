"""Convolutional models as firmware, compiled with the strict flags and run on the host and
on the seven emulated Cortex-M cores: every logit and predicted class equals the model's.

``conntra.codegen.verify`` compares with ``model.logits`` (the C core); the C++ test of
tests/test_firmware_conv_portability.py compares with the numpy reference (the
specification of docs/format.md), and one test here with the loop-by-loop oracle of
tests/_conv_models.py, which uses neither."""

from __future__ import annotations

import numpy as np
import pytest
from _conv_models import conv_model, mnist_conv_model, oracle_logits
from _firmware_helpers import (
    conv_edge_models,
    edge_inputs,
    load_mnist_or_skip,
    mnist_data_dir,
    random_conv_model,
    require_target,
)

from conntra import codegen
from conntra.cli import main as cli_main

TARGETS = ["host", "cortex-m0", "cortex-m3", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"]
DSP = {"cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"}


@pytest.fixture(scope="module")
def mnist():
    return load_mnist_or_skip()


def _identical(model, target, x, **options):
    r = codegen.verify(model, target, x, count_instructions=False, **options)
    assert r["identical"] == r["n"] == len(x), r["mismatches"]
    return r


@pytest.mark.parametrize("target", TARGETS)
def test_conv_model_every_geometry_on_every_target(target):
    """'same' padding, pooling, depthwise, stride (2, 1) with asymmetric padding, flatten,
    dense: as raw pixels (<prefix>_infer applies the input shift) and as int8 codes."""
    require_target(target)
    model = conv_model()
    x = edge_inputs(model, 12, seed=3)
    r = _identical(model, target, x)
    assert r["input"] == "pixels"
    assert r["kernels"] == ("dsp" if target in DSP else "portable")
    assert _identical(model, target, x.astype(np.int64))["input"] == "codes"


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
def test_mnist_conv_model_on_real_test_images(mnist, target):
    n = 1000 if target == "host" else 200
    require_target(target)
    model = mnist_conv_model()
    r = codegen.verify(model, target, mnist.x_test[:n], prefix="mnist")
    assert r["identical"] == r["n"] == n, r["mismatches"]
    if target != "host":
        assert r["instructions_per_inference"] > 0


@pytest.mark.parametrize("target", ["cortex-m3", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_mnist_conv_model_on_the_other_cores(mnist, target):
    require_target(target)
    _identical(mnist_conv_model(), target, mnist.x_test[-40:], prefix="mnist")


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
@pytest.mark.parametrize("act_bits", [(1, 1, 1), (2, 2, 2), (4, 4, 4), (7, 7, 7), (1, 4, 2)])
def test_conv_activation_bits(target, act_bits):
    """1-, 2-, 4- and 7-bit activations in the groups-1 conv layers (USAT's bit count on
    DSP cores) and the depthwise one; the first layer hits both clamps below 7 bits."""
    require_target(target)
    model = conv_model(seed=sum(act_bits), act_bits=act_bits)
    x = edge_inputs(model, 10, seed=5)
    first = model.layers[0]
    from conntra.reference import requantize

    acc = first.forward(model.quantize(x), model.input_shape)
    a = requantize(acc, first.shift, first.act_bits)
    top = (1 << act_bits[0]) - 1
    assert (a == 0).any() and ((a == top).any() or top == 127)
    _identical(model, target, x)
    text = codegen.render_header(model, "n")
    assert f"n_dw{act_bits[1]}s2(" in text and f"n_cfinish{act_bits[0]}s3(" in text


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
@pytest.mark.parametrize("name", ["flush", "saturate", "depthwise_first", "flatten_first"])
def test_conv_edges(target, name):
    require_target(target)
    model = conv_edge_models()[name]
    x = edge_inputs(model, 8, seed=7)
    _identical(model, target, x)
    _identical(model, target, x.astype(np.int64))


@pytest.mark.parametrize("target", ["cortex-m4", "cortex-m7"])
def test_dsp_and_portable_conv_kernels_agree(target, mnist):
    require_target(target)
    for model, x in (
        (conv_model(), edge_inputs(conv_model(), 10, seed=9)),
        (mnist_conv_model(), mnist.x_test[:40]),
    ):
        r = _identical(model, target, x, prefix="m", extra_flags=["-DM_PORTABLE"])
        assert r["kernels"] == "portable"


def test_firmware_equals_the_loop_oracle():
    """The host's logits against tests/_conv_models.py's loops over the formulas of
    docs/format.md 1.2 (independent of conntra.reference)."""
    require_target("host")
    from conntra.codegen import api, build, targets

    model = conv_model()
    x = edge_inputs(model, 6, seed=11)
    import tempfile

    with tempfile.TemporaryDirectory() as tmp:
        _, _, out = api._run(model, targets.get_target("host"), x, tmp, "model", False)
    oracle = oracle_logits(model, model.quantize(x))
    assert np.array_equal(out[:, : model.n_classes], oracle)
    assert build.OUTPUTS_FILE  # the program wrote its logits where verify reads them


@pytest.mark.parametrize(
    "target, seeds",
    [("host", range(0, 30)), ("cortex-m0", range(30, 36)), ("cortex-m4", range(36, 42))],
)
def test_random_geometries(target, seeds):
    require_target(target)
    for seed in seeds:
        model = random_conv_model(seed)
        x = edge_inputs(model, 4, seed=seed)
        r = codegen.verify(model, target, x, count_instructions=False)
        assert r["identical"] == r["n"], (seed, model.shapes(), r["mismatches"])


def test_cli_verify_of_a_conv_model_file(mnist, tmp_path, capsys):
    require_target("cortex-m0")
    path = tmp_path / "cnn.ctm"
    mnist_conv_model().save(path)
    args = ["verify", str(path), "--dataset", "mnist", "--data-dir", mnist_data_dir()]
    assert cli_main([*args, "--target", "cortex-m0", "--limit", "50"]) == 0
    out = capsys.readouterr().out
    assert "50/50 identical" in out and "instructions per inference" in out
    assert cli_main([*args, "--target", "host", "--limit", "300"]) == 0
    assert "300/300 identical" in capsys.readouterr().out
