"""GANomaly (Akcay, Atapour-Abarghouei, Breckon, ACCV 2018, arXiv 1805.06725).

Generator = encoder GE -> decoder GD -> encoder E: x -> z -> x_hat -> z_hat. A DCGAN
discriminator is trained to tell x from x_hat; the generator minimises
    w_adv * ||f(x) - f(x_hat)||^2   (feature matching on the discriminator's last features)
  + w_con * |x - x_hat|_1           (contextual loss)
  + w_enc * ||z - z_hat||^2         (latent loss).
The anomaly score is the latent distance mean((z - z_hat)^2), as the authors' code computes it
(the square and the 1/nz factor leave the ranking of ||z - z_hat|| unchanged).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genad.models.base import Detector, DetectorConfig
from genad.models.gan_common import adams, dcgan_init, discriminator_step, weights_frozen
from genad.nn import DCDecoder, DCDiscriminator, DCEncoder
from genad.registry import register


@dataclass
class GANomalyConfig(DetectorConfig):
    latent: int = 100  # nz (Akcay et al. 2018, Sec. 4.2 / reference code options.py)
    width: int = 64  # ngf = ndf = 64 (reference code options.py)
    lr: float = 2e-4  # Adam lr (Akcay et al. 2018, Sec. 4.2)
    beta1: float = 0.5  # Adam betas (0.5, 0.999) (Akcay et al. 2018, Sec. 4.2)
    w_adv: float = 1.0  # adversarial weight (Akcay et al. 2018, Sec. 4.2)
    w_con: float = 50.0  # contextual weight (Akcay et al. 2018, Sec. 4.2)
    w_enc: float = 1.0  # latent weight (Akcay et al. 2018, Sec. 4.2)


class Generator(nn.Module):
    """x (B, C, S, S) -> (x_hat, z (B, nz), z_hat (B, nz))."""

    def __init__(self, size: int, channels: int, nz: int, width: int) -> None:
        super().__init__()
        self.encoder1 = DCEncoder(size, channels, nz, width)
        self.decoder = DCDecoder(size, channels, nz, width)
        self.encoder2 = DCEncoder(size, channels, nz, width)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        z = self.encoder1(x)
        x_hat = self.decoder(z)
        return x_hat, z, self.encoder2(x_hat)


@register("ganomaly")
class GANomaly(Detector):
    Config = GANomalyConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        return dcgan_init({
            "g": Generator(c.image_size, channels, c.latent, c.width),
            "d": DCDiscriminator(c.image_size, channels, c.width),
        })

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return adams(self.nets_, self.config.lr, (self.config.beta1, 0.999))

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c, g, d = self.config, self.nets_["g"], self.nets_["d"]
        x_hat, z, z_hat = g(x)
        d_real, f_real = d(x)  # one pass over the real batch serves both updates
        with weights_frozen(d):
            _, f_fake = d(x_hat)
        adv = (f_real.detach().float() - f_fake.float()).pow(2).mean()
        con = (x - x_hat.float()).abs().mean()
        enc = (z.float() - z_hat.float()).pow(2).mean()
        self.optimize(c.w_adv * adv + c.w_con * con + c.w_enc * enc, "g")
        loss_d = discriminator_step(self, d_real, x_hat)
        return {"adv": adv.detach(), "con": con.detach(), "enc": enc.detach(), "d": loss_d}

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets_["g"](x)[0]

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x).float() - x).abs().mean(1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        _, z, z_hat = self.nets_["g"](x)
        return (z.float() - z_hat.float()).pow(2).mean(1)
