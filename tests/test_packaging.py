"""What a user installing conntra gets: honest metadata, and a clear message
when the C core cannot be built."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import pytest

SOURCE = Path(__file__).resolve().parents[1]


def test_installed_metadata_states_licence_python_and_dependencies():
    meta = metadata.metadata("conntra")
    assert meta["License-Expression"] == "MIT"
    assert meta["Requires-Python"] == ">=3.11"
    assert sys.version_info >= (3, 11)
    files = {Path(str(f)).name for f in metadata.files("conntra") or ()}
    assert "LICENSE" in files
    requires = " ".join(metadata.requires("conntra") or ())
    # imported at run time by `conntra bench` and the progress bars
    assert "threadpoolctl" in requires and "tqdm" in requires
    classifiers = meta.get_all("Classifier") or []
    assert "Programming Language :: Python :: 3.11" in classifiers


@pytest.mark.skipif(not (SOURCE / "setup.py").exists(), reason="needs the source tree")
def test_install_without_a_c_compiler_says_what_to_install(tmp_path):
    src = tmp_path / "src"
    shutil.copytree(
        SOURCE,
        src,
        ignore=shutil.ignore_patterns(
            ".git", ".venv*", "build", "dist", "*.egg-info", "__pycache__", "*.so", ".benchmarks"
        ),
    )
    env = dict(os.environ, CC=str(tmp_path / "no-such-cc"), PIP_DISABLE_PIP_VERSION_CHECK="1")
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--no-deps",
            "-w",
            str(tmp_path / "wheels"),
            str(src),
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert out.returncode != 0
    text = out.stdout + out.stderr
    assert "needs a C" in text and "compiler" in text
    assert "no-such-cc' was not found" in text
    assert "apt-get install gcc libc6-dev" in text
