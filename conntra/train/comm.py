"""The collectives data-parallel CoNNTrA needs, counted.

``Comm`` is one process alone (every collective returns its input); ``MPIComm``
runs the same calls over MPI through mpi4py (``pip install conntra[mpi]``
brings mpi4py and an MPI from the package index). ``MPIComm`` counts, per kind
of collective, the messages, the bytes this rank sends and the seconds it spends
in them, which includes waiting for slower ranks: what a run reports as its
communication time (conntra.train.dataparallel).
"""

from __future__ import annotations

import os
import time
from collections import defaultdict

import numpy as np

from conntra.errors import DistributedError, MissingDependencyError


class Comm:
    """One process: rank 0 of 1. The base of the MPI communicator; its
    collectives are the identity and cost nothing, so they are not counted."""

    rank = 0
    size = 1
    local_size = 1  # ranks on this rank's machine (they share its cores)

    def __init__(self) -> None:
        self.stats: dict = defaultdict(lambda: {"messages": 0, "bytes": 0, "seconds": 0.0})

    # -- counted collectives (overridden by MPIComm) ------------------------
    def allreduce(self, a: np.ndarray, kind: str = "allreduce") -> np.ndarray:
        """Element-wise sum over the ranks of an int64 array; ``kind`` names
        what it carries in the counts (``stats``)."""
        return np.array(a, np.int64)

    def allgather(self, a: np.ndarray) -> np.ndarray:
        """Every rank's array (same shape and dtype on each), stacked by rank."""
        return np.asarray(a)[None]

    def bcast(self, obj, root: int = 0):
        """Rank ``root``'s Python object, on every rank."""
        return obj

    def gather_objects(self, obj) -> list:
        """Every rank's Python object, in rank order, on every rank."""
        return [obj]

    def gather(self, obj, kind: str = "gather") -> list | None:
        """Every rank's Python object, in rank order, on rank 0 (None on the others)."""
        return [obj]

    def abort(self, code: int = 1) -> None:
        """Ends every rank of the job (no rank may wait for a dead one)."""
        raise SystemExit(code)

    # -- accounting -----------------------------------------------------------
    def _count(self, kind: str, nbytes: int, t0: float) -> None:
        entry = self.stats[kind]
        entry["messages"] += 1
        entry["bytes"] += int(nbytes)
        entry["seconds"] += time.perf_counter() - t0

    def snapshot(self) -> dict:
        """A copy of the counts by kind (to subtract an earlier one from)."""
        return {kind: dict(entry) for kind, entry in self.stats.items()}


class MPIComm(Comm):
    """COMM_WORLD of MPI, through mpi4py."""

    def __init__(self, mpi_comm=None) -> None:
        super().__init__()
        mpi = import_mpi()
        self._mpi = mpi
        self._c = mpi.COMM_WORLD if mpi_comm is None else mpi_comm
        self.rank = self._c.Get_rank()
        self.size = self._c.Get_size()
        node = self._c.Split_type(mpi.COMM_TYPE_SHARED)
        self.local_size = node.Get_size()
        node.Free()

    def allreduce(self, a: np.ndarray, kind: str = "allreduce") -> np.ndarray:
        a = np.ascontiguousarray(a, np.int64)
        out = np.empty_like(a)
        t0 = time.perf_counter()
        self._c.Allreduce(a, out, op=self._mpi.SUM)
        self._count(kind, a.nbytes, t0)
        return out

    def allgather(self, a: np.ndarray) -> np.ndarray:
        a = np.ascontiguousarray(a)
        out = np.empty((self.size, *a.shape), a.dtype)
        t0 = time.perf_counter()
        self._c.Allgather(a, out)
        self._count("allgather", a.nbytes, t0)
        return out

    def bcast(self, obj, root: int = 0):
        t0 = time.perf_counter()
        out = self._c.bcast(obj, root=root)
        self._count("bcast", 0, t0)  # pickled: its size is not known here
        return out

    def gather_objects(self, obj) -> list:
        t0 = time.perf_counter()
        out = self._c.allgather(obj)
        self._count("allgather", 0, t0)
        return out

    def gather(self, obj, kind: str = "gather") -> list | None:
        t0 = time.perf_counter()
        out = self._c.gather(obj, root=0)
        self._count(kind, 0, t0)  # pickled: its size is not known here
        return out

    def abort(self, code: int = 1) -> None:
        self._c.Abort(code)


def import_mpi():
    """mpi4py's MPI module, or a MissingDependencyError that says how to get it."""
    try:
        from mpi4py import MPI
    except ImportError as exc:
        raise MissingDependencyError(
            "distributed training needs mpi4py and an MPI library: "
            "pip install 'conntra[mpi]' (mpi4py and MPICH from the package index), "
            "or mpi4py built against your cluster's MPI"
        ) from exc
    return MPI


def launched_by_mpi() -> bool:
    """Whether this process was started by an MPI launcher (mpiexec, srun,
    mpirun): their environment variables, read without starting MPI."""
    keys = ("PMI_RANK", "PMI_SIZE", "OMPI_COMM_WORLD_SIZE", "PMIX_RANK", "SLURM_PROCID")
    return any(k in os.environ for k in keys)


def world() -> Comm:
    """The communicator of a ``--distributed`` run: MPI's world when an MPI
    launcher started this process, else this process alone (no MPI needed)."""
    return MPIComm() if launched_by_mpi() else Comm()


def check_same(comm: Comm, what: str, value) -> None:
    """Raises DistributedError on every rank unless every rank holds the same
    ``value`` (a string or a small tuple), naming the ranks that differ."""
    values = comm.gather_objects(value)
    if all(v == values[0] for v in values):
        return
    groups: dict = {}
    for r, v in enumerate(values):
        groups.setdefault(repr(v), []).append(r)
    shown = "; ".join(f"ranks {ranks}: {v}" for v, ranks in groups.items())
    raise DistributedError(f"the ranks were launched with different {what}: {shown}")
