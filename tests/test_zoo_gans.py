"""The GAN zoo: AnoGAN, f-AnoGAN, EGBAD, ALOCC, OCGAN. Their parts that can be checked in
closed form, and that each learns the bundled digits. (The detector contract is checked for
them, as for every registered model, in test_models.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import genad
from genad.metrics import auroc
from genad.models.egbad import egbad_score
from genad.models.gan_common import gradient_penalty

SMALL = {"image_size": 16, "width": 8, "epochs": 1, "batch_size": 16, "seed": 0}


@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return genad.data.load("digits", size=16).images[:64].clone()


@pytest.fixture(scope="module")
def anogan(digits):
    return genad.create("anogan", **{**SMALL, "epochs": 2}).fit(digits)


def _eval(det) -> None:
    for net in det.nets_.values():
        net.eval()


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
class _Linear(nn.Module):
    """A linear critic w . x: its gradient is w everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (x * self.w).flatten(1).sum(1), x


@pytest.mark.parametrize("norm", [0.0, 1.0, 3.0])
def test_gradient_penalty_of_a_linear_critic(norm) -> None:
    w = torch.randn(1, 4, 4, generator=torch.Generator().manual_seed(0))
    w = w / w.norm() * norm
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    gp = gradient_penalty(_Linear(w), real, fake)
    assert gp.item() == pytest.approx((norm - 1) ** 2, abs=1e-5)
    gp.backward()  # and it trains the critic (create_graph)


def test_f_anogan_score_is_izif_loss(digits) -> None:
    det = genad.create("f-anogan", **SMALL).fit(digits)
    x = det.prepare(digits[:6])
    _eval(det)
    with torch.no_grad():
        x_hat = det.nets_["g"](det.nets_["e"](x))
        f_x, f_hat = det.nets_["d"](x)[1], det.nets_["d"](x_hat)[1]
    expected = (x - x_hat).pow(2).flatten(1).mean(1) + (f_x - f_hat).pow(2).flatten(1).mean(1)
    np.testing.assert_allclose(det.decision_function(digits[:6]), expected.numpy(), rtol=1e-5)


# ---- EGBAD ------------------------------------------------------------------------------------
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


def test_egbad_detector_scores_with_its_networks(digits) -> None:
    det = genad.create("egbad", **SMALL).fit(digits)
    x = det.prepare(digits[:5])
    _eval(det)
    with torch.no_grad():
        z = det.nets_["e"](x)
        x_rec = det.nets_["g"](z)
        expected = egbad_score(x, x_rec, det.nets_["d"](x, z)[1], det.nets_["d"](x_rec, z)[1], 0.9)
    np.testing.assert_allclose(det.decision_function(digits[:5]), expected.numpy(), rtol=1e-5)


# ---- ALOCC ------------------------------------------------------------------------------------
def test_alocc_score_ranks_as_one_minus_d_of_r(digits) -> None:
    det = genad.create("alocc", **{**SMALL, "epochs": 3}).fit(digits)
    x = det.prepare(digits)
    _eval(det)
    with torch.no_grad():
        d_of_r = torch.sigmoid(det.nets_["d"](det.nets_["r"](x))[0].double())
    s = det.decision_function(digits)
    np.testing.assert_allclose(1 / (1 + np.exp(s)), d_of_r.numpy(), rtol=1e-5)  # s = -logit


# ---- OCGAN ------------------------------------------------------------------------------------
def test_ocgan_codes_and_mined_negatives_stay_in_the_box(digits) -> None:
    det = genad.create("ocgan", **SMALL).fit(digits)
    _eval(det)
    wild = torch.randn(8, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 100
    with torch.no_grad():
        codes = det.encode(torch.cat([det.prepare(digits[:8]), wild]))
    assert codes.shape == (16, det.config.latent)
    assert codes.abs().max() <= 1
    start = torch.rand(16, det.config.latent, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.enable_grad():
        mined = det.mine(start)
    assert mined.abs().max() <= 1 and not torch.equal(mined, start)
    # the mined codes are ones the classifier finds *less* real than where they started
    with torch.no_grad():
        c = det.nets_["c"]
        before = c(det.nets_["ae"].decode(start))[0]
        after = c(det.nets_["ae"].decode(mined))[0]
    assert after.mean() < before.mean()


# ---- learning ---------------------------------------------------------------------------------
# Leave-one-out on the bundled digits (one digit anomalous, the other nine normal; 1,291 train,
# 506 test images), seed 0, 16x16. Chance is 0.5 +- 0.027 (one s.d.). Learning rates and
# iteration counts are raised above the papers' (which train for tens of thousands of steps
# on a GPU) so that each model learns in a few CPU epochs; measured AUROC, seed 0, on 2 CPU
# cores shared with other jobs:
#   anogan    digit 5: 0.753 (digit 7: 0.716; digit 3: 0.714 at 8 epochs; digit 0: 0.46)
#   f-anogan  digit 5: 0.871 (digit 3: 0.751); with the WGAN-GP defaults (lr 1e-4,
#             n_critic 5) 6 epochs stay at chance (0.53), the generator has had 86 steps
#   egbad     digit 4, 8 epochs, lr 2e-4, D's z branch 64 wide: seeds 0-3 gave 0.784, 0.705,
#             0.871, 0.669. One seed is not a test of it: at lr 5e-4 seed 0 measured 0.944 on
#             one machine and 0.597 on another (same code, one thread; the BiGAN's path
#             depends on the CPU's float kernels). Another machine gave seeds 0-8: 0.828,
#             0.512, 0.525, 0.781, 0.620, 0.890, 0.702, 0.553, 0.587 (mean of 0-5: 0.693), so
#             the test takes the mean of 6 seeds against a bar of 0.62 (chance 0.5, the s.d.
#             of a 6-seed mean at chance about 0.011).
#             It learns some digits only: 3: 0.674 (10 epochs), 2: 0.666, but 5: 0.453 and
#             7: 0.433 - its L1 residual of BiGAN reconstructions, still poor at this
#             budget, favours digits with little ink. Digit 4 is tested for that reason.
#   alocc     digit 3 at 32x32 / 5 epochs: seed 0 measured 0.735 on one machine and 0.646 on
#             another; seeds 0-2 there: 0.646, 0.835, 0.816, so the test takes their mean
#             (digit 5: 0.43: D's verdict on R(x) is not reliably one-class at this budget)
#   ocgan     digit 5: 0.890 (3 epochs; digit 3: 0.688 at 6 epochs)
LEARNING = [
    ("anogan", 5, 0.70, {"epochs": 5, "width": 16, "search_steps": 20, "search_lr": 0.1}),
    ("f-anogan", 5, 0.70,
     {"epochs": 8, "width": 16, "lr": 5e-4, "encoder_lr": 1e-3, "n_critic": 2}),
    ("egbad", 4, 0.62, {"epochs": 8, "width": 16, "lr": 2e-4, "hidden": 64,
                        "seeds": tuple(range(6))}),
    ("alocc", 3, 0.65, {"epochs": 5, "width": 16, "image_size": 32, "seeds": (0, 1, 2)}),
    ("ocgan", 5, 0.70, {"epochs": 3, "width": 16, "latent": 32}),
]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "cls", "bar", "kw"), LEARNING, ids=[m[0] for m in LEARNING])
def test_zoo_models_learn_digits(name, cls, bar, kw) -> None:
    """Mean AUROC over the entry's seeds (seed 0 alone unless it names them) >= bar."""
    kw = dict(kw)
    seeds = kw.pop("seeds", (0,))
    split = genad.data.load("digits", protocol="leave-one-out", cls=cls, seed=0)
    labels = split.test.labels.numpy()
    aurocs = []
    for seed in seeds:
        det = genad.create(name, **{"image_size": 16, "batch_size": 16, "seed": seed, **kw})
        det.fit(split.train)
        aurocs.append(auroc(labels, det.decision_function(split.test)))
        flagged = det.predict(split.test)
        assert flagged[labels == 0].mean() <= 0.06
    assert np.mean(aurocs) >= bar, aurocs
