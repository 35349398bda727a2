"""OCGAN (models/ocgan.py): the authors' settings, bounded codes, mined negatives from the
start epoch on, the loss weights and the noisy test input. (The contract is in
test_contract.py; that it learns the digits, in test_learning.py.)"""

from __future__ import annotations

import dataclasses

import pytest
import torch

import genad
from genad.models.ocgan import OCGANConfig, image_noise
from tests.conftest import SMALL
from tests.models.conftest import _eval


def test_defaults_are_the_authors_mnist_command_for_every_data_set() -> None:
    c = OCGANConfig()
    assert (c.latent, c.width, c.d_width, c.noise_std) == (16, 64, 12, 0.2)
    assert (c.epochs, c.batch_size, c.lr, c.beta1) == (200, 512, 2e-4, 0.5)
    assert (c.w_mse, c.w_latent) == (10.0, 10.0)
    assert (c.mining_start_epoch, c.mining_steps, c.mining_lr) == (150, 1, 2.0)
    assert c.score_noise
    # the authors' code has no CIFAR-10 setting: the data set changes nothing
    data = genad.data.load("digits", size=8)
    for name in ("mnist-train", "cifar10-train", "tiles"):
        det = genad.create("ocgan").for_data(dataclasses.replace(data, name=name))
        assert det.config.latent == 16


def test_codes_and_mined_negatives_stay_in_the_box(digits) -> None:
    det = genad.create("ocgan", **SMALL).fit(digits)
    _eval(det)
    wild = torch.randn(8, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 100
    with torch.no_grad():
        codes = det.encode(torch.cat([det.prepare(digits[:8]), wild]))
    assert codes.shape == (16, det.config.latent)
    assert codes.abs().max() <= 1
    mu = torch.rand(16, det.config.latent, generator=torch.Generator().manual_seed(1)) * 6 - 3
    with torch.enable_grad():
        mined = det.mine(mu)
    assert mined.abs().max() < 1 and not torch.equal(mined, torch.tanh(mu))
    # the mined codes are ones the classifier finds *less* real than where they started
    with torch.no_grad():
        c = det.nets_["c"]
        before = c(det.nets_["ae"].decode(torch.tanh(mu)))[0]
        after = c(det.nets_["ae"].decode(mined))[0]
    assert after.mean() < before.mean()


def _classifier_calls(det, x: torch.Tensor) -> int:
    calls = []
    hook = det.nets_["c"].register_forward_hook(lambda *_: calls.append(1))
    for net in det.nets_.values():
        net.train()
    det.train_step(x)
    hook.remove()
    return len(calls)


@pytest.mark.parametrize("steps", [1, 3])
def test_mining_starts_at_its_epoch_with_its_number_of_steps(digits, steps) -> None:
    det = genad.create("ocgan", **{**SMALL, "epochs": 2}, mining_start_epoch=1,
                      mining_steps=steps).fit(digits)
    assert [h["mining"] for h in det.history_] == [0.0, 1.0]  # epoch 0: none; epoch 1: all
    x = det.prepare(digits[:16])
    progress = det.nets_["progress"]
    progress.steps.fill_(0)  # epoch 0: C sees the reconstructions and the random decodings
    assert _classifier_calls(det, x) == 2
    progress.steps.fill_(det.steps_per_epoch_)  # epoch 1: and each mining step's decodings
    assert _classifier_calls(det, x) == 2 + steps


def test_autoencoder_loss_weights_are_the_authors(digits) -> None:
    det = genad.create("ocgan", **SMALL).fit(digits)
    losses = {}
    optimize = det.optimize
    det.optimize = lambda loss, opt, **kw: (losses.__setitem__(opt, loss.detach()),
                                            optimize(loss, opt, **kw))
    out = det.train_step(det.prepare(digits[:16]))
    # lambda1 10 on gluon's L2Loss (0.5 x MSE), 10 on the latent term, 1 on the visual one
    want = 10 * 0.5 * out["mse"] + 10 * out["adv_latent"] + out["adv_visual"]
    assert float(losses["ae"]) == pytest.approx(float(want), rel=1e-5)


def test_score_reconstructs_a_noisy_input_as_the_authors_test(digits) -> None:
    det = genad.create("ocgan", **SMALL).fit(digits)
    x = det.prepare(digits[:8])
    noise = image_noise(x, 0.2, det.config.seed)
    assert 0.15 < float(noise.std()) < 0.25
    torch.testing.assert_close(det.scoring_input(x), x + noise)
    # with an identity "autoencoder" the score is the noise's own mean square
    det.reconstruct = lambda z: z
    s = det.decision_function(digits[:8])
    torch.testing.assert_close(torch.from_numpy(s).float(), noise.pow(2).flatten(1).mean(1))
    det.rescore(digits, score_noise=False)  # the paper's plain reconstruction error: 0 here
    assert (det.decision_function(digits[:8]) == 0).all()
    # each image keeps its noise at any position in any batch
    torch.testing.assert_close(image_noise(x[[3, 1]], 0.2, 0)[0], image_noise(x, 0.2, 0)[3])
