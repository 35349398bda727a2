import pytest
import torch
from torch import nn

import genad
from genad.errors import ConfigError
from genad.nn.dlib import DlibDecoder, DlibEncoder


def _count(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())


def test_the_reference_sizes_at_64px() -> None:
    """disentanglement_lib's conv_encoder / deconv_decoder for one channel and 10 latents:
    convs 32-32-64-64, dense 256, two heads; dense 256, dense 1024 (4x4x64), deconvs
    64-32-32-1."""
    enc, dec = DlibEncoder(64, 1, 10), DlibDecoder(64, 1, 10)
    assert _count(enc) == 544 + 16_416 + 8_256 + 16_448 + 262_400 + 5_140
    assert _count(dec) == 2_816 + 263_168 + 65_600 + 32_800 + 16_416 + 513
    assert not any(isinstance(m, nn.modules.batchnorm._NormBase) for m in
                   [*enc.modules(), *dec.modules()])


@pytest.mark.parametrize("size", [16, 32, 64])
def test_shapes(size) -> None:
    x = torch.randn(3, 1, size, size)
    enc, dec = DlibEncoder(size, 1, 10, width=8), DlibDecoder(size, 1, 10, width=8)
    assert enc(x).shape == (3, 20)
    assert dec(torch.randn(3, 10)).shape == (3, 1, size, size)


def test_sizes_not_divisible_by_16_are_refused() -> None:
    with pytest.raises(ValueError, match="divisible by 16"):
        DlibEncoder(24, 1, 10)
    with pytest.raises(ConfigError, match="divisible by 16"):
        genad.create("beta-vae", arch="dlib", image_size=8)
