"""Data sources: digits, MNIST (IDX / npz), CIFAR-10 (pickles / image tree), folders, MVTec,
images-with-masks, and the errors a user can cause."""
from __future__ import annotations

import csv
import gzip
import hashlib
import os
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genad.data import datasets, load
from genad.data.cifar import load_cifar10
from genad.data.folder import load_folder, load_mvtec, read_mask_folder
from genad.data.mnist import load_mnist, parse_idx, read_file_bytes
from genad.errors import ConfigError, DataError

SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"
MNIST = SHARED / "mnist"
TILES = SHARED / "magnetic_tile"
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not present at {path} (see ../shared/data/README.md)")
    return path


def idx_bytes(array: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">i4").tobytes()
    return head + array.astype(np.uint8).tobytes()


def save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


# ---- digits -------------------------------------------------------------------------------

def test_digits_embedded_default() -> None:
    d = load("digits")
    assert d.images.shape == (1797, 1, 32, 32) and d.images.dtype == torch.uint8
    assert int(d.images.max()) == 255 and int(d.images.min()) == 0
    assert d.labels.bincount().tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    small = load("digits", size=16, channels=3)
    assert small.images.shape == (1797, 3, 16, 16)


# ---- MNIST --------------------------------------------------------------------------------

def test_mnist_idx_real_data_matches_sha256_and_counts() -> None:
    parts = need(MNIST / "idx_gz_parts")
    expected = {}
    for line in (MNIST / "idx_sha256_raw.txt").read_text().splitlines():
        if line.strip():
            digest, name = line.split()[:2]
            expected[name] = digest
    assert len(expected) == 4
    for name, digest in expected.items():
        raw = read_file_bytes(parts, name)  # joined from the .gz.part* files
        assert raw is not None and hashlib.sha256(raw).hexdigest() == digest
    train, test = load_mnist(parts)
    assert train.images.shape == (60000, 1, 28, 28) and test.images.shape == (10000, 1, 28, 28)
    assert train.labels.bincount().tolist() == TRAIN_COUNTS
    assert test.labels.bincount().tolist() == TEST_COUNTS


def test_mnist_npz_chunks_equal_idx() -> None:
    need(MNIST / "npz")
    idx_train, idx_test = load_mnist(MNIST / "idx_gz_parts")
    npz_train, npz_test = load_mnist(MNIST / "npz")
    assert torch.equal(idx_train.images, npz_train.images)
    assert torch.equal(idx_train.labels, npz_train.labels)
    assert torch.equal(idx_test.images, npz_test.images)
    assert torch.equal(idx_test.labels, npz_test.labels)


def test_idx_raw_gz_parts_and_keras_npz(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = {p: rng.integers(0, 256, (n, 28, 28), dtype=np.uint8) for p, n in [("train", 7),
                                                                          ("t10k", 3)]}
    y = {p: rng.integers(0, 10, len(v), dtype=np.uint8) for p, v in x.items()}
    for p in ("train", "t10k"):
        (tmp_path / "raw").mkdir(exist_ok=True)
        (tmp_path / "raw" / f"{p}-images-idx3-ubyte").write_bytes(idx_bytes(x[p]))
        (tmp_path / "raw" / f"{p}-labels-idx1-ubyte").write_bytes(idx_bytes(y[p]))
        packed = gzip.compress(idx_bytes(x[p]))
        (tmp_path / "parts").mkdir(exist_ok=True)
        for i in range(12):  # 12 parts: numeric, not text, order matters (part10 > part2)
            chunk = packed[i * len(packed) // 12:(i + 1) * len(packed) // 12]
            (tmp_path / "parts" / f"{p}-images-idx3-ubyte.gz.part{i}").write_bytes(chunk)
        (tmp_path / "parts" / f"{p}-labels-idx1-ubyte.gz").write_bytes(gzip.compress(
            idx_bytes(y[p])))
    (tmp_path / "keras").mkdir()
    np.savez(tmp_path / "keras" / "mnist.npz", x_train=x["train"], y_train=y["train"],
             x_test=x["t10k"], y_test=y["t10k"])
    for layout in ("raw", "parts", "keras"):
        train, test = load_mnist(tmp_path / layout, fashion=True)
        assert train.classes[0] == "T-shirt/top"
        assert np.array_equal(train.images[:, 0].numpy(), x["train"])
        assert np.array_equal(test.labels.numpy(), y["t10k"])


def test_idx_truncated_or_bad_magic_raises(tmp_path: Path) -> None:
    good = idx_bytes(np.zeros((4, 28, 28), np.uint8))
    with pytest.raises(DataError, match="truncated"):
        parse_idx(good[:-5], "x-idx3")
    with pytest.raises(DataError, match="magic"):
        parse_idx(b"\x1f\x8b" + good[2:], "x-idx3")
    (tmp_path / "train-images-idx3-ubyte.gz").write_bytes(gzip.compress(good)[:-20])
    with pytest.raises(DataError, match="train-images-idx3-ubyte"):
        load_mnist(tmp_path)


def test_npz_chunk_missing_raises(tmp_path: Path) -> None:
    for name, start in [("train_00", 0), ("train_02", 10), ("test_00", 0)]:
        np.savez(tmp_path / f"mnist_{name}.npz", x=np.zeros((5, 28, 28), np.uint8),
                 y=np.zeros(5, np.uint8), start=np.int64(start))
    with pytest.raises(DataError, match="missing"):
        load_mnist(tmp_path)


# ---- CIFAR-10 -----------------------------------------------------------------------------

@pytest.mark.parametrize("protocol", [3, 4, 5])  # (Python 3 writes bytes at 2 via _codecs)
def test_cifar_pickle_batches_round_trip(tmp_path: Path, make_cifar_batches, protocol) -> None:
    written = make_cifar_batches(tmp_path / "cifar-10-batches-py", protocol=protocol)
    train, test = load_cifar10(tmp_path)
    assert train.images.shape == (30, 3, 32, 32) and test.images.shape == (6, 3, 32, 32)
    data, labels = written["data_batch_2"]
    assert np.array_equal(train.images[6:12].reshape(6, -1).numpy(), data)
    assert train.labels[6:12].tolist() == labels
    assert train.classes[0] == "airplane" and train.classes[9] == "truck"
    pooled = load(f"cifar10:{tmp_path}")
    assert len(pooled) == 36


class _Evil:
    def __reduce__(self):
        return os.system, (f"touch {self.marker}",)


def test_malicious_pickle_refused(tmp_path: Path, make_cifar_batches) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar_batches(folder)
    evil = _Evil()
    evil.marker = tmp_path / "pwned"
    (folder / "data_batch_3").write_bytes(pickle.dumps({b"data": evil, b"labels": []}))
    with pytest.raises(DataError, match="data_batch_3.*os.*system|data_batch_3.*posix.*system"):
        load_cifar10(tmp_path)
    assert not evil.marker.exists()


def test_cifar_image_tree(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for part, n in (("train", 3), ("test", 2)):
        for c in ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse",
                  "ship", "truck"):
            for i in range(n):
                save(tmp_path / part / c / f"{i:04d}.png",
                     rng.integers(0, 256, (32, 32, 3), dtype=np.uint8))
    train, test = load_cifar10(tmp_path)
    assert train.images.shape == (30, 3, 32, 32) and len(test) == 20
    assert train.labels.tolist() == [c for c in range(10) for _ in range(3)]
    first = np.asarray(Image.open(tmp_path / "train" / "airplane" / "0000.png"))
    assert np.array_equal(train.images[0].permute(1, 2, 0).numpy(), first)


# ---- folders, MVTec, images with masks ----------------------------------------------------

def test_plain_folder_with_classes_sizes_and_channels(tmp_path: Path) -> None:
    save(tmp_path / "cats" / "a.png", np.full((20, 30), 200, np.uint8))
    save(tmp_path / "cats" / "sub" / "b.jpg", np.full((40, 40, 3), 50, np.uint8))
    save(tmp_path / "dogs" / "c.bmp", np.full((16, 16), 10, np.uint8))
    with pytest.raises(DataError, match="size"):
        load_folder(tmp_path)
    d = load_folder(tmp_path, size=24)
    assert d.images.shape == (3, 3, 24, 24)  # one RGB image -> all RGB
    assert d.classes == ["cats", "dogs"] and d.labels.tolist() == [0, 0, 1]
    grey = load(f"folder:{tmp_path}", size=8, channels=1)
    assert grey.images.shape == (3, 1, 8, 8) and abs(int(grey.images[0].float().mean()) - 200) < 2


def _mvtec(root: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(4):
        save(root / "train" / "good" / f"{i:03d}.png", rng.integers(0, 256, (64, 64, 3),
                                                                  dtype=np.uint8))
    save(root / "test" / "good" / "000.png", rng.integers(0, 256, (48, 48), dtype=np.uint8))
    for kind, (h, w), rgb in (("crack", (64, 64), True), ("scratch", (96, 80), False)):
        for i in range(2):
            image = np.zeros((h, w, 3) if rgb else (h, w), np.uint8)
            mask = np.zeros((h, w), np.uint8)
            mask[h // 4: h // 2, w // 2: 3 * w // 4] = 255
            image[mask > 0] = 255
            save(root / "test" / kind / f"{i:03d}.png", image)
            save(root / "ground_truth" / kind / f"{i:03d}_mask.png", mask)


def test_mvtec_layout_mixed_sizes_grey_rgb_masks_aligned(tmp_path: Path) -> None:
    _mvtec(tmp_path / "widget")
    with pytest.raises(DataError, match="size"):
        load_mvtec(tmp_path / "widget")
    with pytest.raises(DataError, match="widget"):  # the data set root names its categories
        load_mvtec(tmp_path)
    train, test = load_mvtec(tmp_path / "widget", size=32)
    assert train.images.shape == (4, 3, 32, 32) and bool((train.labels == 0).all())
    assert test.classes == ["good", "crack", "scratch"]
    assert test.labels.tolist() == [0, 1, 1, 1, 1] and test.targets.tolist() == [0, 1, 1, 2, 2]
    assert test.masks.shape == (5, 1, 32, 32) and int(test.masks[0].sum()) == 0
    for i in range(1, 5):
        bright = test.images[i].float().mean(0) > 127
        assert torch.equal(bright, test.masks[i, 0].bool())  # mask on the defect pixels
        assert int(test.masks[i].sum()) == 8 * 8
    assert load(f"mvtec:{tmp_path / 'widget'}", size=32).images.shape == (4, 3, 32, 32)


def test_mvtec_missing_mask_raises(tmp_path: Path) -> None:
    _mvtec(tmp_path)
    (tmp_path / "ground_truth" / "crack" / "001_mask.png").unlink()
    with pytest.raises(DataError, match="001_mask.png"):
        load_mvtec(tmp_path, size=32)


def test_mask_folder_generic_layout(tmp_path: Path) -> None:
    for cat, n in (("ok", 5), ("dent", 2)):
        for i in range(n):
            image = np.full((30, 20), 100, np.uint8)
            mask = np.zeros((30, 20), np.uint8)
            if cat == "dent":
                mask[:15] = 255
            save(tmp_path / "set" / cat / "Imgs" / f"{i}.jpg", image)
            save(tmp_path / "set" / cat / "Imgs" / f"{i}.png", mask)
    d = read_mask_folder(tmp_path, normal="ok")
    assert d.images.shape == (7, 1, 30, 20) and d.classes == ["ok", "dent"]
    assert d.masks[:5].sum() == 0 and d.masks[5:, :, :15].all() and d.masks[5:, :, 15:].sum() == 0
    with pytest.raises(DataError, match="MT_Free"):
        read_mask_folder(tmp_path)


def test_magnetic_tiles_at_64_match_manifest() -> None:
    need(TILES / "manifest.csv")
    d = read_mask_folder(TILES, size=64)
    assert d.images.shape[1:] == (1, 64, 64) and d.masks.shape[1:] == (1, 64, 64)
    with open(TILES / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    for name in ("Free", "Blowhole", "Break", "Fray", "Uneven"):
        mine = [r for r in rows if r["category"] == name]
        sel = d.targets == d.classes.index(f"MT_{name}")
        assert int(sel.sum()) == len(mine)
        share = np.mean([int(r["defect_pixels"]) / (int(r["width"]) * int(r["height"]))
                         for r in mine])
        got = float(d.masks[sel].float().mean())
        assert got == pytest.approx(share, rel=0.25, abs=1e-9)
        assert bool(d.labels[sel].eq(0).all()) == (name == "Free")


# ---- errors -------------------------------------------------------------------------------

def test_corrupt_png_names_the_file(tmp_path: Path) -> None:
    save(tmp_path / "good.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "x.png").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(DataError, match="x.png"):
        load_folder(tmp_path)


def test_truncated_png_names_the_file(tmp_path: Path) -> None:
    save(tmp_path / "a.png", np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="a.png"):
        load_folder(tmp_path)


def test_missing_and_empty_folders(tmp_path: Path) -> None:
    for spec in (f"folder:{tmp_path / 'nope'}", f"mnist:{tmp_path / 'nope'}",
                 f"cifar10:{tmp_path / 'nope'}", f"mvtec:{tmp_path / 'nope'}"):
        with pytest.raises(DataError, match="nope"):
            load(spec)
    with pytest.raises(DataError, match="no images"):
        load_folder(tmp_path)
    with pytest.raises(DataError, match="no mnist files"):
        load_mnist(tmp_path)


def test_specs_names_and_home_expansion(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="mnist:PATH"):
        load("imagenet:/x")
    with pytest.raises(ConfigError, match="Did you mean 'mnist'"):
        load("mnsit:/x")
    with pytest.raises(ConfigError, match="folder:PATH"):
        load("folder")
    with pytest.raises(ConfigError, match="protocol"):
        load("digits", cls=3)
    monkeypatch.setenv("HOME", str(tmp_path))
    save(tmp_path / "pics" / "a.png", np.zeros((8, 8), np.uint8))
    assert len(load("folder:~/pics")) == 1
    names = [d["name"] for d in datasets()]
    assert names == ["digits", "mnist", "fashion-mnist", "cifar10", "folder", "shapes",
                     "dsprites", "mvtec", "masks"]
    assert all({"spec", "needs", "protocols", "download"} <= d.keys() for d in datasets())


def test_memoised_sources_read_each_source_once(tmp_path: Path, make_cifar_batches) -> None:
    import shutil

    from genad.data import memoised_sources

    folder = tmp_path / "cifar-10-batches-py"
    make_cifar_batches(folder)
    with memoised_sources():
        first = load(f"cifar10:{tmp_path}")
        shutil.rmtree(folder)  # a second load inside the block does not touch the disk
        again = load(f"cifar10:{tmp_path}")
        assert torch.equal(first.images, again.images)
        split = load(f"cifar10:{tmp_path}", protocol="one-vs-rest", cls=0)
        assert len(split.test) == 6
    with pytest.raises(DataError):  # outside it, the source is read (and is gone)
        load(f"cifar10:{tmp_path}")
