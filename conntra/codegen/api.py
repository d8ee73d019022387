"""The firmware generator's library functions: export, report, verify.

``tools/gen_firmware.py`` and ``conntra export`` / ``conntra verify`` are thin
wrappers around these.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path

import numpy as np

from conntra.codegen import build as fwbuild
from conntra.codegen import report as fwreport
from conntra.codegen import toolchain
from conntra.codegen.plan import plan as buffer_plan
from conntra.codegen.render import check_model
from conntra.codegen.targets import Target, get_target
from conntra.errors import ShapeError, ToolchainError

DEFAULT_REPORT_TARGETS = ("cortex-m0", "cortex-m4")
REPORT_SAMPLES = 4


def load_model(path):
    """A model from a file (or a model object passed through)."""
    if isinstance(path, (str, os.PathLike)):
        from conntra.modelfile import load

        model = load(path)
    else:
        model = path
    check_model(model)
    return model


def macs(model) -> int:
    """Multiply-accumulates per inference: weights times output pixels."""
    shapes = model.shapes()
    return sum(
        int(layer.weights.size) * shapes[i + 1][0] * shapes[i + 1][1]
        for i, layer in enumerate(model.layers)
        if layer.has_params
    )


def _test_inputs(model, x) -> tuple[bytes, str]:
    """The bytes the test program reads, and its input mode (build.INPUT_MODES): raw
    pixels, int8 codes, or the raw features of a tabular model as little-endian doubles
    (the header quantizes them with <prefix>_quantize)."""
    q = model.input_quant
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != model.sizes[0]:
        raise ShapeError(f"inputs must have shape (n, {model.sizes[0]}), got {x.shape}")
    if q.kind == "shift" and x.dtype == np.uint8:
        return np.ascontiguousarray(x).tobytes(), "pixels"  # the header quantizes the pixels
    if q.kind == "affine":
        return np.ascontiguousarray(x, dtype="<f8").tobytes(), "float"
    return np.ascontiguousarray(model.quantize(x)).view(np.uint8).tobytes(), "codes"


def _run(
    model, target: Target, x, directory, prefix: str, count: bool, extra_flags=(), **build_options
):
    data, mode = _test_inputs(model, x)
    n = len(x)
    b = fwbuild.build(
        model,
        target,
        directory,
        prefix,
        n_samples=n,
        input_mode=mode,
        extra_flags=extra_flags,
        **build_options,
    )
    (b.directory / fwbuild.INPUTS_FILE).write_bytes(data)
    out_path = b.directory / fwbuild.OUTPUTS_FILE
    if out_path.exists():
        out_path.unlink()
    # A hung program (a fault loop, a bad board) must not hang the caller: 10,000 MNIST
    # inferences take under 10 s under QEMU, so this leaves a wide margin. Time follows the
    # multiply-accumulates (a dense layer's are its weights; a convolution reuses each).
    timeout = 120 + 0.05 * n * max(1.0, macs(model) / 100_000)
    result = fwbuild.run_program(
        b, count_instructions=count and not target.is_host, timeout=timeout
    )
    raw = out_path.read_bytes() if out_path.exists() else b""
    width = model.n_classes + 1 + (model.sizes[0] if mode == "float" else 0)
    if len(raw) != 4 * width * n:
        raise ToolchainError(
            f"the test program wrote {len(raw)} bytes of results, expected "
            f"{4 * width * n}; its output: {result['stdout'].strip()}"
        )
    out = np.frombuffer(raw, dtype="<i4").reshape(n, width)
    result["input_mode"] = mode
    return b, result, out


def _kernels(stdout: str) -> str:
    return "dsp" if "dsp kernels" in stdout else "portable"


def size_report(
    model,
    target_name: str,
    *,
    x=None,
    prefix: str = "model",
    workdir=None,
    count_instructions: bool = True,
) -> dict:
    """Flash, RAM, stack and instructions per inference of ``model`` on a Cortex-M
    target. Instructions are counted over ``x`` (default: 4 seeded random inputs)."""
    model = load_model(model)
    target = get_target(target_name)
    if target.is_host:
        raise ToolchainError("a size report needs a Cortex-M target (the host has none)")
    if x is None:
        rng = np.random.default_rng(0)
        hi = 256 if model.input_quant.kind == "shift" else 128
        x = rng.integers(0, hi, size=(REPORT_SAMPLES, model.sizes[0]))
        x = x.astype(np.uint8) if model.input_quant.kind == "shift" else x
        if model.input_quant.kind != "shift":  # affine: inputs inside the training range
            lo = np.array(model.input_quant.offset)
            x = lo + x / np.array(model.input_quant.scale)
    with tempfile.TemporaryDirectory(prefix="conntra-fw-") as tmp:
        directory = Path(workdir) if workdir else Path(tmp)
        b, result, _ = _run(model, target, x, directory, prefix, count_instructions)
        sizes = fwreport.object_sizes(b)
        stack = fwreport.stack_bytes(b)
    r = {
        "target": target.name,
        "board": target.board,
        "cpu": target.cpu,
        "kernels": _kernels(result["stdout"]),
        "opt": " ".join(toolchain.OPT_FLAGS),
        **sizes,
        "stack_bytes": stack["stack_bytes"],
        "ram_plan": buffer_plan(model).describe(),
        "n_weights": model.n_weights,
    }
    r["scratch_bytes"] = r["ram_plan"]["scratch_bytes"]
    r["other_const_bytes"] = r["const_bytes"] - r["weight_bytes"] - r["bias_bytes"]
    r["weight_bits_per_weight"] = 8 * r["weight_bytes"] / model.n_weights
    r["ram_bytes"] = r["scratch_bytes"] + r["stack_bytes"] + r["data_bytes"] + r["bss_bytes"]
    if count_instructions:
        per = result["instructions_model"] / len(x)
        r.update(
            instructions_per_inference=per,
            instructions_per_weight=per / model.n_weights,
            instructions_per_mac=per / macs(model),
            instruction_samples=len(x),
        )
    return r


def export(model, out_dir, prefix: str = "model", targets=(), *, report: bool = True) -> dict:
    """Writes ``<out_dir>/<prefix>.h``; with ``report``, builds it for each target
    and measures it. Returns {"header": path, "reports": [...]}"""
    model = load_model(model)
    header = fwbuild.write_header(model, out_dir, prefix)
    reports = [size_report(model, t, prefix=prefix) for t in targets] if report else []
    return {"header": str(header), "bytes": header.stat().st_size, "reports": reports}


def verify(
    model,
    target_name: str,
    x,
    *,
    prefix: str = "model",
    workdir=None,
    count_instructions: bool = True,
    extra_flags=(),
    **build_options,
) -> dict:
    """Compiles the model and a test program for ``target_name``, runs it on the
    inputs ``x`` and compares every logit (and the predicted class) with the
    Python model, exactly. Returns counts; ``identical == n`` means success.
    ``build_options`` go to ``build.build`` (benchmark baselines)."""
    model = load_model(model)
    target = get_target(target_name)
    x = np.asarray(x)
    expected = model.logits(x)
    t0 = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="conntra-verify-") as tmp:
        directory = Path(workdir) if workdir else Path(tmp)
        _, result, out = _run(
            model, target, x, directory, prefix, count_instructions, extra_flags, **build_options
        )
    k = model.n_classes
    same = (out[:, :k] == expected).all(axis=1) & (out[:, k] == np.argmax(expected, axis=1))
    r = {
        "target": target.name,
        "board": target.board,
        "kernels": _kernels(result["stdout"]),
        "input": result["input_mode"],
        "n": int(len(x)),
    }
    if result["input_mode"] == "float":  # the header's quantization, code for code
        codes_same = (out[:, k + 1 :] == model.quantize(x)).all(axis=1)
        r["codes_identical"] = int(codes_same.sum())
        same &= codes_same
    bad = np.flatnonzero(~same)
    r.update(
        identical=int(same.sum()),
        mismatches=bad[:10].tolist(),
        seconds=round(time.perf_counter() - t0, 3),
    )
    if "instructions_model" in result:
        per = result["instructions_model"] / len(x)
        r.update(
            instructions_per_inference=per,
            instructions_per_weight=per / model.n_weights,
            instructions_per_mac=per / macs(model),
        )
    return r
