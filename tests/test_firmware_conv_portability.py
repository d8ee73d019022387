"""Convolutional headers beyond C99 on the host: every optimisation level on the Cortex-M
compilers, C++ compilers, no hidden libc calls, and honest size reports."""

from __future__ import annotations

import json
import subprocess

import numpy as np
import pytest
from _conv_models import conv_model, mnist_conv_model
from _firmware_helpers import conv_edge_models, edge_inputs, impl_source, require_target
from _tools import require_tools

from conntra import codegen
from conntra.cli import main as cli_main
from conntra.codegen import api
from conntra.codegen import build as fwbuild
from conntra.codegen.report import format_report
from conntra.codegen.targets import get_target

STRICT = ["-std=c99", "-Wall", "-Wextra", "-Wconversion", "-pedantic", "-Werror"]
CXX_FLAGS = ["-Wall", "-Wextra", "-Wconversion", "-Werror", "-pedantic"]


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m4", "cortex-m7", "cortex-m33", "cortex-m55"])
def test_conv_header_compiles_warning_free_at_every_level(tmp_path, cpu):
    """Portable and DSP kernels, including the Thumb-2 assembly of the DSP path, which
    must leave r7 (the frame pointer at -O0) alone."""
    require_tools("arm-none-eabi-gcc")
    src = impl_source(tmp_path, conv_model(), "net")
    for opt in ("-O0", "-O1", "-O2", "-O3", "-Os"):
        for extra in ((), ("-DNET_PORTABLE",)):
            subprocess.run(
                ["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", *STRICT, opt, *extra, "-c"]
                + [src.name, "-o", "net.o"],
                cwd=tmp_path,
                check=True,
            )


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m4"])
@pytest.mark.parametrize("opt", ["-O2", "-O3", "-Os"])
def test_conv_code_needs_no_libc_without_ffreestanding(tmp_path, cpu, opt):
    """No memset for the cleared im2col rows and packed sums, no memcpy, no division."""
    require_tools("arm-none-eabi-gcc", "arm-none-eabi-nm")
    for name, model in (("net", conv_model()), ("edge", conv_edge_models()["flush"])):
        src = impl_source(tmp_path, model, name)
        for extra in ((), (f"-D{name.upper()}_PORTABLE",)):
            subprocess.run(
                ["arm-none-eabi-gcc", f"-mcpu={cpu}", "-mthumb", *STRICT, opt, *extra, "-c"]
                + [src.name, "-o", "x.o"],
                cwd=tmp_path,
                check=True,
            )
            nm = subprocess.run(
                ["arm-none-eabi-nm", "-u", "x.o"],
                cwd=tmp_path,
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            assert nm.split() == [], (name, extra, nm)


@pytest.mark.parametrize("std", ["c++11", "c++17"])
def test_conv_header_as_cxx_gives_the_same_logits(tmp_path, std):
    require_tools("gcc", "g++")
    model = conv_model()
    x = edge_inputs(model, 20, seed=2)
    data, mode = api._test_inputs(model, x)
    b = fwbuild.build(model, get_target("host"), tmp_path, "net", n_samples=len(x), input_mode=mode)
    d = b.directory
    subprocess.run(
        ["g++", f"-std={std}", *CXX_FLAGS, "-O2", "-x", "c++", "-c", "model.c", "-o", "model.o"],
        cwd=d,
        check=True,
    )
    subprocess.run(["gcc", "-std=c99", "-O2", "-c", "test_main.c", "-o", "t.o"], cwd=d, check=True)
    subprocess.run(["g++", "-o", "model_test", "model.o", "t.o"], cwd=d, check=True)
    (d / fwbuild.INPUTS_FILE).write_bytes(data)
    fwbuild.run_program(b)
    out = np.frombuffer((d / fwbuild.OUTPUTS_FILE).read_bytes(), dtype="<i4").reshape(len(x), -1)
    assert np.array_equal(out[:, :-1], model.logits(x, backend="numpy"))


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m4"])
def test_conv_header_compiles_with_arm_gxx(tmp_path, cpu):
    require_tools("arm-none-eabi-g++")
    src = impl_source(tmp_path, conv_model(), "net", suffix=".cpp")
    for opt in ("-O0", "-O2"):
        subprocess.run(
            ["arm-none-eabi-g++", f"-mcpu={cpu}", "-mthumb", "-std=c++11", *CXX_FLAGS, opt]
            + ["-c", src.name, "-o", "net.o"],
            cwd=tmp_path,
            check=True,
        )


@pytest.mark.parametrize("target", ["cortex-m0", "cortex-m4"])
def test_conv_size_report(target):
    """Weights at 2 bits (F2 rows and D2 bytes, exactly the codes), biases, the RAM plan
    part by part, instructions per inference."""
    require_target(target)
    model = mnist_conv_model()
    shapes = model.shapes()
    codes = sum(
        len(layer.firmware(shapes[i])["codes"])
        for i, layer in enumerate(model.layers)
        if layer.has_params
    )
    r = codegen.size_report(model, target, prefix="mnist")
    assert r["weight_bytes"] == codes
    assert 2.0 <= r["weight_bits_per_weight"] < 2.02
    assert r["bias_bytes"] == 4 * (8 + 8 + 16 + 10)
    plan = r["ram_plan"]
    assert plan["activation_bytes"] == 6272 + 1568
    assert r["scratch_bytes"] == plan["scratch_bytes"] == 7840 + 256 + 1296 + 288
    assert r["ram_bytes"] < 16 * 1024  # fits a micro:bit
    assert r["kernels"] == ("dsp" if target == "cortex-m4" else "portable")
    assert r["instructions_per_inference"] > 0
    text = format_report(r)
    assert "scratch = activations 7840 (two ping-pong ends of one arena" in text
    assert "tables 1296 + conv2d im2col row or taps 288" in text


def test_export_cli_on_a_conv_model(tmp_path, capsys):
    require_target("cortex-m4")
    path = tmp_path / "cnn.ctm"
    mnist_conv_model().save(path)
    out = tmp_path / "fw"
    assert (
        cli_main(
            ["export", str(path), "--out", str(out), "--prefix", "cnn"]
            + ["--target", "cortex-m4", "--json"]
        )
        == 0
    )
    d = json.loads(capsys.readouterr().out)
    (rep,) = d["reports"]
    assert rep["ram_plan"]["activation_bytes"] == 7840
    assert (out / "cnn.h").read_text().count("static const uint8_t cnn_w") == 4
