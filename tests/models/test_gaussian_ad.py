"""Gaussian AD (models/gaussian_ad.py): Ledoit-Wolf shrinkage and Mahalanobis distances against
scikit-learn and scipy, the score over feature levels, and TorchScript backbones."""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis
from sklearn.covariance import LedoitWolf
from torch import nn

import genad
from genad.errors import DataError
from genad.models.gaussian_ad import ledoit_wolf, mahalanobis
from tests.models.conftest import _data, _head_only


@pytest.mark.parametrize(("n", "d"), [(200, 5), (30, 50), (500, 40)])
def test_ledoit_wolf_matches_sklearn(n, d) -> None:
    x = _data(n, d)
    ref = LedoitWolf().fit(x)
    cov, shrink = ledoit_wolf(x)
    assert shrink == pytest.approx(ref.shrinkage_, rel=1e-10)
    np.testing.assert_allclose(cov, ref.covariance_, rtol=1e-10, atol=1e-12)
    assert 0 <= shrink <= 1


def test_ledoit_wolf_known_values() -> None:
    # sample covariance exactly the identity: nothing to shrink towards, shrinkage 0
    x = np.array([[1.0, 1.0], [-1.0, -1.0], [1.0, -1.0], [-1.0, 1.0]])
    cov, shrink = ledoit_wolf(x)
    assert shrink == 0.0
    np.testing.assert_array_equal(cov, np.eye(2))
    # fewer samples than dimensions: the sample covariance is singular, the estimate is not
    cov, shrink = ledoit_wolf(_data(10, 30))
    assert 0 < shrink <= 1 and np.linalg.eigvalsh(cov).min() > 0


def test_mahalanobis_matches_scipy_and_reduces_to_euclid() -> None:
    x, mean = _data(20, 6, seed=1), _data(1, 6, seed=2)[0]
    precision = np.linalg.inv(np.cov(_data(100, 6, seed=3), rowvar=False))
    got = mahalanobis(torch.from_numpy(x), torch.from_numpy(mean), torch.from_numpy(precision))
    want = [scipy_mahalanobis(row, mean, precision) for row in x]
    np.testing.assert_allclose(got.numpy(), want, rtol=1e-12)
    eye = torch.eye(6, dtype=torch.float64)
    eye = mahalanobis(torch.from_numpy(x), torch.from_numpy(mean), eye)
    np.testing.assert_allclose(eye.numpy(), np.linalg.norm(x - mean, axis=1), rtol=1e-12)


def test_gaussian_ad_score_is_the_sum_of_levels_mahalanobis() -> None:
    levels = [_data(80, 4, seed=4), _data(80, 12, seed=5)]
    det = _head_only("gaussian-ad")
    det.fit_head(levels)
    test = [_data(7, 4, seed=6), _data(7, 12, seed=7)]
    got = det.score_features([torch.from_numpy(t) for t in test]).numpy()
    want = sum(
        np.array([scipy_mahalanobis(r, f.mean(0), LedoitWolf().fit(f).precision_) for r in t])
        for f, t in zip(levels, test)
    )
    np.testing.assert_allclose(got, want, rtol=1e-8)


# ---- TorchScript backbone -----------------------------------------------------------------------
# torch >= 2.9 deprecates TorchScript; it still scripts, saves and loads
pytestmark = pytest.mark.filterwarnings("ignore:`torch.jit.script` is deprecated")


def _script_backbone(path: Path) -> Path:
    torch.manual_seed(0)
    net = nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 4, 3, padding=1), act1=nn.ReLU(),
        conv2=nn.Conv2d(4, 8, 3, stride=2, padding=1), act2=nn.ReLU(),
        fc=nn.Linear(3, 2),  # would fail on (B, 8, 8, 8): proves the run stops at act2
    ))
    torch.jit.script(net).save(str(path))
    return path


def test_torchscript_backbone_with_layers(small_kwargs, digits16, tmp_path: Path) -> None:
    path = _script_backbone(tmp_path / "backbone.pt")
    det = genad.create("gaussian-ad", backbone=str(path), layers=["act1", "act2"], **small_kwargs)
    det.fit(digits16)
    levels = det.features(digits16[:3].float() / 127.5 - 1)
    assert [f.shape for f in levels] == [(3, 4), (3, 8)]
    s = det.decision_function(digits16)
    assert s.shape == (64,) and np.isfinite(s).all() and np.ptp(s) > 0
    assert det.reconstruction(digits16[:2]) is None
    det.save(tmp_path / "m")
    np.testing.assert_allclose(genad.load(tmp_path / "m").decision_function(digits16), s)
    _script_backbone(path)  # the same net written again: same bytes, loads
    path.write_bytes(path.read_bytes() + b"\0")  # a changed file is refused
    with pytest.raises(DataError, match="changed"):
        genad.load(tmp_path / "m")


class _TwoMaps(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.a = nn.Conv2d(1, 3, 3, stride=2)
        self.b = nn.Conv2d(3, 5, 3, stride=2)

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        h = torch.relu(self.a(x))
        return [h, torch.relu(self.b(h))]


def test_torchscript_backbone_returning_a_list(small_kwargs, digits16, tmp_path: Path) -> None:
    torch.jit.script(_TwoMaps()).save(str(tmp_path / "two.pt"))
    det = genad.create("gaussian-ad", backbone=str(tmp_path / "two.pt"), **small_kwargs)
    det.fit(digits16)
    assert [f.shape[1] for f in det.features(torch.zeros(2, 1, 16, 16))] == [3, 5]
    assert np.isfinite(det.decision_function(digits16)).all()
    with pytest.raises(DataError, match="not a file"):
        genad.create("gaussian-ad", backbone=str(tmp_path / "none.pt"), **small_kwargs).fit(
            digits16
        )
