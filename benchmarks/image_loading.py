"""Image-folder loading speed, for the figures in docs/images.md.

    python benchmarks/image_loading.py [FOLDER] [--workers N]

Loads FOLDER (default: CIFAR-10, found like ``load("cifar10")``) twice with
a fresh cache directory: cold (decode every JPEG on N worker processes, then
write the cache) and warm (hash the files, read the cache). Prints images per
second of each, the cache's bytes per image, and the machine.
"""

import argparse
import os
import platform
import tempfile
import time
from pathlib import Path

from conntra import datasets


def main():
    p = argparse.ArgumentParser()
    p.add_argument("folder", nargs="?", default=None)
    p.add_argument("--workers", type=int, default=None)
    args = p.parse_args()
    root = Path(args.folder) if args.folder else datasets.find_image_dataset("cifar10")
    size = (32, 32) if args.folder is None else None
    with tempfile.TemporaryDirectory() as cache:
        runs = []
        for what in ("cold", "warm"):
            t0 = time.perf_counter()
            ds = datasets.load_image_folder(root, size, cache_dir=cache, workers=args.workers)
            runs.append((what, time.perf_counter() - t0))
        n = len(ds.y_train) + len(ds.y_test)
        cache_bytes = sum(f.stat().st_size for f in Path(cache).iterdir())
    print(f"{root}: {n} images of {ds.shape}, {ds.n_classes} classes")
    print(f"cpu: {platform.processor() or platform.machine()}, {os.cpu_count()} logical cores")
    for what, seconds in runs:
        print(f"{what}: {seconds:.2f} s, {n / seconds:,.0f} images/s")
    print(f"cache: {cache_bytes:,} bytes, {cache_bytes / n:,.0f} per image")


if __name__ == "__main__":
    main()
