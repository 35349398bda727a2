"""U-Net generator with skip connections (Ronneberger et al. 2015), in the pix2pix form
Skip-GANomaly uses: 4x4 stride-2 convolutions down to 1x1, transposed convolutions up,
each decoder stage concatenated with the encoder stage of the same size."""
from __future__ import annotations

import math

import torch
from torch import nn


class UNet(nn.Module):
    """(B, C, S, S) -> (B, C, S, S) in [-1, 1]. S a power of two >= 8; log2(S) levels."""

    def __init__(self, size: int, channels: int, width: int = 64, max_width: int = 512) -> None:
        super().__init__()
        if size < 8 or size & (size - 1):
            raise ValueError(f"image size must be a power of two >= 8, got {size}")
        n = int(math.log2(size))
        widths = [min(width * 2**i, max_width) for i in range(n)]  # encoder outputs, 1 per level
        self.down = nn.ModuleList()
        c_in = channels
        for i, w in enumerate(widths):
            layers: list[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2, True)]
            layers.append(nn.Conv2d(c_in, w, 4, 2, 1, bias=False))
            if 0 < i < n - 1:  # no norm on the first stage and at the 1x1 bottleneck
                layers.append(nn.BatchNorm2d(w))
            self.down.append(nn.Sequential(*layers))
            c_in = w
        self.up = nn.ModuleList()
        for i in reversed(range(n)):
            c_in = widths[i] if i == n - 1 else widths[i] * 2  # skip concatenation doubles it
            c_out = channels if i == 0 else widths[i - 1]
            layers = [nn.ReLU(True), nn.ConvTranspose2d(c_in, c_out, 4, 2, 1, bias=i == 0)]
            layers.append(nn.Tanh() if i == 0 else nn.BatchNorm2d(c_out))
            self.up.append(nn.Sequential(*layers))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        skips = []
        for d in self.down:
            x = d(x)
            skips.append(x)
        skips.pop()  # the bottleneck feeds the first up stage directly
        for u in self.up:
            x = u(x)
            if skips:
                x = torch.cat([x, skips.pop()], 1)
        return x
