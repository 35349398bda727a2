"""EGBAD (models/egbad.py): its score in closed form, and that the detector scores with the
moving averages of its networks, as the authors' code (bigan/run_mnist.py) does. (The
contract is in test_contract.py; that it learns the digits, in test_learning.py.)"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from torch import nn

import genad
from genad.errors import ConfigError
from genad.models.egbad import EGBADConfig, EGBADDiscriminator, egbad_score
from genad.models.gan_common import ema_update
from tests.conftest import SMALL
from tests.models.conftest import _eval


def test_egbad_score_formula() -> None:
    x = torch.zeros(2, 1, 2, 2)
    x_rec = torch.tensor([1.0, -1.0, 0.5, 0.0]).view(1, 1, 2, 2).repeat(2, 1, 1, 1)
    x_rec[1] = 0  # a perfect reconstruction
    f_real, f_rec = torch.zeros(2, 3), torch.tensor([[1.0, 2.0, -3.0], [0.0, 0.0, 4.0]])
    # L_G = ||.||_1 = 2.5 and 0; L_D = 6 and 4; divided by the 4 pixels
    for alpha in (0.9, 0.5, 1.0):
        s = egbad_score(x, x_rec, f_real, f_rec, alpha)
        expected = torch.tensor([alpha * 2.5 + (1 - alpha) * 6, (1 - alpha) * 4]) / 4
        torch.testing.assert_close(s, expected)


def _score_with(det, x: torch.Tensor, suffix: str) -> np.ndarray:
    n = det.nets_
    e, g, d = n["e" + suffix], n["g" + suffix], n["d" + suffix]
    with torch.no_grad():
        z = e(x)
        x_rec = g(z)
        return egbad_score(x, x_rec, d(x, z)[1], d(x_rec, z)[1], 0.9).numpy()


def test_egbad_detector_scores_with_the_moving_averages(digits) -> None:
    det = genad.create("egbad", **{**SMALL, "lr": 1e-3, "epochs": 3}).fit(digits)
    x = det.prepare(digits[:5])
    _eval(det)
    scores = det.decision_function(digits[:5])
    np.testing.assert_allclose(scores, _score_with(det, x, "_ema"), rtol=1e-5)
    # nine steps at decay 0.999 leave the averages near the initial weights: the trained
    # weights score otherwise (measured: by 8e-3, against 1e-5 of float noise)
    assert np.abs(scores - _score_with(det, x, "")).max() > 1e-3
    np.testing.assert_allclose(
        det.reconstruction(digits[:5]),
        det.nets_["g_ema"](det.nets_["e_ema"](x)).detach().numpy(), rtol=1e-5, atol=1e-6)


def test_ema_update_is_tensorflows_moving_average() -> None:
    det = genad.create("egbad", **{**SMALL, "ema_decay": 0.999})
    det.setup(1)
    for k in ("e", "g", "d"):  # the averages start at the initial weights
        for p_ema, p in zip(det.nets_[k + "_ema"].parameters(), det.nets_[k].parameters()):
            assert torch.equal(p_ema, p) and not p_ema.requires_grad
    before = {k: copy.deepcopy(det.nets_[k + "_ema"]) for k in ("e", "g", "d")}
    det.train_step(torch.rand(16, 1, 16, 16) * 2 - 1)
    for k in ("e", "g", "d"):
        ema, net = det.nets_[k + "_ema"], det.nets_[k]
        moved = False
        for p_old, p_ema, p in zip(before[k].parameters(), ema.parameters(), net.parameters()):
            # shadow -= (1 - decay) * (shadow - variable)
            torch.testing.assert_close(p_ema, p_old - 0.001 * (p_old - p))
            moved |= not torch.equal(p_old, p_ema)
        assert moved
        for b_ema, b in zip(ema.buffers(), net.buffers()):  # BatchNorm statistics copied
            assert torch.equal(b_ema, b)


def test_ema_update_with_decay_zero_copies() -> None:
    ema, net = nn.Linear(3, 2), nn.Linear(3, 2)
    ema_update(ema, net, 0.0)
    assert torch.equal(ema.weight, net.weight) and torch.equal(ema.bias, net.bias)
    with pytest.raises(ConfigError):
        genad.create("egbad", ema_decay=1.0)


def test_egbad_defaults_are_the_authors() -> None:
    c = EGBADConfig()
    # bigan/mnist_utilities.py: batch_size, latent_dim, learning_rate, leakyReLu alpha, the
    # z layer 512 and the joint layer 1024; run_mnist.py: beta1 0.5, ema_decay 0.999
    assert (c.batch_size, c.latent, c.lr, c.beta1, c.slope) == (100, 200, 1e-5, 0.5, 0.1)
    assert (c.ema_decay, c.hidden, c.alpha) == (0.999, 512, 0.9)


def test_egbad_leaky_relu_slope_and_dropout_placement() -> None:
    det = genad.create("egbad", **SMALL)
    det.setup(1)
    for k in ("e", "d"):
        slopes = {m.negative_slope for m in det.nets_[k].modules() if isinstance(m, nn.LeakyReLU)}
        assert slopes == {0.1}, k
    d = EGBADDiscriminator(16, 1, 20, width=8, hidden=32)
    # dropout right after every LeakyReLU: two image stages, the z layer, the joint layer
    mods = [m for m in d.modules() if not isinstance(m, nn.Sequential)]
    follows = [type(mods[i + 1]) for i, m in enumerate(mods) if isinstance(m, nn.LeakyReLU)]
    assert follows == [nn.Dropout] * 4


def test_egbad_save_load_keeps_the_moving_averages(digits, tmp_path) -> None:
    det = genad.create("egbad", **SMALL).fit(digits)
    det.save(tmp_path / "m")
    back = genad.load(tmp_path / "m")
    for k in ("e_ema", "g_ema", "d_ema"):
        for (name, t), t2 in zip(det.nets_[k].state_dict().items(),
                                 back.nets_[k].state_dict().values()):
            assert torch.equal(t, t2), (k, name)
    np.testing.assert_array_equal(back.decision_function(digits[:8]),
                                  det.decision_function(digits[:8]))
