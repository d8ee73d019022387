"""Image-folder datasets (conntra.images, datasets.load_image_folder): every
mode photographs come in, EXIF orientation, resizing and cropping, bad files,
the cache, real CIFAR-10 JPEGs, and the command line."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from conntra import datasets, images
from conntra.cli import main
from conntra.errors import DataError, DataNotFoundError, InputError

RNG = np.random.default_rng(0)


def rgb(h, w):
    return RNG.integers(0, 256, (h, w, 3)).astype(np.uint8)


def tree(root: Path, spec: dict) -> Path:
    """spec: {split: {class: [(name, PIL image or bytes), ...]}}."""
    for split, classes in spec.items():
        for cls, files in classes.items():
            folder = root / split / cls
            folder.mkdir(parents=True, exist_ok=True)
            for name, content in files:
                if isinstance(content, bytes):
                    (folder / name).write_bytes(content)
                else:
                    content.save(folder / name)
    return root


def decode_file(path, size, mode="RGB"):
    return images.decode(Path(path).read_bytes(), images.Prep(size, mode))


def test_lossless_images_decode_to_their_pixels(tmp_path):
    a = rgb(6, 8)
    Image.fromarray(a).save(tmp_path / "a.png")
    assert np.array_equal(decode_file(tmp_path / "a.png", (6, 8)), a)
    gray = a[:, :, 0]
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    assert np.array_equal(decode_file(tmp_path / "g.png", (6, 8)), np.repeat(gray[..., None], 3, 2))
    assert np.array_equal(decode_file(tmp_path / "g.png", (6, 8), "L")[..., 0], gray)
    luma = decode_file(tmp_path / "a.png", (6, 8), "L")[..., 0]
    want = np.asarray(Image.fromarray(a).convert("L"))
    assert np.array_equal(luma, want)


def test_every_mode_becomes_rgb(tmp_path):
    base = Image.fromarray(rgb(5, 7))
    palette = base.quantize(16)
    palette.save(tmp_path / "p.png")
    assert np.array_equal(
        decode_file(tmp_path / "p.png", (5, 7)), np.asarray(palette.convert("RGB"))
    )
    one_bit = base.convert("1")
    one_bit.save(tmp_path / "b.png")
    got = decode_file(tmp_path / "b.png", (5, 7))
    assert set(np.unique(got).tolist()) <= {0, 255}
    cmyk = base.convert("CMYK")
    cmyk.save(tmp_path / "c.jpg", quality=95)
    want = np.asarray(Image.open(tmp_path / "c.jpg").convert("RGB"))
    assert np.array_equal(decode_file(tmp_path / "c.jpg", (5, 7)), want)
    # 16-bit grayscale: the top 8 bits
    deep = RNG.integers(0, 65536, (5, 7)).astype(np.uint16)
    Image.fromarray(deep).save(tmp_path / "d.png")
    got = decode_file(tmp_path / "d.png", (5, 7), "L")[..., 0]
    assert np.array_equal(got, (deep >> 8).astype(np.uint8))


def test_transparency_is_composited_onto_black(tmp_path):
    px = np.zeros((1, 3, 4), np.uint8)
    px[0, 0] = (200, 100, 50, 0)  # transparent: black
    px[0, 1] = (200, 100, 50, 255)  # opaque: itself
    px[0, 2] = (200, 100, 50, 128)  # half: about half
    Image.fromarray(px, "RGBA").save(tmp_path / "t.png")
    got = decode_file(tmp_path / "t.png", (1, 3))[0]
    assert got[0].tolist() == [0, 0, 0] and got[1].tolist() == [200, 100, 50]
    assert np.abs(got[2].astype(int) - [100, 50, 25]).max() <= 1
    Image.fromarray(px, "RGBA").convert("LA").save(tmp_path / "la.png")
    assert decode_file(tmp_path / "la.png", (1, 3), "L")[0, 0, 0] == 0


def test_exif_orientation_is_applied(tmp_path):
    a = rgb(2, 4)
    img = Image.fromarray(a)
    exif = Image.Exif()
    exif[0x0112] = 6  # the camera was rotated: display the image turned 90 degrees clockwise
    img.save(tmp_path / "o.png", exif=exif)
    got = decode_file(tmp_path / "o.png", (4, 2))
    assert np.array_equal(got, np.rot90(a, -1))


def test_resize_on_the_shorter_side_then_center_crop(tmp_path):
    img = np.zeros((48, 64, 3), np.uint8)
    img[:, :32] = (255, 0, 0)
    img[:, 32:] = (0, 0, 255)
    Image.fromarray(img).save(tmp_path / "s.png")
    got = decode_file(tmp_path / "s.png", (16, 16))
    assert got.shape == (16, 16, 3)
    # 48x64 scaled by 1/3 to 16x21, columns 2..17 kept: the colour edge stays at 8
    assert (got[:, :7, 0] == 255).all() and (got[:, 9:, 2] == 255).all()
    flat = np.full((30, 10, 3), 77, np.uint8)
    Image.fromarray(flat).save(tmp_path / "f.png")
    assert (decode_file(tmp_path / "f.png", (8, 8)) == 77).all()  # upscale keeps a flat colour
    again = decode_file(tmp_path / "s.png", (16, 16))
    assert np.array_equal(got, again)  # deterministic


def small_tree(root: Path, bad: dict | None = None) -> Path:
    spec = {
        split: {
            cls: [(f"{i:02d}.png", Image.fromarray(rgb(10, 12))) for i in range(n)]
            for cls, n in (("dog", 3), ("cat", 2), ("bird", 4))
        }
        for split in ("train", "test")
    }
    for (split, cls), files in (bad or {}).items():
        spec[split][cls] += files
    return tree(root, spec)


def test_folders_become_a_dataset_with_sorted_classes(tmp_path):
    root = small_tree(tmp_path / "pets")
    ds = datasets.load_image_folder(root, (8, 8), cache_dir=tmp_path / "cache", workers=1)
    assert ds.class_names == ("bird", "cat", "dog") and ds.n_classes == 3
    assert ds.y_train.tolist() == [0] * 4 + [1] * 2 + [2] * 3
    assert ds.x_train.shape == (9, 8 * 8 * 3) and ds.x_train.dtype == np.uint8
    assert ds.shape == (8, 8, 3) and ds.input_kind == "image" and ds.name == "pets"
    first = decode_file(root / "train" / "bird" / "00.png", (8, 8))
    assert np.array_equal(ds.x_train[0].reshape(8, 8, 3), first)
    # size defaults to the first training image's; two worker processes give the same arrays
    auto = datasets.load_image_folder(root, use_cache=False, workers=2)
    assert auto.shape == (10, 12, 3)
    assert datasets.load(str(root)).x_test.shape == (9, 10 * 12 * 3)


def test_bad_files_name_themselves_or_are_skipped_and_counted(tmp_path):
    good = Image.fromarray(rgb(10, 12))
    good.save(tmp_path / "whole.jpg")
    whole = (tmp_path / "whole.jpg").read_bytes()
    bad = {
        ("train", "cat"): [
            ("notes.jpg", b"these are not pixels"),
            ("cut.jpg", whole[: len(whole) // 2]),
            ("empty.png", b""),
        ],
        ("test", "dog"): [("x.gif", b"GIF89a\x01\x00")],
    }
    root = small_tree(tmp_path / "pets", bad)
    with pytest.raises(
        images.ImageFileError, match=r"cat/cut\.jpg: not an image .*\(2 more bad files\); skip_bad"
    ):
        datasets.load_image_folder(root, (8, 8), use_cache=False, workers=1)
    ds = datasets.load_image_folder(root, (8, 8), use_cache=False, workers=1, skip_bad=True)
    assert len(ds.skipped) == 4 and len(ds.y_train) == 9 and len(ds.y_test) == 9
    assert sorted(Path(f).name for f, _ in ds.skipped) == [
        "cut.jpg",
        "empty.png",
        "notes.jpg",
        "x.gif",
    ]


def test_the_cache_is_keyed_by_content_and_settings(tmp_path):
    root = small_tree(tmp_path / "pets")
    cache = tmp_path / "cache"
    prep = images.Prep((8, 8))
    cold = images.load_split(root, "train", prep, cache_dir=cache, workers=1)
    warm = images.load_split(root, "train", prep, cache_dir=cache, workers=1)
    assert not cold.cached and warm.cached and np.array_equal(cold.x, warm.x)
    other = images.load_split(root, "train", images.Prep((8, 8), "L"), cache_dir=cache, workers=1)
    assert not other.cached and other.x.shape[-1] == 1
    changed = np.zeros((10, 12, 3), np.uint8)
    Image.fromarray(changed).save(root / "train" / "bird" / "00.png")
    fresh = images.load_split(root, "train", prep, cache_dir=cache, workers=1)
    assert not fresh.cached and (fresh.x[0] == 0).all()
    (next(cache.iterdir())).write_bytes(b"damaged")  # a damaged cache file is decoded again
    assert images.load_split(root, "train", prep, cache_dir=cache, workers=1).x.shape == (
        9,
        8,
        8,
        3,
    )


def test_folder_errors(tmp_path):
    root = small_tree(tmp_path / "pets")
    shutil.rmtree(root / "test" / "cat")
    with pytest.raises(DataError, match="test classes .* differ"):
        datasets.load_image_folder(root, (8, 8), use_cache=False, workers=1)
    with pytest.raises(DataNotFoundError, match="no folder"):
        datasets.load_image_folder(tmp_path / "nowhere", (8, 8))
    with pytest.raises(InputError, match="image mode"):
        images.Prep((8, 8), "CMYK")
    with pytest.raises(InputError, match="image size"):
        images.Prep((8, 0))
    with pytest.raises(InputError, match="unknown dataset 'cifar100'"):
        datasets.load("cifar100")


def test_real_cifar10_jpegs(cifar10_dir, tmp_path):
    """A slice of the real CIFAR-10 JPEG folders: 32x32 images, decoded
    without resampling, equal to Pillow's own decode."""
    spec = {}
    for split in ("train", "test"):
        for cls in sorted(p.name for p in (cifar10_dir / split).iterdir()):
            folder = tmp_path / "cifar10" / split / cls
            folder.mkdir(parents=True)
            for f in sorted((cifar10_dir / split / cls).iterdir())[:3]:
                shutil.copy(f, folder / f.name)
            spec.setdefault(split, []).append(cls)
    ds = datasets.load_image_folder(tmp_path / "cifar10", (32, 32), use_cache=False, workers=1)
    assert ds.class_names[:3] == ("airplane", "automobile", "bird") and ds.n_classes == 10
    assert ds.x_train.shape == (30, 3072)
    f = sorted((tmp_path / "cifar10" / "train" / "airplane").iterdir())[0]
    assert np.array_equal(ds.x_train[0], np.asarray(Image.open(f).convert("RGB")).reshape(-1))
    assert datasets.find_image_dataset("cifar10", cifar10_dir) == cifar10_dir


def test_command_line_trains_on_a_folder_and_names_the_classes(tmp_path, capsys):
    root = small_tree(tmp_path / "pets", {("train", "cat"): [("junk.jpg", b"junk")]})
    model = tmp_path / "m.ctm"
    argv = ["train", "--dataset", str(root), "--trainer", "backprop", "--hidden", "4"]
    argv += ["--epochs", "1", "--out", str(model), "--quiet", "--val-fraction", "0"]
    assert main(argv) == 1
    assert "junk.jpg: not an image" in capsys.readouterr().err
    assert main([*argv, "--skip-bad"]) == 0
    assert "skipped 1 files that are not images" in capsys.readouterr().err
    import conntra

    assert conntra.load(model).metadata["classes"] == ["bird", "cat", "dog"]
    assert main(["eval", str(model), "--dataset", str(root), "--skip-bad", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["classes"] == ["bird", "cat", "dog"]
    assert main(["eval", str(model), "--dataset", str(root), "--skip-bad"]) == 0
    assert "classes        0 bird, 1 cat, 2 dog" in capsys.readouterr().out
