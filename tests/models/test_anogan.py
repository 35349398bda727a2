"""AnoGAN and f-AnoGAN (models/anogan.py): AnoGAN's latent search and both scores in closed
form. (The detector contract is checked for them, as for every registered model, in
test_contract.py; that they learn the digits, in test_learning.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genad
from tests.conftest import SMALL
from tests.models.conftest import _eval


@pytest.fixture(scope="module")
def anogan(digits):
    return genad.create("anogan", **{**SMALL, "epochs": 2}).fit(digits)


# ---- AnoGAN -----------------------------------------------------------------------------------
def test_anogan_latent_search_lowers_the_loss(anogan, digits) -> None:
    x = anogan.prepare(digits[:16])
    _eval(anogan)
    with torch.no_grad():  # as decision_function calls it
        _, before, _ = anogan.latent_search(x, steps=0)
        z, after, _ = anogan.latent_search(x)
        _, longer, _ = anogan.latent_search(x, steps=3 * anogan.config.search_steps)
    assert z.shape == (16, anogan.config.latent)
    assert (after < before).all(), "every image's loss must fall"
    assert longer.mean() <= after.mean()
    for p in list(anogan.nets_["g"].parameters()) + list(anogan.nets_["d"].parameters()):
        assert p.requires_grad, "the search must unfreeze G and D when done"


def test_anogan_search_is_independent_of_batch_composition(anogan, digits) -> None:
    """z of one image follows only its own loss: alone, in a batch, or among other images."""
    x = anogan.prepare(digits[:12])
    _eval(anogan)
    with torch.no_grad():
        z_all, loss_all, _ = anogan.latent_search(x)
        z_one, loss_one, _ = anogan.latent_search(x[3:4])
        z_mix, loss_mix, _ = anogan.latent_search(torch.cat([x[7:], x[3:4]]))
    torch.testing.assert_close(z_one[0], z_all[3], rtol=0, atol=1e-5)
    torch.testing.assert_close(loss_one[0], loss_all[3], rtol=0, atol=1e-6)
    torch.testing.assert_close(loss_mix[-1], loss_all[3], rtol=0, atol=1e-6)


def test_anogan_score_is_the_weighted_loss_at_the_found_z(anogan, digits) -> None:
    x = anogan.prepare(digits[:4])
    _eval(anogan)
    with torch.no_grad():
        z, loss, x_hat = anogan.latent_search(x)
        f_x, f_hat = anogan.nets_["d"](x)[1], anogan.nets_["d"](x_hat)[1]
    lam = anogan.config.lam
    res = (x - x_hat).abs().flatten(1).sum(1)
    disc = (f_x - f_hat).abs().flatten(1).sum(1)
    torch.testing.assert_close(loss, ((1 - lam) * res + lam * disc) / x[0].numel())


# ---- f-AnoGAN ---------------------------------------------------------------------------------
def test_f_anogan_score_is_izif_loss(digits) -> None:
    det = genad.create("f-anogan", **SMALL).fit(digits)
    x = det.prepare(digits[:6])
    _eval(det)
    with torch.no_grad():
        x_hat = det.nets_["g"](det.nets_["e"](x))
        f_x, f_hat = det.nets_["d"](x)[1], det.nets_["d"](x_hat)[1]
    expected = (x - x_hat).pow(2).flatten(1).mean(1) + (f_x - f_hat).pow(2).flatten(1).mean(1)
    np.testing.assert_allclose(det.decision_function(digits[:6]), expected.numpy(), rtol=1e-5)
