"""Data-parallel CoNNTrA (conntra.train.dataparallel): batches that split the
same way for every rank count, and real ``mpiexec`` jobs on this machine
(MPICH from the package index, the ``mpi`` extra): the same model bytes from
one process and from 2 ranks, a job that stops when a rank is killed and
resumes exactly, and launches that are refused at start with a clear message.
Without ``mpiexec`` the job tests skip, except under
CONNTRA_REQUIRE_TOOLCHAINS=1 (CI), where they fail."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
from _tools import require_tools
from conftest import mnist_dir

from conntra.errors import DistributedError
from conntra.train import comm as comm_mod
from conntra.train import lanes

# A small run: 2 epochs of 4 batches of 512 on 2,048 MNIST images.
SMALL = ["--hidden", "16", "--max-train", "2304", "--batch", "512", "--epochs", "2"]
JOB_TIMEOUT = 240


# -- batches ------------------------------------------------------------------
@pytest.mark.parametrize("n,batch", [(1000, 64), (4096, 512), (777, 16)])
def test_lane_batches_are_the_same_for_every_rank_count(n, batch):
    whole = lanes.local_batches(n, batch, 5, 3, 0, 1)
    assert whole.shape == (n // batch, batch)
    assert len(np.unique(whole)) == whole.size  # no sample twice in an epoch
    for size in (2, 4, 8, 16):
        if batch % size:
            continue
        parts = [lanes.local_batches(n, batch, 5, 3, r, size) for r in range(size)]
        for r, part in enumerate(parts):
            assert (part % size == r).all()  # only its own shard
            assert np.isin(part, lanes.shard(n, r, size)).all()
        # position p of every batch is rank p % size's local sample p // size
        assert (np.stack(parts, axis=2).reshape(whole.shape) == whole).all()


def test_lane_batches_change_with_the_epoch_and_use_the_whole_set():
    seen = np.concatenate([lanes.local_batches(1000, 64, 0, e, 0, 1).ravel() for e in range(20)])
    assert len(np.unique(seen)) == 1000  # the left-over samples differ between epochs
    a, b = (lanes.local_batches(1000, 64, 0, e, 0, 1) for e in (0, 1))
    assert not (a == b).all()


def test_a_batch_the_ranks_cannot_split_is_refused():
    with pytest.raises(DistributedError, match="512 samples.*does not split evenly between 3"):
        lanes.local_batches(4096, 512, 0, 0, 0, 3)


def test_one_process_is_a_communicator_of_one():
    c = comm_mod.Comm()
    assert (c.rank, c.size) == (0, 1)
    a = np.arange(4)
    assert (c.allreduce(a) == a).all() and c.allgather(a).shape == (1, 4)
    comm_mod.check_same(c, "settings", "x")
    assert c.snapshot() == {}  # nothing to count alone


# -- jobs -------------------------------------------------------------------------
def mpiexec() -> str:
    """The launcher beside this Python (the mpich wheel's) or on PATH."""
    here = Path(sys.executable).parent / "mpiexec"
    if here.exists():
        return str(here)
    require_tools("mpiexec")
    return str(shutil.which("mpiexec"))


# away from the checkout, whose conntra/ has no built core: the installed one runs
CWD = tempfile.gettempdir()


def env() -> dict:
    out = dict(os.environ, CONNTRA_NUM_THREADS="1", OMP_NUM_THREADS="1")
    out["CONNTRA_DATA"] = str(mnist_dir())
    return out


def train_args(out: Path, *extra: str) -> list:
    return ["train", "--dataset", "mnist", *SMALL, "--quiet", "--out", str(out), *extra]


def conntra_cmd() -> list:
    return [sys.executable, "-m", "conntra"]


def run_alone(args: list, timeout: int = JOB_TIMEOUT):
    """conntra in one process, without an MPI launcher."""
    return subprocess.run(
        [*conntra_cmd(), *args], env=env(), cwd=CWD, capture_output=True, text=True, timeout=timeout
    )


def run_job(ranks: int, args: list, timeout: int = JOB_TIMEOUT, launcher=None):
    cmd = [launcher or mpiexec(), "-n", str(ranks), *conntra_cmd(), *args]
    return subprocess.run(cmd, env=env(), cwd=CWD, capture_output=True, text=True, timeout=timeout)


@pytest.fixture(scope="module")
def one_process(tmp_path_factory):
    """The small run in one process without MPI: the bytes to match."""
    if mnist_dir() is None:
        pytest.skip("MNIST not found: set CONNTRA_DATA")
    out = tmp_path_factory.mktemp("dp") / "one.ctm"
    got = run_alone(train_args(out, "--distributed"))
    assert got.returncode == 0, got.stderr
    return out.read_bytes()


@pytest.mark.parametrize("ranks", [1, 2])
def test_ranks_write_the_bytes_of_one_process(one_process, tmp_path, ranks):
    out = tmp_path / "m.ctm"
    got = run_job(ranks, train_args(out, "--distributed", "--json"))
    assert got.returncode == 0, got.stderr
    assert out.read_bytes() == one_process
    report = json.loads(got.stdout)["distributed"]
    assert report["ranks"] == ranks and len(report["per_rank"]) == ranks
    for r, rank in enumerate(report["per_rank"]):
        # its share of the 2,304 samples kept (and the data check's probe), no more
        assert 2304 // ranks <= rank["rows_read"]["train"] <= -(-2304 // ranks) + 16
        assert rank["rows_read"]["test"] == len(range(r, 10000, ranks))
        assert rank["checked"] > 0 and rank["compute_seconds"] > 0
        assert rank["messages"] > 0  # under mpiexec even one rank goes through MPI
        kinds = rank["by_kind"]
        assert {"gradient", "screen", "check", "loss", "allgather"} <= set(kinds)
        assert sum(k["messages"] for k in kinds.values()) >= rank["messages"]


def test_a_cnn_trains_the_same_on_two_ranks(tmp_path):
    if mnist_dir() is None:
        pytest.skip("MNIST not found: set CONNTRA_DATA")
    args = ["--arch", "c4k3,p2,d10", "--max-train", "1152", "--batch", "256", "--epochs", "1"]
    base = ["train", "--dataset", "mnist", *args, "--quiet", "--distributed"]
    one = run_alone([*base, "--out", str(tmp_path / "a.ctm")])
    assert one.returncode == 0, one.stderr
    two = run_job(2, [*base, "--out", str(tmp_path / "b.ctm")])
    assert two.returncode == 0, two.stderr
    assert "data-parallel over 2 ranks" in two.stdout and "rank 1: compute" in two.stdout
    assert (tmp_path / "a.ctm").read_bytes() == (tmp_path / "b.ctm").read_bytes()


def test_random_fine_tuned_and_sampled_starts_are_the_same_on_two_ranks(tmp_path):
    """The starts that read only some samples of the training set (a random
    init's or a fine-tuned model's temperature, a hybrid init's drawn samples),
    gathered from both ranks."""
    if mnist_dir() is None:
        pytest.skip("MNIST not found: set CONNTRA_DATA")
    small = [*SMALL[:-1], "1"]  # one epoch
    base = ["train", "--dataset", "mnist", *small, "--quiet", "--distributed"]

    def one(*extra: str, out: str):
        got = run_alone([*base, *extra, "--out", str(tmp_path / out)])
        assert got.returncode == 0, got.stderr

    one("--init", "random", out="r1.ctm")
    two = run_job(2, [*base, "--init", "random", "--out", str(tmp_path / "r2.ctm")])
    assert two.returncode == 0, two.stderr
    assert (tmp_path / "r1.ctm").read_bytes() == (tmp_path / "r2.ctm").read_bytes()
    # a hybrid init that reads 600 samples drawn by the seed (rank 0 holds only those)
    one("--init-samples", "600", out="h1.ctm")
    two = run_job(2, [*base, "--init-samples", "600", "--out", str(tmp_path / "h2.ctm")])
    assert two.returncode == 0, two.stderr
    assert (tmp_path / "h1.ctm").read_bytes() == (tmp_path / "h2.ctm").read_bytes()
    start = str(tmp_path / "r1.ctm")
    one("--from", start, out="f1.ctm")
    two = run_job(2, [*base, "--from", start, "--out", str(tmp_path / "f2.ctm")])
    assert two.returncode == 0, two.stderr
    assert (tmp_path / "f1.ctm").read_bytes() == (tmp_path / "f2.ctm").read_bytes()


def rank_pids(marker: str) -> dict:
    """rank -> pid of the conntra processes whose command line holds ``marker``."""
    out = {}
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            environ = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
        except OSError:
            continue
        if marker.encode() not in cmdline or b"conntra" not in cmdline:
            continue
        for item in environ:
            if item.startswith(b"PMI_RANK="):
                out[int(item.split(b"=")[1])] = int(pid)
    return out


def test_a_killed_rank_stops_the_job_and_the_run_resumes_exactly(one_process, tmp_path):
    if not sys.platform.startswith("linux"):
        pytest.skip("finds the ranks through /proc")
    ckpt = tmp_path / "ckpt"
    out = tmp_path / "m.ctm"
    args = train_args(
        out, "--distributed", "--checkpoint-dir", str(ckpt), "--checkpoint-every", "1"
    )
    cmd = [mpiexec(), "-n", "2", *conntra_cmd(), *args]
    job = subprocess.Popen(
        cmd, env=env(), cwd=CWD, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        deadline = time.monotonic() + JOB_TIMEOUT
        while not (ckpt / "checkpoint.npz").exists() and job.poll() is None:
            assert time.monotonic() < deadline, "no checkpoint was written"
            time.sleep(0.05)
        assert job.poll() is None, "the run ended before it could be interrupted"
        pids = rank_pids(str(out))
        assert 1 in pids, pids
        os.kill(pids[1], signal.SIGKILL)
        _, err = job.communicate(timeout=60)  # the others must not wait forever
    finally:
        if job.poll() is None:
            job.kill()
    assert job.returncode != 0
    assert not out.exists()
    again = run_job(2, [*args, "--resume"])
    assert again.returncode == 0, again.stderr
    assert out.read_bytes() == one_process


def test_a_batch_the_ranks_cannot_split_is_refused_at_start(tmp_path):
    if mnist_dir() is None:
        pytest.skip("MNIST not found: set CONNTRA_DATA")
    got = run_job(3, train_args(tmp_path / "m.ctm", "--distributed"))
    assert got.returncode != 0
    assert "does not split evenly between 3 ranks" in got.stderr
    assert not (tmp_path / "m.ctm").exists()


def write_folder(root: Path, seed: int) -> None:
    """A tiny image dataset: 2 classes of 8x8 grey images, train and test."""
    from PIL import Image

    rng = np.random.default_rng(seed)
    for part, count in (("train", 64), ("test", 8)):
        for label in ("a", "b"):
            folder = root / part / label
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (8, 8), dtype=np.uint8)
                Image.fromarray(pixels, "L").save(folder / f"{i}.png")


def test_ranks_that_read_different_data_are_refused_at_start(tmp_path):
    write_folder(tmp_path / "a", 0)
    write_folder(tmp_path / "b", 1)
    common = ["--hidden", "8", "--batch", "32", "--epochs", "1", "--quiet", "--distributed"]
    launch = mpiexec()
    cmd = [launch, "-n", "1", *conntra_cmd(), "train", "--dataset", str(tmp_path / "a"), *common]
    cmd += [":", "-n", "1", *conntra_cmd(), "train", "--dataset", str(tmp_path / "b"), *common]
    got = subprocess.run(
        [*cmd, "--out", str(tmp_path / "m.ctm")],
        env=env(),
        cwd=CWD,
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT,
    )
    assert got.returncode != 0
    assert "different data" in got.stderr and "ranks [0]" in got.stderr, got.stderr


def test_ranks_with_another_conntra_are_refused_at_start(tmp_path):
    if mnist_dir() is None:
        pytest.skip("MNIST not found: set CONNTRA_DATA")
    args = train_args(tmp_path / "m.ctm", "--distributed")
    other = (
        "import sys, conntra; conntra.__version__ = '0.0.1'; "
        "from conntra.cli import main; sys.exit(main(sys.argv[1:]))"
    )
    cmd = [mpiexec(), "-n", "1", *conntra_cmd(), *args]
    cmd += [":", "-n", "1", sys.executable, "-c", other, *args]
    got = subprocess.run(
        cmd, env=env(), cwd=CWD, capture_output=True, text=True, timeout=JOB_TIMEOUT
    )
    assert got.returncode != 0
    assert "different conntra builds" in got.stderr and "conntra 0.0.1" in got.stderr


def test_a_checkpoint_resumes_on_another_rank_count_and_not_without_distributed(
    one_process, tmp_path
):
    ckpt = tmp_path / "ckpt"
    out = tmp_path / "m.ctm"
    first = [*train_args(out, "--distributed", "--checkpoint-dir", str(ckpt))]
    first[first.index("--epochs") + 1] = "1"  # stop after the first of the two epochs
    got = run_alone(first)
    assert got.returncode == 0, got.stderr
    refused = run_alone(train_args(out, "--checkpoint-dir", str(ckpt), "--resume"))
    assert refused.returncode != 0 and "data_parallel" in refused.stderr, refused.stderr
    again = run_job(2, train_args(out, "--distributed", "--checkpoint-dir", str(ckpt), "--resume"))
    assert again.returncode == 0, again.stderr
    assert out.read_bytes() == one_process


def test_a_rank_that_fails_alone_at_start_stops_the_job(tmp_path):
    """Rank 1 refuses its environment before MPI starts; rank 0 is already
    waiting in a collective and must not wait forever."""
    if mnist_dir() is None:
        pytest.skip("MNIST not found: set CONNTRA_DATA")
    args = train_args(tmp_path / "m.ctm", "--distributed")
    cmd = [mpiexec(), "-n", "1", *conntra_cmd(), *args]
    cmd += [":", "-n", "1", "-env", "CONNTRA_NUM_THREADS", "lots", *conntra_cmd(), *args]
    got = subprocess.run(cmd, env=env(), cwd=CWD, capture_output=True, text=True, timeout=120)
    assert got.returncode != 0
    assert "CONNTRA_NUM_THREADS" in got.stderr
    assert not (tmp_path / "m.ctm").exists()


def test_only_conntra_trains_distributed(capsys):
    from conntra.cli import main
    from conntra.datasets import load
    from conntra.errors import InputError
    from conntra.train import api

    with pytest.raises(InputError, match="distributed trains with trainer 'conntra' only"):
        api.train(load("iris"), [4], "qat", distributed=True)

    status = main(["train", "--dataset", "iris", "--trainer", "qat", "--distributed"])
    assert status == 2
    assert "--distributed trains with --trainer conntra only" in capsys.readouterr().err
