"""``conntra data fetch mnist`` / datasets.fetch_mnist, from local file://
mirrors only: tests never touch the network."""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil

import pytest

from conntra import datasets
from conntra.cli import main
from conntra.errors import DownloadError

STEMS = list(datasets._MNIST_FILES)


def fake_mirror(folder, payloads):
    """Gzipped files named like MNIST's; returns the MD5 table of their content."""
    folder.mkdir(parents=True, exist_ok=True)
    for stem, payload in payloads.items():
        (folder / f"{stem}.gz").write_bytes(gzip.compress(payload))
    return {stem: hashlib.md5(p).hexdigest() for stem, p in payloads.items()}


@pytest.fixture
def small(tmp_path):
    payloads = {stem: f"content of {stem}".encode() for stem in STEMS}
    md5 = fake_mirror(tmp_path / "mirror", payloads)
    return tmp_path / "mirror", md5


def test_fetch_downloads_checks_and_skips_what_is_present(tmp_path, small):
    mirror, md5 = small
    out = tmp_path / "out"
    report = datasets.fetch_mnist(out, mirrors=[mirror.as_uri()], md5=md5)
    assert {r["status"] for r in report.values()} == {"downloaded"}
    for stem in STEMS:
        assert gzip.decompress((out / f"{stem}.gz").read_bytes()) == f"content of {stem}".encode()
        assert report[stem]["url"] == f"{mirror.as_uri()}/{stem}.gz"
    assert sorted(os.listdir(out)) == sorted(f"{s}.gz" for s in STEMS)  # no temporaries left
    shutil.rmtree(mirror)  # a second fetch needs no mirror at all
    report = datasets.fetch_mnist(out, mirrors=[mirror.as_uri()], md5=md5)
    assert {r["status"] for r in report.values()} == {"present"}


def test_fetch_falls_back_to_the_next_mirror_and_replaces_a_bad_copy(tmp_path, small):
    mirror, md5 = small
    bad = tmp_path / "bad"
    fake_mirror(bad, {stem: b"wrong" for stem in STEMS})
    out = tmp_path / "out"
    out.mkdir()
    (out / f"{STEMS[0]}.gz").write_bytes(gzip.compress(b"stale"))
    report = datasets.fetch_mnist(
        out, mirrors=[bad.as_uri(), str(tmp_path / "nowhere"), mirror.as_uri()], md5=md5
    )
    assert all(r["url"].startswith(mirror.as_uri()) for r in report.values())
    assert (
        gzip.decompress((out / f"{STEMS[0]}.gz").read_bytes()) == f"content of {STEMS[0]}".encode()
    )


def test_fetch_failure_names_every_url_tried(tmp_path, small):
    mirror, md5 = small
    (mirror / f"{STEMS[1]}.gz").write_bytes(b"not gzip")
    with pytest.raises(DownloadError) as info:
        datasets.fetch_mnist(
            tmp_path / "out", mirrors=[mirror.as_uri(), (tmp_path / "gone").as_uri()], md5=md5
        )
    text = str(info.value)
    assert f"{mirror.as_uri()}/{STEMS[1]}.gz (not a valid gzip file)" in text
    assert f"{(tmp_path / 'gone').as_uri()}/{STEMS[1]}.gz" in text
    assert not (tmp_path / "out" / f"{STEMS[1]}.gz").exists()


def test_cli_fetch_failure_exits_1_naming_the_url(tmp_path, capsys):
    code = main(
        [
            "data",
            "fetch",
            "mnist",
            "--data-dir",
            str(tmp_path / "out"),
            "--mirror",
            (tmp_path / "empty").as_uri(),
            "--quiet",
        ]
    )
    err = capsys.readouterr().err
    assert code == 1 and err.startswith("conntra data fetch: error: could not download")
    assert f"{(tmp_path / 'empty').as_uri()}/train-images-idx3-ubyte.gz" in err


def test_cli_fetches_the_real_files_from_a_local_mirror(tmp_path, capsys):
    """The real MNIST files (from $CONNTRA_DATA) served by a file:// mirror:
    the published MD5s accept them, and load() then reads the fetched copy."""
    source = os.environ.get("CONNTRA_DATA")
    if not source:
        pytest.skip("CONNTRA_DATA is not set")
    mirror = tmp_path / "mirror"
    mirror.mkdir()
    for stem in STEMS:
        gz = os.path.join(source, f"{stem}.gz")
        if os.path.exists(gz):
            shutil.copy(gz, mirror / f"{stem}.gz")
        else:
            with open(os.path.join(source, stem), "rb") as f:
                (mirror / f"{stem}.gz").write_bytes(gzip.compress(f.read(), compresslevel=1))
    out = tmp_path / "data"
    argv = ["data", "fetch", "mnist", "--data-dir", str(out), "--mirror", mirror.as_uri(), "--json"]
    assert main(argv) == 0
    report = json.loads(capsys.readouterr().out)
    assert {r["status"] for r in report.values()} == {"downloaded"}
    assert datasets.load("mnist", data_dir=out).x_train.shape == (60000, 784)
    assert main(argv[:-1]) == 0
    assert capsys.readouterr().out.count("already present") == 4
    assert main(["data", "list", "--data-dir", str(out), "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert listed["mnist"]["status"] == "found" and listed["iris"]["status"] == "packaged"


def test_cli_list_says_what_is_missing(tmp_path, capsys):
    assert main(["data", "list", "--data-dir", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "mnist  missing" in out and "conntra data fetch mnist" in out
