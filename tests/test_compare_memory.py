"""Training memory by accounting (conntra.train.memory), checked against
measurements: tracemalloc for the numpy arrays, malloc's own count for the C
trainer. The one place a tolerance is right: the accounting counts the arrays
a trainer holds, not the short-lived temporaries of numpy expressions nor the
allocator's overhead."""

from __future__ import annotations

import ctypes
import ctypes.util
import sys
import tracemalloc

import numpy as np
import pytest

from conntra import datasets
from conntra.train import api, memory
from conntra.train.coordinate import ConntraConfig
from conntra.train.ctrainer import CTrainer


@pytest.fixture(scope="module")
def digits():
    """MNIST-shaped random data: 784 pixel features, 10 classes."""
    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (2000, 784)).astype(np.uint8)
    y = rng.integers(0, 10, 2000)
    return datasets.Dataset("synthetic", x, y, x[:50], y[:50], 10, None, "image")


def _traced(fn):
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _mallinfo():
    if not sys.platform.startswith("linux"):
        return None
    libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    if not hasattr(libc, "mallinfo2"):  # glibc >= 2.33 only
        return None

    class Info(ctypes.Structure):
        names = "arena ordblks smblks hblks hblkhd usmblks fsmblks uordblks fordblks keepcost"
        _fields_ = [(n, ctypes.c_size_t) for n in names.split()]

    libc.mallinfo2.restype = Info

    def used():
        info = libc.mallinfo2()
        return info.uordblks + info.hblkhd  # bytes in use, small blocks and mmapped

    return used


@pytest.mark.parametrize("sizes,cap", [([784, 256, 10], 8192), ([64, 32, 16, 5], 1000)])
def test_c_trainer_memory_matches_what_malloc_hands_out(sizes, cap):
    used = _mallinfo()
    if used is None:
        pytest.skip("needs glibc's mallinfo2")
    before = used()
    tr = CTrainer(sizes, cap)
    measured = used() - before
    counted = sum(tr.memory().values())
    # malloc's headers and the trainer struct itself: well under 1 % + 16 KiB
    assert counted <= measured <= counted * 1.01 + 16384


@pytest.mark.parametrize("trainer", ["backprop", "qat"])
def test_float_trainers_accounting_matches_tracemalloc(digits, trainer):
    def train():
        split = api.prepare(digits, [128], seed=0)
        return api.train(digits, [128], trainer, epochs=2, split=split)

    result, peak = _traced(train)
    counted = result.memory.total
    assert result.memory.phase == trainer
    assert 0.8 * counted <= peak <= 1.15 * counted, (peak, result.memory)


def test_conntra_accounting_matches_tracemalloc_and_malloc(digits):
    cfg = ConntraConfig(init="hybrid", init_epochs=1.0, batch=512, budget=1024, rounds=1)

    def train():
        split = api.prepare(digits, [128], seed=0)
        return api.train(digits, [128], "conntra", epochs=1, split=split, config=cfg), split

    (result, split), peak = _traced(train)
    init = api.hybrid_init_memory(split)
    descent = api.conntra_memory(split, cfg, None)
    assert result.memory == memory.peak(init, descent)
    # tracemalloc sees the numpy arrays: the hybrid init whole, the descent
    # without the C trainer's own buffers (checked against malloc above)
    c_part = sum(CTrainer(split.sizes, 512).memory().values())
    python_peak = max(init.total, descent.total - c_part)
    assert 0.75 * python_peak <= peak <= 1.15 * python_peak, (peak, init, descent)


def test_memory_parts_add_up():
    a = memory.Memory(1, 2, 3, 4, "x")
    b = memory.Memory(10, 20, 30, 40)
    assert (a + b).total == 110 and (a + b).phase == "x"
    assert memory.peak(a, b) is b and a.as_dict()["total"] == 10
