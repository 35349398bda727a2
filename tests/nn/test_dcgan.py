"""Shapes and value ranges of the DCGAN building blocks (nn/dcgan.py), and the image sizes
every block of genad.nn refuses."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from genad.nn import DCDecoder, DCDiscriminator, DCEncoder, UNet, init_dcgan_weights
from tests.nn.conftest import CHANNELS, NZ, SIZES, WIDTH, B, _x

pytestmark = pytest.mark.usefixtures("_seed_no_grad")


def _widest(size: int) -> int:
    """Channels of the 4x4 trunk: WIDTH doubled at each stride-2 stage after the first."""
    return WIDTH * 2 ** (int(math.log2(size)) - 3)


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("size", SIZES)
def test_encoder_shapes(size: int, channels: int) -> None:
    enc = DCEncoder(size, channels, NZ, WIDTH)
    x = _x(size, channels)
    assert enc(x).shape == (B, NZ)
    assert enc.trunk(x).shape == (B, _widest(size), 4, 4)
    assert enc.out_width == _widest(size)


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("size", SIZES)
def test_decoder_shapes_and_range(size: int, channels: int) -> None:
    dec = DCDecoder(size, channels, NZ, WIDTH)
    out = dec(torch.randn(B, NZ) * 10)
    assert out.shape == (B, channels, size, size)
    assert out.min() >= -1 and out.max() <= 1  # tanh output
    # it also accepts the (B, nz, 1, 1) form an encoder head produces
    assert dec(torch.randn(B, NZ, 1, 1)).shape == (B, channels, size, size)


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("size", SIZES)
def test_discriminator_shapes(size: int, channels: int) -> None:
    d = DCDiscriminator(size, channels, WIDTH)
    logit, feats = d(_x(size, channels))
    assert logit.shape == (B,)
    assert feats.shape == (B, _widest(size), 4, 4)


def test_encoder_decoder_round_trip_shapes() -> None:
    """The AE's composition: encoder -> decoder gives back the input's shape."""
    enc, dec = DCEncoder(32, 3, NZ, WIDTH), DCDecoder(32, 3, NZ, WIDTH)
    x = _x(32, 3)
    assert dec(enc(x)).shape == x.shape


@pytest.mark.parametrize("size", [28, 4, 0, 12, 48])
@pytest.mark.parametrize(
    "make",
    [
        lambda s: DCEncoder(s, 1, NZ, WIDTH),
        lambda s: DCDecoder(s, 1, NZ, WIDTH),
        lambda s: DCDiscriminator(s, 1, WIDTH),
        lambda s: UNet(s, 1, WIDTH),
    ],
    ids=["encoder", "decoder", "discriminator", "unet"],
)
def test_bad_size_raises(make, size: int) -> None:
    with pytest.raises(ValueError, match="power of two"):
        make(size)


def test_init_dcgan_weights() -> None:
    net = nn.Sequential(
        nn.Conv2d(3, 256, 4, bias=True), nn.BatchNorm2d(256), nn.ConvTranspose2d(256, 128, 4)
    )
    with torch.no_grad():  # make every value clearly not what the init sets
        for p in net.parameters():
            p.fill_(5.0)
    net.apply(init_dcgan_weights)
    conv, bn, deconv = net
    for w in (conv.weight, deconv.weight):
        assert abs(w.mean().item()) < 0.005
        assert 0.015 < w.std().item() < 0.025
    assert torch.all(conv.bias == 0) and torch.all(deconv.bias == 0)
    assert abs(bn.weight.mean().item() - 1) < 0.01 and 0.01 < bn.weight.std().item() < 0.03
    assert torch.all(bn.bias == 0)
