"""Anomaly protocols: leave-one-out (GANomaly), one-vs-rest (Deep SVDD), mvtec."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genad.data import ImageSet, Split, load
from genad.data.protocols import leave_one_out, make_split, one_vs_rest, stratified_split
from genad.errors import ConfigError, DataError
from tests.data.conftest import SHARED


def check_split(split: Split) -> None:
    assert bool((split.train.labels == 0).all())
    assert set(split.test.labels.unique().tolist()) == {0, 1}
    assert split.train.targets is not None and split.test.targets is not None


def toy(counts: list[int]) -> ImageSet:
    labels = torch.tensor([c for c, n in enumerate(counts) for _ in range(n)])
    images = torch.arange(len(labels), dtype=torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 2, 2)
    return ImageSet(images.contiguous(), labels, [f"c{i}" for i in range(len(counts))],
                    targets=labels.clone(), name="toy")


def test_leave_one_out_exact_mnist_counts() -> None:
    if not (SHARED / "mnist" / "npz").exists():
        pytest.skip(f"real MNIST not present at {SHARED / 'mnist'}")
    split = load(f"mnist:{SHARED / 'mnist' / 'npz'}", "leave-one-out", cls=3, seed=0)
    check_split(split)
    assert len(split.train) == 50287
    assert int((split.test.labels == 0).sum()) == 12572
    assert int((split.test.labels == 1).sum()) == 7141
    assert bool((split.test.targets[split.test.labels == 1] == 3).all())
    assert not bool((split.train.targets == 3).any())


def test_leave_one_out_pools_train_and_test_and_is_seeded() -> None:
    train, test = toy([10, 20, 30]), toy([5, 5, 5])
    a = leave_one_out(train, test, "c1", seed=0)
    check_split(a)
    assert len(a.train) == int((10 + 30 + 5 + 5) * 0.8)
    assert len(a.test) == 50 - len(a.train) + 25
    assert a.normal == "all classes but c1" and a.protocol == "leave-one-out"
    b = leave_one_out(train, test, 1, seed=0)
    c = leave_one_out(train, test, 1, seed=1)
    assert torch.equal(a.train.images, b.train.images)
    assert not torch.equal(a.train.images, c.train.images)


def test_seeds_on_digits_differ_and_repeat() -> None:
    splits = [load("digits", "leave-one-out", cls=7, seed=s) for s in (0, 1, 2, 0)]
    for s in splits:
        check_split(s)
    firsts = [s.train.images[:50].flatten() for s in splits]
    assert torch.equal(firsts[0], firsts[3])
    assert not torch.equal(firsts[0], firsts[1]) and not torch.equal(firsts[1], firsts[2])


def test_one_vs_rest_on_digits() -> None:
    digits = load("digits")
    counts = digits.labels.bincount().tolist()
    split = load("digits", "one-vs-rest", cls=4, seed=0)
    check_split(split)
    assert split.protocol == "one-vs-rest" and split.normal == "4"
    assert len(split.train) == int(counts[4] * 0.8)  # the stratified 80% of class 4
    assert bool((split.train.targets == 4).all())
    assert len(split.test) == sum(n - int(n * 0.8) for n in counts)
    assert torch.equal(split.test.labels, (split.test.targets != 4).long())
    other = load("digits", "one-vs-rest", cls="4", seed=1)
    assert not torch.equal(other.train.images, split.train.images)


def test_one_vs_rest_uses_official_split() -> None:
    train, test = toy([4, 6]), toy([3, 2])
    split = one_vs_rest(train, test, 0)
    assert len(split.train) == 4 and len(split.test) == 5
    assert split.test.labels.tolist() == [0, 0, 0, 1, 1]


def test_stratified_split_keeps_proportions() -> None:
    a, b = stratified_split(toy([10, 5, 7]), 0.8, seed=3)
    assert a.labels.bincount().tolist() == [8, 4, 5]
    assert b.labels.bincount().tolist() == [2, 1, 2]


def test_empty_classes_and_bad_arguments_raise() -> None:
    data = toy([6, 0, 4])
    with pytest.raises(DataError, match="c1"):
        one_vs_rest(data, toy([3, 0, 3]), 1)
    with pytest.raises(DataError, match="no anomalous"):
        leave_one_out(data, None, 1)
    with pytest.raises(ConfigError, match="c0"):
        leave_one_out(data, None, "c9")
    with pytest.raises(ConfigError, match="needs a class"):
        make_split("one-vs-rest", data, None)
    with pytest.raises(ConfigError, match="unknown protocol"):
        load("digits", "two-vs-one", cls=1)
    with pytest.raises(ConfigError, match="mvtec"):
        load("digits", "mvtec")


def test_mvtec_protocol_keeps_masks(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    for sub in ("train/good/0.png", "train/good/1.png", "test/good/0.png", "test/hole/0.png"):
        (tmp_path / sub).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(tmp_path / sub)
    (tmp_path / "ground_truth" / "hole").mkdir(parents=True)
    Image.fromarray(np.full((16, 16), 255, np.uint8)).save(
        tmp_path / "ground_truth" / "hole" / "0_mask.png")
    split = load(f"mvtec:{tmp_path}", "mvtec")
    check_split(split)
    assert split.protocol == "mvtec" and len(split.train) == 2
    assert split.test.masks.sum(dim=(1, 2, 3)).tolist() == [0, 256]
    with pytest.raises(ConfigError, match="mvtec"):
        load(f"mvtec:{tmp_path}", "leave-one-out", cls=0)


def test_magnetic_tiles_mvtec_split() -> None:
    if not (SHARED / "magnetic_tile").exists():
        pytest.skip(f"magnetic tiles not present at {SHARED / 'magnetic_tile'}")
    split = load(f"masks:{SHARED / 'magnetic_tile'}", "mvtec", size=32, seed=0)
    check_split(split)
    assert len(split.train) == int(952 * 0.8)
    assert int((split.test.labels == 0).sum()) == 952 - int(952 * 0.8)
    assert int((split.test.labels == 1).sum()) == 115 + 85 + 57 + 32 + 103
    assert split.test.masks is not None and int(split.test.masks[split.test.labels == 0].sum()) == 0
