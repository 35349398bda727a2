"""Skip-GANomaly (Akcay, Atapour-Abarghouei, Breckon, IJCNN 2019, arXiv 1901.08954).

A U-Net generator with skip connections reconstructs x; a DCGAN discriminator tells x from
x_hat. The generator minimises
    w_adv * BCE(D(x_hat), real) + w_con * |x - x_hat|_1 + w_lat * ||f(x) - f(x_hat)||^2
with f the discriminator's last feature map. Score (Sec. 3.3):
    0.9 * mean((x - x_hat)^2) + 0.1 * mean((f(x) - f(x_hat))^2).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genad.models.base import Detector, DetectorConfig
from genad.models.gan_common import adams, bce, dcgan_init, discriminator_step, weights_frozen
from genad.nn import DCDiscriminator, UNet
from genad.registry import register


@dataclass
class SkipGANomalyConfig(DetectorConfig):
    width: int = 64  # ngf = ndf = 64 (reference code options.py)
    lr: float = 2e-4  # Adam lr (Akcay et al. 2019, Sec. 4.2)
    beta1: float = 0.5  # Adam betas (0.5, 0.999) (Akcay et al. 2019, Sec. 4.2)
    w_adv: float = 1.0  # adversarial weight (Akcay et al. 2019, Sec. 4.2)
    w_con: float = 40.0  # contextual weight (Akcay et al. 2019, Sec. 4.2)
    w_lat: float = 1.0  # latent (feature) weight (Akcay et al. 2019, Sec. 4.2)
    score_lambda: float = 0.9  # weight of the reconstruction term in the score (Sec. 3.3)


@register("skip-ganomaly")
class SkipGANomaly(Detector):
    Config = SkipGANomalyConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        return dcgan_init({
            "g": UNet(c.image_size, channels, c.width),
            "d": DCDiscriminator(c.image_size, channels, c.width),
        })

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return adams(self.nets_, self.config.lr, (self.config.beta1, 0.999))

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c, g, d = self.config, self.nets_["g"], self.nets_["d"]
        x_hat = g(x)
        d_real, f_real = d(x)
        with weights_frozen(d):
            d_fake, f_fake = d(x_hat)
        adv = bce(d_fake, True)
        con = (x - x_hat.float()).abs().mean()
        lat = (f_real.detach().float() - f_fake.float()).pow(2).mean()
        self.optimize(c.w_adv * adv + c.w_con * con + c.w_lat * lat, "g")
        loss_d = discriminator_step(self, d_real, x_hat)
        return {"adv": adv.detach(), "con": con.detach(), "lat": lat.detach(), "d": loss_d}

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets_["g"](x)

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x).float() - x).pow(2).mean(1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        x_hat = self.reconstruct(x)
        _, f_real = self.nets_["d"](x)
        _, f_fake = self.nets_["d"](x_hat)
        rec = (x - x_hat.float()).pow(2).flatten(1).mean(1)
        lat = (f_real.float() - f_fake.float()).pow(2).flatten(1).mean(1)
        lam = self.config.score_lambda
        return lam * rec + (1 - lam) * lat
