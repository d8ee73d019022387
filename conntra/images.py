"""Image-folder datasets: ``<root>/<split>/<class>/<image>``, decoded with Pillow.

This is the layout of ImageNet's training set and of most image datasets
(CIFAR-10 as JPEG folders is one). Class names are the folder names; labels
are their positions in sorted order. Every image becomes uint8 (H, W, C),
channels last, by these steps, which make the result deterministic for a
given Pillow version:

1. Pillow opens and fully decodes the file; a file that is not an image, or
   is truncated, is an ``ImageFileError`` naming it (or, with
   ``skip_bad=True``, is skipped and counted).
2. The EXIF orientation is applied (``ImageOps.exif_transpose``).
3. The pixels become RGB (3 channels) or grayscale L (1 channel):
   16-bit and 32-bit integer grayscale (modes ``I;16*``, ``I``) is clipped
   to 0..65535 and shifted right by 8; an image with transparency (RGBA,
   LA, PA, a palette with a transparent index) is composited onto black;
   every other mode (palette, CMYK, YCbCr, 1-bit, ...) goes through
   Pillow's ``convert``; L from RGB is Pillow's ITU-R 601-2 luma.
4. An image whose size is not (H, W) is scaled so that it covers (H, W) (the
   shorter side, relative to the target, matches it), with Pillow's
   ``BILINEAR`` filter (a triangle filter widened to the reduction, so a
   downscale averages every source pixel), then center-cropped:
   ``left = (w' - W) // 2``, ``top = (h' - H) // 2``. An image of size
   (H, W) is not resampled at all.

Decoded arrays are cached (``.npz`` under the cache directory) under a key
made of the files' contents (a BLAKE2 digest of each, with its path), the
steps' settings and the Pillow version, so a second load reads one file, and
a changed image, setting or Pillow means a fresh decode. Decoding runs on
``workers`` processes and reports progress to an ``Observer``.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conntra.errors import DataError, DataNotFoundError, InputError
from conntra.events import NULL, Observer

MODES = {"RGB": 3, "L": 1}
FILTER = "BILINEAR"
DECODE_VERSION = 1  # bump when the steps above change: it is part of the cache key
CHUNK = 256  # images per task of the worker processes


class ImageFileError(DataError):
    """A file in an image folder is not an image Pillow can decode in full."""


@dataclass(frozen=True)
class Prep:
    """What an image becomes: (height, width) and "RGB" or "L"."""

    size: tuple[int, int]
    mode: str = "RGB"

    def __post_init__(self) -> None:
        if self.mode not in MODES:
            raise InputError(f"image mode must be 'RGB' or 'L', got {self.mode!r}")
        if (
            len(self.size) != 2
            or not all(
                isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in self.size
            )
            or min(self.size) < 1
        ):
            raise InputError(f"image size must be two positive integers (H, W), got {self.size!r}")
        object.__setattr__(self, "size", (int(self.size[0]), int(self.size[1])))

    @property
    def shape(self) -> tuple[int, int, int]:
        return (*self.size, MODES[self.mode])

    def key(self) -> dict:
        from PIL import __version__ as pillow

        return {
            "size": list(self.size),
            "mode": self.mode,
            "filter": FILTER,
            "decode": DECODE_VERSION,
            "pillow": pillow,
        }


def _to_mode(img, mode: str):
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        wide = np.clip(np.asarray(img, dtype=np.int64), 0, 65535) >> 8
        img = Image.fromarray(wide.astype(np.uint8), "L")
    elif img.mode == "F":
        raise ValueError("floating-point (mode F) images are not photographs conntra reads")
    has_alpha = img.mode in ("RGBA", "LA", "PA", "RGBa", "La") or (
        img.mode == "P" and "transparency" in img.info
    )
    if has_alpha:
        rgba = img.convert("RGBA")
        black = Image.new("RGBA", rgba.size, (0, 0, 0, 255))
        img = Image.alpha_composite(black, rgba).convert("RGB")
    if img.mode != mode:
        if mode == "L" and img.mode not in ("RGB", "L"):
            img = img.convert("RGB")  # one defined path to luma: via RGB
        img = img.convert(mode)
    return img


def decode(data: bytes, prep: Prep) -> np.ndarray:
    """One image file's bytes as uint8 (H, W, C) by the steps of this
    module's docstring; ValueError or OSError (from Pillow) when it is not an
    image or is truncated."""
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        opened.load()  # decode everything now: truncation raises here
        img = ImageOps.exif_transpose(opened)
    img = _to_mode(img, prep.mode)
    h, w = prep.size
    if img.size != (w, h):
        scale = max(h / img.height, w / img.width)
        new_w = max(w, round(img.width * scale))
        new_h = max(h, round(img.height * scale))
        img = img.resize((new_w, new_h), Image.Resampling.BILINEAR)
        left, top = (new_w - w) // 2, (new_h - h) // 2
        img = img.crop((left, top, left + w, top + h))
    out = np.asarray(img, dtype=np.uint8)
    return out.reshape(h, w, MODES[prep.mode])


def size_of(path: Path) -> tuple[int, int]:
    """(H, W) of the image file ``path``, from its header."""
    from PIL import Image

    try:
        with Image.open(path) as first:
            return (first.height, first.width)
    except (OSError, ValueError) as exc:
        raise ImageFileError(f"{path}: cannot read its size: {exc}") from exc


def _decode_chunk(args) -> list:
    """Worker task: [(index, array) or (index, error text)] for a chunk."""
    paths, start, prep = args
    out: list[tuple[int, np.ndarray | str]] = []
    for k, path in enumerate(paths):
        try:
            out.append((start + k, decode(Path(path).read_bytes(), prep)))
        except (OSError, ValueError, SyntaxError) as exc:  # what Pillow raises on bad files
            out.append((start + k, f"{type(exc).__name__}: {exc}"))
    return out


def list_split(root: Path, split: str) -> tuple[list[str], list[Path], np.ndarray]:
    """(sorted class names, files, labels) of ``root/split``: the files of
    each class folder in sorted order, hidden files left out."""
    where = root / split
    if not where.is_dir():
        raise DataNotFoundError(f"no folder {where}: an image folder has {split}/<class>/<image>")
    classes = sorted(d.name for d in where.iterdir() if d.is_dir() and not d.name.startswith("."))
    if not classes:
        raise DataError(f"{where} has no class folders")
    files, labels = [], []
    for label, name in enumerate(classes):
        members = sorted(
            f for f in (where / name).iterdir() if f.is_file() and not f.name.startswith(".")
        )
        files += members
        labels += [label] * len(members)
    if not files:
        raise DataError(f"{where} has class folders but no files")
    return classes, files, np.array(labels, dtype=np.int64)


def _content_key(root: Path, files: Sequence[Path], prep: Prep) -> str:
    h = hashlib.sha256(json.dumps(prep.key(), sort_keys=True).encode())
    for f in files:
        digest = hashlib.blake2b(f.read_bytes(), digest_size=16).digest()
        h.update(str(f.relative_to(root)).encode("utf-8", "surrogatepass") + b"\0" + digest)
    return h.hexdigest()[:32]


@dataclass(frozen=True, eq=False)
class ImageSplit:
    """One decoded split: images (n, H, W, C) uint8, labels, class names, and
    the files skipped as bad (with their errors)."""

    x: np.ndarray
    y: np.ndarray
    classes: tuple[str, ...]
    skipped: tuple[tuple[str, str], ...]
    cached: bool


def load_split(
    root: str | os.PathLike,
    split: str,
    prep: Prep,
    *,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    workers: int | None = None,
    skip_bad: bool = False,
    observer: Observer = NULL,
) -> ImageSplit:
    """Decodes (or reads from the cache) every image of ``root/split``."""
    root = Path(root)
    classes, files, labels = list_split(root, split)
    cache_file = None
    if use_cache:
        from conntra.datasets import default_data_dir

        folder = Path(cache_dir) if cache_dir is not None else default_data_dir() / "images"
        observer.phase_start(f"hashing {root.name}/{split}", total=None, unit="image")
        key = _content_key(root, files, prep)
        observer.phase_end()
        cache_file = folder / f"{root.name}-{split}-{key}.npz"
        if cache_file.exists():
            try:
                return _read_cache(cache_file, classes, skip_bad)
            except (OSError, ValueError, KeyError):
                pass  # a damaged cache file is decoded again and rewritten
    x, errors = decode_files(
        files, prep, workers=workers, observer=observer, what=f"{root.name}/{split}"
    )
    if errors and not skip_bad:
        raise_bad(files, errors, "; skip_bad (--skip-bad) skips such files")
    keep = np.array([i not in errors for i in range(len(files))], dtype=bool)
    skipped = tuple((str(files[i]), errors[i]) for i in sorted(errors))
    result = ImageSplit(x[keep], labels[keep], tuple(classes), skipped, False)
    if cache_file is not None:
        _write_cache(cache_file, result)
    return result


def decode_files(
    files: Sequence[Path], prep: Prep, *, workers: int | None, observer: Observer, what: str
) -> tuple[np.ndarray, dict[int, str]]:
    """The images of ``files``, in order, as (n, H, W, C) uint8 on ``workers``
    processes, and {position: error text} of the files that are not images
    (their rows stay zero)."""
    x = np.zeros((len(files), *prep.shape), np.uint8)
    errors: dict[int, str] = {}
    observer.phase_start(f"decoding {what}", total=len(files), unit="image")
    tasks = [([str(f) for f in files[i : i + CHUNK]], i, prep) for i in range(0, len(files), CHUNK)]
    n_workers = workers if workers is not None else min(len(tasks), os.cpu_count() or 1)
    if n_workers <= 1:
        _collect(map(_decode_chunk, tasks), x, errors, observer)
    else:
        with ProcessPoolExecutor(max_workers=n_workers) as pool:
            _collect(pool.map(_decode_chunk, tasks), x, errors, observer)
    observer.phase_end()
    return x, errors


def raise_bad(files: Sequence[Path], errors: dict[int, str], advice: str) -> None:
    """ImageFileError naming the first bad file of ``decode_files``."""
    i = min(errors)
    more = f" ({len(errors) - 1} more bad files)" if len(errors) > 1 else ""
    raise ImageFileError(f"{files[i]}: not an image conntra can decode: {errors[i]}{more}{advice}")


def _collect(results, x, errors, observer) -> None:
    for chunk in results:
        for i, value in chunk:
            if isinstance(value, str):
                errors[i] = value
            else:
                x[i] = value
        observer.phase_advance(len(chunk))


def _write_cache(path: Path, split: ImageSplit) -> None:
    from conntra.fileio import atomic_write

    buf = io.BytesIO()
    meta = json.dumps({"classes": list(split.classes), "skipped": [list(s) for s in split.skipped]})
    np.savez(buf, x=split.x, y=split.y, meta=np.frombuffer(meta.encode(), np.uint8))
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, buf.getvalue())
    except OSError:
        pass  # a cache that cannot be written only costs the next load a decode


def _read_cache(path: Path, classes: list[str], skip_bad: bool) -> ImageSplit:
    with np.load(path) as z:
        meta = json.loads(bytes(z["meta"]).decode())
        x, y = z["x"], z["y"]
    skipped = tuple((a, b) for a, b in meta["skipped"])
    if meta["classes"] != classes:
        raise ValueError("cache of other classes")
    if skipped and not skip_bad:
        file, error = skipped[0]
        raise ImageFileError(f"{file}: not an image conntra can decode: {error}")
    return ImageSplit(x, y, tuple(meta["classes"]), skipped, True)
