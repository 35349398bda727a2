"""ALOCC: Adversarially Learned One-Class Classifier (Sabokrou, Khalooei, Fathy, Adeli,
CVPR 2018, arXiv 1802.09088).

R, a denoising autoencoder, sees x + eta (eta ~ N(0, sigma^2 I)) and learns to give back x;
D, a CNN classifier, learns to tell the normal images x (label 1) from R's outputs (label 0).
R minimises
    BCE(D(R(x + eta)), 1) + lam * ||x - R(x + eta)||^2
and D the usual BCE. After training, D(R(x)) is high for the target class and the paper flags x when
D(R(x)) falls below a threshold, i.e. ranks by 1 - D(R(x)). The score here is -logit of
D(R(x)): a strictly increasing function of 1 - D(R(x)) = sigmoid(-logit), so the same
ranking, AUROC and thresholds, but one that does not saturate. In float32 the sigmoid rounds
every logit below about -17 to 1 (ties among the clearest anomalies) and, early in training
when all logits sit within 1e-8 of each other, rounds them all to one value. The anomaly map
is R's squared reconstruction error.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genad.models.base import Detector, DetectorConfig
from genad.models.gan_common import adams, dcgan_init, generator_step
from genad.nn import DCDiscriminator
from genad.nn.gan import DCAutoencoder
from genad.registry import register


@dataclass
class ALOCCConfig(DetectorConfig):
    latent: int = 100  # R's bottleneck width (authors' code, models.py: z_dim = 100)
    width: int = 64  # first-stage channels of R and D (DCGAN's 64)
    lr: float = 2e-3  # authors' code, train.py: learning_rate = 0.002
    beta1: float = 0.5  # authors' code, train.py: beta1 = 0.5
    lam: float = 0.4  # weight of R's reconstruction loss (Sabokrou et al. 2018, experiments:
    # lambda = 0.4; the authors' code uses r_alpha = 0.2)
    noise_std: float = 0.31  # sigma of eta: 0.155 on [0, 1] images in the authors' code
    # (kh_tools.py, get_noisy_data), i.e. 0.31 on genad's [-1, 1] scale


@register("alocc")
class ALOCC(Detector):
    Config = ALOCCConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        return dcgan_init({
            "r": DCAutoencoder(c.image_size, channels, c.latent, c.width),
            "d": DCDiscriminator(c.image_size, channels, c.width),
        })

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return adams(self.nets_, self.config.lr, (self.config.beta1, 0.999))

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c = self.config
        x_rec = self.nets_["r"](x + c.noise_std * torch.randn_like(x))
        rec = (x - x_rec.float()).pow(2).mean()
        adv, loss_d = generator_step(self, x, x_rec, extra=c.lam * rec, opt="r")
        return {"adv": adv, "rec": rec.detach(), "d": loss_d}

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets_["r"](x)

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x).float() - x).pow(2).mean(1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        logit, _ = self.nets_["d"](self.reconstruct(x))
        return -logit.float()  # increasing in 1 - D(R(x)) = sigmoid(-logit)
