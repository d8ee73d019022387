"""Each rank of a data-parallel run reads only its share of the data
(conntra.catalog, conntra.train.shards): the rows a catalog reads are the
rows of the loaded dataset, a rank's share is exactly its slice of the whole
split, and the starting point's samples come back together on rank 0. The
MPI jobs themselves are in test_distributed.py."""

from __future__ import annotations

import shutil

import numpy as np
import pytest
from conftest import mnist_dir
from PIL import Image

from conntra import catalog, datasets, images
from conntra.errors import DataError, InputError
from conntra.train import api, shards
from conntra.train.comm import Comm


class RankOf(Comm):
    """Rank ``rank`` of ``size`` in this one process: the collectives see only
    this rank (every rank here computes the same value), and ``gather`` on
    rank 0 returns the other ranks' objects given to it."""

    def __init__(self, rank: int, size: int, others: list | None = None) -> None:
        super().__init__()
        self.rank, self.size, self.others = rank, size, others or []

    def gather(self, obj, kind: str = "gather"):
        return [obj, *self.others] if self.rank == 0 else None


def mnist_or_skip():
    if mnist_dir() is None:
        pytest.skip("MNIST not found: set CONNTRA_DATA")
    return mnist_dir()


def test_mnist_rows_read_on_demand_are_the_loaded_rows():
    where = mnist_or_skip()
    whole = datasets.load("mnist", data_dir=where)
    cat = catalog.of_name("mnist", where)
    rows = np.array([59999, 3, 17, 3, 40000])
    assert np.array_equal(cat.read("train", rows), whole.x_train[rows])
    assert np.array_equal(cat.read("test", rows[1:3]), whole.x_test[rows[1:3]])
    assert np.array_equal(cat.y_train, whole.y_train) and cat.shape == whole.shape
    assert cat.rows_read == {"train": 5, "test": 2}
    with pytest.raises(Exception, match=r"rows must be in \[0, 10000\)"):
        cat.read("test", [10000])


def test_a_truncated_mnist_image_file_is_refused_by_its_header(tmp_path):
    where = mnist_or_skip()
    for stem, path in datasets._find_mnist_files(where).items():
        if stem == "t10k-images-idx3-ubyte":  # uncompressed, one image short
            (tmp_path / stem).write_bytes(datasets._read_bytes(path)[:-784])
        else:
            shutil.copy(path, tmp_path / path.name)
    with pytest.raises(DataError, match="truncated or padded"):
        catalog.mnist(tmp_path)


def test_gzipped_mnist_files_give_the_same_rows(tmp_path):
    import gzip

    where = mnist_or_skip()
    for stem, path in datasets._find_mnist_files(where).items():
        raw = datasets._read_bytes(path)
        (tmp_path / f"{stem}.gz").write_bytes(gzip.compress(raw, compresslevel=1))
    rows = np.array([5, 59000, 12])
    got = catalog.mnist(tmp_path).read("train", rows)
    assert np.array_equal(got, datasets.load("mnist", data_dir=where).x_train[rows])


@pytest.mark.parametrize("size", [1, 2, 3])
def test_a_share_is_the_ranks_slice_of_the_whole_split(size):
    where = mnist_or_skip()
    whole = api.prepare(datasets.load("mnist", data_dir=where), [16], seed=3, max_train=3000)
    digests = set()
    for rank in range(size):
        cat = catalog.mnist(where)
        share = shards.prepare(cat, [16], RankOf(rank, size), seed=3, max_train=3000)
        for a, b in (("xq", "xq"), ("y", "y"), ("xq_val", "xq_val"), ("y_val", "y_val")):
            assert np.array_equal(getattr(share, a), getattr(whole, b)[rank::size])
        assert share.n_train == len(whole.y) and share.shard.n_val == len(whole.y_val)
        # its own rows and the probe, nothing else
        own = len(share.y) + len(share.y_val)
        assert own <= cat.rows_read["train"] <= own + shards.PROBE
        assert cat.rows_read["test"] == 0
        digests.add(share.shard.digest)
    assert len(digests) == 1  # what the launch compares is the same on every rank


def test_tabular_data_is_shared_the_same_way():
    iris = datasets.load("iris")
    whole = api.prepare(iris, [4], seed=1)
    for rank in range(2):
        share = shards.prepare(iris, [4], RankOf(rank, 2), seed=1)
        assert share.input_quant == whole.input_quant  # fitted to every row
        assert np.array_equal(share.xq, whole.xq[rank::2])
        assert np.array_equal(share.y_val, whole.y_val[rank::2])


def test_the_digest_tells_other_samples_apart():
    where = mnist_or_skip()
    one = shards.prepare(catalog.mnist(where), [8], RankOf(0, 1), max_train=500)
    ds = datasets.load("mnist", data_dir=where)
    x = ds.x_train.copy()
    x[:, 400] ^= 1  # one pixel of every image
    other = datasets.Dataset(
        "mnist", x, ds.y_train, ds.x_test, ds.y_test, 10, None, "image", ds.shape
    )
    two = shards.prepare(other, [8], RankOf(0, 1), max_train=500)
    assert one.shard.digest != two.shard.digest


def test_the_start_gathers_its_samples_on_rank_0():
    where = mnist_or_skip()
    whole = api.prepare(datasets.load("mnist", data_dir=where), [8], seed=2, max_train=900)
    n, size = len(whole.y), 3
    parts = [
        shards.prepare(catalog.mnist(where), [8], RankOf(r, size), seed=2, max_train=900)
        for r in range(size)
    ]
    # all of them (the hybrid init), the first ones (a temperature), a drawn subset
    for rows in (np.arange(n), np.arange(7), api.init_rows(n, 100, seed=2)):
        others = [
            (p.xq[rows[rows % size == r] // size], p.y[rows[rows % size == r] // size])
            for r, p in enumerate(parts)
        ][1:]
        got = shards.gather_training(RankOf(0, size, others), parts[0], rows)
        assert np.array_equal(got.xq, whole.xq[rows]) and np.array_equal(got.y, whole.y[rows])
        assert got.shard is None
        assert shards.gather_training(RankOf(1, size), parts[1], rows) is None


def test_the_hybrid_init_draws_its_samples_by_the_seed():
    rows = api.init_rows(1000, 100, seed=4)
    assert len(np.unique(rows)) == 100 and (np.diff(rows) > 0).all() and rows.max() < 1000
    assert np.array_equal(rows, api.init_rows(1000, 100, seed=4))
    assert not np.array_equal(rows, api.init_rows(1000, 100, seed=5))
    assert np.array_equal(api.init_rows(50, 0, seed=4), np.arange(50))
    assert np.array_equal(api.init_rows(50, 80, seed=4), np.arange(50))


def small_folder(root, bad: bool = False):
    rng = np.random.default_rng(0)
    for part, count in (("train", 6), ("test", 3)):
        for label in ("b", "a"):
            folder = root / part / label
            folder.mkdir(parents=True)
            for i in range(count):
                pixels = rng.integers(0, 256, (6, 5, 3), dtype=np.uint8)
                Image.fromarray(pixels).save(folder / f"{i}.png")
    if bad:
        (root / "train" / "b" / "9.png").write_bytes(b"not an image")
    return root


def test_image_folder_rows_are_decoded_alone_and_match_the_loaded_ones(tmp_path):
    root = small_folder(tmp_path / "pets")
    whole = datasets.load_image_folder(root, use_cache=False, workers=1)
    cat = catalog.of_name(str(root), workers=1)
    rows = np.array([11, 0, 5])
    assert np.array_equal(cat.read("train", rows), whole.x_train[rows])
    assert np.array_equal(cat.y_train, whole.y_train) and cat.class_names == ("a", "b")
    assert cat.shape == whole.shape == (6, 5, 3) and cat.rows_read["train"] == 3
    assert cat.read("test", []).shape == (0, 6 * 5 * 3)  # a share can be empty
    with pytest.raises(InputError, match=r"part must be one of \('train', 'test'\), got 'val'"):
        cat.read("val", [0])


def test_a_bad_image_in_a_share_names_itself_and_skip_bad_is_refused(tmp_path):
    root = small_folder(tmp_path / "pets", bad=True)
    cat = catalog.of_name(str(root), workers=1)
    with pytest.raises(images.ImageFileError, match=r"b/9\.png: not an image"):
        cat.read("train", np.arange(len(cat.y_train)))
    with pytest.raises(InputError, match="skip_bad .* only its shard"):
        catalog.of_name(str(root), skip_bad=True)


def test_distributed_takes_only_this_ranks_share_as_its_split():
    iris = datasets.load("iris")
    with pytest.raises(InputError, match="split must be this rank's share"):
        api.train(iris, [4], epochs=1, split=api.prepare(iris, [4]), distributed=Comm())


def test_the_starting_point_is_computed_with_one_blas_thread():
    from threadpoolctl import threadpool_info

    from conntra.train import dataparallel

    seen = dataparallel.from_rank0(
        Comm(), lambda: [i["num_threads"] for i in threadpool_info() if i["user_api"] == "blas"]
    )
    assert seen and set(seen) == {1}
