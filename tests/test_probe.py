"""Probes (genad/probe.py): a small shapes probe (`shapes_probe` in conftest) reads the
factors of unseen sprites; the probe cache round trip; the offline FID."""

from __future__ import annotations

import numpy as np
import pytest

import genad
from genad import probe as P
from genad.data import shapes


def test_probe_reads_the_factors_of_unseen_sprites(shapes_probe) -> None:
    """Measured on 1,000 unseen sprites: posX / posY correlation 0.99; shape accuracy 0.445
    (chance 1/3, s.d. 0.015 here): at 16x16 the smallest sprites are 2-3 pixels wide, so the
    shape is barely visible (the cached 20,000-sprite probe reaches 0.49 at 16 px)."""
    held = shapes.sample(1000, seed=77, size=16)
    read = shapes_probe.read(held)
    assert read.shape == (1000, 3 + 1 + 2 + 1 + 1)
    assert np.allclose(read[:, :3].sum(1), 1)
    shape_acc = (read[:, :3].argmax(1) == held.labels.numpy()).mean()
    assert shape_acc >= 0.40, shape_acc
    f = held.factors.numpy()
    for col, k in ((6, 3), (7, 4)):  # posX, posY
        assert np.corrcoef(read[:, col], f[:, k])[0, 1] >= 0.95
    assert shapes_probe.groups == [[0, 1, 2], [3], [4, 5], [6], [7]]
    feats = shapes_probe.features(held.images[:10])
    assert feats.shape == (10, 128) and feats.dtype == np.float64


def test_probe_cache_round_trip(shapes_probe, tmp_path) -> None:
    path = tmp_path / "probe"
    shapes_probe.save(path)
    back = genad.load(path)
    x = shapes.sample(20, seed=3, size=16)
    np.testing.assert_array_equal(back.read(x), shapes_probe.read(x))
    np.testing.assert_array_equal(P.probe_for("shapes", 16).read(x), shapes_probe.read(x))
    # the offline FID: 0 between a set and itself, larger for generated noise than for
    # another set of real sprites
    a, b = shapes.sample(400, seed=1, size=16), shapes.sample(400, seed=2, size=16)
    noise = np.random.default_rng(0).uniform(-1, 1, (400, 1, 16, 16)).astype(np.float32)
    assert P.fid(back, a, a) == pytest.approx(0.0, abs=1e-6)
    assert P.fid(back, a, noise) > 10 * P.fid(back, a, b)
    # any callable extractor plugs in: mean pixel intensity per image, a 1-D feature
    def mean_pixel(x):
        return genad.data.as_images(x).mean(dim=(1, 2, 3), keepdim=False)[:, None].numpy()

    assert P.fid(mean_pixel, a, a) == pytest.approx(0.0, abs=1e-9)
    assert P.fid(mean_pixel, a, noise) > P.fid(mean_pixel, a, b)
