"""Shared fixtures: where MNIST is, and how a test asks for a toolchain."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def require_tool(*names: str) -> None:
    """Skips the test if a tool is missing, or fails it when CI demands every
    toolchain (CONNTRA_REQUIRE_TOOLCHAINS=1): a missing tool must not turn a
    required check into a silent skip."""
    missing = [n for n in names if shutil.which(n) is None]
    if not missing:
        return
    message = f"missing tool(s): {', '.join(missing)}"
    if os.environ.get("CONNTRA_REQUIRE_TOOLCHAINS") == "1":
        pytest.fail(f"{message} (CONNTRA_REQUIRE_TOOLCHAINS=1)")
    pytest.skip(message)


def mnist_dir() -> Path | None:
    """CONNTRA_DATA if set, else the shared copy beside the checkout."""
    env = os.environ.get("CONNTRA_DATA")
    if env:
        return Path(env)
    shared = REPO.parent / "shared" / "data" / "mnist"
    return shared if shared.exists() else None


@pytest.fixture(scope="session")
def mnist():
    """The real MNIST dataset; skipped only when no copy is configured at all."""
    from conntra.datasets import load

    where = mnist_dir()
    if where is None:
        pytest.skip("MNIST not found: set CONNTRA_DATA")
    return load("mnist", data_dir=where)
