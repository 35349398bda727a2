"""CIFAR-10 (data/cifar.py): pickle batches (read without unpickling code) and image trees."""
from __future__ import annotations

import os
import pickle
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from genad.data import load
from genad.data.cifar import load_cifar10
from genad.errors import DataError
from tests.data.conftest import save


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


@pytest.mark.parametrize("labels", [[f"c{i}" for i in range(6)], [0.5] * 6, [[1, 2]] * 6,
                                    [0, 1, 2, 3, 4, 12], [-1, 0, 0, 0, 0, 0], [0, [1], 2, 3, 4, 5]])
def test_odd_labels_are_one_line(tmp_path: Path, make_cifar_batches, labels) -> None:
    folder = tmp_path / "cifar-10-batches-py"
    make_cifar_batches(folder)
    data = np.zeros((6, 3072), np.uint8)
    (folder / "data_batch_2").write_bytes(pickle.dumps({b"data": data, b"labels": labels}))
    with pytest.raises(DataError, match="labels") as err:
        load_cifar10(tmp_path)
    assert "\n" not in str(err.value)


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
