"""AnoGAN and f-AnoGAN (models/anogan.py): AnoGAN's latent search and both scores in closed
form. (The detector contract is checked for them, as for every registered model, in
test_contract.py; that they learn the digits, in test_learning.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genad
from genad.models.anogan import _EncoderPhase
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
def test_f_anogan_config_defaults_are_the_authors() -> None:
    """tSchlegl/f-AnoGAN: wgangp_64x64.py (GAN), z_encoding_izif.py (encoder)."""
    c = genad.create("f-anogan").config
    official = {"arch": "resnet", "latent": 128, "width": 64, "epochs": 7, "batch_size": 64,
                "lr": 1e-4, "beta1": 0.0, "beta2": 0.9, "gp_lambda": 10.0, "n_critic": 5,
                "kappa": 1.0, "encoder_lr": 5e-5, "z_reg": "tanh_fc"}
    assert {k: getattr(c, k) for k in official} == official


def test_f_anogan_resnet_plan_at_64_px() -> None:
    """Their 64x64 plan at DIM = d: critic 3x3 conv to d, blocks to 2d, 4d, 8d, 8d, layer norm
    (no batch norm), linear on the 8d x 4 x 4 map; generator mirrored, batch norm."""
    det = genad.create("f-anogan", image_size=64, width=4)
    nets = det.build(1)
    d, g, e = nets["d"], nets["g"], nets["e"]
    blocks = [b.conv2.out_channels for b in d.features.net[1:]]
    assert d.features.net[0].out_channels == 4 and blocks == [8, 16, 32, 32]
    assert d.head.in_features == 32 * 16
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in d.modules())
    assert any(isinstance(m, torch.nn.GroupNorm) and m.num_groups == 1 for m in d.modules())
    assert [b.conv2.out_channels for b in g.blocks] == [32, 16, 8, 4]
    assert g.input.out_features == 32 * 16
    assert any(isinstance(m, torch.nn.BatchNorm2d) for m in e.modules())
    z = torch.randn(2, 128)
    assert g(z).shape == (2, 1, 64, 64) and e(g(z)).shape == (2, 128)
    score, feats = d(g(z))
    assert score.shape == (2,) and feats.shape == (2, 32, 4, 4)


@pytest.mark.parametrize("arch", ["resnet", "dcgan"])
def test_f_anogan_codes_lie_in_the_open_unit_interval(arch, digits) -> None:
    det = genad.create("f-anogan", **{**SMALL, "arch": arch})
    det.setup(1)
    x = det.prepare(digits[:16])
    _eval(det)
    head = det.nets_["e"].head
    with torch.no_grad():
        head.weight.mul_(4 / det.nets_["e"](x).abs().max())  # raw codes up to +-4 (bias 0)
        raw, z = det.nets_["e"](x), det.encode(x)
    assert raw.abs().max() > 1
    assert z.shape == (16, det.config.latent) and z.abs().max() < 1
    torch.testing.assert_close(z, torch.tanh(raw))
    unconstrained = genad.create("f-anogan", **{**SMALL, "arch": arch, "z_reg": "none"})
    unconstrained.nets_ = det.nets_
    torch.testing.assert_close(unconstrained.encode(x), raw)


def _state(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    """Parameters and buffers (batch-norm statistics), copied."""
    return {k: v.detach().clone() for k, v in net.state_dict().items()}


def _same(a: dict, b: dict) -> bool:
    return all(torch.equal(a[k], b[k]) for k in a)


def test_f_anogan_trains_the_gan_then_the_encoder(digits) -> None:
    """Phase 1 leaves E as it was built; phase 2 changes only E, G in inference mode (so not
    even G's batch-norm statistics move)."""
    fresh = genad.create("f-anogan", **SMALL)
    fresh.setup(1)
    det = genad.create("f-anogan", **{**SMALL, "encoder_epochs": 0}).fit(digits)
    assert det.encoder_history_ == []
    assert _same(_state(fresh.nets_["e"]), _state(det.nets_["e"]))
    assert not _same(_state(fresh.nets_["g"]), _state(det.nets_["g"]))
    assert not _same(_state(fresh.nets_["d"]), _state(det.nets_["d"]))

    g, d, e = (_state(det.nets_[k]) for k in "gde")
    for net in det.nets_.values():
        net.train()  # as the engine leaves them after phase 1
    phase = _EncoderPhase(det, image_size=16, epochs=2, batch_size=16, seed=0, device="cpu")
    history = phase.train(det.prepare(digits))
    assert len(history) == 2 and history[0]["izif"] > 0
    assert _same(g, _state(det.nets_["g"])) and _same(d, _state(det.nets_["d"]))
    assert not _same(e, _state(det.nets_["e"]))
    assert all(p.requires_grad for k in "gd" for p in det.nets_[k].parameters())

    both = genad.create("f-anogan", **SMALL).fit(digits)  # encoder_epochs None = epochs
    assert len(both.history_) == len(both.encoder_history_) == SMALL["epochs"]


def test_f_anogan_optimisers() -> None:
    det = genad.create("f-anogan", **SMALL)
    det.setup(1)
    for k in ("g", "d"):
        opt = det.optimizers_[k]
        assert isinstance(opt, torch.optim.Adam)
        assert opt.defaults["lr"] == 1e-4 and opt.defaults["betas"] == (0.0, 0.9)
    assert set(det.optimizers_) == {"g", "d"}  # E has its own, in phase 2
    phase = _EncoderPhase(det, image_size=16, epochs=1, batch_size=16, seed=0, device="cpu")
    opt = phase.optimizers_["e"]
    assert isinstance(opt, torch.optim.RMSprop)
    assert opt.defaults["lr"] == 5e-5 and opt.defaults["alpha"] == 0.9
    assert opt.defaults["momentum"] == 0
    assert {id(p) for p in opt.param_groups[0]["params"]} == {
        id(p) for p in det.nets_["e"].parameters()}


def test_f_anogan_score_is_izif_loss(digits) -> None:
    """A(x) = mean_pixels (x - G(tanh E(x)))^2 + kappa * mean_features (f(x) - f(G(.)))^2,
    per image (anomaly_detection.py, dual_iloss)."""
    det = genad.create("f-anogan", **{**SMALL, "kappa": 0.5}).fit(digits)
    x = det.prepare(digits[:6])
    _eval(det)
    with torch.no_grad():
        x_hat = det.nets_["g"](torch.tanh(det.nets_["e"](x)))
        f_x, f_hat = det.nets_["d"](x)[1], det.nets_["d"](x_hat)[1]
    expected = [
        ((x[i] - x_hat[i]) ** 2).sum() / x[i].numel()
        + 0.5 * ((f_x[i] - f_hat[i]) ** 2).sum() / f_x[i].numel()
        for i in range(6)
    ]
    np.testing.assert_allclose(det.decision_function(digits[:6]),
                               torch.stack(expected).numpy(), rtol=1e-5)
