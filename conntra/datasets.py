"""Datasets conntra trains on: packaged Iris, MNIST from IDX files, user CSVs,
and image folders (CIFAR-10 by name, or any train/<class>/<image> tree).

Arrays in a returned :class:`Dataset` are read-only: MNIST arrays are shared
through an in-process cache, and a caller normalising them in place would
silently change every later ``load("mnist")``. Copy before modifying.
"""

from __future__ import annotations

import csv
import functools
import gzip
import hashlib
import io
import math
import os
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from conntra.errors import DataError, DataNotFoundError, DownloadError, InputError

__all__ = [
    "IMAGE_DATASETS",
    "KNOWN_DATASETS",
    "Dataset",
    "default_data_dir",
    "fetch_mnist",
    "load",
    "find_image_dataset",
    "load_csv",
    "load_image_folder",
    "load_iris",
    "load_mnist",
    "stratified_split",
]

KNOWN_DATASETS = ("iris", "mnist")
IMAGE_DATASETS = {"cifar10": ((32, 32), "RGB")}  # image folders known by name: (H, W), mode

_IRIS_PATH = Path(__file__).resolve().parent / "data" / "iris.csv"
# sha256 of iris.csv with LF line endings; CRLF is normalised before hashing so a
# Windows checkout with autocrlf does not read as tampering.
_IRIS_SHA256 = "cdf459dcf51753a4f3f56e59a9c81d8c2aaf68889c0ce19ab347e46ff542e6f4"
_IRIS_TEST_PER_CLASS = 10

# MD5 of the *decompressed* content: the .gz bytes differ between mirrors
# (gzip header timestamps), the payload does not.
_MNIST_FILES = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}
_IDX_IMAGES_MAGIC = 0x00000803  # unsigned byte, 3 dims
_IDX_LABELS_MAGIC = 0x00000801  # unsigned byte, 1 dim
_MNIST_SIDE = 28


@dataclass(frozen=True, eq=False)  # eq=False: == on arrays is elementwise, not a bool
class Dataset:
    """A train/test split. ``input_kind`` is "image" (uint8 pixels) or "tabular" (float64)."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int
    feature_names: tuple[str, ...] | None
    input_kind: str
    # image folders: (H, W, C) of one image (rows of x are its pixels,
    # channels last), the class names of the labels, and the bad files skipped
    shape: tuple[int, int, int] | None = None
    class_names: tuple[str, ...] | None = None
    skipped: tuple[tuple[str, str], ...] = ()

    @property
    def n_features(self) -> int:
        return int(self.x_train.shape[1])


def _readonly(arr: np.ndarray) -> np.ndarray:
    arr.flags.writeable = False
    return arr


def load(
    name: str, data_dir: str | os.PathLike | None = None, *, seed: int | None = None
) -> Dataset:
    """Load a dataset by name ("iris" or "mnist").

    ``data_dir`` only matters for MNIST (Iris ships inside the package).
    ``seed`` picks the Iris split (default 0); MNIST has its fixed published
    split, so passing a seed for it is an error rather than silently ignored.
    """
    if name == "iris":
        return load_iris(seed=0 if seed is None else seed)
    if name == "mnist" or name in IMAGE_DATASETS:
        if seed is not None:
            raise InputError(
                f"{name} has a fixed published train/test split; got seed={seed!r}, expected None"
            )
        if name == "mnist":
            return load_mnist(data_dir)
        size, mode = IMAGE_DATASETS[name]
        return load_image_folder(find_image_dataset(name, data_dir), size, mode=mode, name=name)
    if os.path.isdir(name):
        return load_image_folder(name)
    known = ", ".join([*KNOWN_DATASETS, *IMAGE_DATASETS])
    raise InputError(
        f"unknown dataset {name!r}; known datasets: {known}, or a folder holding "
        f"train/<class>/<image> and test/<class>/<image>"
    )


# --------------------------------------------------------------------------- image folders


def find_image_dataset(name: str, data_dir: str | os.PathLike | None = None) -> Path:
    """The folder of image dataset ``name``: in ``data_dir``, else
    ``$CONNTRA_DATA``, else :func:`default_data_dir`; there, or in its
    ``name/`` subfolder, or in a ``name/`` folder beside it (so that
    CONNTRA_DATA pointing at a sibling ``mnist/`` folder finds it)."""
    root = data_root(data_dir)
    tried = [root, root / name, root.parent / name]
    for where in tried:
        if (where / "train").is_dir() and (where / "test").is_dir() and where.name == name:
            return where
    for where in tried:
        if (where / "train").is_dir() and (where / "test").is_dir():
            return where
    raise DataNotFoundError(
        f"{name} not found: looked for train/ and test/ folders in "
        f"{', '.join(str(t) for t in tried)}; pass --data-dir or set CONNTRA_DATA"
    )


def load_image_folder(
    root: str | os.PathLike,
    size: tuple[int, int] | None = None,
    *,
    mode: str = "RGB",
    name: str | None = None,
    cache_dir: str | os.PathLike | None = None,
    use_cache: bool = True,
    workers: int | None = None,
    skip_bad: bool = False,
    observer=None,
) -> Dataset:
    """The dataset of an image folder ``root/{train,test}/<class>/<image>``
    (conntra.images says how an image is decoded): x rows are the (H, W, C)
    pixels of an image, channels last, uint8. ``size`` (H, W) defaults to the
    size of the first training image; ``mode`` is "RGB" or "L". Labels are
    the positions of the class folders in sorted order, the same in both
    splits. ``skip_bad``: files that are not decodable images are skipped
    (the dataset's ``skipped`` lists them) instead of raising ImageFileError."""
    from conntra import images
    from conntra.events import NULL

    root = Path(root)
    observer = NULL if observer is None else observer
    if size is None:
        size = images.size_of(images.list_split(root, "train")[1][0])
    prep = images.Prep(tuple(size), mode)  # type: ignore[arg-type]
    parts = {}
    for split in ("train", "test"):
        parts[split] = images.load_split(
            root,
            split,
            prep,
            cache_dir=cache_dir,
            use_cache=use_cache,
            workers=workers,
            skip_bad=skip_bad,
            observer=observer,
        )
    train, test = parts["train"], parts["test"]
    if train.classes != test.classes:
        raise DataError(
            f"{root}: the test classes {list(test.classes)[:10]} differ from the training "
            f"classes {list(train.classes)[:10]}"
        )
    n = int(np.prod(prep.shape))
    return Dataset(
        name=name or root.name,
        x_train=_readonly(train.x.reshape(len(train.x), n)),
        y_train=_readonly(train.y),
        x_test=_readonly(test.x.reshape(len(test.x), n)),
        y_test=_readonly(test.y),
        n_classes=len(train.classes),
        feature_names=None,
        input_kind="image",
        shape=prep.shape,
        class_names=train.classes,
        skipped=train.skipped + test.skipped,
    )


# --------------------------------------------------------------------------- split


def stratified_split(
    y: np.ndarray,
    test_fraction: float,
    seed: int = 0,
) -> tuple[np.ndarray, np.ndarray]:
    """Return sorted (train_idx, test_idx) holding ``test_fraction`` of each class.

    Uses one ``default_rng(seed)`` and one ``permutation`` per class, in class
    order, so the split is reproducible; indices are returned sorted (file
    order), so trainers must shuffle. Each class keeps at least one training row.
    """
    if not 0.0 < test_fraction < 1.0:
        raise InputError(f"test_fraction must be in (0, 1), got {test_fraction!r}")
    y = np.asarray(y)
    rng = np.random.default_rng(seed)
    train_parts, test_parts = [], []
    for cls in np.unique(y):
        members = np.flatnonzero(y == cls)
        # Round half up explicitly: Python's round() is banker's rounding.
        n_test = min(math.floor(len(members) * test_fraction + 0.5), len(members) - 1)
        perm = members[rng.permutation(len(members))]
        test_parts.append(perm[:n_test])
        train_parts.append(perm[n_test:])
    empty = np.empty(0, dtype=np.int64)
    train = np.sort(np.concatenate(train_parts)) if train_parts else empty
    test = np.sort(np.concatenate(test_parts)) if test_parts else empty
    return train.astype(np.int64), test.astype(np.int64)


# --------------------------------------------------------------------------- CSV


def _parse_float(field: str, line: int, col: int, source: str) -> float:
    try:
        value = float(field)
    except ValueError:
        raise DataError(
            f"{source}, line {line}, column {col + 1}: expected a number, got {field!r}"
        ) from None
    if not math.isfinite(value):
        raise DataError(
            f"{source}, line {line}, column {col + 1}: expected a finite number, got {field!r}"
        )
    return value


def _parse_label(field: str, line: int, col: int, source: str) -> int:
    value = _parse_float(field, line, col, source)
    if not value.is_integer() or value < 0:
        raise DataError(
            f"{source}, line {line}, column {col + 1}: expected a class label "
            f"(a non-negative integer), got {field!r}"
        )
    return int(value)


def _is_number(field: str) -> bool:
    try:
        float(field)
    except ValueError:
        return False
    return True


def _parse_csv(
    text: str,
    source: str,
    label_column: int,
) -> tuple[np.ndarray, np.ndarray, tuple[str, ...] | None]:
    """Parse CSV text into (float64 features, int64 labels, feature names or None)."""
    # Skip blank lines only; a record like ",," is a row of empty fields and an error.
    rows = [
        (n, [f.strip() for f in r])
        for n, r in _numbered_rows(text, source)
        if len(r) > 1 or (r and r[0].strip())
    ]
    if not rows:
        raise DataError(f"{source}: no rows found (empty file)")
    first_line, first = rows[0]
    n_cols = len(first)
    if n_cols < 2:
        raise DataError(
            f"{source}, line {first_line}: expected at least 2 columns "
            f"(features and a label), got {n_cols}"
        )
    if not -n_cols <= label_column < n_cols:
        raise InputError(
            f"label_column={label_column} is out of range for {source}, which has {n_cols} columns"
        )
    label_col = label_column % n_cols
    numeric = [_is_number(f) for f in first]
    header = None
    if not any(numeric):
        header = first
        rows = rows[1:]
    elif not all(numeric):
        # A half-numeric first row is a typo in the data, not a header; treating it
        # as a header would silently drop a sample.
        bad = numeric.index(False)
        raise DataError(
            f"{source}, line {first_line}, column {bad + 1}: expected a number "
            f"or a header of names, got {first[bad]!r} among numbers"
        )
    if not rows:
        raise DataError(f"{source}: header only, no data rows")
    x = np.empty((len(rows), n_cols - 1), dtype=np.float64)
    y = np.empty(len(rows), dtype=np.int64)
    for i, (line, fields) in enumerate(rows):
        if len(fields) != n_cols:
            raise DataError(f"{source}, line {line}: expected {n_cols} columns, got {len(fields)}")
        y[i] = _parse_label(fields[label_col], line, label_col, source)
        feats = [f for j, f in enumerate(fields) if j != label_col]
        cols = [j for j in range(n_cols) if j != label_col]
        x[i] = [_parse_float(f, line, j, source) for f, j in zip(feats, cols, strict=False)]
    names = None if header is None else tuple(h for j, h in enumerate(header) if j != label_col)
    return x, y, names


def _numbered_rows(text: str, source: str):
    """Yield (1-based physical line number, fields) for each CSV record."""
    reader = csv.reader(io.StringIO(text))
    try:
        for fields in reader:
            yield reader.line_num, fields
    except csv.Error as exc:
        raise DataError(f"{source}, line {reader.line_num}: malformed CSV ({exc})") from exc


def _split_dataset(
    name: str,
    x: np.ndarray,
    y: np.ndarray,
    n_classes: int,
    feature_names: tuple[str, ...] | None,
    test_fraction: float,
    seed: int,
) -> Dataset:
    train, test = stratified_split(y, test_fraction, seed)
    if len(test) == 0:
        raise DataError(f"{name}: too few rows ({len(y)}) to hold out a test set")
    return Dataset(
        name=name,
        x_train=_readonly(x[train]),
        y_train=_readonly(y[train]),
        x_test=_readonly(x[test]),
        y_test=_readonly(y[test]),
        n_classes=n_classes,
        feature_names=feature_names,
        input_kind="tabular",
    )


def load_csv(path: str | os.PathLike, label_column: int = -1, *, seed: int = 0) -> Dataset:
    """Load a numeric CSV (header row optional) with a seeded, stratified 80/20 split.

    Labels must be non-negative integers; ``n_classes`` is ``max(label) + 1``.
    """
    path = Path(path)
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        raise DataNotFoundError(f"CSV file not found: {path}") from None
    try:
        text = raw.decode("utf-8-sig")  # -sig: tolerate the BOM spreadsheet tools write
    except UnicodeDecodeError as exc:
        raise DataError(f"{path}: not UTF-8 text ({exc})") from None
    x, y, names = _parse_csv(text, str(path), label_column)
    return _split_dataset(path.stem, x, y, int(y.max()) + 1, names, 0.2, seed)


# --------------------------------------------------------------------------- Iris


def load_iris(seed: int = 0) -> Dataset:
    """Fisher's Iris (150 rows, UCI-corrected) split 120/30, 10 test rows per class."""
    raw = _IRIS_PATH.read_bytes().replace(b"\r\n", b"\n")
    digest = hashlib.sha256(raw).hexdigest()
    if digest != _IRIS_SHA256:
        raise DataError(
            f"packaged {_IRIS_PATH} has sha256 {digest}, expected "
            f"{_IRIS_SHA256}; the installed package is damaged"
        )
    x, y, names = _parse_csv(raw.decode("utf-8"), str(_IRIS_PATH), -1)
    return _split_dataset("iris", x, y, 3, names, _IRIS_TEST_PER_CLASS / 50, seed)


# --------------------------------------------------------------------------- MNIST


def default_data_dir() -> Path:
    """Per-user cache directory: ``$XDG_CACHE_HOME/conntra`` else ``~/.cache/conntra``."""
    xdg = os.environ.get("XDG_CACHE_HOME", "")
    # The XDG spec says a relative value is invalid and must be ignored.
    base = Path(xdg) if xdg and os.path.isabs(xdg) else Path.home() / ".cache"
    return base / "conntra"


def data_root(data_dir: str | os.PathLike | None) -> Path:
    """Where datasets are looked for: ``data_dir``, else ``$CONNTRA_DATA``,
    else :func:`default_data_dir`."""
    if data_dir is not None:
        return Path(data_dir)
    if os.environ.get("CONNTRA_DATA"):
        return Path(os.environ["CONNTRA_DATA"])
    return default_data_dir()


def _mnist_search_dirs(data_dir: str | os.PathLike | None) -> list[Path]:
    root = data_root(data_dir)
    return [root, root / "mnist"]


def _find_mnist_files(data_dir: str | os.PathLike | None) -> dict[str, Path]:
    dirs = _mnist_search_dirs(data_dir)
    found: dict[str, Path] = {}
    for stem in _MNIST_FILES:
        # Uncompressed first: it skips a decompression and is what people unpack to.
        candidates = [d / f"{stem}{ext}" for d in dirs for ext in ("", ".gz")]
        hit = next((p for p in candidates if p.is_file()), None)
        if hit is not None:
            found[stem] = hit
    missing = [s for s in _MNIST_FILES if s not in found]
    if missing:
        names = ", ".join(f"{s}.gz (or {s})" for s in missing)
        where = ", ".join(str(d) for d in dirs)
        raise DataNotFoundError(
            f"MNIST files missing: {names}; searched: {where}. Pass data_dir=, set "
            f"CONNTRA_DATA, or put the files in {default_data_dir()}; fetch_mnist() (on the "
            f"command line: conntra data fetch mnist) downloads them"
        )
    return found


def _read_bytes(path: Path) -> bytes:
    raw = path.read_bytes()
    if path.suffix != ".gz":
        return raw
    try:
        return gzip.decompress(raw)
    except (OSError, EOFError, zlib.error) as exc:
        raise DataError(f"{path.name}: not a valid gzip file ({exc}); path: {path}") from exc


def _parse_idx(raw: bytes, path: Path, images: bool) -> np.ndarray:
    """Check an IDX header against its payload and return the uint8 payload."""
    dims = idx_dims(raw, len(raw), path, images)
    data = np.frombuffer(raw, dtype=np.uint8, offset=idx_header_len(images))  # read-only view
    return data.reshape(dims[0], -1) if images else data


def idx_header_len(images: bool) -> int:
    return 4 + 4 * (3 if images else 1)


def idx_dims(raw: bytes, file_len: int, path: Path, images: bool) -> tuple:
    """The dimensions of an IDX file of ``file_len`` bytes from its header
    (the start of ``raw``), DataError unless they describe MNIST's images
    (or labels) and account for the file's length exactly."""
    magic, ndim = (_IDX_IMAGES_MAGIC, 3) if images else (_IDX_LABELS_MAGIC, 1)
    header_len = idx_header_len(images)
    if len(raw) < header_len:
        raise DataError(
            f"{path.name}: {len(raw)} bytes is shorter than the "
            f"{header_len}-byte IDX header; path: {path}"
        )
    got_magic = int.from_bytes(raw[:4], "big")
    if got_magic != magic:
        raise DataError(
            f"{path.name}: bad IDX magic 0x{got_magic:08x}, expected 0x{magic:08x}; path: {path}"
        )
    dims = tuple(int.from_bytes(raw[4 + 4 * i : 8 + 4 * i], "big") for i in range(ndim))
    if images and dims[1:] != (_MNIST_SIDE, _MNIST_SIDE):
        raise DataError(
            f"{path.name}: images are {dims[1]}x{dims[2]}, expected "
            f"{_MNIST_SIDE}x{_MNIST_SIDE}; path: {path}"
        )
    expected = math.prod(dims)
    got = file_len - header_len
    if got != expected:
        raise DataError(
            f"{path.name}: header says {dims} = {expected} data bytes, file has "
            f"{got} (truncated or padded); path: {path}"
        )
    return dims


@functools.lru_cache(maxsize=8)
def _read_idx_cached(path: Path, mtime_ns: int, size: int, stem: str) -> np.ndarray:
    # mtime/size are in the key only so that a file replaced while the process runs
    # is read again instead of served stale.
    del mtime_ns, size
    raw = _read_bytes(path)
    data = _parse_idx(raw, path, images="images" in stem)
    digest = hashlib.md5(raw).hexdigest()
    expected = _MNIST_FILES[stem]
    if digest != expected:
        raise DataError(
            f"{path.name}: MD5 of decompressed content is {digest}, expected "
            f"{expected}; path: {path}"
        )
    return data if data.ndim == 2 else _readonly(data.astype(np.int64))


def _read_idx(path: Path, stem: str) -> np.ndarray:
    resolved = path.resolve()  # symlinks to one file share one cache entry
    st = resolved.stat()
    return _read_idx_cached(resolved, st.st_mtime_ns, st.st_size, stem)


def load_mnist(data_dir: str | os.PathLike | None = None) -> Dataset:
    """MNIST from the four IDX files: uint8 x of shape (n, 784), the 60000/10000 split.

    Looks in ``data_dir``, else ``$CONNTRA_DATA``, else :func:`default_data_dir`,
    and in a ``mnist/`` subdirectory of that. Parsed arrays are cached per process.
    """
    files = _find_mnist_files(data_dir)
    arrays = {stem: _read_idx(path, stem) for stem, path in files.items()}
    x_train, y_train = arrays["train-images-idx3-ubyte"], arrays["train-labels-idx1-ubyte"]
    x_test, y_test = arrays["t10k-images-idx3-ubyte"], arrays["t10k-labels-idx1-ubyte"]
    return Dataset(
        name="mnist",
        x_train=x_train,
        y_train=y_train,
        x_test=x_test,
        y_test=y_test,
        n_classes=10,
        feature_names=None,
        input_kind="image",
        shape=(_MNIST_SIDE, _MNIST_SIDE, 1),
    )


# --------------------------------------------------------------------------- download

# Where the four MNIST .gz files are published, tried in order. The original
# site has refused automated downloads for years; these copies serve the same
# content (checked against _MNIST_FILES below, whichever answers).
MNIST_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
)
_CHUNK = 1 << 16


def mnist_data_dir(data_dir: str | os.PathLike | None = None) -> Path:
    """The folder MNIST is read from and fetched to: ``data_dir``, else
    ``$CONNTRA_DATA``, else :func:`default_data_dir`."""
    return _mnist_search_dirs(data_dir)[0]


def _mirror_base(mirror: str) -> str:
    if "://" not in mirror:  # a plain folder: allow it, as a file:// URL
        mirror = Path(mirror).resolve().as_uri()
    return mirror if mirror.endswith("/") else mirror + "/"


def _download(url: str, observer, timeout: float) -> bytes:
    with urllib.request.urlopen(url, timeout=timeout) as response:
        total = response.headers.get("Content-Length")
        observer.phase_start(url.rsplit("/", 1)[-1], total=int(total) if total else None, unit="B")
        parts = []
        while True:
            chunk = response.read(_CHUNK)
            if not chunk:
                break
            parts.append(chunk)
            observer.phase_advance(len(chunk))
        observer.phase_end()
    return b"".join(parts)


def _content_md5(raw: bytes, gz: bool) -> str | None:
    """MD5 of the decompressed content; None if a .gz does not decompress."""
    try:
        return hashlib.md5(gzip.decompress(raw) if gz else raw).hexdigest()
    except (OSError, EOFError, zlib.error):
        return None


def fetch_mnist(
    data_dir: str | os.PathLike | None = None,
    *,
    mirrors=None,
    md5: dict | None = None,
    observer=None,
    timeout: float = 60.0,
) -> dict:
    """Download the four MNIST IDX files into :func:`mnist_data_dir` ``(data_dir)``.

    Tries each base URL of ``mirrors`` (default :data:`MNIST_MIRRORS`) in order
    and keeps the first file whose decompressed MD5 is the published one (``md5``
    maps file stem to MD5, for tests). A file already present with the right
    content is not downloaded again. Each file is written atomically, so an
    interrupted fetch never leaves a half file behind. Returns, per file stem,
    ``{"path", "status" ("present" or "downloaded"), "url"}``. Raises
    DownloadError naming every URL tried when no mirror gives a correct copy.
    """
    from conntra.events import NULL
    from conntra.fileio import atomic_write

    md5 = dict(_MNIST_FILES if md5 is None else md5)
    bases = [_mirror_base(m) for m in (MNIST_MIRRORS if mirrors is None else mirrors)]
    if not bases:
        raise InputError("fetch_mnist needs at least one mirror URL")
    observer = NULL if observer is None else observer
    root = mnist_data_dir(data_dir)
    report = {}
    for stem, expected in md5.items():
        # An existing copy is kept when right, and replaced in its own format when wrong
        # (the loader prefers the uncompressed file, so a bad one must not stay there).
        existing = [p for p in (root / stem, root / f"{stem}.gz") if p.is_file()]
        good = next(
            (p for p in existing if _content_md5(p.read_bytes(), p.suffix == ".gz") == expected),
            None,
        )
        if good is not None:
            report[stem] = {"path": str(good), "status": "present", "url": None}
            continue
        target = existing[0] if existing else root / f"{stem}.gz"
        failures = []
        for base in bases:
            url = f"{base}{stem}.gz"
            try:
                raw = _download(url, observer, timeout)
            except (urllib.error.URLError, OSError, ValueError) as exc:
                observer.phase_end()
                reason = getattr(exc, "reason", None) or exc
                failures.append(f"{url} ({reason})")
                continue
            got = _content_md5(raw, True)
            if got != expected:
                failures.append(
                    f"{url} (not a valid gzip file)"
                    if got is None
                    else f"{url} (MD5 of the content is {got}, expected {expected})"
                )
                continue
            atomic_write(target, raw if target.suffix == ".gz" else gzip.decompress(raw))
            report[stem] = {"path": str(target), "status": "downloaded", "url": url}
            break
        else:
            raise DownloadError(f"could not download {stem}.gz; tried: {'; '.join(failures)}")
    return report
