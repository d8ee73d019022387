"""Batches that split between ranks without depending on how many there are.

A data-parallel run gives rank r of N the batch positions p = r, r + N, ...
(its local sample i is position i * N + r). For the model bytes to be the same
for every N that divides the batch B, position p of a batch must hold the same
sample whatever N is, and rank r must only ever need its own shard of the
training set, the samples j = r, r + N, ... So the training set is cut into B
lanes, lane p holding the samples j = p (mod B): position p draws from lane p,
and since N divides B, every sample of lane p is one of rank r's. Each epoch
orders every lane by one random key per sample (drawn from the run's seed and
the epoch, the same on every rank), and batch b takes the b-th sample of each
lane. There are n // B batches per epoch, as in the single-process trainer;
the n mod B samples left over in an epoch differ from epoch to epoch.
"""

from __future__ import annotations

import numpy as np

from conntra.errors import DistributedError

KEY_STREAM = 0x6C616E65  # keeps the lane keys apart from other uses of the seed


def check_split(batch: int, size: int, what: str = "the batch") -> None:
    """DistributedError unless ``size`` ranks split ``batch`` samples evenly."""
    if batch % size:
        raise DistributedError(
            f"{what} ({batch} samples) does not split evenly between {size} ranks: "
            f"run a number of ranks that divides it, or a batch that {size} divides"
        )


def local_batches(n: int, batch: int, seed: int, epoch: int, rank: int, size: int) -> np.ndarray:
    """Rank ``rank``'s part of every batch of epoch ``epoch`` (0-based) over
    ``n`` training samples: (n // batch, batch // size) indices into the
    training set, row b holding positions rank, rank + size, ... of batch b."""
    check_split(batch, size)
    n_batches = n // batch
    keys = np.random.default_rng([int(seed), int(epoch), KEY_STREAM]).random(n)
    lanes = rank + size * np.arange(batch // size)  # this rank's positions = its lanes
    depth = -(-n // batch)  # the longest lane
    members = lanes[None, :] + batch * np.arange(depth)[:, None]  # sample j of each lane
    valid = members < n
    lane_keys = np.where(valid, keys[np.minimum(members, n - 1)], np.inf)
    order = np.argsort(lane_keys, axis=0, kind="stable")[:n_batches]
    return np.take_along_axis(members, order, axis=0)


def shard(n: int, rank: int, size: int) -> np.ndarray:
    """The training samples rank ``rank`` of ``size`` holds: j = rank (mod size)."""
    return np.arange(rank, n, size)
