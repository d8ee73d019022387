"""Tests for conntra.datasets and conntra.validate."""

from __future__ import annotations

import gzip
import os
from pathlib import Path

import numpy as np
import pytest

from conntra import datasets
from conntra.errors import (
    ConntraError,
    DataError,
    DataNotFoundError,
    DTypeError,
    InputError,
    LabelError,
    ShapeError,
)
from conntra.validate import check_labels

MNIST_STEMS = tuple(datasets._MNIST_FILES)
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]


@pytest.fixture(scope="session")
def mnist_dir() -> Path:
    """Real MNIST: $CONNTRA_DATA (set in CI), else <repo>/../shared/data/mnist."""
    env = os.environ.get("CONNTRA_DATA")
    path = Path(env) if env else Path(__file__).resolve().parents[2] / "shared/data/mnist"
    if not env and not path.is_dir():
        # Only skip when nobody asked for MNIST; with CONNTRA_DATA set, absence must fail.
        pytest.skip(f"MNIST not found at {path} and CONNTRA_DATA is not set")
    return path


@pytest.fixture(scope="session")
def mnist(mnist_dir: Path) -> datasets.Dataset:
    return datasets.load("mnist", mnist_dir)


@pytest.fixture(autouse=True)
def _isolated_env(monkeypatch, tmp_path):
    # Resolution tests must not see the developer's real cache or CI's CONNTRA_DATA.
    monkeypatch.delenv("CONNTRA_DATA", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg-cache"))


def idx_bytes(magic: int, dims: tuple[int, ...], payload: bytes | None = None) -> bytes:
    header = magic.to_bytes(4, "big") + b"".join(d.to_bytes(4, "big") for d in dims)
    if payload is None:
        payload = bytes(int(np.prod(dims)))
    return header + payload


def write_fake_mnist(directory: Path, overrides: dict[str, bytes] | None = None) -> None:
    """Four well-formed (but wrong-hash) small IDX files, gzip-compressed."""
    directory.mkdir(parents=True, exist_ok=True)
    content = {
        "train-images-idx3-ubyte": idx_bytes(0x803, (3, 28, 28)),
        "train-labels-idx1-ubyte": idx_bytes(0x801, (3,)),
        "t10k-images-idx3-ubyte": idx_bytes(0x803, (2, 28, 28)),
        "t10k-labels-idx1-ubyte": idx_bytes(0x801, (2,)),
    }
    content.update(overrides or {})
    for stem, raw in content.items():
        (directory / f"{stem}.gz").write_bytes(gzip.compress(raw))


# --------------------------------------------------------------------------- load()


def test_unknown_name_lists_known_names():
    with pytest.raises(InputError, match=r"unknown dataset 'cifar'.*iris, mnist"):
        datasets.load("cifar")


def test_unknown_name_is_a_conntra_error_and_value_error():
    with pytest.raises(ConntraError):
        datasets.load("nope")
    with pytest.raises(ValueError, match="unknown dataset"):
        datasets.load("nope")


def test_seed_for_mnist_is_rejected():
    with pytest.raises(InputError, match="fixed published train/test split; got seed=1"):
        datasets.load("mnist", seed=1)


def test_dataset_is_frozen():
    ds = datasets.load("iris")
    with pytest.raises(AttributeError):
        ds.name = "other"


# --------------------------------------------------------------------------- Iris


def test_iris_shapes_and_dtypes():
    ds = datasets.load("iris")
    assert ds.name == "iris"
    assert ds.input_kind == "tabular"
    assert ds.n_classes == 3
    assert ds.n_features == 4
    assert ds.feature_names == ("sepal_length", "sepal_width", "petal_length", "petal_width")
    assert ds.x_train.shape == (120, 4)
    assert ds.x_test.shape == (30, 4)
    assert ds.x_train.dtype == np.float64
    assert ds.y_train.dtype == np.int64
    assert ds.y_test.dtype == np.int64
    assert ds.x_train.flags.c_contiguous


def test_iris_full_data_statistics():
    ds = datasets.load("iris")
    x = np.concatenate([ds.x_train, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    assert np.bincount(y).tolist() == [50, 50, 50]
    # 3.057 is the UCI-corrected sepal width mean (3.054 in the original UCI file).
    np.testing.assert_allclose(x.mean(axis=0), [5.843, 3.057, 3.758, 1.199], atol=5e-4)


def test_iris_split_is_stratified():
    ds = datasets.load("iris")
    assert np.bincount(ds.y_test).tolist() == [10, 10, 10]
    assert np.bincount(ds.y_train).tolist() == [40, 40, 40]


def test_iris_split_is_deterministic_and_seeded():
    a, b = datasets.load("iris"), datasets.load("iris", seed=0)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    np.testing.assert_array_equal(a.y_train, b.y_train)
    c = datasets.load("iris", seed=1)
    assert not np.array_equal(a.x_test, c.x_test)
    assert np.bincount(c.y_test).tolist() == [10, 10, 10]


def test_iris_seed0_split_is_pinned():
    # Pins the exact rows so a numpy change to Generator.permutation is noticed.
    _, test = datasets.stratified_split(np.repeat([0, 1, 2], 50), 0.2, 0)
    assert test.tolist() == [
        2,
        3,
        4,
        18,
        20,
        23,
        24,
        26,
        34,
        36,
        51,
        55,
        57,
        63,
        66,
        70,
        77,
        78,
        79,
        89,
        106,
        110,
        114,
        125,
        128,
        131,
        133,
        135,
        136,
        147,
    ]


def test_iris_arrays_are_read_only():
    ds = datasets.load("iris")
    with pytest.raises(ValueError, match="read-only"):
        ds.x_train[0, 0] = 1.0


def test_iris_tampered_file_is_rejected(tmp_path, monkeypatch):
    text = datasets._IRIS_PATH.read_text().replace("5.1,3.5,1.4,0.2,0", "5.1,3.5,1.4,0.3,0", 1)
    tampered = tmp_path / "iris.csv"
    tampered.write_text(text)
    monkeypatch.setattr(datasets, "_IRIS_PATH", tampered)
    with pytest.raises(DataError, match=r"sha256 [0-9a-f]{64}, expected cdf459dc"):
        datasets.load("iris")


def test_iris_crlf_copy_is_accepted(tmp_path, monkeypatch):
    crlf = tmp_path / "iris.csv"
    crlf.write_bytes(datasets._IRIS_PATH.read_bytes().replace(b"\n", b"\r\n"))
    monkeypatch.setattr(datasets, "_IRIS_PATH", crlf)
    assert datasets.load("iris").x_train.shape == (120, 4)


# --------------------------------------------------------------------------- split


def test_stratified_split_partitions_all_indices():
    y = np.array([0] * 7 + [1] * 3 + [2] * 1)
    train, test = datasets.stratified_split(y, 0.2, seed=5)
    assert sorted(np.concatenate([train, test]).tolist()) == list(range(len(y)))
    assert np.bincount(y[test], minlength=3).tolist() == [1, 1, 0]  # 1.4->1, 0.6->1, 1 kept
    assert set(y[train]) == {0, 1, 2}


@pytest.mark.parametrize("fraction", [0.0, 1.0, -0.1])
def test_stratified_split_bad_fraction(fraction):
    with pytest.raises(InputError, match=r"test_fraction must be in \(0, 1\)"):
        datasets.stratified_split(np.zeros(10), fraction)


# --------------------------------------------------------------------------- MNIST real


def test_mnist_shapes_dtypes_and_kind(mnist):
    assert mnist.name == "mnist"
    assert mnist.input_kind == "image"
    assert mnist.n_classes == 10
    assert mnist.feature_names is None
    assert mnist.x_train.shape == (60000, 784)
    assert mnist.x_test.shape == (10000, 784)
    assert mnist.x_train.dtype == np.uint8
    assert mnist.x_test.dtype == np.uint8
    assert mnist.y_train.dtype == np.int64
    assert mnist.y_test.dtype == np.int64
    assert mnist.x_train.flags.c_contiguous
    assert mnist.x_train.max() == 255


def test_mnist_class_counts(mnist):
    assert np.bincount(mnist.y_test).tolist() == MNIST_TEST_COUNTS
    assert np.bincount(mnist.y_train).tolist() == MNIST_TRAIN_COUNTS


def test_mnist_is_cached_and_read_only(mnist, mnist_dir):
    again = datasets.load("mnist", mnist_dir)
    assert again.x_train is mnist.x_train
    with pytest.raises(ValueError, match="read-only"):
        again.x_train[0, 0] = 1
    with pytest.raises(ValueError, match="read-only"):
        again.y_test[0] = 1


def test_mnist_from_env_and_mnist_subdir(mnist, mnist_dir, tmp_path, monkeypatch):
    # Root holds mnist/ with symlinks to the real files (symlinks share the cache)
    # and one uncompressed file, covering the subdirectory and the non-.gz name.
    real = datasets._find_mnist_files(mnist_dir)
    sub = tmp_path / "root" / "mnist"
    sub.mkdir(parents=True)
    *linked, last = MNIST_STEMS
    for stem in linked:
        (sub / real[stem].name).symlink_to(real[stem])
    raw = real[last].read_bytes()
    (sub / last).write_bytes(gzip.decompress(raw) if real[last].suffix == ".gz" else raw)
    monkeypatch.setenv("CONNTRA_DATA", str(tmp_path / "root"))
    ds = datasets.load("mnist")
    assert ds.x_train is mnist.x_train
    np.testing.assert_array_equal(ds.y_test, mnist.y_test)


def test_mnist_from_xdg_cache(mnist, mnist_dir, tmp_path, monkeypatch):
    cache = tmp_path / "xdg" / "conntra"
    cache.mkdir(parents=True)
    for path in datasets._find_mnist_files(mnist_dir).values():
        (cache / path.name).symlink_to(path)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert datasets.load("mnist").x_test is mnist.x_test


# --------------------------------------------------------------------------- MNIST files


def test_default_data_dir(monkeypatch, tmp_path):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    assert datasets.default_data_dir() == tmp_path / "conntra"
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/ignored")
    assert datasets.default_data_dir() == Path.home() / ".cache" / "conntra"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert datasets.default_data_dir() == Path.home() / ".cache" / "conntra"


def test_mnist_missing_names_every_file_and_dir(tmp_path):
    with pytest.raises(DataNotFoundError) as info:
        datasets.load("mnist", tmp_path)
    msg = str(info.value)
    for stem in MNIST_STEMS:
        assert f"{stem}.gz" in msg
    assert str(tmp_path) in msg
    assert str(tmp_path / "mnist") in msg
    assert isinstance(info.value, FileNotFoundError)


def test_mnist_missing_lists_only_missing(tmp_path):
    write_fake_mnist(tmp_path)
    (tmp_path / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(DataNotFoundError, match=r"missing: t10k-labels-idx1-ubyte\.gz") as info:
        datasets.load("mnist", tmp_path)
    assert "train-images" not in str(info.value)


def test_mnist_missing_searches_env_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("CONNTRA_DATA", str(tmp_path / "from-env"))
    with pytest.raises(DataNotFoundError, match="from-env"):
        datasets.load("mnist")


def test_mnist_missing_searches_cache_dir(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"xdg-cache/conntra/mnist"):
        datasets.load("mnist")


def test_mnist_wrong_hash(tmp_path):
    write_fake_mnist(tmp_path)
    with pytest.raises(
        DataError,
        match=r"train-images-idx3-ubyte\.gz: MD5 of decompressed "
        r"content is [0-9a-f]{32}, expected 6bbc9ace",
    ):
        datasets.load("mnist", tmp_path)


def test_mnist_wrong_magic(tmp_path):
    write_fake_mnist(tmp_path, {"train-images-idx3-ubyte": idx_bytes(0x801, (3, 28, 28))})
    with pytest.raises(DataError, match="bad IDX magic 0x00000801, expected 0x00000803"):
        datasets.load("mnist", tmp_path)


def test_mnist_truncated_payload(tmp_path):
    raw = idx_bytes(0x803, (3, 28, 28))[:-5]
    write_fake_mnist(tmp_path, {"train-images-idx3-ubyte": raw})
    with pytest.raises(
        DataError,
        match=r"header says \(3, 28, 28\) = 2352 data bytes, file "
        r"has 2347",
    ):
        datasets.load("mnist", tmp_path)


def test_mnist_truncated_header(tmp_path):
    write_fake_mnist(tmp_path, {"train-images-idx3-ubyte": b"\x00\x00\x08"})
    with pytest.raises(DataError, match="shorter than the 16-byte IDX header"):
        datasets.load("mnist", tmp_path)


def test_mnist_wrong_image_size(tmp_path):
    write_fake_mnist(tmp_path, {"train-images-idx3-ubyte": idx_bytes(0x803, (3, 32, 32))})
    with pytest.raises(DataError, match="images are 32x32, expected 28x28"):
        datasets.load("mnist", tmp_path)


def test_mnist_corrupt_gzip(tmp_path):
    write_fake_mnist(tmp_path)
    path = tmp_path / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:20])
    with pytest.raises(DataError, match=r"train-images-idx3-ubyte\.gz: not a valid gzip file"):
        datasets.load("mnist", tmp_path)


def test_mnist_uncompressed_bad_label_file(tmp_path):
    # Label files are read by the same code; check their magic and size directly.
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(0x803, (2,)))
    with pytest.raises(
        DataError,
        match=r"t10k-labels-idx1-ubyte: bad IDX magic 0x00000803, "
        r"expected 0x00000801",
    ):
        datasets._read_idx(path, "t10k-labels-idx1-ubyte")
    path.write_bytes(idx_bytes(0x801, (4,), b"\x01\x02"))
    with pytest.raises(DataError, match=r"header says \(4,\) = 4 data bytes, file has 2"):
        datasets._read_idx(path, "t10k-labels-idx1-ubyte")


def test_mnist_replaced_file_is_reread(tmp_path):
    # The cache key includes mtime and size, so a fixed file is not served stale.
    path = tmp_path / "t10k-labels-idx1-ubyte"
    path.write_bytes(idx_bytes(0x801, (4,), b"\x01\x02"))
    with pytest.raises(DataError, match="file has 2"):
        datasets._read_idx(path, "t10k-labels-idx1-ubyte")
    path.write_bytes(idx_bytes(0x801, (2,), b"\x01\x02"))
    with pytest.raises(DataError, match="MD5"):
        datasets._read_idx(path, "t10k-labels-idx1-ubyte")


# --------------------------------------------------------------------------- load_csv


def write(tmp_path: Path, text: str, name: str = "data.csv") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def make_rows(n_per_class: int = 10, n_classes: int = 2) -> list[str]:
    return [f"{i}.5,{c * 10 + i},{c}" for c in range(n_classes) for i in range(n_per_class)]


def test_csv_with_header(tmp_path):
    path = write(tmp_path, "a,b,label\n" + "\n".join(make_rows()) + "\n", "my-set.csv")
    ds = datasets.load_csv(path)
    assert ds.name == "my-set"
    assert ds.input_kind == "tabular"
    assert ds.feature_names == ("a", "b")
    assert ds.n_classes == 2
    assert ds.x_train.shape == (16, 2)
    assert ds.x_test.shape == (4, 2)
    assert np.bincount(ds.y_test).tolist() == [2, 2]
    assert ds.x_train.dtype == np.float64
    assert ds.y_train.dtype == np.int64


def test_csv_without_header_and_label_first(tmp_path):
    rows = [f"{c},{i}.25,{i}" for c in range(3) for i in range(5)]
    ds = datasets.load_csv(write(tmp_path, "\n".join(rows)), label_column=0)
    assert ds.feature_names is None
    assert ds.n_classes == 3
    assert np.bincount(ds.y_test).tolist() == [1, 1, 1]
    np.testing.assert_array_equal(ds.x_test[:, 0] % 1, 0.25)


def test_csv_split_is_deterministic(tmp_path):
    path = write(tmp_path, "\n".join(make_rows(20, 3)))
    a, b = datasets.load_csv(path), datasets.load_csv(path, seed=0)
    np.testing.assert_array_equal(a.x_test, b.x_test)
    assert not np.array_equal(a.x_test, datasets.load_csv(path, seed=3).x_test)


def test_csv_integral_float_labels_and_blank_lines(tmp_path):
    text = "\n".join(f"{i},{c}.0" for c in range(2) for i in range(5)) + "\n\n"
    assert datasets.load_csv(write(tmp_path, "\n" + text)).n_classes == 2


def test_csv_bad_number_names_line(tmp_path):
    rows = make_rows()
    rows[2] = "1.0,abc,0"
    with pytest.raises(DataError, match=r"line 4, column 2: expected a number, got 'abc'"):
        datasets.load_csv(write(tmp_path, "a,b,y\n" + "\n".join(rows)))


def test_csv_ragged_row_names_line(tmp_path):
    rows = make_rows()
    rows[3] = "1.0,0"
    with pytest.raises(DataError, match="line 4: expected 3 columns, got 2"):
        datasets.load_csv(write(tmp_path, "\n".join(rows)))


def test_csv_empty_fields_row_is_an_error(tmp_path):
    rows = make_rows()
    rows[1] = ",,"
    with pytest.raises(DataError, match="line 2, column 3: expected a number, got ''"):
        datasets.load_csv(write(tmp_path, "\n".join(rows)))


@pytest.mark.parametrize("value", ["nan", "inf", "-Infinity"])
def test_csv_non_finite_value(tmp_path, value):
    rows = make_rows()
    rows[4] = f"{value},1,0"
    with pytest.raises(
        DataError, match=f"line 5, column 1: expected a finite number, got '{value}'"
    ):
        datasets.load_csv(write(tmp_path, "\n".join(rows)))


@pytest.mark.parametrize("label", ["1.5", "-1", "cat"])
def test_csv_bad_label(tmp_path, label):
    rows = make_rows()
    rows[3] = f"1,2,{label}"
    kind = "a class label" if label != "cat" else "a number"
    with pytest.raises(DataError, match=f"line 4, column 3: expected {kind}"):
        datasets.load_csv(write(tmp_path, "\n".join(rows)))


def test_csv_mixed_first_row_is_not_a_header(tmp_path):
    with pytest.raises(DataError, match=r"line 1, column 2: expected a number or a header"):
        datasets.load_csv(write(tmp_path, "1.0,x,0\n" + "\n".join(make_rows())))


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("", "no rows found"),
        ("\n\n", "no rows found"),
        ("a,b,y\n", "header only, no data rows"),
        ("1\n2\n", "expected at least 2 columns"),
        ("0,0\n1,1\n", "too few rows"),
    ],
)
def test_csv_degenerate_files(tmp_path, text, fragment):
    with pytest.raises(DataError, match=fragment):
        datasets.load_csv(write(tmp_path, text))


def test_csv_label_column_out_of_range(tmp_path):
    with pytest.raises(InputError, match=r"label_column=3 is out of range .* has 3 columns"):
        datasets.load_csv(write(tmp_path, "\n".join(make_rows())), label_column=3)


def test_csv_missing_file(tmp_path):
    with pytest.raises(DataNotFoundError, match=r"CSV file not found: .*nope\.csv"):
        datasets.load_csv(tmp_path / "nope.csv")


def test_csv_not_utf8(tmp_path):
    path = tmp_path / "latin.csv"
    path.write_bytes(b"caf\xe9,y\n1,0\n")
    with pytest.raises(DataError, match="not UTF-8"):
        datasets.load_csv(path)


def test_csv_with_bom_header(tmp_path):
    path = tmp_path / "bom.csv"
    path.write_bytes(("\ufeffa,b,y\n" + "\n".join(make_rows())).encode("utf-8"))
    assert datasets.load_csv(path).feature_names == ("a", "b")


# --------------------------------------------------------------------------- check_labels


def test_check_labels_converts_to_int64():
    out = check_labels(np.array([0, 2, 1], dtype=np.uint8), 3, 3)
    assert out.dtype == np.int64
    assert out.tolist() == [0, 2, 1]
    assert check_labels([0.0, 1.0], 2, 2).dtype == np.int64


@pytest.mark.parametrize(
    ("y", "error", "fragment"),
    [
        ([0, 1, 3], LabelError, r"must be in 0\.\.2 \(n_classes=3\), got 3 at index 2"),
        ([0, -1, 1], LabelError, r"got -1 at index 1"),
        ([0, 1.5, 1], LabelError, r"integer class labels, got 1.5 at index 1"),
        ([0, 1, np.nan], LabelError, r"integer class labels, got nan at index 2"),
        (
            np.array([0, 2**63, 1], dtype=np.uint64),
            LabelError,
            r"got 9223372036854775808 at index 1",
        ),
        ([0, 1], ShapeError, r"must have 3 labels \(one per sample\), got 2"),
        ([[0], [1], [2]], ShapeError, r"1-D \(n_samples,\), got 2-D array of shape \(3, 1\)"),
        (["a", "b", "c"], DTypeError, r"integer class labels, got dtype <U1"),
        ([True, False, True], DTypeError, r"got dtype bool"),
    ],
)
def test_check_labels_errors(y, error, fragment):
    with pytest.raises(error, match=fragment):
        check_labels(y, 3, 3)


@pytest.mark.parametrize("n_classes", [0, -2, 2.0, True])
def test_check_labels_bad_n_classes(n_classes):
    with pytest.raises(InputError, match="n_classes must be a positive integer"):
        check_labels([0], 1, n_classes)


def test_label_error_is_value_error():
    with pytest.raises(ValueError, match="got 5 at index 0"):
        check_labels([5], 1, 2)
