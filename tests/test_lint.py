"""The Python sources are ruff-clean and ruff-formatted, and the public API
is typed so that ``py.typed`` is honest: mypy passes on ``conntra.load``,
the models, the model files and the estimator. The tools are pinned in the
``lint`` extra, so a new release cannot change the verdict."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
PYTHON_TREES = ["conntra", "tests", "benchmarks", "tools", "ctemplates", "setup.py"]
TYPED_API = [
    "conntra/__init__.py",
    "conntra/model.py",
    "conntra/modelfile.py",
    "conntra/quant.py",
    "conntra/estimator.py",
    "conntra/layers",
]


def tool(name: str) -> str:
    """The venv's pinned tool (beside this Python) first, else the one on PATH."""
    beside = Path(sys.executable).parent / name
    found = str(beside) if beside.exists() else shutil.which(name)
    if found is None:
        reason = f"{name} not found (pip install '.[lint]')"
        if os.environ.get("CONNTRA_REQUIRE_TOOLCHAINS") == "1":
            pytest.fail(f"{reason} (required because CONNTRA_REQUIRE_TOOLCHAINS=1)")
        pytest.skip(reason)
    return found


def run(*argv: str) -> subprocess.CompletedProcess:
    return subprocess.run(argv, cwd=REPO, capture_output=True, text=True, timeout=300)


def test_ruff_lint_is_clean():
    done = run(tool("ruff"), "check", "--no-cache", *PYTHON_TREES)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]


def test_ruff_format_leaves_every_file_unchanged():
    done = run(tool("ruff"), "format", "--check", "--no-cache", *PYTHON_TREES)
    assert done.returncode == 0, f"run: ruff format .\n{done.stdout[-6000:]}{done.stderr[-2000:]}"


def test_mypy_passes_on_the_public_api():
    done = run(tool("mypy"), "--no-incremental", "--cache-dir", os.devnull, *TYPED_API)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
