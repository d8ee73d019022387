"""Shared helpers of the trainer tests: small random integer networks."""

from __future__ import annotations

import numpy as np


def random_params(rng, sizes, shifts, bias_range=40):
    params = []
    n = len(sizes) - 1
    for i in range(n):
        w = rng.integers(-1, 2, (sizes[i + 1], sizes[i])).astype(np.int8)
        b = rng.integers(-bias_range, bias_range + 1, sizes[i + 1]).astype(np.int32)
        params.append((w, b, -1 if i == n - 1 else int(shifts[i])))
    return params


def random_batch(rng, n, n_in, n_classes):
    x = rng.integers(0, 128, (n, n_in)).astype(np.int8)
    x[rng.random(x.shape) < 0.3] = 0  # sparse inputs, like MNIST pixels
    return x, rng.integers(0, n_classes, n).astype(np.int32)


def same_params(a, b) -> bool:
    return all(
        np.array_equal(p[0], q[0]) and np.array_equal(p[1], q[1]) and int(p[2]) == int(q[2])
        for p, q in zip(a, b, strict=True)
    )
