"""The dSprites loader (genad.data.dsprites) on made-up files and on the real dSprites subset
where it is present."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genad.data import dsprites, shapes
from genad.data.dsprites import load_dsprites
from genad.errors import ConfigError, DataError
from tests.data.conftest import SUBSET

GRID = shapes.factor_grid()


def write_fake(path: Path, n: int = 23, colour: bool = True, drop: str | None = None) -> dict:
    rng = np.random.default_rng(0)
    classes = shapes.sample_factors(n, rng)
    values = GRID.to_values(classes).astype(np.float64)
    imgs = (shapes.render(classes) > 0).astype(np.uint8)
    if colour:
        classes = np.concatenate([np.zeros((n, 1), np.int64), classes], axis=1)
        values = np.concatenate([np.ones((n, 1)), values], axis=1)
    arrays = {"imgs": imgs, "latents_classes": classes, "latents_values": values}
    arrays.pop(drop, None)
    np.savez_compressed(path, **arrays)
    return arrays


def test_loader_reads_the_official_layout(tmp_path, monkeypatch):
    monkeypatch.setattr(dsprites, "_CHUNK_BYTES", 3 * 4096)  # several chunks, a partial last
    arrays = write_fake(tmp_path / dsprites.DSPRITES_FILE)
    data = load_dsprites(tmp_path)  # a folder holding the official file name
    assert data.images.shape == (23, 1, 64, 64) and data.images.dtype == torch.uint8
    np.testing.assert_array_equal(data.images[:, 0].numpy(), arrays["imgs"] * 255)
    np.testing.assert_array_equal(data.factors.numpy(),
                                  arrays["latents_values"][:, 1:].astype(np.float32))
    np.testing.assert_array_equal(data.labels.numpy(), arrays["latents_classes"][:, 1])
    assert data.factor_names == list(shapes.FACTOR_NAMES) and data.name == "dsprites"
    part = load_dsprites(tmp_path / dsprites.DSPRITES_FILE, n=7, seed=4)
    rows = np.sort(np.random.default_rng(4).choice(23, 7, replace=False))
    assert torch.equal(part.images, data.images[rows])
    assert torch.equal(part.factors, data.factors[rows])
    assert torch.equal(load_dsprites(tmp_path, n=7, seed=4).images, part.images)
    small = load_dsprites(tmp_path, size=16)
    np.testing.assert_array_equal(small.images.numpy(), shapes.downsample(data.images, 16))


def test_loader_errors(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dsprites(tmp_path / "nothing.npz")
    with pytest.raises(DataError, match="no dSprites"):
        load_dsprites(tmp_path)
    write_fake(tmp_path / "a.npz", drop="imgs")
    with pytest.raises(DataError, match="lacks imgs"):
        load_dsprites(tmp_path / "a.npz")
    (tmp_path / "b.npz").write_bytes(b"not a zip")
    with pytest.raises(DataError, match="several"):
        load_dsprites(tmp_path)
    with pytest.raises(DataError, match="not a readable"):
        load_dsprites(tmp_path / "b.npz")
    write_fake(tmp_path / "c.npz", n=5, colour=False)
    assert len(load_dsprites(tmp_path / "c.npz")) == 5
    with pytest.raises(ConfigError):
        load_dsprites(tmp_path / "c.npz", n=6)
    with pytest.raises(ConfigError):
        load_dsprites(tmp_path / "c.npz", size=100)


def test_loader_on_the_real_subset(real):
    data = load_dsprites(SUBSET, n=400, seed=5)
    assert data.images.shape == (400, 1, 64, 64) and data.images.dtype == torch.uint8
    assert set(data.images.unique().tolist()) == {0, 255}
    assert data.factor_names == list(shapes.FACTOR_NAMES)
    assert data.factors.shape == (400, 5) and data.factors.dtype == torch.float32
    rows = np.sort(np.random.default_rng(5).choice(len(real["imgs"]), 400, replace=False))
    np.testing.assert_array_equal(data.factors.numpy(),
                                  real["latents_values"][rows].astype(np.float32))
    np.testing.assert_array_equal(data.images[:, 0].numpy(), real["imgs"][rows] * 255)
    np.testing.assert_array_equal(data.labels.numpy(), real["latents_classes"][rows, 0])
