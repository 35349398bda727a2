"""Deep SVDD and its soft-boundary variant (models/deep_svdd.py): the centre, the radius, the
bias-free network and global contrast normalisation."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import genad
from genad.errors import ConfigError
from genad.models.deep_svdd import fix_centre, global_contrast, radius


def test_centre_eps_fix() -> None:
    c = torch.tensor([0.05, -0.05, 0.0, 0.5, -0.2, 0.1, -0.0999])
    np.testing.assert_array_equal(
        fix_centre(c, 0.1).numpy(), np.float32([0.1, -0.1, 0.0, 0.5, -0.2, 0.1, -0.1])
    )
    assert c[0] == pytest.approx(0.05), "the input is not changed in place"


def test_deep_svdd_network_is_bias_free_and_centre_is_fixed(small_kwargs, digits16) -> None:
    det = genad.create("deep-svdd", **small_kwargs).fit(digits16)
    enc = det.nets_["encoder"]
    assert not [n for n, _ in enc.named_parameters() if "bias" in n]
    assert all(not m.affine for m in enc.modules() if isinstance(m, nn.BatchNorm2d))
    c = det.nets_["svdd"].c
    assert ((c.abs() >= det.config.eps) | (c == 0)).all()
    assert c.abs().sum() > 0
    assert len(det.pretrain_history_) == small_kwargs["epochs"]  # pretrain_epochs=None: epochs


def test_soft_boundary_radius_is_the_batch_quantile(small_kwargs, digits16) -> None:
    det = genad.create("deep-svdd-soft", warm_up_epochs=0, nu=0.2, **small_kwargs).fit(digits16)
    state = det.nets_["svdd"]
    assert float(state.r) > 0
    x = digits16[:32].float() / 127.5 - 1
    for net in det.nets_.values():
        net.train()
    with torch.no_grad():
        dist = det._distance(x)
    det.train_step(x)
    assert float(state.r) == pytest.approx(float(np.quantile(dist.sqrt().numpy(), 0.8)), rel=1e-6)
    assert float(radius(dist, 0.2)) == pytest.approx(float(state.r))
    # at most a share nu of the batch lies outside R (one more image for the interpolation)
    assert (dist.sqrt() > state.r).float().mean() <= 0.2 + 1 / 32
    # score = ||phi(x) - c||^2 - R^2
    s = det.decision_function(digits16)
    with torch.no_grad():
        for net in det.nets_.values():
            net.eval()
        d = det._distance(digits16.float() / 127.5 - 1).double()
    np.testing.assert_allclose(s, (d - state.r**2).numpy(), rtol=1e-5, atol=1e-5)


def test_global_contrast_normalisation() -> None:
    x = torch.tensor([[[[0.0, 1.0], [2.0, 5.0]]], [[[3.0, 3.0], [3.0, 3.0]]]])
    g = global_contrast(x)
    # image 0: mean 2, deviations -2 -1 0 3, mean |deviation| 1.5; a constant image becomes 0
    np.testing.assert_allclose(g[0].flatten().numpy(), np.float32([-2, -1, 0, 3]) / 1.5)
    assert (g[1] == 0).all()
    np.testing.assert_allclose(global_contrast(0.3 * x - 0.7).numpy(), g.numpy(), atol=1e-6)


def test_deep_svdd_preprocessing_is_fitted_on_the_training_images(small_kwargs, digits16) -> None:
    det = genad.create("deep-svdd", preprocess="gcn", **small_kwargs).fit(digits16)
    _, x_fit = det._calibration_split(digits16.float() / 127.5 - 1)
    seen = det.preprocess(x_fit)
    assert float(seen.min()) == pytest.approx(0.0, abs=1e-6)
    assert float(seen.max()) == pytest.approx(1.0, abs=1e-6)
    # brightness and contrast of an image do not change what phi sees, so not its score
    x = digits16[:8].float() / 127.5 - 1
    np.testing.assert_allclose(det.preprocess(0.5 * x + 0.2), det.preprocess(x), atol=1e-5)
    plain = genad.create("deep-svdd", **small_kwargs).fit(digits16)  # default: none
    assert torch.equal(plain.preprocess(x), x)
    with pytest.raises(ConfigError, match="preprocess"):
        genad.create("deep-svdd", preprocess="zca")


def test_soft_boundary_radius_waits_for_warm_up(small_kwargs, digits16) -> None:
    det = genad.create("deep-svdd-soft", **small_kwargs).fit(digits16)  # 1 epoch < 10 warm-up
    assert float(det.nets_["svdd"].r) == 0.0
