"""The input lists' effect on the trainer's first layer, for docs/trainer.md.

    conntra train --dataset mnist --epochs 2 --out m.ctm
    CONNTRA_NUM_THREADS=1 python benchmarks/train_lists.py m.ctm

On the first 4,096 MNIST training images: the time of one first-layer
ranking (best of 15), and the time per exact check of first-layer weight
steps on inputs grouped by how many samples they are nonzero in (best of 7;
none applied), the bins where the lists decide. Run it on two builds to
compare (the lists are chosen by CT_LIST_RATIO and RANK_LIST_MAX in
native/src/train/). MNIST comes from $CONNTRA_DATA.
"""

import sys
import time

import numpy as np

import conntra
from conntra import datasets
from conntra.train.ctrainer import WEIGHT, CTrainer

BATCH = 4096


def best(fn, n):
    times = []
    for _ in range(n):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def main(path):
    model = conntra.load(path)
    ds = datasets.load_mnist()
    xq = model.quantize(ds.x_train[:BATCH])
    tr = CTrainer(model.sizes, BATCH)
    tr.set_params([(L.weights, L.bias, L.shift) for L in model.layers])
    tr.set_batch(xq, ds.y_train[:BATCH].astype(np.int32), 150.0)
    tr.reserve_ranking(4096, 256)
    rank = best(lambda: tr.rank(0, 4096, 128, 16), 15)
    print(f"first-layer ranking: {rank * 1e3:.1f} ms")
    nz = (xq != 0).sum(0)
    w = model.layers[0].weights
    rng = np.random.default_rng(0)
    for lo, hi in [(1, 128), (128, 256), (256, 512), (512, 1024), (1024, 2048), (2048, 4097)]:
        cols = np.flatnonzero((nz >= lo) & (nz < hi))
        if cols.size == 0:
            continue
        i, j = rng.choice(cols, 2048), rng.integers(0, w.shape[0], 2048)
        value = np.where(w[j, i] == 1, 0, w[j, i] + 1)
        cands = np.stack([np.zeros(2048), np.full(2048, WEIGHT), j, i, value], 1).astype(np.int32)
        per = best(lambda c=cands: tr.step(c, min_gain=float("inf")), 7) / 2048
        print(f"inputs nonzero in {lo}-{hi - 1} samples: {per * 1e6:.2f} us per check")


if __name__ == "__main__":
    main(sys.argv[1])
