"""Shared test fixtures."""
from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType

import numpy as np
import pytest
import torch

# One intra-op thread: the learning tests' figures were measured so, and GAN training at a
# test's budget can end in a different place when float sums are split over more threads
# (EGBAD on digit 4 measured 0.94 AUROC with one thread, 0.30 with two).
torch.set_num_threads(1)


@pytest.fixture
def make_cifar_batches() -> Callable[..., dict[str, tuple[np.ndarray, list[int]]]]:
    """Returns make(folder, n=6, protocol=4): writes tiny fake CIFAR-10 pickle batches
    (data_batch_1..5, test_batch, batches.meta) into folder; returns name -> (data, labels)."""

    def make(folder: Path, n: int = 6, protocol: int = 4) -> dict[str, tuple[np.ndarray, list]]:
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        written = {}
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.integers(0, 10, n)]
            table = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                     b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
            (folder / name).write_bytes(pickle.dumps(table, protocol=protocol))
            written[name] = (data, labels)
        names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                 b"horse", b"ship", b"truck"]
        meta = {b"label_names": names, b"num_vis": 3072, b"num_cases_per_batch": n}
        (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
        return written

    return make


# ---- models and the training engine ---------------------------------------------------------
SMALL = {"image_size": 16, "width": 8, "epochs": 1, "batch_size": 16, "seed": 0}


@pytest.fixture(scope="session")
def small_settings() -> MappingProxyType:
    """Settings every registered detector accepts and that train in a fraction of a second:
    16x16 networks of width 8, one epoch, batches of 16, seed 0 (read-only)."""
    return MappingProxyType(SMALL)


@pytest.fixture
def small_kwargs(small_settings) -> dict:
    """`small_settings` as a fresh dict a test may change."""
    return dict(small_settings)


@pytest.fixture
def mvtec_widget(tmp_path: Path) -> Path:
    """A tiny MVTec-layout category of random 16x16 grey images: 40 train/good, 3 test/good,
    3 test/hole with a square mask each; returns its folder."""
    from PIL import Image

    rng = np.random.default_rng(0)
    widget = tmp_path / "widget"
    files = [f"train/good/{i}.png" for i in range(40)] + [f"test/good/{i}.png" for i in range(3)]
    for sub in files + [f"test/hole/{i}.png" for i in range(3)]:
        (widget / sub).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(widget / sub)
    (widget / "ground_truth" / "hole").mkdir(parents=True)
    mask = np.zeros((16, 16), np.uint8)
    mask[4:8, 4:8] = 255
    for i in range(3):
        Image.fromarray(mask).save(widget / "ground_truth" / "hole" / f"{i}_mask.png")
    return widget


@pytest.fixture(scope="session")
def digits16():
    """(64, 1, 16, 16) uint8 torch tensor: the first 64 bundled digits at 16x16."""
    import genad

    return genad.data.load("digits", size=16).images[:64].clone()
