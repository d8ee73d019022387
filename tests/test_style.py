"""The C sources follow the checked-in .clang-format (clang-format 23.1.3, the lint extra).

Covers every C/H file of native/ and benchmarks/*.c; the Jinja firmware templates are not C
until rendered and are left out. Without clang-format the test skips, unless
CONNTRA_REQUIRE_TOOLCHAINS=1, where it fails.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def c_files() -> list[Path]:
    return sorted(
        [*REPO.glob("native/**/*.c"), *REPO.glob("native/**/*.h"), *REPO.glob("benchmarks/*.c")]
    )


def clang_format() -> str | None:
    """The venv's pinned clang-format (beside this Python) first, else the one on PATH."""
    beside = Path(sys.executable).parent / "clang-format"
    return str(beside) if beside.exists() else shutil.which("clang-format")


def test_c_files_are_found():
    names = {p.name for p in c_files()}
    assert {"ct_dispatch.c", "ct_kernels.h", "conntra.h", "bench_gemv_ceiling.c"} <= names


def test_c_sources_are_clang_formatted():
    exe = clang_format()
    if exe is None:
        reason = "clang-format not found (pip install '.[lint]')"
        if os.environ.get("CONNTRA_REQUIRE_TOOLCHAINS") == "1":
            pytest.fail(f"{reason} (required because CONNTRA_REQUIRE_TOOLCHAINS=1)")
        pytest.skip(reason)
    done = subprocess.run(
        [exe, "--dry-run", "--Werror", *map(str, c_files())],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, (
        f"run: {exe} -i <file> (clang-format 23.1.3)\n{done.stderr[-6000:]}"
    )
