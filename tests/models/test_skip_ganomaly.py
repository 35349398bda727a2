"""Skip-GANomaly (models/skip_ganomaly.py) against the authors' code (samet-akcay/skip-ganomaly):
the discriminator's shapes, D's loss with the latent term, the score, the defaults. (The
contract is in test_contract.py; that it learns the digits, in test_learning.py.)"""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import genad
from genad.models.skip_ganomaly import SkipDiscriminator, SkipGANomalyConfig
from tests.conftest import SMALL
from tests.models.conftest import _eval


@pytest.mark.parametrize(("size", "channels"), [(32, 3), (16, 1)])
def test_discriminator_features_are_the_final_conv_output(size, channels) -> None:
    d = SkipDiscriminator(size, channels, nz=100, width=8)
    logit, f = d(torch.randn(4, channels, size, size))
    assert f.shape == (4, 100, 1, 1)  # BasicDiscriminator's `feat`, ending in Conv2d(., nz, 4)
    assert logit.shape == (4,)
    conv = d.classifier  # its `clas`: Conv2d(nz, 1, 3, 1, 1, bias=False)
    assert (conv.in_channels, conv.out_channels, conv.kernel_size, conv.padding) == (
        100, 1, (3, 3), (1, 1)) and conv.bias is None


def test_defaults_are_the_authors() -> None:
    c = SkipGANomalyConfig()
    # options.py: lr, beta1, w_adv, w_con, w_lat, nz, ngf, batchsize; run_cifar.sh: --niter 25
    assert (c.lr, c.beta1, c.w_adv, c.w_con, c.w_lat) == (2e-4, 0.5, 1.0, 50.0, 1.0)
    assert (c.latent, c.width, c.batch_size, c.epochs, c.score_lambda) == (100, 64, 64, 25, 0.9)


def test_discriminator_loss_has_the_latent_term() -> None:
    det = genad.create("skip-ganomaly", **{**SMALL, "w_lat": 3.0})
    det.setup(1)
    x = torch.rand(8, 1, 16, 16) * 2 - 1
    g0, d0 = copy.deepcopy(det.nets_["g"]), copy.deepcopy(det.nets_["d"])
    losses = det.train_step(x)
    with torch.no_grad():  # the same nets before the step, in training mode as the step was
        x_hat = g0(x)
        p_real, f_real = d0(x)
        p_fake, f_fake = d0(x_hat)
        bce_real = F.binary_cross_entropy_with_logits(p_real, torch.ones_like(p_real))
        bce_fake = F.binary_cross_entropy_with_logits(p_fake, torch.zeros_like(p_fake))
        lat = (f_real - f_fake).pow(2).mean()
    assert lat > 1e-4  # the term is there to be seen
    torch.testing.assert_close(losses["d"], bce_real + bce_fake + 3.0 * lat)
    torch.testing.assert_close(losses["lat"], lat)


def test_score_is_lambda_weighted_mean_rec_and_lat(digits) -> None:
    det = genad.create("skip-ganomaly", **SMALL).fit(digits)
    x = det.prepare(digits[:5])
    _eval(det)
    with torch.no_grad():
        x_hat = det.nets_["g"](x)
        f_real, f_fake = det.nets_["d"](x)[1], det.nets_["d"](x_hat)[1]
        rec = (x - x_hat).pow(2).mean((1, 2, 3))
        lat = (f_real - f_fake).pow(2).mean((1, 2, 3))
    np.testing.assert_allclose(det.decision_function(digits[:5]), (0.9 * rec + 0.1 * lat).numpy(),
                               rtol=1e-5)
