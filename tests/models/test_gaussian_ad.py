"""Gaussian AD (models/gaussian_ad.py): Ledoit-Wolf shrinkage and Mahalanobis distances against
scikit-learn and scipy, the score over feature levels, NPCA, ImageNet ResNet backbones from
safetensors weights, and a model folder that cannot run code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file
from scipy.spatial.distance import mahalanobis as scipy_mahalanobis
from sklearn.covariance import LedoitWolf
from torch import nn

import genad
from genad.errors import ConfigError, DataError
from genad.models.gaussian_ad import ledoit_wolf, mahalanobis, npca_components
from genad.nn.resnet import IMAGENET_MEAN, IMAGENET_STD, ResNet, imagenet_input
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


# ---- pre-trained ResNet backbones ---------------------------------------------------------------
@pytest.mark.parametrize(("arch", "params"), [("resnet18", 11_689_512), ("resnet50", 25_557_032),
                                              ("wide_resnet50_2", 68_883_240)])
def test_resnets_have_torchvisions_parameters(arch, params) -> None:
    # torchvision's published parameter counts and names: its state dicts load unchanged
    net = ResNet(arch)
    assert sum(p.numel() for p in net.parameters()) == params
    shapes = {k: tuple(v.shape) for k, v in net.state_dict().items()}
    assert shapes["conv1.weight"] == (64, 3, 7, 7)
    assert shapes["layer2.0.downsample.0.weight"][0] == shapes["layer2.0.bn1.weight"][0] * (
        1 if arch == "resnet18" else 4 * 64 // (128 if "wide" in arch else 64))
    assert "fc.weight" not in ResNet(arch, classifier=False).state_dict()


def test_resnet_features_and_imagenet_input() -> None:
    net = ResNet("resnet18", classifier=False).eval()
    maps = net.features(torch.zeros(2, 3, 64, 64))
    assert [tuple(m.shape) for m in maps] == [(2, 64, 16, 16), (2, 128, 8, 8), (2, 256, 4, 4),
                                              (2, 512, 2, 2)]
    assert [m.shape[1] for m in net.features(torch.zeros(1, 3, 32, 32), ("layer2",))] == [128]
    grey = imagenet_input(torch.full((1, 1, 4, 4), 1.0))  # white: (1 - mean) / std
    np.testing.assert_allclose(grey[0, :, 0, 0].numpy(),
                               (1 - np.array(IMAGENET_MEAN)) / np.array(IMAGENET_STD), rtol=1e-6)


def _weights(tmp_path: Path, arch: str = "resnet18") -> Path:
    torch.manual_seed(0)
    path = tmp_path / f"{arch}.safetensors"
    save_file(ResNet(arch).state_dict(), str(path))
    return path


def test_resnet_backbone_fits_saves_and_loads_without_its_file(small_kwargs, digits16,
                                                                tmp_path: Path) -> None:
    weights = _weights(tmp_path)
    det = genad.create("gaussian-ad", backbone="resnet18", weights=str(weights),
                       layers=["layer1", "layer2"], **small_kwargs).fit(digits16)
    want = load_file(str(weights))["layer1.0.conv1.weight"]
    torch.testing.assert_close(det.nets_["backbone"].state_dict()["layer1.0.conv1.weight"], want)
    levels = det.features(digits16[:3].float() / 127.5 - 1)
    assert [tuple(f.shape) for f in levels] == [(3, 64), (3, 128)]
    s = det.decision_function(digits16)
    assert s.shape == (64,) and np.isfinite(s).all() and np.ptp(s) > 0
    assert det.reconstruction(digits16[:2]) is None
    det.save(tmp_path / "m")
    weights.unlink()  # the model folder holds the backbone
    np.testing.assert_allclose(genad.load(tmp_path / "m").decision_function(digits16), s)


def test_resnet_backbone_refuses_bad_weights(small_kwargs, digits16, tmp_path: Path) -> None:
    make = lambda **kw: genad.create("gaussian-ad", backbone="resnet18", **kw, **small_kwargs)
    with pytest.raises(ConfigError, match="needs weights"):
        make().fit(digits16)
    with pytest.raises(DataError, match="not a file"):
        make(weights=str(tmp_path / "none.safetensors")).fit(digits16)
    with pytest.raises(DataError, match="not a resnet18 state dict"):
        make(weights=str(_weights(tmp_path, "resnet50"))).fit(digits16)
    (tmp_path / "junk.safetensors").write_bytes(b"not safetensors")
    with pytest.raises(DataError, match="cannot read"):
        make(weights=str(tmp_path / "junk.safetensors")).fit(digits16)
    with pytest.raises(ConfigError, match="TorchScript files are not loaded"):
        genad.create("gaussian-ad", backbone="net.pt")
    with pytest.raises(ConfigError, match="layers must"):
        genad.create("gaussian-ad", backbone="resnet18", layers=["act1"])


def test_a_model_folder_cannot_run_code(small_kwargs, digits16, tmp_path: Path) -> None:
    """A model.json pointing at a TorchScript file, or a pickle in place of the weights:
    loading refuses in one line and neither payload runs."""
    det = genad.create("gaussian-ad", **small_kwargs).fit(digits16)
    folder = det.save(tmp_path / "m")
    marker = tmp_path / "ran"

    class Payload(nn.Module):
        def forward(self, x: torch.Tensor) -> torch.Tensor:
            return x

        def __reduce__(self):  # what unpickling would call
            return (Path.write_text, (marker, "pickle ran"))

    import pickle
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.jit.script(nn.Identity()).save(str(folder / "backbone.pt"))
    meta = json.loads((folder / "model.json").read_text())
    meta["config"]["backbone"] = str(folder / "backbone.pt")
    (folder / "model.json").write_text(json.dumps(meta))
    with pytest.raises(ConfigError, match="TorchScript"):
        genad.load(folder)
    meta["config"]["backbone"] = "ae"
    (folder / "model.json").write_text(json.dumps(meta))
    (folder / "model.safetensors").write_bytes(pickle.dumps(Payload()))
    with pytest.raises(genad.GenadError):
        genad.load(folder)
    assert not marker.exists()


def test_npca_keeps_the_least_varying_directions() -> None:
    rng = np.random.default_rng(0)
    f = rng.normal(size=(500, 4)) * np.array([10.0, 3.0, 1.0, 0.1])
    # cumulative variance shares about 0.909, 0.991, 0.9999, 1: 0.995 is crossed at the
    # third component, and the authors keep from the one before it
    comps = npca_components(f, 0.995)
    assert comps.shape == (3, 4)
    np.testing.assert_allclose(np.abs(comps[-1]), [0, 0, 0, 1], atol=0.05)
    det = _head_only("gaussian-ad", npca=0.995)
    det.fit_head([f])
    test = rng.normal(size=(6, 4))
    proj = (test - f.mean(0)) @ comps.T
    ref = (f - f.mean(0)) @ comps.T
    want = [scipy_mahalanobis(r, ref.mean(0), LedoitWolf().fit(ref).precision_) for r in proj]
    got = det.score_features([torch.from_numpy(test)]).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-8)
    with pytest.raises(ConfigError, match="npca"):
        genad.create("gaussian-ad", npca=1.5)
