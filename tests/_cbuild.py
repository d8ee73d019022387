"""Build and run the standalone C test binary of the core.

The binary is every C file under ``native/src`` (core/, kernels/<isa>/, train/) and of
``native/tests`` (the harness in
``native/tests/ct_test.h`` registers each ``CT_TEST`` itself, so new test files are picked up by
the glob). The runner prints one line per test and closes with ``"N passed, N failed"``.

Used by ``tests/test_ctests.py``; any test that needs the core compiled with another compiler,
flags or emulator can reuse :func:`build`, :func:`run` and :func:`build_and_run`.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
NATIVE = REPO_ROOT / "native"

# The portable core must compile cleanly under these on every compiler we ship to.
STRICT_FLAGS = ("-std=c99", "-Wall", "-Wextra", "-Werror", "-pedantic")
EXTRA_WARNINGS = ("-Wconversion", "-Wshadow")
SANITIZE_FLAGS = (
    "-fsanitize=address,undefined",
    "-fno-sanitize-recover=all",
    "-fno-omit-frame-pointer",
    "-O1",
)
THREAD_SANITIZE_FLAGS = ("-fsanitize=thread", "-fno-omit-frame-pointer", "-O1", "-g")
AARCH64_SYSROOT = "/usr/aarch64-linux-gnu"

# Generous: a build takes about a second, a run under qemu well under ten.
TIMEOUT_S = 300

_SUMMARY = re.compile(r"^(\d+) passed, (\d+) failed$")
_TEST_DEF = re.compile(r"^CT_TEST\(\w+\)", re.MULTILINE)


def sources() -> list[Path]:
    """Every C file of the core and of its C tests, in a stable order."""
    return sorted(NATIVE.glob("src/**/*.c")) + sorted(NATIVE.glob("tests/*.c"))


def include_flags() -> list[str]:
    """Public headers, native/src (internal headers are included as "core/...", "train/...",
    "kernels/<isa>/..."), and the test harness."""
    return [f"-I{NATIVE / d}" for d in ("include", "src", "tests")]


def expected_test_count() -> int:
    """Number of CT_TEST definitions in native/tests/*.c: what a full run must report."""
    return sum(
        len(_TEST_DEF.findall(p.read_text(encoding="utf-8")))
        for p in sorted(NATIVE.glob("tests/*.c"))
    )


def parse_summary(output: str) -> tuple[int, int] | None:
    """(passed, failed) from the runner's closing line, or None when it is not the last line."""
    lines = [ln.strip() for ln in output.splitlines() if ln.strip()]
    if not lines:
        return None
    m = _SUMMARY.match(lines[-1])
    return (int(m.group(1)), int(m.group(2))) if m else None


def _run(cmd: list[str], env: dict[str, str] | None = None) -> tuple[int, str]:
    """Runs cmd, returns (rc, stdout + stderr); a timeout is rc 124, like timeout(1)."""
    try:
        p = subprocess.run(
            cmd,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            timeout=TIMEOUT_S,
            env=env,
            check=False,
        )
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else e.stdout
        return 124, f"{out or ''}\n[timed out after {TIMEOUT_S} s]"
    return p.returncode, p.stdout


def build(
    cc: str, flags: list[str] | tuple[str, ...], out_dir: Path, name: str = "ct_tests"
) -> tuple[int, str, Path]:
    """Compiles the test binary into out_dir. Returns (rc, log, executable path); the log
    starts with the command line."""
    exe = Path(out_dir) / name
    cmd = [cc, *flags, *include_flags(), *map(str, sources()), "-o", str(exe)]
    rc, out = _run(cmd)
    return rc, "$ " + " ".join(cmd) + "\n" + out, exe


def run(
    exe: Path, emulator: list[str] | tuple[str, ...] = (), env: dict[str, str] | None = None
) -> tuple[int, str]:
    """Runs the binary (under `emulator`, e.g. ["qemu-aarch64"], when given).
    Environment: ours plus `env` (CT_TEST_SEED and CONNTRA_FORCE_SCALAR pass through)."""
    full_env = dict(os.environ)
    full_env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    full_env.update(env or {})
    return _run([*emulator, str(exe)], env=full_env)


def build_and_run(
    cc: str,
    flags: list[str] | tuple[str, ...],
    emulator: list[str] | tuple[str, ...] = (),
    work_dir: Path | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Builds in work_dir (a fresh temporary directory when None) and runs the binary.
    Returns (rc, output); a failed build returns the compiler's rc and its log."""
    if work_dir is None:
        with tempfile.TemporaryDirectory(prefix="conntra-ctests-") as tmp:
            return build_and_run(cc, flags, emulator, Path(tmp), env)
    rc, log, exe = build(cc, flags, work_dir)
    if rc != 0:
        return rc, "build failed:\n" + log
    return run(exe, emulator, env)


def build_aarch64(
    target, flags: list[str] | tuple[str, ...], work_dir: Path
) -> tuple[int, str, Path, list[str]]:
    """Builds the test binary for aarch64 (``target``: ``_tools.aarch64_target()``). Natively
    a plain build. Cross: static first (no sysroot needed at run time); when the static link
    fails (no static libc for the target), a dynamic build that qemu runs with ``-L sysroot``.
    Returns (rc, log, executable, extra qemu arguments)."""
    if target.native:
        rc, log, exe = build(target.cc, flags, work_dir)
        return rc, log, exe, []
    rc, log, exe = build(target.cc, [*flags, "-static"], work_dir)
    if rc == 0:
        return rc, log, exe, []
    rc2, log2, exe = build(target.cc, flags, work_dir)
    log = "static build failed:\n" + log + "\ndynamic build:\n" + log2
    return rc2, log, exe, ["-L", AARCH64_SYSROOT]


def run_aarch64(
    target,
    exe: Path,
    qemu_args: list[str] | tuple[str, ...] = (),
    cpu: str | None = None,
    env: dict[str, str] | None = None,
) -> tuple[int, str]:
    """Runs an aarch64 binary natively or under qemu (``-cpu cpu`` when given)."""
    cmd = target.command(str(exe), cpu)
    if not target.native:
        cmd = [cmd[0], *qemu_args, *cmd[1:]]
    full_env = dict(os.environ)
    full_env.setdefault("UBSAN_OPTIONS", "print_stacktrace=1")
    full_env.update(env or {})
    return _run(cmd, env=full_env)


def run_tsan(exe: Path, env: dict[str, str] | None = None) -> tuple[int, str]:
    """Runs a -fsanitize=thread binary; any report makes it exit non-zero (halt_on_error).
    Some kernels map memory where TSan's shadow wants to be (high-entropy ASLR): TSan then
    stops with "unexpected memory mapping", and the run is repeated with ASLR off
    (``setarch <machine> -R``)."""
    full = {"TSAN_OPTIONS": "halt_on_error=1 second_deadlock_stack=1", **(env or {})}
    rc, out = run(exe, env=full)
    if "unexpected memory mapping" in out and shutil.which("setarch"):
        rc, out = run(exe, ["setarch", platform.machine(), "-R"], env=full)
    return rc, out
