"""A data-parallel rank's share of the data, read without the rest.

Rank r of N trains on the training samples j = r (mod N) and validates on the
validation samples j = r (mod N) (``conntra.train.lanes`` says why these are
the only samples it ever needs). ``prepare`` makes ``api.prepare``'s decisions
from the labels alone (``api.plan_split``: the input quantization, the
held-out part, ``max_train``), so every rank decides the same, then reads only
its rows from a ``conntra.catalog.Catalog``. The split it returns holds the
rank's share and a ``Shard`` saying whose it is.

The ranks cannot compare their samples to find a rank that reads other data
(each reads other samples). They compare a digest of what must be the same:
the catalog's identity (file names and sizes), every label, the rows chosen
for training and validation, and ``PROBE`` training samples spread over the
set that every rank reads for the purpose.

What needs samples of the whole training set (the starting point, computed on
rank 0 alone so that every rank starts from the same bits) gets them from the
ranks over MPI: ``gather_training``.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os

import numpy as np

from conntra.catalog import Catalog, of_dataset
from conntra.errors import InputError
from conntra.validate import check_features

PROBE = 16  # training samples every rank reads, for the data check


@dataclasses.dataclass(frozen=True)
class Shard:
    """Whose share a split holds: rank ``rank`` of ``size``, of ``n_train``
    training and ``n_val`` validation samples in all; ``digest`` is the data
    check's, ``rows_read`` the rows the rank read from storage (by part)."""

    rank: int
    size: int
    n_train: int
    n_val: int
    digest: str
    rows_read: dict


def prepare(
    source,
    hidden,
    comm,
    *,
    val_fraction=0.1,
    seed=0,
    max_train=None,
    input_quant=None,
    arch=None,
):
    """Rank ``comm.rank``'s share of ``api.prepare``'s split of ``source`` (a
    Catalog, or a datasets.Dataset in memory): the same decisions on every
    rank, and only this rank's rows read."""
    from conntra.train import api, dataparallel

    catalog = source if isinstance(source, Catalog) else of_dataset(source)
    dataparallel.check_software(comm)  # before reading: another build may read otherwise
    n_rows = len(catalog.y_train)

    def all_rows():  # tabular data only: its quantization is fitted to every row
        return check_features(catalog.read("train", np.arange(n_rows)), name="dataset.x_train")

    plan = api.plan_split(
        catalog,
        hidden,
        n_rows,
        all_rows,
        val_fraction=val_fraction,
        seed=seed,
        max_train=max_train,
        input_quant=input_quant,
        arch=arch,
    )
    r, n = comm.rank, comm.size
    mine = plan.train_rows[r::n]
    # one read of both parts: a gzip file is decompressed, a decoding pool started, once
    both = _checked(
        catalog.read("train", np.concatenate([mine, plan.val_rows[r::n]])), catalog.n_features
    )
    x, x_val = both[: len(mine)], both[len(mine) :]
    shard = Shard(r, n, len(plan.y), len(plan.y_val), _digest(catalog, plan), {})
    split = plan.split(x, x_val, plan.y[r::n], plan.y_val[r::n], shard=shard)
    shard.rows_read.update(catalog.rows_read)
    return split


def decode_workers(comm) -> int:
    """Image-decoding processes for one rank: the machine's cores shared
    between the ranks that run on it."""
    return max(1, (os.cpu_count() or 1) // comm.local_size)


def _checked(x: np.ndarray, n_features: int) -> np.ndarray:
    if len(x) == 0:  # a rank of many, on a tiny set
        return np.zeros((0, n_features), x.dtype)
    return check_features(x, n_features, name="dataset.x_train")


def _digest(catalog: Catalog, plan) -> str:
    digest = hashlib.sha256()
    about = (catalog.identity, catalog.name, catalog.n_classes, catalog.n_features)
    digest.update(repr((*about, catalog.shape, catalog.class_names)).encode())
    rows = plan.train_rows
    probe = rows[np.linspace(0, len(rows) - 1, min(PROBE, len(rows))).astype(np.int64)]
    for a in (catalog.y_train, plan.train_rows, plan.val_rows, catalog.read("train", probe)):
        a = np.ascontiguousarray(a)
        digest.update(f"{a.dtype.str}{a.shape}".encode())
        digest.update(a.data)
    return digest.hexdigest()[:16]


def check_share(split, comm) -> None:
    """InputError unless ``split`` is rank ``comm.rank``'s share of ``comm.size``."""
    shard = split.shard
    if shard is None or (shard.rank, shard.size) != (comm.rank, comm.size):
        raise InputError(
            "distributed: split must be this rank's share (conntra.train.shards.prepare "
            "with the same communicator), or None to prepare it"
        )


def gather_training(comm, split, rows):
    """On rank 0 a Split of the training samples ``rows`` of the whole set (in
    that order), from the ranks that hold them; None on the others. Every
    rank must call it."""
    rows = np.asarray(rows, np.int64)
    owner = rows % comm.size
    mine = rows[owner == comm.rank] // comm.size  # sample j is rank j % N's j // N
    parts = comm.gather((split.xq[mine], split.y[mine]), "gather")
    if comm.rank != 0:
        return None
    xq = np.empty((len(rows), split.xq.shape[1]), split.xq.dtype)
    y = np.empty(len(rows), split.y.dtype)
    for r, (xq_r, y_r) in enumerate(parts):
        xq[owner == r], y[owner == r] = xq_r, y_r
    return dataclasses.replace(split, xq=xq, y=y, shard=None)


def errors(comm, model, split, catalog: Catalog) -> dict:
    """Training, validation and test error of ``model`` over every rank's
    share (each rank reads its share of the test set: samples r, r + N, ...)."""
    from conntra.train.dataparallel import error_counts

    test_rows = np.arange(comm.rank, len(catalog.y_test), comm.size)
    x_test = catalog.read("test", test_rows)
    val = error_counts(comm, model.predict_quantized, split.xq_val, split.y_val)
    return {
        "train_error": error_counts(comm, model.predict_quantized, split.xq, split.y),
        "val_error": val if split.shard.n_val else None,
        "test_error": error_counts(comm, model.predict, x_test, catalog.y_test[test_rows]),
    }
