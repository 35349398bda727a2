"""The convolutional encoder and decoder of disentanglement_lib (Locatello et al. 2019,
`methods/shared/architectures.py`: `conv_encoder` and `deconv_decoder`, row 3 of Table 1 of
Higgins et al. 2017), the networks behind the published beta-VAE / FactorVAE / beta-TCVAE
dSprites figures.

Encoder: four stride-2 convolutions of (w, w, 2w, 2w) channels (kernels 4, 4, 2, 2), a dense
layer of 8w units, then the means and log-variances; decoder: dense 8w, dense to a
(2w, S/16, S/16) map, four stride-2 transposed convolutions of kernel 4 to (2w, w, w, C). ReLU
throughout, no normalisation; w = 32 is the reference (dense 256, a 4x4x64 map at 64 px). Other
sizes keep the four stages (S divisible by 16). Weights are Glorot-uniform with zero biases,
TensorFlow's `tf.layers` defaults that the reference trains with.
"""

from __future__ import annotations

import torch
from torch import nn


def _check(size: int) -> None:
    if size < 16 or size % 16:
        raise ValueError(f"disentanglement_lib's conv nets need a size divisible by 16, got "
                         f"{size}")


def _glorot(module: nn.Module) -> nn.Module:
    for m in module.modules():
        if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            nn.init.xavier_uniform_(m.weight)
            nn.init.zeros_(m.bias)
    return module


class DlibEncoder(nn.Module):
    """(B, C, S, S) -> (B, 2 * latent): the posterior means, then the log-variances."""

    def __init__(self, size: int, channels: int, latent: int, width: int = 32) -> None:
        super().__init__()
        _check(size)
        w = width
        self.net = nn.Sequential(
            nn.Conv2d(channels, w, 4, 2, 1), nn.ReLU(True),
            nn.Conv2d(w, w, 4, 2, 1), nn.ReLU(True),
            nn.Conv2d(w, 2 * w, 2, 2, 0), nn.ReLU(True),
            nn.Conv2d(2 * w, 2 * w, 2, 2, 0), nn.ReLU(True),
            nn.Flatten(),
            nn.Linear(2 * w * (size // 16) ** 2, 8 * w), nn.ReLU(True),
            nn.Linear(8 * w, 2 * latent),  # the two dense heads as one layer
        )
        _glorot(self)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class DlibDecoder(nn.Module):
    """(B, latent) -> (B, C, S, S) logits."""

    def __init__(self, size: int, channels: int, latent: int, width: int = 32) -> None:
        super().__init__()
        _check(size)
        w, s = width, size // 16
        self.net = nn.Sequential(
            nn.Linear(latent, 8 * w), nn.ReLU(True),
            nn.Linear(8 * w, 2 * w * s * s), nn.ReLU(True),
            nn.Unflatten(1, (2 * w, s, s)),
            nn.ConvTranspose2d(2 * w, 2 * w, 4, 2, 1), nn.ReLU(True),
            nn.ConvTranspose2d(2 * w, w, 4, 2, 1), nn.ReLU(True),
            nn.ConvTranspose2d(w, w, 4, 2, 1), nn.ReLU(True),
            nn.ConvTranspose2d(w, channels, 4, 2, 1),
        )
        _glorot(self)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z.flatten(1))
