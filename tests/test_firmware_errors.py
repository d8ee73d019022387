"""Bad input to the firmware generator: clear ConntraError subclasses and messages."""

from __future__ import annotations

import struct

import numpy as np
import pytest

from conntra import codegen
from conntra.cli import main as cli_main
from conntra.codegen import names
from conntra.errors import (
    ConntraError,
    IdentifierError,
    InputError,
    ModelVersionError,
    OutputPathError,
    ToolchainError,
)
from conntra.model import FloatDense, FloatModel, TernaryModel
from conntra.quant import InputQuant


@pytest.fixture(scope="module")
def small_model() -> TernaryModel:
    return TernaryModel.random([20, 6, 3], InputQuant.pixels(20), seed=1)


@pytest.mark.parametrize(
    "prefix, message",
    [
        ("int", "is a C keyword"),
        ("static", "is a C keyword"),
        ("_Bool", "starts with '_'"),
        ("1model", "starts with a digit"),
        ("9", "starts with a digit"),
        ("mödel", "non-ASCII"),
        ("my-model", "is not a C identifier (bad characters '-'"),
        ("a b", "is not a C identifier"),
        ("", "prefix is empty"),
        ("_model", "reserved to the C implementation"),
        ("uint8_t", "<stdint.h> or C already defines"),
        ("m" * 32, "32 characters long"),
    ],
)
def test_bad_prefix_raises_identifier_error(small_model, prefix, message):
    with pytest.raises(IdentifierError) as info:
        codegen.render_header(small_model, prefix)
    assert message in str(info.value)
    assert isinstance(info.value, ValueError) and isinstance(info.value, ConntraError)


@pytest.mark.parametrize("prefix", ["mnist", "Model2", "net_v1", "m" * 31, "INT"])
def test_good_prefixes_pass(prefix):
    assert names.check_prefix(prefix) == prefix


def test_bad_prefix_through_the_cli(small_model, tmp_path, capsys):
    path = tmp_path / "m.ctm"
    small_model.save(path)
    rc = cli_main(
        ["export", str(path), "--out", str(tmp_path / "out"), "--prefix", "for", "--no-report"]
    )
    assert rc == 2
    assert "prefix 'for' is a C keyword" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()  # nothing written before validation


def test_output_below_a_file_is_unwritable(small_model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputPathError) as info:
        codegen.export(small_model, blocker / "sub", "m", report=False)
    assert "cannot create output directory" in str(info.value)
    assert isinstance(info.value, OSError)


def test_output_is_a_file(small_model, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(OutputPathError, match="exists and is not a directory"):
        codegen.export(small_model, blocker, "m", report=False)


def test_model_file_of_unknown_version(small_model, tmp_path, capsys):
    path = tmp_path / "future.ctm"
    small_model.save(path)
    data = bytearray(path.read_bytes())
    struct.pack_into("<H", data, 8, 99)  # format version field
    path.write_bytes(bytes(data))
    with pytest.raises(ModelVersionError, match="model format version 99"):
        codegen.export(path, tmp_path / "out", "m", report=False)
    # a model file the build cannot read is a failure (1), not a usage error (2)
    assert cli_main(["export", str(path), "--out", str(tmp_path / "o2"), "--no-report"]) == 1
    assert "model format version 99" in capsys.readouterr().err


def test_model_asking_for_unknown_firmware_format(tmp_path):
    m = TernaryModel.random([8, 3], InputQuant.pixels(8), seed=0, metadata={"firmware_format": 7})
    with pytest.raises(
        ModelVersionError, match="asks for firmware format 7; this conntra generates format 2"
    ):
        codegen.render_header(m, "m")


def test_float_models_are_refused():
    m = FloatModel(
        [FloatDense(np.zeros((3, 8), np.float32), np.zeros(3, np.float32))], InputQuant.pixels(8)
    )
    with pytest.raises(InputError, match="only ternary models can be exported"):
        codegen.render_header(m, "m")


def test_input_shift_zero_is_refused():
    # InputQuant itself refuses shift 0, so no such model reaches the renderer
    with pytest.raises(InputError, match="input shift must be 1..7, got 0"):
        InputQuant.pixels(8, shift=0)


def test_unknown_target(small_model):
    with pytest.raises(InputError, match="unknown target 'cortex-a9'; choose one of host"):
        codegen.verify(small_model, "cortex-a9", np.zeros((1, 20), np.uint8))


def test_missing_compiler_is_a_toolchain_error(small_model, tmp_path, monkeypatch):
    monkeypatch.setenv("CONNTRA_HOST_CC", "no-such-cc-conntra")
    with pytest.raises(ToolchainError) as info:
        codegen.verify(small_model, "host", np.zeros((2, 20), np.uint8))
    assert "no-such-cc-conntra not found on PATH" in str(info.value)
    assert "CONNTRA_HOST_CC" in str(info.value)


def test_compiler_failure_is_a_toolchain_error(small_model, monkeypatch):
    from _tools import require_tools

    require_tools("gcc")
    with pytest.raises(ToolchainError) as info:
        codegen.verify(
            small_model, "host", np.zeros((2, 20), np.uint8), extra_flags=["-DCONNTRA_FW_FORMAT=1"]
        )
    msg = str(info.value)
    assert "compiling the model for the host failed" in msg
    assert "uses conntra firmware format 2, but CONNTRA_FW_FORMAT asks for another" in msg


def test_wrong_input_width(small_model):
    from conntra.errors import ShapeError

    with pytest.raises(ShapeError, match=r"inputs must have shape \(n, 20\)"):
        codegen.verify(small_model, "host", np.zeros((2, 21), np.uint8))
