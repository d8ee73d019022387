"""Checkpoint files: damaged ones are refused by name, nothing is unpickled,
stale temporaries go, and a refused resume says which setting differs."""

from __future__ import annotations

import os
import subprocess
import sys

import numpy as np
import pytest

from conntra import datasets
from conntra.errors import CheckpointError
from conntra.train import api, checkpoint
from conntra.train.coordinate import ConntraConfig


@pytest.fixture(scope="module")
def iris():
    return datasets.load("iris")


@pytest.fixture
def folder(iris, tmp_path):
    api.train(
        iris,
        [4],
        "conntra",
        epochs=1,
        seed=0,
        config=ConntraConfig(init="random"),
        checkpoint_dir=tmp_path,
    )
    return tmp_path


def resume(iris, folder, **cfg):
    return api.train(
        iris,
        [4],
        "conntra",
        epochs=2,
        seed=0,
        config=ConntraConfig(**{"init": "random", **cfg}),
        checkpoint_dir=folder,
        resume=True,
    )


def refused(iris, folder, match):
    path = str(folder / checkpoint.NAME)
    with pytest.raises(CheckpointError, match=match) as info:
        resume(iris, folder)
    assert path in str(info.value)


def test_a_truncated_checkpoint_is_refused_by_name(iris, folder):
    path = folder / checkpoint.NAME
    data = path.read_bytes()
    for cut in (len(data) // 2, len(data) - 30, 10):
        path.write_bytes(data[:cut])
        refused(iris, folder, "cannot be read")


def test_a_flipped_byte_in_the_parameters_is_refused(iris, folder):
    path = folder / checkpoint.NAME
    data = bytearray(path.read_bytes())
    with np.load(path) as z:
        w = z["cur_w0"]
    # find the stored weights and change one of them: the zip CRC no longer matches
    at = bytes(data).find(w.tobytes())
    assert at > 0
    data[at] = (data[at] + 1) % 256
    path.write_bytes(bytes(data))
    refused(iris, folder, "cannot be read.*CRC")


def test_not_a_zip_and_a_missing_member_are_refused(iris, folder):
    path = folder / checkpoint.NAME
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files if k != "best_w0"}
    np.savez(path, **arrays)
    refused(iris, folder, "cannot be read.*best_w0")
    path.write_bytes(b"not a zip")
    refused(iris, folder, "cannot be read")


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):  # unpickling would create the marker folder
        return (os.mkdir, (self.marker,))


def test_loading_never_unpickles(iris, folder):
    path = folder / checkpoint.NAME
    marker = str(folder / "unpickled")
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["state"] = np.array([_Payload(marker)], dtype=object)
    np.savez(path, **arrays)
    refused(iris, folder, "cannot be read.*pickle")
    assert not os.path.exists(marker)


def test_a_changed_setting_is_named_with_both_values(iris, folder):
    with pytest.raises(
        CheckpointError,
        match=r"rounds: checkpoint 4, this run 2; split: checkpoint 'equal', "
        r"this run 'params'",
    ):
        resume(iris, folder, rounds=2, split="params")
    with pytest.raises(
        CheckpointError,
        match=r"sizes: checkpoint \[4, 4, 3\], this run "
        r"\[4, 5, 3\]",
    ):
        api.train(
            iris,
            [5],
            "conntra",
            epochs=2,
            seed=0,
            config=ConntraConfig(init="random"),
            checkpoint_dir=folder,
            resume=True,
        )


def test_temporaries_of_a_killed_writer_are_removed(iris, folder):
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    stale = folder / f".{checkpoint.NAME}.{int(dead.stdout)}.tmp"
    stale.write_bytes(b"half a checkpoint")
    resume(iris, folder)
    assert sorted(os.listdir(folder)) == [checkpoint.NAME]


def test_a_checkpoint_that_cannot_be_written_names_the_path(iris, tmp_path):
    from conntra.errors import OutputPathError

    blocker = tmp_path / "file"
    blocker.write_text("a file where the checkpoint folder should be")
    with pytest.raises(OutputPathError, match="cannot write"):
        api.train(
            iris,
            [4],
            "conntra",
            epochs=1,
            seed=0,
            config=ConntraConfig(init="random"),
            checkpoint_dir=blocker / "ck",
        )


def test_a_setting_newer_than_the_checkpoint_counts_as_its_default():
    from dataclasses import asdict

    current = {"seed": 0, "sizes": [4, 4, 3], "config": asdict(ConntraConfig(init="random"))}
    older = {**current, "config": dict(current["config"])}
    del older["config"]["init_samples"]  # written before the setting existed
    checkpoint.check_same_run("ckpt", older, current)
    changed = {**current, "config": {**current["config"], "init_samples": 500}}
    with pytest.raises(CheckpointError, match="init_samples: checkpoint 0, this run 500"):
        checkpoint.check_same_run("ckpt", older, changed)
