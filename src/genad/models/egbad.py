"""EGBAD: Efficient GAN-Based Anomaly Detection (Zenati, Foo, Lecouat, Manek, Chandrasekhar,
ICLR 2018 workshop, arXiv 1802.06222).

A BiGAN (Donahue et al. 2017): an encoder E (x -> z), a generator G (z -> x) and a joint
discriminator D(x, z) that tells pairs (x, E(x)) (label 1) from pairs (G(z), z) (label 0);
G and E are trained to fool it (the authors' code gives G the non-saturating loss on
(G(z), z) and E the flipped label on (x, E(x))). The score (Sec. 3) is
    A(x) = alpha * L_G(x) + (1 - alpha) * L_D(x),   alpha = 0.9,
    L_G = ||x - G(E(x))||_1,
    L_D = ||f(x, E(x)) - f(G(E(x)), E(x))||_1      (the "fm" variant),
with f the joint layer of D before its logit. We divide A by the pixel count C*H*W, the same
constant for every image (the ranking is unchanged, the numbers stay near 1).
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import nn

from genad.models.base import Detector, DetectorConfig
from genad.models.gan_common import bce, dcgan_init, weights_frozen
from genad.nn import DCDecoder, DCEncoder
from genad.nn.gan import JointDiscriminator
from genad.registry import register


@dataclass
class EGBADConfig(DetectorConfig):
    latent: int = 200  # z dimension for MNIST (authors' code, bigan/mnist_utilities.py)
    width: int = 64  # first-stage channels of E, G and D's image branch (DCGAN's 64)
    hidden: int = 512  # D's z branch; its joint layer is 2x this (authors' MNIST D: 512, 1024)
    lr: float = 1e-5  # Adam lr for MNIST (authors' code, bigan/mnist_utilities.py)
    beta1: float = 0.5  # Adam beta1 (authors' code, bigan/run_mnist.py)
    alpha: float = 0.9  # weight of L_G in the score (Zenati et al. 2018, Sec. 3: 0.9)


def egbad_score(
    x: torch.Tensor, x_rec: torch.Tensor, f_real: torch.Tensor, f_rec: torch.Tensor, alpha: float
) -> torch.Tensor:
    """(alpha * ||x - x_rec||_1 + (1 - alpha) * ||f_real - f_rec||_1) / (C*H*W): (B,)."""
    l_g = (x.float() - x_rec.float()).abs().flatten(1).sum(1)
    l_d = (f_real.float() - f_rec.float()).abs().flatten(1).sum(1)
    return (alpha * l_g + (1 - alpha) * l_d) / x[0].numel()


@register("egbad")
class EGBAD(Detector):
    Config = EGBADConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        return dcgan_init({
            "e": DCEncoder(c.image_size, channels, c.latent, c.width),
            "g": DCDecoder(c.image_size, channels, c.latent, c.width),
            "d": JointDiscriminator(c.image_size, channels, c.latent, c.width, c.hidden),
        })

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c, n = self.config, self.nets_
        ge = itertools.chain(n["g"].parameters(), n["e"].parameters())
        return {
            "d": torch.optim.Adam(n["d"].parameters(), c.lr, betas=(c.beta1, 0.999)),
            "ge": torch.optim.Adam(ge, c.lr, betas=(c.beta1, 0.999)),
        }

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        e, g, d = self.nets_["e"], self.nets_["g"], self.nets_["d"]
        z = torch.randn(x.shape[0], self.config.latent, device=x.device)
        z_enc, x_gen = e(x), g(z)
        loss_d = bce(d(x, z_enc.detach())[0], True) + bce(d(x_gen.detach(), z)[0], False)
        self.optimize(loss_d, "d")
        with weights_frozen(d):
            loss_ge = bce(d(x_gen, z)[0], True) + bce(d(x, z_enc)[0], False)
        self.optimize(loss_ge, "ge")
        return {"d": loss_d.detach(), "ge": loss_ge.detach()}

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets_["g"](self.nets_["e"](x))

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x).float() - x).abs().mean(1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        e, g, d = self.nets_["e"], self.nets_["g"], self.nets_["d"]
        z = e(x)
        x_rec = g(z)
        return egbad_score(x, x_rec, d(x, z)[1], d(x_rec, z)[1], self.config.alpha)
