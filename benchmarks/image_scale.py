"""What ImageNet-sized photos cost conntra's image loader, for docs/images.md.

    python benchmarks/image_scale.py [--n 400] [--workers N]

Writes N JPEGs of 500x375 (ImageNet's typical size; quality 90, content from
real CIFAR-10 images scaled up and cropped, so the files have photo-like
entropy), then decodes them, resized on the shorter side and center-cropped,
to 224x224 and to 64x64 RGB without the cache, on N worker processes. Prints
milliseconds per image, the JPEG and cache bytes per image, and what 1.28 M
images (ImageNet's training set) would take at that rate.
"""

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from conntra import datasets

IMAGENET = 1_281_167


def main():
    p = argparse.ArgumentParser()
    p.add_argument("--n", type=int, default=400)
    p.add_argument("--workers", type=int, default=None)
    args = p.parse_args()
    source = datasets.find_image_dataset("cifar10")
    files = sorted((source / "train" / "cat").iterdir())[: args.n]
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "photos"
        jpeg_bytes = 0
        for split in ("train", "test"):
            (root / split / "a").mkdir(parents=True)
        for i, f in enumerate(files):
            big = Image.open(f).convert("RGB").resize((500, 375), Image.Resampling.BICUBIC)
            noise = np.random.default_rng(i).normal(0, 6, (375, 500, 3))
            pixels = np.clip(np.asarray(big, np.float64) + noise, 0, 255).astype(np.uint8)
            out = root / "train" / "a" / f"{i:05d}.jpg"
            Image.fromarray(pixels).save(out, quality=90)
            jpeg_bytes += out.stat().st_size
        (root / "test" / "a" / "x.jpg").write_bytes(out.read_bytes())
        print(f"{len(files)} JPEGs of 500x375, {jpeg_bytes / len(files):,.0f} bytes each")
        for size in ((224, 224), (64, 64)):
            t0 = time.perf_counter()
            ds = datasets.load_image_folder(root, size, use_cache=False, workers=args.workers)
            seconds = time.perf_counter() - t0
            n = len(ds.y_train) + len(ds.y_test)
            per = seconds / n
            cache = size[0] * size[1] * 3 + 8
            print(
                f"to {size[0]}x{size[1]}: {per * 1e3:.2f} ms per image ({1 / per:,.0f}/s); "
                f"cache {cache:,} bytes per image; ImageNet's {IMAGENET:,} images: "
                f"{IMAGENET * per / 3600:.1f} h to decode, {IMAGENET * cache / 1e9:.1f} GB cached"
            )


if __name__ == "__main__":
    main()
