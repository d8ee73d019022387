"""Shared fixtures: where MNIST is, and how a test asks for a toolchain."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


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


@pytest.fixture(scope="session")
def cifar10_dir():
    """The real CIFAR-10 JPEG folders (train/<class>, test/<class>): found the
    way ``load("cifar10")`` finds them, from CONNTRA_DATA or beside the
    checkout; skipped only when no copy is configured at all."""
    from conntra import datasets
    from conntra.errors import DataNotFoundError

    for where in (None, REPO.parent / "shared" / "data"):
        try:
            return datasets.find_image_dataset("cifar10", where)
        except DataNotFoundError:
            continue
    pytest.skip("CIFAR-10 not found: set CONNTRA_DATA")
