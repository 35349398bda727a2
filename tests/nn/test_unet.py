"""Shapes and value range of the U-Net (nn/unet.py). (Its refused sizes are checked with the
DCGAN blocks' in test_dcgan.py.)"""

from __future__ import annotations

import pytest
from torch import nn

from genad.nn import UNet
from tests.nn.conftest import CHANNELS, SIZES, WIDTH, B, _x

pytestmark = pytest.mark.usefixtures("_seed_no_grad")


@pytest.mark.parametrize("channels", CHANNELS)
@pytest.mark.parametrize("size", SIZES)
def test_unet_shapes_and_range(size: int, channels: int) -> None:
    net = UNet(size, channels, WIDTH)
    out = net(_x(size, channels))
    assert out.shape == (B, channels, size, size)
    assert out.min() >= -1 and out.max() <= 1


def test_unet_caps_width() -> None:
    net = UNet(64, 1, 16, max_width=32)
    widest = max(m.out_channels for m in net.modules() if isinstance(m, nn.Conv2d))
    assert widest == 32
    assert net(_x(64, 1)).shape == (B, 1, 64, 64)
