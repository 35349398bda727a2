"""ALOCC (models/alocc.py) as the authors' code trains it (khalooei/ALOCC-CVPR2018): its
networks, optimisers, step and score. (The contract is in test_contract.py; that it learns the
digits, in test_learning.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import genad
from genad.models.gan_common import bce
from genad.models.tf_optim import tf_rmsprop
from tests.conftest import SMALL
from tests.models.conftest import _eval


def test_alocc_config_defaults_are_the_authors() -> None:
    """train.py / models.py / kh_tools.py defaults."""
    c = genad.create("alocc").config
    official = {"epochs": 40, "batch_size": 128, "width": 16, "lr": 2e-3, "r_steps": 2,
                "lam": 0.2, "rec_loss": "bce", "noise_std": 0.155, "score_kind": "d"}
    assert {k: getattr(c, k) for k in official} == official


@pytest.mark.parametrize("size", [32, 16])
def test_alocc_refiner_is_fully_convolutional(size) -> None:
    """models.py generator: 5x5 stride-2 convs to 32, 64, 128, deconvs to 32, 16, C; no dense
    layer, output of the input's shape."""
    det = genad.create("alocc", image_size=size)
    r = det.build(1)["r"]
    assert not any(isinstance(m, torch.nn.Linear) for m in r.modules())
    convs = [m for m in r.modules() if isinstance(m, torch.nn.Conv2d)]
    deconvs = [m for m in r.modules() if isinstance(m, torch.nn.ConvTranspose2d)]
    assert [m.out_channels for m in convs] == [32, 64, 128]
    assert [m.out_channels for m in deconvs] == [32, 16, 1]
    assert all(m.kernel_size == (5, 5) and m.stride == (2, 2) for m in convs + deconvs)
    x = torch.rand(3, 1, size, size) * 2 - 1
    assert r(x).shape == x.shape


def test_alocc_discriminator_plan() -> None:
    """models.py discriminator: 5x5 stride-2 convs to 16, 32, 64, 128 (batch norm on the last
    three), a linear logit on the (S/16)^2 x 128 map."""
    d = genad.create("alocc", image_size=32).build(1)["d"]
    convs = [m for m in d.modules() if isinstance(m, torch.nn.Conv2d)]
    assert [m.out_channels for m in convs] == [16, 32, 64, 128]
    assert sum(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules()) == 3
    lin = [m for m in d.modules() if isinstance(m, torch.nn.Linear)]
    assert len(lin) == 1 and lin[0].in_features == 128 * 2 * 2
    assert d(torch.zeros(4, 1, 32, 32)).shape == (4,)


def test_alocc_optimisers_are_rmsprop_at_the_official_lr() -> None:
    det = genad.create("alocc", **SMALL)
    det.setup(1)
    assert set(det.optimizers_) == {"r", "d"}
    for opt in det.optimizers_.values():
        assert isinstance(opt, torch.optim.RMSprop)
        assert opt.defaults["lr"] == 2e-3 and opt.defaults["alpha"] == 0.9
        assert opt.defaults["momentum"] == 0


def test_tf_rmsprop_first_step_is_tensorflows() -> None:
    """TF 1: ms = 0.9 * 1 + 0.1 g^2 (ms starts at 1), w -= lr * g / sqrt(ms + eps)."""
    w = torch.nn.Parameter(torch.tensor([1.0, -2.0]))
    opt = tf_rmsprop([w], lr=0.01)
    g = torch.tensor([0.5, -3.0])
    w.grad = g.clone()
    opt.step()
    expected = torch.tensor([1.0, -2.0]) - 0.01 * g / torch.sqrt(0.9 + 0.1 * g**2)
    torch.testing.assert_close(w.detach(), expected)


def test_alocc_step_is_one_d_update_then_two_r_updates(digits) -> None:
    det = genad.create("alocc", **SMALL)
    det.setup(1)
    det.train_step(det.prepare(digits[:16]))
    first = {k: next(n.parameters()) for k, n in det.nets_.items()}
    steps = {k: int(det.optimizers_[k].state[first[k]]["step"]) for k in ("r", "d")}
    assert steps == {"r": 2, "d": 1}


def test_alocc_losses_are_the_authors(digits) -> None:
    """D: BCE(D(x), 1) + BCE(D(R(x~)), 0); R: BCE(D(R(x~)), 1) + 0.2 * sigmoid cross-entropy
    of R(x~) as logits against the noisy x~ (models.py g_r_loss), x~ = clip(x + 0.155 eta)."""
    det = genad.create("alocc", **SMALL)
    det.setup(1)
    x = det.prepare(digits[:16])
    calls = []
    det.optimize = lambda loss, opt, clip=None: calls.append((opt, loss.detach()))  # no steps
    torch.manual_seed(3)
    det.train_step(x)
    torch.manual_seed(3)
    noisy = (x + 0.155 * torch.randn_like(x)).clamp(-1, 1)
    r, d = det.nets_["r"], det.nets_["d"]
    with torch.no_grad():
        x_rec = r(noisy)
        loss_d = bce(d(x), True) + bce(d(x_rec), False)
        ref = (F.softplus(x_rec) - x_rec * noisy).mean()  # sigmoid_cross_entropy_with_logits
        loss_r = bce(d(x_rec), True) + 0.2 * ref
        to_clean = bce(d(x_rec), True) + 0.2 * (F.softplus(x_rec) - x_rec * x).mean()
    assert [o for o, _ in calls] == ["d", "r", "r"]
    torch.testing.assert_close(calls[0][1], loss_d)
    torch.testing.assert_close(calls[1][1], loss_r)
    torch.testing.assert_close(calls[2][1], loss_r)
    assert not torch.allclose(calls[1][1], to_clean)


def test_alocc_paper_refinement_is_mse_to_the_clean_image(digits) -> None:
    det = genad.create("alocc", **{**SMALL, "rec_loss": "mse"})
    x = torch.rand(2, 1, 16, 16) * 2 - 1
    noisy, x_rec = x + 0.1, torch.tanh(torch.randn(2, 1, 16, 16))
    torch.testing.assert_close(det.refinement_loss(x, noisy, x_rec), ((x - x_rec) ** 2).mean())


def test_alocc_scores_rank_as_one_minus_d(digits) -> None:
    det = genad.create("alocc", **{**SMALL, "epochs": 3}).fit(digits)
    x = det.prepare(digits)
    _eval(det)
    with torch.no_grad():
        d_of_r = torch.sigmoid(det.nets_["d"](det.nets_["r"](x)).double())
        d_of_x = torch.sigmoid(det.nets_["d"](x).double())
    s = det.decision_function(digits)  # the authors' test.py: D on the image itself
    np.testing.assert_allclose(1 / (1 + np.exp(s)), d_of_x.numpy(), rtol=1e-5)  # s = -logit
    det.rescore(digits, score_kind="d_of_r")  # the paper's D(R(x))
    s = det.decision_function(digits)
    np.testing.assert_allclose(1 / (1 + np.exp(s)), d_of_r.numpy(), rtol=1e-5)
