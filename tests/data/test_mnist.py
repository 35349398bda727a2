"""MNIST (data/mnist.py): IDX files raw, gzipped or in parts, Keras and chunked npz, checked
against the real data's sha256 and class counts where present."""
from __future__ import annotations

import gzip
import hashlib
from pathlib import Path

import numpy as np
import pytest
import torch

from genad.data.mnist import load_mnist, parse_idx, read_file_bytes
from genad.errors import DataError
from tests.data.conftest import SHARED, need

MNIST = SHARED / "mnist"
TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def idx_bytes(array: np.ndarray) -> bytes:
    head = bytes([0, 0, 0x08, array.ndim]) + np.asarray(array.shape, ">i4").tobytes()
    return head + array.astype(np.uint8).tobytes()


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
