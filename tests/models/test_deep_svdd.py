"""Deep SVDD and its soft-boundary variant (models/deep_svdd.py): the centre, the radius, the
bias-free network, global contrast normalisation, the authors' pre-training and their
per-data-set settings."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from torch import nn

import genad
from genad.errors import ConfigError
from genad.models import deep_svdd
from genad.models.base import _AutoencoderPretraining
from genad.models.deep_svdd import fix_centre, global_contrast, pretrain_loss, radius
from genad.nn import DCDecoder


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
    # pretrain_epochs from the table (150 at 150 epochs) scaled to the 1 epoch here
    assert len(det.pretrain_history_) == small_kwargs["epochs"] == det.config.pretrain_epochs


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
    plain = genad.create("deep-svdd", **small_kwargs).fit(digits16)  # arrays: none
    assert torch.equal(plain.preprocess(x), x)
    with pytest.raises(ConfigError, match="preprocess"):
        genad.create("deep-svdd", preprocess="zca")


def test_soft_boundary_radius_waits_for_warm_up(small_kwargs, digits16) -> None:
    det = genad.create("deep-svdd-soft", **small_kwargs).fit(digits16)  # 1 epoch < 10 warm-up
    assert float(det.nets_["svdd"].r) == 0.0


def test_pretraining_loss_is_the_per_image_sum_averaged_over_the_batch() -> None:
    x = torch.zeros(2, 1, 2, 2)
    x_rec = torch.tensor([[[[1.0, 2.0], [0.0, 0.0]]], [[[3.0, 0.0], [0.0, 0.0]]]])
    # image 0: 1 + 4 = 5, image 1: 9; their mean 7 (the per-pixel mean would be 14 / 8)
    assert float(pretrain_loss(x_rec, x)) == pytest.approx(7.0)
    assert float(pretrain_loss(x_rec + 5, x + 5)) == pytest.approx(7.0)


def test_fit_pretrains_with_the_authors_loss_and_schedule(small_kwargs, digits16,
                                                          monkeypatch) -> None:
    seen = {}
    real = deep_svdd.pretrain_autoencoder
    monkeypatch.setattr(deep_svdd, "pretrain_autoencoder",
                        lambda *a, **kw: (seen.update(kw), real(*a, **kw))[1])
    genad.create("deep-svdd", **small_kwargs).fit(digits16)
    assert seen["loss"] is pretrain_loss
    assert (seen["lr_milestone"], seen["weight_decay"], seen["lr"]) == (50, 0.5e-3, 1e-4)


def test_pretraining_lr_drops_tenfold_at_its_milestone(digits16) -> None:
    x = digits16.float() / 127.5 - 1  # 64 images: 2 steps an epoch
    det = genad.create("deep-svdd", image_size=16, width=8, batch_size=32).for_data(x)
    det.setup(1)
    lrs = []
    pre = None

    def loss(x_rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        lrs.append(pre.optimizers_["ae"].param_groups[0]["lr"])
        return pretrain_loss(x_rec, x)

    pre = _AutoencoderPretraining(det.nets_["encoder"], DCDecoder(16, 1, 32, 8), 1e-3, 0.0,
                                  loss, 2, image_size=16, epochs=3, batch_size=32, seed=0)
    pre.channels_, pre.device_ = 1, det.device_
    pre.nets_ = {"ae": pre._net}
    pre.optimizers_ = pre.optimizers()
    pre.train(x)
    assert lrs == pytest.approx([1e-3] * 4 + [1e-4] * 2)  # epochs 0, 1; then 2 >= milestone


def _named(name: str):
    return dataclasses.replace(genad.data.load("digits", size=8), name=name)


@pytest.mark.parametrize(("name", "want"), [
    # README commands: rep_dim (the LeNets), --ae_n_epochs, --ae_lr_milestone,
    # --ae_weight_decay; GCN + min-max for both data sets (datasets/mnist.py, cifar10.py)
    ("cifar10-train", (128, 350, 250, 0.5e-6, "gcn")),
    ("mnist-train", (32, 150, 50, 0.5e-3, "gcn")),
    ("tiles", (32, 150, 50, 0.5e-3, "none")),
])
def test_settings_follow_the_data_set(name, want) -> None:
    c = genad.create("deep-svdd").for_data(_named(name)).config
    assert (c.rep_dim, c.pretrain_epochs, c.pretrain_lr_milestone, c.pretrain_weight_decay,
            c.preprocess) == want
    # shared by both commands
    assert (c.epochs, c.batch_size, c.lr, c.lr_milestone, c.weight_decay, c.pretrain_lr) == (
        150, 200, 1e-4, 50, 0.5e-6, 1e-4)


def test_user_values_are_kept_and_pretraining_scales_with_epochs() -> None:
    c = genad.create("deep-svdd", rep_dim=64, preprocess="none", pretrain_epochs=5,
                     epochs=3).for_data(_named("cifar10-train")).config
    assert (c.rep_dim, c.preprocess, c.pretrain_epochs, c.pretrain_weight_decay) == (
        64, "none", 5, 0.5e-6)
    assert genad.create("deep-svdd", epochs=3).for_data(_named("cifar10-train")).config \
        .pretrain_epochs == 7  # 350 / 150 x 3
    assert genad.create("deep-svdd", epochs=3).for_data(_named("mnist-train")).config \
        .pretrain_epochs == 3


def test_fit_on_cifar10_uses_its_settings(small_kwargs) -> None:
    data = dataclasses.replace(genad.data.load("digits", size=16), name="cifar10-train")
    det = genad.create("deep-svdd", **small_kwargs).fit(data.subset(range(48)))
    assert det.config.rep_dim == 128 and det.nets_["svdd"].c.shape == (128,)
    assert len(det.pretrain_history_) == 2  # 350 / 150 x 1 epoch, rounded
    assert det.config.preprocess == "gcn"
