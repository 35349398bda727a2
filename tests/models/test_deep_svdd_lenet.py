"""Deep SVDD with the authors' LeNets (arch="lenet", genad/nn/lenet.py): the networks' sizes
against lukasruff/Deep-SVDD-PyTorch (src/networks/mnist_LeNet.py, cifar10_LeNet.py), a
bias-free phi, the matching pre-training decoder and loss, fit / score / save / load."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import genad
from genad.errors import ConfigError
from genad.models import deep_svdd
from genad.models.deep_svdd import pretrain_loss, pretrain_loss_01
from genad.nn.lenet import (
    CIFAR10LeNetDecoder,
    MNISTLeNetDecoder,
    lenet_autoencoder,
    lenet_decoder,
    lenet_encoder,
)

LENET = {"arch": "lenet", "image_size": 32, "epochs": 1, "batch_size": 16, "seed": 0}


def n_params(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


@pytest.fixture(scope="module")
def digits32() -> torch.Tensor:
    """(48, 1, 32, 32) uint8: the first 48 bundled digits at 32x32."""
    return genad.data.load("digits", size=32).images[:48].clone()


def test_mnist_lenet_has_the_official_parameter_count_at_28_px() -> None:
    # MNIST_LeNet: conv1 1->8 5x5 = 1*8*25 = 200; conv2 8->4 5x5 = 8*4*25 = 800;
    # fc1 (4*7*7 = 196) -> 32 = 6272; no biases, BatchNorm affine=False: 7272
    assert n_params(lenet_encoder(28, 1, 32)) == 200 + 800 + 196 * 32 == 7272
    # MNIST_LeNet_Autoencoder adds deconv1 2->4 = 2*4*25 = 200, deconv2 4->8 = 800,
    # deconv3 8->1 = 200: 7272 + 1200 = 8472
    ae = lenet_autoencoder(28, 1, 32)
    assert n_params(ae) == 7272 + 200 + 800 + 200 == 8472
    assert ae(torch.rand(2, 1, 28, 28)).shape == (2, 1, 28, 28)
    # at genad's 32 px only fc1 grows: (4*8*8 = 256) -> 32 = 8192
    assert n_params(lenet_encoder(32, 1, 32)) == 200 + 800 + 256 * 32 == 9192


def test_cifar10_lenet_has_the_official_parameter_count_at_32_px() -> None:
    # CIFAR10_LeNet: conv1 3->32 = 3*32*25 = 2400; conv2 32->64 = 32*64*25 = 51200;
    # conv3 64->128 = 64*128*25 = 204800; fc1 (128*4*4 = 2048) -> 128 = 262144: 520544
    assert n_params(lenet_encoder(32, 3, 128)) == 2400 + 51200 + 204800 + 262144 == 520544
    # CIFAR10_LeNet_Autoencoder adds BatchNorm1d(128, affine=False) (none) and deconv1
    # 8->128 = 8*128*25 = 25600, deconv2 128->64 = 204800, deconv3 64->32 = 51200,
    # deconv4 32->3 = 2400: 520544 + 284000 = 804544
    ae = lenet_autoencoder(32, 3, 128)
    assert n_params(ae) == 520544 + 25600 + 204800 + 51200 + 2400 == 804544
    assert ae(torch.rand(2, 3, 32, 32)).shape == (2, 3, 32, 32)


def test_lenet_networks_refuse_sizes_they_cannot_take() -> None:
    with pytest.raises(ValueError, match="divisible by 4"):
        lenet_encoder(30, 1, 32)
    with pytest.raises(ValueError, match="divisible by 8"):
        lenet_encoder(28, 3, 128)  # three pools: 28 -> 14 -> 7 -> 3.5
    with pytest.raises(ValueError, match="28 or 32"):
        lenet_decoder(16, 1, 32)
    with pytest.raises(ValueError, match="32 px"):
        lenet_decoder(64, 3, 128)


@pytest.mark.parametrize("channels", [1, 3])
def test_lenet_fit_pretrains_with_the_matching_decoder_and_scores(
    digits32, channels, monkeypatch
) -> None:
    seen = {}
    real = deep_svdd.pretrain_autoencoder

    def spy(det, encoder, decoder, x, **kw):
        seen.update(decoder=decoder, x=x, **kw)
        return real(det, encoder, decoder, x, **kw)

    monkeypatch.setattr(deep_svdd, "pretrain_autoencoder", spy)
    x = digits32.repeat(1, channels, 1, 1)
    det = genad.create("deep-svdd", **LENET).fit(x)
    phi = det.nets_["encoder"]
    assert n_params(phi) == (9192 if channels == 1 else 2400 + 51200 + 204800 + 2048 * 32)
    # phi has nothing that could shift every code onto c: no bias, no BatchNorm affine
    assert not [n for n, _ in phi.named_parameters() if "bias" in n]
    assert all(not m.affine for m in phi.modules() if isinstance(m, nn.BatchNorm2d))
    want = MNISTLeNetDecoder if channels == 1 else CIFAR10LeNetDecoder
    assert isinstance(seen["decoder"], want)
    # arrays: preprocess "none", phi sees [-1, 1]; the sigmoid decoder is compared with [0, 1]
    assert det.config.preprocess == "none" and seen["loss"] is pretrain_loss_01
    assert len(det.pretrain_history_) == 1
    s = det.decision_function(x)
    assert s.shape == (48,) and np.isfinite(s).all() and s.min() >= 0


def test_lenet_with_gcn_reconstructs_the_unit_range_directly(digits32, monkeypatch) -> None:
    seen = {}
    real = deep_svdd.pretrain_autoencoder
    monkeypatch.setattr(
        deep_svdd,
        "pretrain_autoencoder",
        lambda *a, **kw: (seen.update(x=a[3], **kw), real(*a, **kw))[1],
    )
    det = genad.create("deep-svdd", preprocess="gcn", **LENET).fit(digits32)
    # the autoencoder's input is in [0, 1] after GCN + min-max, as the authors': plain loss
    assert seen["loss"] is pretrain_loss
    assert float(seen["x"].min()) == pytest.approx(0.0, abs=1e-6)
    assert float(seen["x"].max()) == pytest.approx(1.0, abs=1e-6)
    assert np.isfinite(det.decision_function(digits32)).all()


def test_unit_range_pretraining_loss() -> None:
    x = torch.tensor([[[[-1.0, 1.0], [0.0, 0.0]]]])  # -> [0, 1, 0.5, 0.5] in [0, 1]
    x_rec = torch.tensor([[[[0.0, 1.0], [0.5, 1.0]]]])
    assert float(pretrain_loss_01(x_rec, x)) == pytest.approx(0.25)  # only the last: 0.5^2


def test_lenet_save_load_gives_equal_scores(digits32, tmp_path) -> None:
    det = genad.create("deep-svdd-soft", warm_up_epochs=0, **LENET).fit(digits32)
    det.save(tmp_path / "m")
    back = genad.load(tmp_path / "m")
    assert back.config.arch == "lenet"
    np.testing.assert_array_equal(back.decision_function(digits32), det.decision_function(digits32))


def test_bad_arch_size_or_rep_dim_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="arch must be one of"):
        genad.create("deep-svdd", arch="resnet")
    with pytest.raises(ConfigError, match="image_size 32"):
        genad.create("deep-svdd", arch="lenet", image_size=16)
    with pytest.raises(ConfigError, match="divisible by 16"):
        genad.create("deep-svdd", arch="lenet", rep_dim=10)
    genad.create("deep-svdd", image_size=16, rep_dim=10)  # the DCGAN encoder takes both
