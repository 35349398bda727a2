"""DCGAN encoder / decoder / discriminator (Radford et al. 2016), in the form GANomaly uses:
4x4 convolutions with stride 2, BatchNorm, LeakyReLU(0.2) down and ReLU up, no biases
before BatchNorm. Sizes are powers of two >= 8; the trunk halves the size down to 4x4.
"""
from __future__ import annotations

import math

import torch
from torch import nn


def _levels(size: int) -> int:
    """Number of stride-2 stages from `size` down to 4x4."""
    if size < 8 or size & (size - 1):
        raise ValueError(f"image size must be a power of two >= 8, got {size}")
    return int(math.log2(size)) - 2


class DCEncoder(nn.Module):
    """(B, C, S, S) -> (B, nz). With `features=True` forward also returns the 4x4 trunk map.
    `slope` is the LeakyReLU's negative slope (DCGAN's 0.2; EGBAD's authors use 0.1)."""

    def __init__(
        self, size: int, channels: int, nz: int, width: int = 64, slope: float = 0.2
    ) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Conv2d(channels, width, 4, 2, 1, bias=False),
            nn.LeakyReLU(slope, inplace=True),
        ]
        w = width
        for _ in range(_levels(size) - 1):
            layers += [
                nn.Conv2d(w, w * 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(w * 2),
                nn.LeakyReLU(slope, inplace=True),
            ]
            w *= 2
        self.trunk = nn.Sequential(*layers)  # -> (B, w, 4, 4)
        self.head = nn.Conv2d(w, nz, 4, 1, 0, bias=False)  # -> (B, nz, 1, 1)
        self.out_width = w

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.trunk(x)).flatten(1)


class DCDecoder(nn.Module):
    """(B, nz) -> (B, C, S, S) in [-1, 1] (tanh)."""

    def __init__(self, size: int, channels: int, nz: int, width: int = 64) -> None:
        super().__init__()
        n = _levels(size)
        w = width * 2 ** (n - 1)  # mirror of the encoder's widest stage
        layers: list[nn.Module] = [
            nn.ConvTranspose2d(nz, w, 4, 1, 0, bias=False),
            nn.BatchNorm2d(w),
            nn.ReLU(True),
        ]
        for _ in range(n - 1):
            layers += [
                nn.ConvTranspose2d(w, w // 2, 4, 2, 1, bias=False),
                nn.BatchNorm2d(w // 2),
                nn.ReLU(True),
            ]
            w //= 2
        layers += [nn.ConvTranspose2d(w, channels, 4, 2, 1, bias=False), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.view(z.shape[0], -1, 1, 1))


class DCDiscriminator(nn.Module):
    """DCGAN discriminator that also returns its last feature map (for feature matching).

    forward: (B, C, S, S) -> (logit (B,), features (B, w, 4, 4)). Logits, not probabilities:
    the BCE is computed with logits, which is the same loss and safe under bf16 autocast."""

    def __init__(self, size: int, channels: int, width: int = 64) -> None:
        super().__init__()
        enc = DCEncoder(size, channels, 1, width)
        self.features, self.classifier = enc.trunk, enc.head

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.classifier(f).flatten(), f


def conv_autoencoder(size: int, channels: int, latent: int, width: int = 64) -> nn.Sequential:
    """DCEncoder -> (B, latent, 1, 1) -> DCDecoder, DCGAN-initialised: (B, C, S, S) ->
    (B, C, S, S) in [-1, 1] through a `latent`-wide bottleneck; net[0] is the encoder."""
    net = nn.Sequential(
        DCEncoder(size, channels, latent, width),
        nn.Unflatten(1, (latent, 1, 1)),
        DCDecoder(size, channels, latent, width),
    )
    net.apply(init_dcgan_weights)
    return net


def init_dcgan_weights(m: nn.Module) -> None:
    """DCGAN initialisation: conv weights N(0, 0.02), BatchNorm weights N(1, 0.02), bias 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)
