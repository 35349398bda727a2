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
from genad.models.egbad import EGBADConfig, EGBADDiscriminator, EGBADEncoder, egbad_score
from genad.models.gan_common import ema_update
from genad.nn import DCEncoder
from genad.nn.gan import InfoGANGenerator
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


# ---- arch="official": the authors' MNIST networks (bigan/mnist_utilities.py) -----------------

def _official_nets(size: int = 28):
    return (EGBADEncoder(size, 1, 200), InfoGANGenerator(size, 1, 200),
            EGBADDiscriminator(size, 1, 200, official=True))


def test_official_networks_have_the_authors_trainable_variables() -> None:
    """Counted by hand from mnist_utilities.py at 28 px, latent 200 (kernels + biases, and
    BatchNorm's gamma and beta): E conv3x3 1->32, conv3x3 s2 32->64 + BN, conv3x3 s2 64->128 +
    BN, dense 7*7*128 -> 200; G dense 200->1024 + BN, dense 1024->7*7*128 + BN, deconv4 s2
    128->64 + BN, deconv4 s2 64->1; D conv4 s2 1->64, conv4 s2 64->64 + BN, dense 200->512,
    dense (7*7*64 + 512)->1024, dense 1024->1."""
    e, g, d = _official_nets()
    count = {k: sum(p.numel() for p in n.parameters()) for k, n in zip("egd", (e, g, d))}
    assert count["e"] == 320 + 18_496 + 128 + 73_856 + 256 + 1_254_600
    assert count["g"] == 205_824 + 2_048 + 6_428_800 + 12_544 + 131_136 + 128 + 1_025
    assert count["d"] == 1_088 + 65_600 + 128 + 102_912 + 3_736_576 + 1_025
    x = torch.rand(3, 1, 28, 28) * 2 - 1
    z = e(x)
    assert z.shape == (3, 200) and g(z).shape == (3, 1, 28, 28)
    logit, f = d(x, z)
    assert logit.shape == (3,) and f.shape == (3, 1024)


def test_official_encoder_pads_stride_two_as_tensorflow_same() -> None:
    """TF's SAME on an even side with a 3x3 stride-2 kernel pads one row/column at the bottom
    right only: output pixel (0, 0) sees input rows/columns 0-2 (PyTorch's padding=1 would see
    -1..1), so an impulse at (2, 2) reaches it."""
    conv = EGBADEncoder(28, 1, 4).net[2]
    assert isinstance(conv, nn.Conv2d) and conv.stride == (2, 2) and conv.padding == (0, 0)
    stage = EGBADEncoder(28, 1, 4).net[1:3]
    with torch.no_grad():
        stage[1].weight.fill_(1.0)
        stage[1].bias.zero_()
        x = torch.zeros(1, stage[1].in_channels, 28, 28)
        x[..., 2, 2] = 1.0
        y = stage(x)
    assert y.shape[-2:] == (14, 14)
    assert y[0, 0, 0, 0] > 0 and y[0, 0, 1, 1] > 0 and y[0, 0, 0, 2] == 0


def test_official_arch_is_built_with_tensorflows_batchnorm() -> None:
    det = genad.create("egbad", **{**SMALL, "arch": "official"})
    det.setup(1)
    assert isinstance(det.nets_["e"], EGBADEncoder)
    assert isinstance(det.nets_["g"], InfoGANGenerator)
    norms = [m for k in ("e", "g", "d", "e_ema") for m in det.nets_[k].modules()
             if isinstance(m, nn.modules.batchnorm._BatchNorm)]
    assert len(norms) == 2 + 3 + 1 + 2
    assert all((m.momentum, m.eps) == (0.01, 1e-3) for m in norms)
    dcgan = genad.create("egbad", **SMALL)  # the default keeps genad's DCGAN plan
    dcgan.setup(1)
    assert isinstance(dcgan.nets_["e"], DCEncoder)
    with pytest.raises(ConfigError, match="arch"):
        genad.create("egbad", arch="bigan")


def test_official_arch_fits_scores_and_reloads(digits, tmp_path) -> None:
    det = genad.create("egbad", **{**SMALL, "arch": "official"}).fit(digits)
    det.save(tmp_path / "m")
    back = genad.load(tmp_path / "m")
    assert back.config.arch == "official"
    np.testing.assert_array_equal(back.decision_function(digits[:8]),
                                  det.decision_function(digits[:8]))
