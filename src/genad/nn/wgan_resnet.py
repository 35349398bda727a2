"""The residual WGAN-GP networks f-AnoGAN's authors train at 64x64 (tSchlegl/f-AnoGAN,
wgangp_64x64.py GoodGenerator / GoodDiscriminator and z_encoding_izif.py Encoder, built on
Gulrajani et al.'s improved_wgan_training), for any power-of-two size >= 8. Pure torch.nn.

At 64x64 and width d the plan is theirs: the critic and the encoder run a 3x3 convolution to d
channels, then four residual blocks that halve the size, to 2d, 4d, 8d, 8d channels (a 4x4
map), and a linear layer; the generator mirrors it (linear to 8d x 4 x 4, four upsampling
blocks to 8d, 4d, 2d, d, normalisation, ReLU, 3x3 convolution, tanh). A size S has
log2(S) - 2 blocks with widths d * min(2^i, 8). Normalisation: layer norm over (C, H, W) with
a per-channel scale and offset in the critic (their `Layernorm`), batch norm in the generator
and the encoder. Weights start as in their tflib: uniform Glorot (x sqrt 2 for the block
convolutions and the generator's output, "he_init"), zero biases. Batch norm keeps torch's
defaults (momentum 0.1, eps 1e-5), not their tf.layers.batch_normalization's (0.99, 1e-3): after
the few hundred generator steps of a CPU run a 0.99 moving average still sits near its start,
and G runs on those statistics in the encoder phase and when scoring.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from genad.nn.dcgan import _levels


def _conv(c_in: int, c_out: int, k: int, he: bool = True, bias: bool = True) -> nn.Conv2d:
    """tflib Conv2D: 'same' padding, U(+-sqrt(3) * std) weights with std = sqrt(g / (fan_in +
    fan_out)), g = 4 ("he_init") or 2, zero bias."""
    conv = nn.Conv2d(c_in, c_out, k, padding=k // 2, bias=bias)
    nn.init.xavier_uniform_(conv.weight, gain=math.sqrt(2) if he else 1.0)
    if bias:
        nn.init.zeros_(conv.bias)
    return conv


def _linear(n_in: int, n_out: int) -> nn.Linear:
    """tflib Linear, default (Glorot uniform) initialisation, zero bias."""
    lin = nn.Linear(n_in, n_out)
    nn.init.xavier_uniform_(lin.weight)
    nn.init.zeros_(lin.bias)
    return lin


def _widths(size: int, width: int) -> list[int]:
    """Channels after the input convolution and after each down block: d, 2d, 4d, 8d, 8d..."""
    return [width * min(2**i, 8) for i in range(_levels(size) + 1)]


def layer_norm(c: int) -> nn.Module:
    """Their critic's `Layernorm`: statistics over (C, H, W) per image, a scale and an offset
    per channel, eps 1e-5."""
    return nn.GroupNorm(1, c, eps=1e-5)


class ResidualBlock(nn.Module):
    """norm -> ReLU -> conv1 -> norm -> ReLU -> conv2, plus a 1x1-convolution shortcut.
    "down": conv1 3x3 (c_in -> c_in), conv2 3x3 (c_in -> c_out) then 2x2 mean pool; the
    shortcut mean-pools then convolves. "up": nearest 2x upsampling (their depth_to_space of
    four copies) then conv1 3x3 (c_in -> c_out), conv2 3x3 (c_out -> c_out); the shortcut
    upsamples then convolves. conv1 has no bias, as theirs."""

    def __init__(self, c_in: int, c_out: int, resample: str, norm: Callable[[int], nn.Module]):
        super().__init__()
        if resample not in ("down", "up"):
            raise ValueError(f"resample must be down or up, got {resample!r}")
        self.down = resample == "down"
        mid = c_in if self.down else c_out
        self.shortcut = _conv(c_in, c_out, 1, he=False)
        self.norm1, self.norm2 = norm(c_in), norm(mid)
        self.conv1 = _conv(c_in, mid, 3, bias=False)
        self.conv2 = _conv(mid, c_out, 3)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.down:
            skip = self.shortcut(F.avg_pool2d(x, 2))
            h = self.conv1(F.relu(self.norm1(x)))
            h = F.avg_pool2d(self.conv2(F.relu(self.norm2(h))), 2)
        else:
            up = F.interpolate(x, scale_factor=2, mode="nearest")
            skip = self.shortcut(up)
            h = self.conv1(F.interpolate(F.relu(self.norm1(x)), scale_factor=2, mode="nearest"))
            h = self.conv2(F.relu(self.norm2(h)))
        return skip + h


class ResNetTrunk(nn.Module):
    """Input 3x3 convolution (Glorot, no he_init) and the down blocks:
    (B, C, S, S) -> (B, w, 4, 4)."""

    def __init__(self, size: int, channels: int, width: int, norm: Callable[[int], nn.Module]):
        super().__init__()
        w = _widths(size, width)
        self.net = nn.Sequential(
            _conv(channels, w[0], 3, he=False),
            *[ResidualBlock(a, b, "down", norm) for a, b in zip(w, w[1:])],
        )
        self.out_width = w[-1]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class ResNetCritic(nn.Module):
    """GoodDiscriminator: forward (B, C, S, S) -> (score (B,), features (B, w, 4, 4)), the
    features being the last block's output, which their izi_f loss compares."""

    def __init__(self, size: int, channels: int, width: int = 64) -> None:
        super().__init__()
        self.features = ResNetTrunk(size, channels, width, layer_norm)
        self.head = _linear(self.features.out_width * 16, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.head(f.flatten(1)).flatten(), f


class ResNetEncoder(nn.Module):
    """Their Encoder without the final squashing (applied by the model): (B, C, S, S) ->
    (B, nz), the critic's trunk with batch norm, then a linear layer."""

    def __init__(self, size: int, channels: int, nz: int, width: int = 64) -> None:
        super().__init__()
        self.trunk = ResNetTrunk(size, channels, width, nn.BatchNorm2d)
        self.head = _linear(self.trunk.out_width * 16, nz)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x).flatten(1))


class ResNetGenerator(nn.Module):
    """GoodGenerator: (B, nz) -> (B, C, S, S) in [-1, 1]."""

    def __init__(self, size: int, channels: int, nz: int, width: int = 64) -> None:
        super().__init__()
        w = _widths(size, width)[::-1]
        self.w0 = w[0]
        self.input = _linear(nz, w[0] * 16)
        self.blocks = nn.Sequential(
            *[ResidualBlock(a, b, "up", nn.BatchNorm2d) for a, b in zip(w, w[1:])]
        )
        self.out = nn.Sequential(nn.BatchNorm2d(w[-1]), nn.ReLU(), _conv(w[-1], channels, 3),
                                 nn.Tanh())

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        h = self.input(z.flatten(1)).view(-1, self.w0, 4, 4)  # (B, 8d, 4, 4)
        return self.out(self.blocks(h))
