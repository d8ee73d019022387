"""How long a rank of a data-parallel run takes to read its shard.

    mpiexec -n N python benchmarks/shard_reading.py [DATASET] [--workers W]

Every rank opens the catalog of DATASET (default cifar10; mnist, or an image
folder) and prepares its share of the default split as ``conntra train
--distributed`` does (``conntra.train.shards.prepare``: the labels, its
training and validation rows, the data check's 16 probe samples). Prints per
rank the seconds and rows read, the images per second of the whole job and
the machine. W: decoding processes per rank (default: the cores shared
between the ranks of the machine). Run it with ``-n 1`` for one process's
time; ``python benchmarks/image_loading.py`` times a run without
``--distributed`` (all images, and its cache).
"""

import argparse
import json
import os
import platform
import time

from conntra import catalog
from conntra.train import shards
from conntra.train.comm import world


def main():
    p = argparse.ArgumentParser()
    p.add_argument("dataset", nargs="?", default="cifar10")
    p.add_argument("--workers", type=int, default=None)
    args = p.parse_args()
    comm = world()
    workers = args.workers or shards.decode_workers(comm)
    t0 = time.perf_counter()
    cat = catalog.of_name(args.dataset, workers=workers)
    listed = time.perf_counter() - t0
    split = shards.prepare(cat, None if args.dataset != "mnist" else [256], comm, seed=0)
    seconds = time.perf_counter() - t0
    mine = {
        "seconds": round(seconds, 2),
        "listing_seconds": round(listed, 2),
        "rows_read": split.shard.rows_read,
        "workers": workers,
    }
    ranks = comm.gather_objects(mine)
    if comm.rank:
        return
    rows = sum(r["rows_read"]["train"] for r in ranks)
    slowest = max(r["seconds"] for r in ranks)
    out = {
        "dataset": args.dataset,
        "ranks": comm.size,
        "training rows of the split": split.n_train + split.shard.n_val,
        "rows read, all ranks": rows,
        "seconds (slowest rank)": slowest,
        "images per second, all ranks": round(rows / slowest),
        "per_rank": ranks,
        "cpu": f"{platform.processor() or platform.machine()}, {os.cpu_count()} logical cores",
    }
    print(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
