"""Convolutional autoencoder: the plainest generative detector. Score = mean squared
reconstruction error; the per-pixel squared error is the anomaly map."""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genad.models.base import Detector, DetectorConfig
from genad.nn import conv_autoencoder
from genad.registry import register


@dataclass
class AEConfig(DetectorConfig):
    latent: int = 100  # bottleneck width, as GANomaly's (Akcay et al. 2018, Sec. 4.2)
    width: int = 64  # first-stage channels of the DCGAN encoder/decoder (Radford et al. 2016)
    lr: float = 2e-4  # Adam, DCGAN's setting (Radford et al. 2016, Sec. 4)
    beta1: float = 0.5  # Adam beta1, DCGAN's setting (Radford et al. 2016, Sec. 4)


@register("ae")
class AutoEncoder(Detector):
    Config = AEConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        return {"ae": conv_autoencoder(c.image_size, channels, c.latent, c.width)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        return {"ae": torch.optim.Adam(self.nets_["ae"].parameters(), c.lr, betas=(c.beta1, 0.999))}

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = (self.nets_["ae"](x) - x).pow(2).mean()
        self.optimize(loss, "ae")
        return {"rec": loss.detach()}

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets_["ae"](x)

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x).float() - x).pow(2).mean(1)  # (B, H, W)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.pixel_map(x).flatten(1).mean(1)
