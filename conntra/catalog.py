"""Datasets known by their labels, whose samples are read on demand.

A rank of a data-parallel run (conntra.train.shards) trains on 1/N of the
training set. It needs every label, to cut the set into training and
validation parts the same way on every rank, but only its own samples'
pixels. A :class:`Catalog` holds what is small and the same on every rank
(names, shapes, labels, what identifies the files) and reads the rows it is
asked for: MNIST's image file by memory map (a gzip file is decompressed as a
whole, as it cannot be read from the middle, and only the rows asked for are
kept), an image folder by decoding only those files. It counts the rows it
read, so a run can show that a rank read its shard and nothing else.

``catalog.of_name`` takes the names ``datasets.load`` takes. Tabular data (Iris,
a CSV) is parsed as a whole and kept in memory: it is small, and fitting its
input quantization needs every row.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from conntra import datasets
from conntra.errors import DataError, InputError, ShapeError
from conntra.events import NULL, Observer

PARTS = ("train", "test")


@dataclass(frozen=True, eq=False)
class Catalog:
    """A dataset's labels and shape, and ``read(part, rows)`` for its samples
    (``part`` "train" or "test"): uint8 (or float64, for tabular data) rows of
    ``n_features``, in the order asked. The attributes a training run reads of
    a ``datasets.Dataset`` (name, labels, shape, classes) have its names."""

    name: str
    y_train: np.ndarray
    y_test: np.ndarray
    n_classes: int
    n_features: int
    input_kind: str
    reader: Callable[[str, np.ndarray], np.ndarray]
    identity: str  # the files read: names and sizes, not contents
    shape: tuple | None = None
    class_names: tuple | None = None
    feature_names: tuple | None = None
    rows_read: dict = field(default_factory=lambda: dict.fromkeys(PARTS, 0))

    def read(self, part: str, rows) -> np.ndarray:
        if part not in PARTS:
            raise InputError(f"part must be one of {PARTS}, got {part!r}")
        rows = np.asarray(rows, dtype=np.int64).reshape(-1)
        n = len(self.y_train if part == "train" else self.y_test)
        if len(rows) and (rows.min() < 0 or rows.max() >= n):
            raise ShapeError(f"{self.name} {part}: rows must be in [0, {n}), got {rows.max()}")
        x = self.reader(part, rows)
        self.rows_read[part] += len(rows)
        return x


def of_name(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    skip_bad: bool = False,
    observer: Observer = NULL,
    workers: int | None = None,
) -> Catalog:
    """The catalog of dataset ``name`` (a name ``datasets.load`` knows, or an
    image folder). ``skip_bad`` is refused for image folders: a bad file found
    by one rank would take a sample out of every rank's share of the set."""
    if name in datasets.IMAGE_DATASETS or (
        name not in datasets.KNOWN_DATASETS and os.path.isdir(name)
    ):
        if skip_bad:
            raise InputError(
                "skip_bad (--skip-bad) cannot be used when each rank reads only its "
                "shard: remove the bad files (a run without --distributed names them)"
            )
        if name in datasets.IMAGE_DATASETS:
            size, mode = datasets.IMAGE_DATASETS[name]
            return image_folder(
                datasets.find_image_dataset(name, data_dir),
                size,
                mode=mode,
                name=name,
                workers=workers,
                observer=observer,
            )
        return image_folder(name, workers=workers, observer=observer)
    if name == "mnist":
        return mnist(data_dir)
    return of_dataset(datasets.load(name, data_dir=data_dir))


def of_dataset(ds: datasets.Dataset) -> Catalog:
    """The catalog of a dataset already in memory."""
    arrays = {"train": ds.x_train, "test": ds.x_test}
    return Catalog(
        name=ds.name,
        y_train=ds.y_train,
        y_test=ds.y_test,
        n_classes=ds.n_classes,
        n_features=ds.n_features,
        input_kind=ds.input_kind,
        reader=lambda part, rows: np.asarray(arrays[part])[rows],
        identity=f"in memory: {ds.x_train.shape} {ds.x_test.shape}",
        shape=ds.shape,
        class_names=ds.class_names,
        feature_names=ds.feature_names,
    )


# -- MNIST ----------------------------------------------------------------------
IMAGES = {"train": "train-images-idx3-ubyte", "test": "t10k-images-idx3-ubyte"}
LABELS = {"train": "train-labels-idx1-ubyte", "test": "t10k-labels-idx1-ubyte"}


def mnist(data_dir: str | os.PathLike | None = None) -> Catalog:
    """MNIST's catalog: the label files read whole (60,000 + 10,000 bytes,
    checked against their MD5), the image files' headers checked against
    their lengths and labels, their rows read on demand. The image files'
    MD5 is not checked here: it would read them whole (a data-parallel run
    compares a sample of rows between its ranks instead)."""
    files = datasets._find_mnist_files(data_dir)
    labels = {part: datasets._read_idx(files[LABELS[part]], LABELS[part]) for part in PARTS}
    for part in PARTS:
        dims = _image_dims(files[IMAGES[part]])
        if dims[0] != len(labels[part]):
            raise DataError(
                f"{files[IMAGES[part]].name}: {dims[0]} images for "
                f"{len(labels[part])} labels; path: {files[IMAGES[part]]}"
            )
    sizes = {stem: path.stat().st_size for stem, path in sorted(files.items())}
    side = datasets._MNIST_SIDE
    return Catalog(
        name="mnist",
        y_train=labels["train"],
        y_test=labels["test"],
        n_classes=10,
        n_features=side * side,
        input_kind="image",
        reader=lambda part, rows: _idx_rows(files[IMAGES[part]], rows),
        identity=f"mnist files {sizes}",
        shape=(side, side, 1),
    )


def _image_dims(path: Path) -> tuple:
    if path.suffix == ".gz":
        raw = datasets._read_bytes(path)
        return datasets.idx_dims(raw, len(raw), path, images=True)
    with path.open("rb") as f:
        head = f.read(datasets.idx_header_len(True))
    return datasets.idx_dims(head, path.stat().st_size, path, images=True)


def _idx_rows(path: Path, rows: np.ndarray) -> np.ndarray:
    header = datasets.idx_header_len(True)
    if path.suffix == ".gz":
        raw = datasets._read_bytes(path)
        whole = np.frombuffer(raw, np.uint8, offset=header).reshape(-1, 784)
        return whole[rows]  # a copy: the decompressed file is let go
    n = (path.stat().st_size - header) // 784
    mapped = np.memmap(path, dtype=np.uint8, mode="r", offset=header, shape=(n, 784))
    try:
        return np.array(mapped[rows])
    finally:
        del mapped


# -- image folders ----------------------------------------------------------------
def image_folder(
    root: str | os.PathLike,
    size: tuple[int, int] | None = None,
    *,
    mode: str = "RGB",
    name: str | None = None,
    workers: int | None = None,
    observer: Observer = NULL,
) -> Catalog:
    """An image folder's catalog (``datasets.load_image_folder`` says how its
    files become samples): listing the folders gives the classes and labels;
    ``read`` decodes the files of the rows asked for, without the decoded
    cache (whose key is a digest of every file's contents). A file that is not
    an image is an ImageFileError naming it."""
    from conntra import images

    root = Path(root)
    listing = {part: images.list_split(root, part) for part in PARTS}
    if listing["train"][0] != listing["test"][0]:
        raise DataError(
            f"{root}: the test classes {listing['test'][0][:10]} differ from the training "
            f"classes {listing['train'][0][:10]}"
        )
    if size is None:
        size = images.size_of(listing["train"][1][0])
    prep = images.Prep(tuple(size), mode)  # type: ignore[arg-type]
    digest = hashlib.sha256(repr(prep.key()).encode())
    for part in PARTS:
        for f in listing[part][1]:
            digest.update(str(f.relative_to(root)).encode("utf-8", "surrogatepass") + b"\0")

    def reader(part: str, rows: np.ndarray) -> np.ndarray:
        files = [listing[part][1][i] for i in rows]
        x, errors = images.decode_files(
            files, prep, workers=workers, observer=observer, what=f"{root.name}/{part} (shard)"
        )
        if errors:
            images.raise_bad(files, errors, "")
        return x.reshape(len(files), int(np.prod(prep.shape)))

    return Catalog(
        name=name or root.name,
        y_train=listing["train"][2],
        y_test=listing["test"][2],
        n_classes=len(listing["train"][0]),
        n_features=int(np.prod(prep.shape)),
        input_kind="image",
        reader=reader,
        identity=f"image folder of {digest.hexdigest()[:16]}",
        shape=prep.shape,
        class_names=tuple(listing["train"][0]),
    )
