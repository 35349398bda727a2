"""Fréchet distance: closed forms, symmetry, degenerate covariances; streaming statistics."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genad.errors import DataError
from genad.metrics.fid import FeatureStats, fid_from_features, frechet_distance


def random_spd(rng: np.random.Generator, d: int) -> np.ndarray:
    a = rng.normal(size=(d, d))
    return a @ a.T / d + 0.1 * np.eye(d)


def test_equal_statistics_give_zero() -> None:
    rng = np.random.default_rng(0)
    mu, sigma = rng.normal(size=16), random_spd(rng, 16)
    assert abs(frechet_distance(mu, sigma, mu, sigma)) < 1e-6


def test_mean_shift_only_gives_squared_norm() -> None:
    rng = np.random.default_rng(1)
    mu, sigma, shift = rng.normal(size=8), random_spd(rng, 8), rng.normal(size=8)
    assert frechet_distance(mu, sigma, mu + shift, sigma) == pytest.approx(
        float(shift @ shift), abs=1e-6
    )


@pytest.mark.parametrize(("m1", "s1", "m2", "s2"), [(0.0, 1.0, 0.0, 4.0), (1.5, 0.3, -2.0, 2.2)])
def test_one_dimensional_closed_form(m1: float, s1: float, m2: float, s2: float) -> None:
    expected = (m1 - m2) ** 2 + s1 + s2 - 2 * math.sqrt(s1 * s2)
    assert frechet_distance([m1], [[s1]], [m2], [[s2]]) == pytest.approx(expected, abs=1e-12)
    assert frechet_distance(m1, s1, m2, s2) == pytest.approx(expected, abs=1e-12)


def test_diagonal_covariances_closed_form() -> None:
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    expected = float(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
    assert frechet_distance(np.zeros(3), np.diag(a), np.zeros(3), np.diag(b)) == pytest.approx(
        expected
    )


def test_symmetric() -> None:
    rng = np.random.default_rng(2)
    m1, m2 = rng.normal(size=10), rng.normal(size=10)
    s1, s2 = random_spd(rng, 10), random_spd(rng, 10)
    d12, d21 = frechet_distance(m1, s1, m2, s2), frechet_distance(m2, s2, m1, s1)
    assert d12 == pytest.approx(d21, rel=1e-9)
    assert d12 > 0


def test_singular_covariances_stay_finite() -> None:
    # rank-1 covariances: the product is singular; the eps offset keeps sqrtm finite
    v = np.array([[1.0, 2.0, 0.0]])
    s = v.T @ v
    value = frechet_distance(np.zeros(3), s, np.zeros(3), s)
    assert math.isfinite(value) and abs(value) < 1e-3
    zero = np.zeros((3, 3))
    assert frechet_distance(np.zeros(3), zero, np.ones(3), zero) == pytest.approx(3.0, abs=1e-4)


def test_invalid_covariance_raises() -> None:
    with pytest.raises(DataError, match="imaginary"):
        frechet_distance(np.zeros(2), np.diag([1.0, -1.0]), np.zeros(2), np.eye(2))
    with pytest.raises(DataError, match="shape"):
        frechet_distance(np.zeros(2), np.eye(3), np.zeros(2), np.eye(2))
    with pytest.raises(DataError, match="differ"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))


def test_feature_stats_streaming_equals_whole_batch() -> None:
    rng = np.random.default_rng(3)
    x = 1000.0 + rng.normal(size=(1003, 12)) @ rng.normal(size=(12, 12))
    stats = FeatureStats()
    for lo, hi in [(0, 1), (1, 100), (100, 100), (100, 517), (517, 1003)]:
        stats.add(torch.as_tensor(x[lo:hi], dtype=torch.float64) if lo == 100 else x[lo:hi])
    assert stats.count == 1003 and stats.dim == 12
    np.testing.assert_allclose(stats.mean, x.mean(axis=0), rtol=1e-12, atol=1e-9)
    np.testing.assert_allclose(stats.cov, np.cov(x, rowvar=False), rtol=1e-10, atol=1e-9)
    assert stats.mean.dtype == np.float64 and stats.cov.dtype == np.float64


def test_feature_stats_float32_input_accumulates_in_float64() -> None:
    x = np.random.default_rng(4).normal(size=(400, 5)).astype(np.float32)
    stats = FeatureStats().add(x[:200]).add(x[200:])
    np.testing.assert_allclose(stats.cov, np.cov(x.astype(np.float64), rowvar=False), rtol=1e-10)


def test_feature_stats_errors() -> None:
    with pytest.raises(DataError, match="empty"):
        _ = FeatureStats().mean
    with pytest.raises(DataError, match="at least 2"):
        _ = FeatureStats().add(np.ones((1, 3))).cov
    with pytest.raises(DataError, match="dims"):
        FeatureStats().add(np.ones((2, 3))).add(np.ones((2, 4)))
    with pytest.raises(DataError, match="NaN"):
        FeatureStats().add(np.full((2, 3), np.nan))


def test_fid_from_features() -> None:
    rng = np.random.default_rng(5)
    a = rng.normal(size=(3000, 4))
    b = rng.normal(size=(3000, 4)) * 2.0 + 1.0
    expected = frechet_distance(
        a.mean(0), np.cov(a, rowvar=False), b.mean(0), np.cov(b, rowvar=False)
    )
    assert fid_from_features(a, b) == pytest.approx(expected, rel=1e-10)
    # population value: 4 * 1^2 + 4 * (1 + 4 - 2 * 2) = 8
    assert fid_from_features(a, b) == pytest.approx(8.0, rel=0.1)
    assert abs(fid_from_features(a, a)) < 1e-6
    with pytest.raises(DataError, match="dimension"):
        fid_from_features(a, b[:, :3])
