"""Downloads: sha256-checked, atomic, file:// URLs only (the network is never touched)."""
from __future__ import annotations

import gzip
import hashlib
import io
import tarfile
from pathlib import Path

import numpy as np
import pytest

from genad.data import download as dl
from genad.data import load
from genad.errors import ConfigError, DataError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_file_url_with_right_hash(tmp_path: Path) -> None:
    (tmp_path / "src").mkdir()
    (tmp_path / "src" / "blob.bin").write_bytes(b"hello genad" * 1000)
    remote = dl.Remote("blob.bin", ((tmp_path / "src" / "blob.bin").as_uri(),),
                       sha(b"hello genad" * 1000))
    path = dl.fetch(remote, tmp_path / "dst", progress=False)
    assert path.read_bytes() == b"hello genad" * 1000
    assert sorted(p.name for p in (tmp_path / "dst").iterdir()) == ["blob.bin"]


def test_wrong_hash_raises_and_leaves_no_file(tmp_path: Path) -> None:
    (tmp_path / "blob.bin").write_bytes(b"tampered")
    remote = dl.Remote("blob.bin", ((tmp_path / "blob.bin").as_uri(),), sha(b"original"))
    with pytest.raises(DataError, match="sha256"):
        dl.fetch(remote, tmp_path / "dst", progress=False)
    assert list((tmp_path / "dst").iterdir()) == []


def test_missing_mirror_falls_back_then_fails(tmp_path: Path) -> None:
    (tmp_path / "b.bin").write_bytes(b"x")
    urls = ((tmp_path / "gone.bin").as_uri(), (tmp_path / "b.bin").as_uri())
    assert dl.fetch(dl.Remote("b.bin", urls, sha(b"x")), tmp_path / "d", False).is_file()
    with pytest.raises(DataError, match="could not download"):
        dl.fetch(dl.Remote("c.bin", urls[:1], sha(b"x")), tmp_path / "d", False)
    assert sorted(p.name for p in (tmp_path / "d").iterdir()) == ["b.bin"]


def _idx(array: np.ndarray) -> bytes:
    return bytes([0, 0, 8, array.ndim]) + np.asarray(array.shape, ">i4").tobytes() + \
        array.tobytes()


def test_mnist_download_checks_decompressed_content(tmp_path: Path, monkeypatch) -> None:
    rng = np.random.default_rng(0)
    server = tmp_path / "server"
    server.mkdir()
    remotes = []
    for part, n in (("train", 12), ("t10k", 4)):
        labels = np.arange(n, dtype=np.uint8) % 10
        for kind, array in (("images-idx3", rng.integers(0, 256, (n, 28, 28), np.uint8)),
                            ("labels-idx1", labels)):
            name = f"{part}-{kind}-ubyte.gz"
            raw = _idx(array)
            (server / name).write_bytes(gzip.compress(raw))
            remotes.append(dl.Remote(name, ((server / name).as_uri(),), sha(raw), "gunzip"))
    monkeypatch.setitem(dl.SOURCES, "mnist", remotes)
    split = load(f"mnist:{tmp_path / 'data'}", "one-vs-rest", cls=1, download=True)
    assert len(split.train) == 2 and len(split.test) == 4
    assert len(load(f"mnist:{tmp_path / 'data'}")) == 16  # now present: no download needed
    bad = [dl.Remote(r.filename, r.urls, "0" * 64, "gunzip") for r in remotes]
    monkeypatch.setitem(dl.SOURCES, "mnist", bad)
    with pytest.raises(DataError, match="sha256"):
        load(f"mnist:{tmp_path / 'other'}", download=True)
    assert list((tmp_path / "other").iterdir()) == []


def test_cifar_download_extracts_only_batches(tmp_path: Path, monkeypatch,
                                              make_cifar_batches) -> None:
    make_cifar_batches(tmp_path / "build" / "cifar-10-batches-py")
    archive = tmp_path / "cifar-10-python.tar.gz"
    with tarfile.open(archive, "w:gz") as tar:
        tar.add(tmp_path / "build" / "cifar-10-batches-py", arcname="cifar-10-batches-py")
        evil = tarfile.TarInfo("../escaped.txt")
        evil.size = 4
        tar.addfile(evil, io.BytesIO(b"evil"))
    remote = dl.Remote(archive.name, (archive.as_uri(),), sha(archive.read_bytes()))
    monkeypatch.setitem(dl.SOURCES, "cifar10", [remote])
    pooled = load(f"cifar10:{tmp_path / 'data'}", download=True)
    assert pooled.images.shape == (36, 3, 32, 32) and pooled.classes[3] == "cat"
    assert not (tmp_path / "escaped.txt").exists()
    assert (tmp_path / "data" / "cifar-10-batches-py" / "test_batch").is_file()


def test_download_only_for_known_sources(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot be downloaded"):
        load(f"folder:{tmp_path}", download=True)
    with pytest.raises(ConfigError, match="no download"):
        dl.download("imagenet", tmp_path)


def test_pinned_table_is_complete() -> None:
    assert {len(r.sha256) for rs in dl.SOURCES.values() for r in rs} == {64}
    assert [len(dl.SOURCES[n]) for n in ("mnist", "fashion-mnist", "cifar10")] == [4, 4, 1]
