"""Data-parallel CoNNTrA: every rank holds the model and 1/N of every batch.

The ranks decide together, so every rank applies the same changes in the
same order and holds the same parameters throughout:

- **Sums that split exactly.** The single-process trainer sums float64 loss
  changes in sample order, which cannot be cut between processes without
  changing its bits. Here every sample's change is rounded to a multiple of
  2^-32 and added as an int64 (``ct_seq_partials``), and the surrogate
  gradient is exact integers already (``ct_seq_gradient``): a rank's partial
  sums add up, in any order, to the same total for every N. The batches come
  from ``conntra.train.lanes``, which gives position p of a batch the same
  sample for every N. Together they make the model bytes a function of the
  seed and the settings only: ``mpiexec -n 1``, ``-n 2`` and ``-n 4`` write
  the same file.
- **Checks in blocks.** The step checks candidates in order and applies each
  that lowers the loss, so a candidate's check depends on every change before
  it. The ranks check a block of the next candidates against the current
  state at once (screen sums, then the full sums of those that pass the
  screen: two messages per block), walk the block in order, apply the first
  that gains on all samples and start the next block right after it. This is
  the sequential step exactly; a block costs two small allreduces whatever
  its length, and the block length follows the observed distance between
  accepted changes, so little checking is wasted past an acceptance.
- **The rest** takes one message each: the gradient (one allreduce of every
  layer's int64 sums per round), the batch's logits and labels for the
  temperature (one allgather per batch), the error counts of an epoch.
"""

from __future__ import annotations

import hashlib
import sys
import time

import numpy as np

import conntra
from conntra.errors import MissingDependencyError
from conntra.train import lanes
from conntra.train.comm import Comm, check_same, world
from conntra.train.convtrainer import SUM_SCALE
from conntra.train.ctrainer import SHIFT

BLOCK_MIN, BLOCK_MAX = 4, 1024  # candidates per check message


class DataParallelTrainer:
    """What ``coordinate.fit`` uses of a chain trainer, for rank ``comm.rank``
    of a data-parallel run: ``seq`` (a SeqTrainer sized for this rank's
    ``batch // comm.size`` samples) holds the rank's part of every batch, and
    every sum that decides something is combined over the ranks."""

    is_chain = True

    def __init__(self, seq, comm):
        self.seq, self.comm = seq, comm
        self.n_layers, self.shapes, self.sizes = seq.n_layers, seq.shapes, seq.sizes
        self.batch = 0  # samples of the whole batch, over every rank
        self.total = 0  # the batch loss, in units of 1 / SUM_SCALE
        self.block, self.chunk, self.gap = 32, 4, 16.0  # adaptive: work, not results
        self.checks = {"blocks": 0, "checked": 0, "wasted": 0}
        self._logits: np.ndarray | None = None
        self.labels: np.ndarray | None = None

    # -- parameters: the same on every rank --------------------------------
    def set_params(self, params) -> None:
        self.seq.set_params(params)

    def get_params(self):
        return self.seq.get_params()

    def get_layer(self, i: int):
        return self.seq.get_layer(i)

    def shift(self, i: int) -> int:
        return self.seq.shift(i)

    # -- the batch ----------------------------------------------------------
    def set_batch(self, xq: np.ndarray, y: np.ndarray, temperature: float) -> None:
        """This rank's part of the batch (its positions in order)."""
        self.seq.set_batch(xq, y, temperature)
        self.batch = self.seq.batch * self.comm.size
        # logits and labels of the whole batch in position order (p = i * N + r)
        local = np.concatenate([self.seq.logits(), np.asarray(y, np.int32)[:, None]], axis=1)
        every = self.comm.allgather(local)  # (N, B / N, classes + 1)
        whole = every.transpose(1, 0, 2).reshape(self.batch, -1)
        self._logits, self.labels = whole[:, :-1], whole[:, -1].astype(np.int32)
        self._sum_loss()

    def set_temperature(self, temperature: float) -> None:
        self.seq.set_temperature(temperature)
        self._sum_loss()

    def _sum_loss(self) -> None:
        self.total = int(self.comm.allreduce(np.array([self.seq.loss_sum()]), "loss")[0])

    def cache(self, layer: int):
        """The whole batch's logits (classes, batch), as the chain trainer has them."""
        return self.seq.cache(layer)[0] if self._logits is None else self._logits.T, None

    def loss(self) -> float:
        return self.total / SUM_SCALE

    # -- ranking --------------------------------------------------------------
    def gradient(self, samples: int = 0, leak: float = 0.0):
        """The surrogate gradient over the batch's first ``samples`` positions
        (0: all), summed over the ranks: exact integers, one message."""
        local = self.seq.gradient(self._local(samples), leak)
        flat = np.concatenate([np.concatenate([gw.ravel(), gb]) for gw, gb in local])
        summed = self.comm.allreduce(flat, "gradient")
        out, at = [], 0
        for gw, gb in local:
            w = summed[at : at + gw.size].reshape(gw.shape)
            at += gw.size
            out.append((w, summed[at : at + gb.size]))
            at += gb.size
        return out

    def _local(self, samples: int) -> int:
        """A count of the batch's first positions as this rank's first samples."""
        if samples <= 0:
            return 0
        lanes.check_split(samples, self.comm.size, "a sub-batch of the screen or the ranking")
        return samples // self.comm.size

    # -- the step ---------------------------------------------------------------
    def step(self, cands, min_gain: float = 0.0, screen: int = 0):
        """The sequential step of SeqTrainer.step (screen: the batch's first
        ``screen`` positions), decided on sums over every rank; returns
        (accepted bool (n,), exact changes as float (n,)).

        A block of the next candidates is screened in one message; those
        that pass get their full checks in chunks, in order, one message
        each, until one is accepted (its chunk is the only full checking
        wasted) or the block ends. The block and chunk lengths adapt to the
        distance between acceptances; they change the work, never the result."""
        cands = np.ascontiguousarray(cands, np.int32).reshape(-1, 5)
        n = len(cands)
        accepted, deltas = np.zeros(n, bool), np.zeros(n)
        screen_l = self._local(screen) if 0 < screen < self.batch else 0
        i = 0
        while i < n:
            blk = cands[i : i + self.block]
            k = len(blk)
            screened, passed = self._screen(blk, screen_l)
            full = screened.copy()
            todo = np.flatnonzero(passed)
            hit, at, limit = None, 0, self._limit(min_gain)
            while hit is None and at < len(todo):
                part = todo[at : at + self.chunk]
                rest, ok = self._full(blk[part], screen_l)
                full[part] = np.where(ok, screened[part] + rest, 0)
                gains = np.flatnonzero(ok & (full[part] < limit))
                if len(gains):
                    hit = int(part[gains[0]])
                    self.checks["wasted"] += len(part) - gains[0] - 1
                    self.chunk = int(gains[0]) + 1
                else:
                    at += len(part)
                    self.chunk = min(BLOCK_MAX, 2 * self.chunk)
            seen = k if hit is None else hit + 1
            deltas[i : i + seen] = full[:seen] / SUM_SCALE
            self.checks["blocks"] += 1
            self.checks["checked"] += k
            if hit is None:
                i += k
                self.block = min(BLOCK_MAX, self.block * 2)
                continue
            self.seq.apply(blk[hit])
            accepted[i + hit] = True
            self.total += int(full[hit])
            self.checks["wasted"] += k - seen
            i += seen
            # the next block reaches a little past where acceptances have come
            self.gap = 0.75 * self.gap + 0.25 * seen
            self.block = int(min(BLOCK_MAX, max(BLOCK_MIN, 1.5 * self.gap + 1)))
        return accepted, deltas

    def _screen(self, blk, screen_l: int):
        """(screen sums, passed) of a block: weight and bias steps that gain
        on the screen's samples, every valid shift (shifts are checked whole)."""
        k = len(blk)
        shift = blk[:, 1] == SHIFT
        screened = np.zeros(k, np.int64)
        if not screen_l:
            return screened, np.ones(k, bool)
        part, ok = self.seq.partials(blk[~shift], 0, screen_l)
        summed = self.comm.allreduce(np.concatenate([part, ok]), "screen")
        screened[~shift] = summed[: len(part)]
        passed = np.ones(k, bool)
        valid = summed[len(part) :] == self.comm.size
        passed[~shift] = valid & (summed[: len(part)] < 0)
        return screened, passed

    def _full(self, sub, screen_l: int):
        """(the rest of each candidate's sum beyond the screen, valid), over
        every rank: one message."""
        rest = np.zeros(len(sub), np.int64)
        ok = np.zeros(len(sub), bool)
        lo = np.where(sub[:, 1] == SHIFT, 0, screen_l)
        for begin in np.unique(lo):  # one C call per range
            sel = lo == begin
            rest[sel], ok[sel] = self.seq.partials(sub[sel], int(begin), self.seq.batch)
        summed = self.comm.allreduce(np.concatenate([rest, ok]), "check")
        return summed[: len(sub)], summed[len(sub) :] == self.comm.size

    def _limit(self, min_gain: float) -> int:
        """The strict-decrease test of ct_seq_step on the exact sums: a change
        counts when it is below -(min_gain + 1e-12 (|loss| + 1))."""
        loss = abs(self.total) / SUM_SCALE
        # an integer sum is below -x exactly when it is below -floor(x)
        return -int(np.floor((min_gain + 1e-12 * (loss + 1.0)) * SUM_SCALE))

    def memory(self) -> dict:
        return self.seq.memory()


def trainer(net, template, input_quant, batch: int, act_bits, comm) -> DataParallelTrainer:
    """The data-parallel trainer for ``net`` (dense sizes, or a chain's layers
    as ``template``) and batches of ``batch`` samples over every rank. A
    dense network trains as a chain of dense layers: the chain trainer's
    exact integer gradient is what the ranks can sum."""
    from conntra.layers import TernaryDense
    from conntra.train.convtrainer import SeqTrainer

    if template is None:
        sizes = [int(v) for v in net]
        bits = list(act_bits) + [None]
        template = [
            TernaryDense(np.zeros((n_out, n_in), np.int8), np.zeros(n_out, np.int32), shift, a)
            for n_in, n_out, a, shift in zip(
                sizes[:-1], sizes[1:], bits, [0] * (len(bits) - 1) + [-1], strict=True
            )
        ]
        shape = (1, 1, sizes[0])
    else:
        shape = input_quant.tensor_shape
    lanes.check_split(batch, comm.size)
    return DataParallelTrainer(SeqTrainer(template, shape, batch // comm.size, act_bits), comm)


def from_rank0(comm, make):
    """``make()`` run on rank 0 with one BLAS thread (``one_blas_thread``) and
    its result sent to every rank; an error there is raised on every rank."""
    got = None
    if comm.rank == 0:
        try:
            with one_blas_thread():
                got = ("ok", make())
        except Exception as exc:  # every rank must raise it, or the others wait forever
            got = ("error", exc)
    kind, value = comm.bcast(got)
    if kind == "error":
        value.collective = True  # raised on every rank (conntra.cli.train.rank_failed)
        raise value
    return value


def one_blas_thread():
    """A context in which numpy's BLAS runs one thread. The starting point
    (the hybrid initialisation's float QAT) is computed on rank 0 alone, and
    OpenBLAS's sums come out in other bits with another thread count, which
    follows the cores rank 0 sees: one rank of a large job and a single
    process on a whole machine would start from different points."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError as exc:
        raise MissingDependencyError(
            "data-parallel training needs threadpoolctl (pip install 'conntra[mpi]')"
        ) from exc
    return threadpool_limits(limits=1, user_api="blas")


def load_checkpoint(comm, folder):
    """checkpoint.load on rank 0, its result (or its error) on every rank."""
    from conntra.train import checkpoint as ckpt

    return from_rank0(comm, lambda: ckpt.load(folder))


# -- the launch -----------------------------------------------------------------
def software_id() -> str:
    """conntra's version, a hash of its native library and the Python and
    numpy versions: what every rank of a run must share."""
    from conntra import _native

    digest = hashlib.sha256()
    with open(_native.__file__, "rb") as f:
        digest.update(f.read())
    py = ".".join(str(v) for v in sys.version_info[:3])
    native = digest.hexdigest()[:12]
    return f"conntra {conntra.__version__} (native {native}), python {py}, numpy {np.__version__}"


def connect(distributed) -> Comm:
    """The communicator of ``distributed``: True (comm.world()) or a Comm."""
    return distributed if isinstance(distributed, Comm) else world()


def check_software(comm) -> None:
    """DistributedError on every rank unless every rank runs the same build."""
    check_same(comm, "conntra builds", software_id())


def check_launch(comm, *, settings, batch: int, sub_batches=()) -> None:
    """The start-up checks of a data-parallel run, before any training: the
    same settings on every rank, and a batch (and each of ``sub_batches``:
    (what, samples)) that the ranks split evenly (the software was checked
    before the data was read: ``shards.prepare``). Raises DistributedError on
    every rank, with the same message."""
    check_same(comm, "settings", settings)
    lanes.check_split(batch, comm.size)
    for what, samples in sub_batches:
        if 0 < samples <= batch:
            lanes.check_split(samples, comm.size, what)


def launch(comm, split, cfg, *, seed: int, epochs: int, bits) -> None:
    """The start-up checks of a data-parallel run on ``split``, this rank's
    share (conntra.train.shards). Every rank must run the same conntra with
    the same settings on the same data, and the ranks must split the batch
    (and the screen's and the ranking's sub-batches) evenly; otherwise
    DistributedError on every rank, before any training."""
    from dataclasses import asdict

    from conntra.train import coordinate

    n = split.shard.n_train
    batch = min(cfg.batch, n)
    settings = repr((asdict(cfg), seed, epochs, list(bits), split.sizes, split.arch))
    subs = [
        ("the screen's sub-batch", coordinate.screen_samples(cfg, batch)),
        ("the ranking's sub-batch", coordinate.share_samples(cfg.rank_share, batch)),
    ]
    subs += [
        (f"epoch {e + 1}'s batch", coordinate.batch_of_epoch(cfg, e, n))
        for e in range(min(epochs, 32))
    ]
    check_launch(comm, settings=settings, batch=batch, sub_batches=subs)
    check_same(
        comm,
        "data (digests of the labels, the rows chosen and samples every rank reads)",
        split.shard.digest,
    )


def same_params(comm, params) -> None:
    """DistributedError if the ranks' parameters differ (a rank that computed
    differently: another CPU's arithmetic where it must not matter)."""
    digest = hashlib.sha256()
    for w, b, s in params:
        digest.update(np.ascontiguousarray(w, np.int8).data)
        digest.update(np.ascontiguousarray(b, np.int32).data)
        digest.update(int(s).to_bytes(4, "little", signed=True))
    check_same(comm, "parameters after an epoch (the ranks diverged)", digest.hexdigest())


def error_counts(comm, predict, xq, y) -> float:
    """The error rate over every rank's shard: (wrong, total) summed exactly."""
    wrong = int(np.count_nonzero(predict(xq) != y)) if len(y) else 0
    wrong, total = comm.allreduce(np.array([wrong, len(y)]), "errors")
    return float(wrong) / float(total) if total else float("nan")


class Timer:
    """A rank's compute and communication per epoch, from the communicator's
    counts by kind."""

    def __init__(self, comm):
        self.comm = comm
        self.t0, self.k0 = time.perf_counter(), comm.snapshot()

    def record(self, trainer) -> dict:
        now, kinds = time.perf_counter(), self.comm.snapshot()
        zero = {"messages": 0, "bytes": 0, "seconds": 0.0}
        by_kind = {}  # this epoch's collectives, per kind
        for kind, e in sorted(kinds.items()):
            before = self.k0.get(kind, zero)
            if e["messages"] > before["messages"]:
                by_kind[kind] = {key: e[key] - before[key] for key in zero}
        wall = now - self.t0
        comm_s = sum(e["seconds"] for e in by_kind.values())
        out = {
            "ranks": self.comm.size,
            "seconds": round(wall, 3),
            "comm_seconds": round(comm_s, 3),
            "compute_seconds": round(wall - comm_s, 3),
            "messages": int(sum(e["messages"] for e in by_kind.values())),
            "bytes": int(sum(e["bytes"] for e in by_kind.values())),
            "by_kind": {
                kind: {"messages": int(e["messages"]), "seconds": round(e["seconds"], 3)}
                for kind, e in by_kind.items()
            },
        }
        if trainer is not None:
            out.update({key: int(v) for key, v in trainer.checks.items()})
            trainer.checks = {key: 0 for key in trainer.checks}
        self.t0, self.k0 = now, kinds
        return out
