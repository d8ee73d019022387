"""Render, compile and run the generated C for one target.

A build directory holds: ``<prefix>.h`` (the header), ``model.c`` (its one
implementation unit), ``test_main.c`` (the verification program) and, for a
Cortex-M, ``startup.c`` and ``link.ld``. The model is compiled on its own into
``model.o`` so its size is the model's own, and the link script puts its code
in one address range for the instruction counter.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from conntra.codegen import toolchain
from conntra.codegen.env import render
from conntra.codegen.render import FIRMWARE_FORMAT, context, render_header
from conntra.codegen.targets import Target
from conntra.errors import OutputPathError, ToolchainError

INPUTS_FILE = "inputs.bin"
OUTPUTS_FILE = "logits.bin"


@dataclass
class Build:
    target: Target
    directory: Path
    program: Path  # executable (host) or ELF (Cortex-M)
    model_object: Path
    prefix: str


def prepare_dir(path) -> Path:
    """Creates ``path`` (and parents) and checks it can be written. Returns it absolute:
    compilers and QEMU run with the build directory as their working directory, where a
    relative path would name another place."""
    path = Path(os.path.abspath(os.fspath(path)))
    if path.exists() and not path.is_dir():
        raise OutputPathError(f"output path {path} exists and is not a directory")
    try:
        path.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise OutputPathError(
            f"cannot create output directory {path}: {exc.strerror or exc}"
        ) from exc
    if not os.access(path, os.W_OK | os.X_OK):
        raise OutputPathError(f"output directory {path} is not writable")
    return path


def write_text(path: Path, text: str) -> Path:
    try:
        path.write_text(text, encoding="ascii", newline="\n")
    except OSError as exc:
        raise OutputPathError(f"cannot write {path}: {exc.strerror or exc}") from exc
    return path


def write_header(model, out_dir, prefix: str) -> Path:
    """Writes ``<out_dir>/<prefix>.h``; returns its path."""
    text = render_header(model, prefix)  # validates prefix and model before touching disk
    return write_text(prepare_dir(out_dir) / f"{prefix}.h", text)


def compile_flags(target: Target, extra=()) -> list[str]:
    flags = toolchain.STRICT_FLAGS + toolchain.OPT_FLAGS + list(extra)
    if not target.is_host:
        flags = [f"-mcpu={target.cpu}"] + toolchain.ARM_FLAGS + flags
    return flags


INPUT_MODES = ("pixels", "codes", "float")  # test program calls _infer, _infer_q, _infer_f


def build(
    model,
    target: Target,
    directory,
    prefix: str,
    *,
    n_samples: int,
    input_mode: str,
    extra_flags=(),
    model_source: str | None = None,
    extra_files=None,
) -> Build:
    """Writes all sources for ``target`` into ``directory`` and compiles them.
    ``input_mode`` (INPUT_MODES) says what the test program reads and which entry point it
    calls. ``model_source`` replaces the generated ``model.c`` (benchmark baselines that
    implement the same API differently); ``extra_files`` maps names to texts."""
    if input_mode not in INPUT_MODES:
        raise ValueError(f"input_mode must be one of {INPUT_MODES}, got {input_mode!r}")
    d = prepare_dir(directory)
    ctx = context(model, prefix)
    write_header(model, d, prefix)
    common = {"version": ctx["version"], "p": ctx["p"], "P": ctx["P"]}
    if model_source is None:
        model_source = render("model_impl.c.j2", template="model_impl.c.j2", **common)
    write_text(d / "model.c", model_source)
    for name, text in (extra_files or {}).items():
        write_text(d / name, text)
    write_text(
        d / "test_main.c",
        render(
            "test_main.c.j2",
            template="test_main.c.j2",
            n_samples=n_samples,
            n_inputs=model.sizes[0],
            n_classes=model.n_classes,
            input_mode=input_mode,
            inputs_file=INPUTS_FILE,
            outputs_file=OUTPUTS_FILE,
            **common,
        ),
    )
    flags = compile_flags(target, extra_flags)
    if target.is_host:
        cc = toolchain.host_cc()
        toolchain.run(
            [cc, *flags, "-c", "model.c", "-o", "model.o"],
            cwd=d,
            what="compiling the model for the host",
        )
        toolchain.run(
            [cc, *flags, "-o", "model_test", "model.o", "test_main.c"],
            cwd=d,
            what="compiling the test program for the host",
        )
        return Build(target, d, d / "model_test", d / "model.o", prefix)
    cc = toolchain.arm_cc()
    board = {"board": target.board, "cpu": target.cpu}
    write_text(
        d / "startup.c",
        render("startup.c.j2", template="startup.c.j2", version=ctx["version"], **board),
    )
    write_text(
        d / "link.ld",
        render(
            "cortexm.ld.j2",
            template="cortexm.ld.j2",
            version=ctx["version"],
            flash_origin=target.flash_origin,
            flash_length=target.flash_length,
            ram_origin=target.ram_origin,
            ram_length=target.ram_length,
            **board,
        ),
    )
    for name in ("model", "test_main", "startup"):
        defs = ["-DCONNTRA_SEMIHOSTING"] if name == "test_main" else []
        toolchain.run(
            [cc, *flags, *defs, "-c", f"{name}.c", "-o", f"{name}.o"],
            cwd=d,
            what=f"compiling {name}.c for {target.name}",
        )
    toolchain.run(
        [
            cc,
            f"-mcpu={target.cpu}",
            "-mthumb",
            "-nostdlib",
            "-T",
            "link.ld",
            "-Wl,--gc-sections",
            "-o",
            "model_test.elf",
            "model.o",
            "test_main.o",
            "startup.o",
            "-lgcc",
        ],
        cwd=d,
        what=f"linking for {target.name}",
    )
    return Build(target, d, d / "model_test.elf", d / "model.o", prefix)


def symbol_range(b: Build, start: str, end: str) -> tuple[int, int]:
    nm = toolchain.tool("arm-none-eabi-nm")
    syms = {}
    for line in toolchain.run([nm, str(b.program)], what="reading symbols").splitlines():
        parts = line.split()
        if len(parts) == 3:
            syms[parts[2]] = int(parts[0], 16)
    try:
        return syms[start], syms[end]
    except KeyError as exc:
        raise ToolchainError(f"symbol {exc} missing from {b.program}") from exc


def run_program(
    b: Build, *, count_instructions: bool = False, timeout: float = toolchain.QEMU_TIMEOUT_S
) -> dict:
    """Runs the verification program in its directory (where the input file is).
    Returns its stdout and, when asked (Cortex-M only), the instruction counts:
    ``instructions_total`` and ``instructions_model`` (inside the model's code)."""
    if b.target.is_host:
        out = toolchain.run(
            [str(b.program)], cwd=b.directory, timeout=timeout, what="the host test program"
        )
        return {"stdout": out}
    qemu = toolchain.tool("qemu-system-arm", "CONNTRA_QEMU")
    cmd = [
        qemu,
        "-M",
        str(b.target.board),
        "-display",
        "none",
        "-serial",
        "none",
        "-monitor",
        "none",
        "-chardev",
        "stdio,id=sh0",
        "-semihosting-config",
        "enable=on,target=native,chardev=sh0",
        "-kernel",
        b.program.name,
    ]
    counts = b.directory / "icount.txt"
    if count_instructions:
        lo, hi = symbol_range(b, "__model_text_start", "__model_text_end")
        if counts.exists():
            counts.unlink()
        plugin = toolchain.icount_plugin()
        cmd += ["-plugin", f"{plugin},start={lo:#x},end={hi:#x},out={counts}"]
    out = toolchain.run(
        cmd,
        cwd=b.directory,
        timeout=timeout,
        what=f"the test program under qemu-system-arm -M {b.target.board}",
    )
    result: dict[str, Any] = {"stdout": out}
    if count_instructions:
        try:
            values = dict(line.split() for line in counts.read_text().splitlines())
        except OSError as exc:
            raise ToolchainError(f"the instruction-count plugin wrote no counts: {exc}") from exc
        result["instructions_total"] = int(values["total"])
        result["instructions_model"] = int(values["inside"])
    return result


__all__ = ["Build", "FIRMWARE_FORMAT", "build", "prepare_dir", "run_program", "write_header"]
