"""The first layer's input lists (the samples where each input is nonzero):
checks, commits and the ranking that walk them give the same bits as the
row loops that read every sample.

The oracle runs the same data through a network with one more layer in
front: an identity layer (weights I, bias 0, shift 0) whose activations are
the input itself. The layer after it sees exactly the first layer's input,
but as a hidden activation, which has no lists, so it takes the row loops.
Every estimate, check and accepted change of the two must be equal (==)."""

from __future__ import annotations

import numpy as np
import pytest
from _train_helpers import random_params

from conntra.train.ctrainer import WEIGHT, CTrainer, candidates

N_IN, HIDDEN, CLASSES = 24, 16, 5
# Inputs from nearly always 0 to nearly never: lists in the checks below a
# quarter of the batch, in the ranking below 16 of a chunk's 64 samples.
DENSITY = np.array([0.002, 0.01, 0.03, 0.06, 0.1, 0.2, 0.3, 0.6] * 3)


def sparse_batch(rng, n):
    x = rng.integers(1, 128, (n, N_IN)).astype(np.int8)
    x[rng.random(x.shape) >= DENSITY] = 0
    x[:, 0] = 0  # an input that is 0 on the whole batch
    return x, rng.integers(0, CLASSES, n).astype(np.int32)


def pair(seed, batch):
    """A: N_IN-HIDDEN-CLASSES; B: the same behind an identity layer."""
    rng = np.random.default_rng(seed)
    params = random_params(rng, [N_IN, HIDDEN, CLASSES], [5], bias_range=20)
    identity = (np.eye(N_IN, dtype=np.int8), np.zeros(N_IN, np.int32), 0)
    a = CTrainer([N_IN, HIDDEN, CLASSES], batch)
    b = CTrainer([N_IN, N_IN, HIDDEN, CLASSES], batch)
    a.set_params(params)
    b.set_params([identity, *params])
    x, y = sparse_batch(rng, batch)
    a.set_batch(x, y, 20.0)
    b.set_batch(x, y, 20.0)
    assert a.loss() == b.loss()
    return a, b, rng


def shifted(cands):
    out = np.array(cands, np.int32, copy=True)
    out[:, 0] += 1
    return out


@pytest.mark.parametrize("batch", [1000, 64, 1])
def test_first_layer_checks_walk_the_lists_to_the_same_bits(batch):
    a, b, _ = pair(1, batch)
    w = a.get_layer(0)[0]
    rows = [
        (0, WEIGHT, j, i, v)
        for j in range(HIDDEN)
        for i in range(N_IN)
        for v in (-1, 0, 1)
        if v != w[j, i]
    ]
    for c in rows:
        assert a.delta(c) == b.delta((1, *c[1:])), c
    # commits: apply the same changes on both, every cache stays equal
    for c in rows[:: max(1, len(rows) // 40)]:
        a.apply(c)
        b.apply((1, *c[1:]))
        assert a.loss() == b.loss()
        acc_a, act_a = a.cache(0)
        acc_b, act_b = b.cache(1)
        assert np.array_equal(acc_a, acc_b) and np.array_equal(act_a, act_b)


@pytest.mark.parametrize("batch", [1000, 200])
def test_ranking_and_screened_steps_walk_the_lists_to_the_same_bits(batch):
    a, b, rng = pair(2, batch)
    for _ in range(3):  # rounds: rank both layers, then the screened step
        a.rank(0, 96, 8, 4)
        a.rank(1, 48, 4, 4)
        b.reserve_ranking(96, 8)
        b.rank(1, 96, 8, 4)
        b.rank(2, 48, 4, 4)
        for la, lb in ((0, 1), (1, 2)):
            ca, ea = a.ranked(la)
            cb, eb = b.ranked(lb)
            assert np.array_equal(shifted(ca), cb) and np.array_equal(ea, eb)
        acc_a = a.rank_step(candidates([]), screen=batch // 8)
        acc_b = b.rank_step(candidates([]), screen=batch // 8)
        assert list(acc_a) == list(acc_b[1:]) and acc_b[0] == 0
        assert a.loss() == b.loss()
    assert sum(acc_a) > 0
    for la, lb in ((0, 1), (1, 2)):
        pa, pb = a.get_layer(la), b.get_layer(lb)
        assert all(np.array_equal(u, v) for u, v in zip(pa, pb, strict=True))
    # a new batch rebuilds the lists
    x, y = sparse_batch(rng, batch)
    a.set_batch(x, y, 20.0)
    b.set_batch(x, y, 20.0)
    assert a.loss() == b.loss()
