"""The generated header beyond C99 on the host: C++ compilers, bare-metal links without
libc, the tabular models' input quantization on the device, relative build directories,
honest size reports, and where the QEMU plugin's source lives."""

from __future__ import annotations

import importlib.resources
import os
import re
import subprocess
from pathlib import Path

import numpy as np
import pytest
from _firmware_helpers import demo_iris_model, demo_mnist_model, require_target
from _tools import require_tools

from conntra import codegen, datasets
from conntra.cli import main as cli_main
from conntra.codegen import api, toolchain
from conntra.codegen import build as fwbuild
from conntra.codegen.report import format_report
from conntra.codegen.targets import get_target
from conntra.model import TernaryModel
from conntra.quant import InputQuant

CXX_FLAGS = ["-Wall", "-Wextra", "-Wconversion", "-Werror", "-pedantic", "-O2"]
ARM_STRICT = ["-std=c99", "-Wall", "-Wextra", "-Wconversion", "-Werror", "-pedantic"]
DOCS = Path(__file__).resolve().parents[1] / "docs" / "firmware.md"


def mnist_or_skip():
    data = os.environ.get("CONNTRA_DATA") or str(
        Path(__file__).resolve().parents[2] / "shared/data/mnist"
    )
    try:
        ds = datasets.load("mnist", data_dir=data)
    except Exception as exc:  # noqa: BLE001 - only a missing data set may skip
        if os.environ.get("CONNTRA_DATA"):
            raise
        pytest.skip(f"MNIST not available: {exc}")
    return ds, demo_mnist_model(data)


def odd_model() -> TernaryModel:
    """n_in 37 (a rest group after the full passes), three hidden layers."""
    return TernaryModel.random(
        [37, 21, 9, 6, 5], InputQuant.pixels(37), seed=11, shifts=[0, 9, 3], bias_range=2000
    )


def iris_inputs_with_edges(model) -> np.ndarray:
    """All 150 flowers, plus inputs on the rounding boundaries of every code, below the
    range, above it, and far outside (overflowing products)."""
    ds = datasets.load("iris")
    q = model.input_quant
    off, scale = np.array(q.offset), np.array(q.scale)
    edges = [off + (k - 0.5) / scale for k in (-3, 0, 1, 2, 63, 64, 126, 127, 128, 200)]
    edges += [off + k / scale for k in (0, 1, 126.5, 127)]
    edges += [np.full(4, 1e300), np.full(4, -1e300), np.full(4, -0.0)]
    return np.concatenate([ds.x_train, ds.x_test, np.array(edges)])


# -- C++ -------------------------------------------------------------------------------


def _cxx_run(model, x, tmp_path, std):
    """The verification program of the host target with the header's implementation
    compiled by g++ (the test program stays C): logits and codes as verify reads them."""
    data, mode = api._test_inputs(model, x)
    b = fwbuild.build(model, get_target("host"), tmp_path, "net", n_samples=len(x), input_mode=mode)
    d = b.directory
    for name in ("model.o", "model_test"):
        (d / name).unlink()
    subprocess.run(
        ["g++", f"-std={std}", *CXX_FLAGS, "-x", "c++", "-c", "model.c", "-o", "model.o"],
        cwd=d,
        check=True,
    )
    subprocess.run(
        ["gcc", "-std=c99", "-O2", "-c", "test_main.c", "-o", "test_main.o"], cwd=d, check=True
    )
    subprocess.run(["g++", "-o", "model_test", "model.o", "test_main.o"], cwd=d, check=True)
    (d / fwbuild.INPUTS_FILE).write_bytes(data)
    fwbuild.run_program(b)
    out = np.frombuffer((d / fwbuild.OUTPUTS_FILE).read_bytes(), dtype="<i4")
    return out.reshape(len(x), -1), mode


@pytest.mark.parametrize("std", ["c++11", "c++17"])
def test_header_compiles_as_cxx_and_matches_python(tmp_path, std):
    require_tools("gcc", "g++")
    iris = demo_iris_model()
    x = iris_inputs_with_edges(iris)
    out, mode = _cxx_run(iris, x, tmp_path / "iris", std)
    k = iris.n_classes
    assert mode == "float"
    assert np.array_equal(out[:, :k], iris.logits(x))
    assert np.array_equal(out[:, k + 1 :], iris.quantize(x))
    model = odd_model()
    x = np.random.default_rng(2).integers(0, 256, size=(200, 37)).astype(np.uint8)
    x[0] = 255
    out, mode = _cxx_run(model, x, tmp_path / "odd", std)
    assert mode == "pixels" and np.array_equal(out[:, :-1], model.logits(x))


def test_mnist_header_as_cxx_on_real_images(tmp_path):
    require_tools("gcc", "g++")
    ds, model = mnist_or_skip()
    x = ds.x_test[:300]
    out, _ = _cxx_run(model, x, tmp_path, "c++11")
    assert np.array_equal(out[:, :-1], model.logits(x))
    assert np.array_equal(out[:, -1], np.argmax(model.logits(x), axis=1))


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m4"])
def test_header_compiles_with_arm_gxx(tmp_path, cpu):
    """The DSP kernels (M4) and the portable ones (M0) both compile as C++."""
    require_tools("arm-none-eabi-g++")
    for name, model in (("iris", demo_iris_model()), ("odd", odd_model())):
        codegen.export(model, tmp_path, name, report=False)
        src = tmp_path / f"{name}.cpp"
        src.write_text(f'#define {name.upper()}_IMPLEMENTATION\n#include "{name}.h"\n')
        subprocess.run(
            [
                "arm-none-eabi-g++",
                f"-mcpu={cpu}",
                "-mthumb",
                "-std=c++11",
                *CXX_FLAGS,
                "-c",
                src.name,
                "-o",
                f"{name}.o",
            ],
            cwd=tmp_path,
            check=True,
        )


# -- no hidden libc calls --------------------------------------------------------------


def _undefined(tmp_path, model, name, cpu, opt, extra=()):
    codegen.export(model, tmp_path, name, report=False)
    src = tmp_path / f"{name}_impl.c"
    src.write_text(f'#define {name.upper()}_IMPLEMENTATION\n#include "{name}.h"\n')
    obj = tmp_path / f"{name}_{cpu}{opt}.o"
    subprocess.run(
        [
            "arm-none-eabi-gcc",
            f"-mcpu={cpu}",
            "-mthumb",
            *ARM_STRICT,
            opt,
            *extra,
            "-c",
            src.name,
            "-o",
            obj.name,
        ],
        cwd=tmp_path,
        check=True,
    )
    nm = subprocess.run(
        ["arm-none-eabi-nm", "-u", obj.name],
        cwd=tmp_path,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return {line.split()[-1] for line in nm.splitlines() if line.strip()}


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m4"])
@pytest.mark.parametrize("opt", ["-O2", "-O3", "-Os"])
def test_integer_code_needs_no_libc_without_ffreestanding(tmp_path, cpu, opt):
    """Hosted mode (no -ffreestanding) lets GCC replace copy loops by memcpy calls that a
    -nostdlib link lacks; the generated code must leave it nothing to replace."""
    require_tools("arm-none-eabi-gcc", "arm-none-eabi-nm")
    single = TernaryModel.random([784, 128], InputQuant.pixels(784), seed=3, bias_range=99)
    for name, model in (("odd", odd_model()), ("single", single)):
        for extra in ((), ("-DODD_PORTABLE", "-DSINGLE_PORTABLE")):
            assert _undefined(tmp_path, model, name, cpu, opt, extra) == set(), (name, extra)


@pytest.mark.parametrize("cpu", ["cortex-m0", "cortex-m4"])
def test_affine_quantization_needs_only_softfloat_helpers(tmp_path, cpu):
    """Tabular headers use double in _quantize: on cores without a double FPU GCC calls
    libgcc's __aeabi_d* helpers (documented), nothing from libc (no floor)."""
    require_tools("arm-none-eabi-gcc", "arm-none-eabi-nm")
    undefined = _undefined(tmp_path, demo_iris_model(), "iris", cpu, "-O2")
    assert undefined and all(s.startswith("__aeabi_d") for s in undefined), undefined


# -- tabular models: quantization in the header ------------------------------------------


def test_affine_header_holds_the_exact_quantization():
    model = demo_iris_model()
    text = codegen.render_header(model, "iris")
    for name, values in (("offset", model.input_quant.offset), ("scale", model.input_quant.scale)):
        body = re.search(rf"iris_in_{name}\[4\] = \{{(.*?)\}};", text, re.S).group(1)
        assert [float(v) for v in body.split(",")] == list(values)  # bit for bit
    assert "int32_t iris_quantize(const double *x, int8_t *x_q);" in text
    assert "int32_t iris_infer_f(const double *x" in text
    pixels = codegen.render_header(odd_model(), "odd")
    assert "double" not in pixels and "_quantize" not in pixels and "float.h" not in pixels


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
def test_header_quantizes_raw_iris_features_like_python(target):
    require_target(target)
    model = demo_iris_model()
    x = iris_inputs_with_edges(model)
    r = codegen.verify(model, target, x, prefix="iris", count_instructions=False)
    assert r["input"] == "float"
    assert r["codes_identical"] == r["identical"] == r["n"] == len(x), r["mismatches"]


def test_verify_of_a_tabular_model_calls_infer_f(tmp_path, capsys):
    require_target("host")
    path = tmp_path / "iris.ctm"
    demo_iris_model().save(path)
    rc = cli_main(
        [
            "verify",
            str(path),
            "--target",
            "host",
            "--dataset",
            "iris",
            "--json",
            "--keep",
            str(tmp_path / "kept"),
        ]
    )
    import json

    r = json.loads(capsys.readouterr().out)
    assert rc == 0 and r["input"] == "float" and r["codes_identical"] == r["n"] > 0
    main = (tmp_path / "kept" / "test_main.c").read_text()
    assert "model_infer_f(input, result, &scratch)" in main and "model_infer_q" not in main


# -- relative --keep ---------------------------------------------------------------------


@pytest.mark.parametrize("target", ["host", "cortex-m0", "cortex-m4"])
def test_verify_keep_with_a_relative_dir(tmp_path, monkeypatch, capsys, target):
    require_target(target)
    demo_iris_model().save(tmp_path / "iris.ctm")
    monkeypatch.chdir(tmp_path)
    rc = cli_main(
        ["verify", "iris.ctm", "--target", target, "--dataset", "iris", "--keep", "kept/build"]
    )
    out = capsys.readouterr().out
    assert rc == 0 and re.search(r"(\d+)/\1 identical", out), out
    assert (tmp_path / "kept/build/model.h").exists()
    assert (tmp_path / "kept/build" / fwbuild.OUTPUTS_FILE).stat().st_size > 0
    if target != "host":
        assert "instructions per inference" in out
        assert not (tmp_path / "kept/build/kept").exists()  # counts went to the right place


# -- size report -------------------------------------------------------------------------


@pytest.mark.parametrize("target", ["cortex-m0", "cortex-m4"])
def test_size_report_counts_every_bias(target):
    """The Iris model's 11 biases take 44 bytes whatever the optimiser does with them."""
    require_target(target)
    model = demo_iris_model()
    n_bias = sum(layer.n_out for layer in model.layers)
    n_codes = sum(layer.n_out * -(-layer.n_in // 4) for layer in model.layers)
    r = codegen.size_report(model, target, prefix="iris", count_instructions=False)
    assert r["bias_bytes"] == 4 * n_bias == 44
    assert r["weight_bytes"] == n_codes
    assert r["other_const_bytes"] >= 2 * 8 * 4  # the input offsets and scales (double)
    assert f"biases {4 * n_bias} " in format_report(r)


# -- the plugin is package data, not a template --------------------------------------------


def test_plugin_source_is_not_among_the_templates(tmp_path, monkeypatch):
    templates = importlib.resources.files("conntra.ctemplates")
    names = [p.name for p in templates.iterdir() if p.is_file()]
    assert "qemu_icount.c" not in names
    assert all(n.endswith(".j2") or n == "__init__.py" for n in names), names
    plugin = importlib.resources.files("conntra.codegen").joinpath("plugins/qemu_icount.c")
    assert "qemu_plugin_install" in plugin.read_text()
    require_tools("gcc")
    monkeypatch.setenv("CONNTRA_CACHE_DIR", str(tmp_path / "cache"))
    built = toolchain.icount_plugin()
    assert built.parent == tmp_path / "cache" and built.stat().st_size > 0
    assert sorted(p.name for p in built.parent.iterdir()) == [built.name]  # no temporaries
    assert toolchain.icount_plugin() == built


# -- the documentation -----------------------------------------------------------------


def test_firmware_doc_cites_nothing_outside_the_repository():
    text = DOCS.read_text()
    assert not re.search(r"\bissues? \d+|#\d+\b", text)
    assert not re.search(r"(?<![\w.])/(work|home|tmp|root|usr|opt)/", text)
    assert "ctemplates/qemu_icount.c" not in text
    for path in re.findall(
        r"`((?:conntra|ctemplates|tests|tools|benchmarks|docs|native)"
        r"/[\w./-]+)`",
        text,
    ):
        assert (DOCS.parents[1] / path.split(":")[0]).exists(), path
