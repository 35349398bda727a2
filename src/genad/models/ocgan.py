"""OCGAN (Perera, Nallapati, Xiang, CVPR 2019, arXiv 1903.08550): one-class novelty detection
with a constrained latent space.

A denoising autoencoder whose code is squashed by tanh into (-1, 1)^d; a latent
discriminator D_l pushes the codes of normal images towards U(-1, 1)^d, so that the whole
latent box decodes to normal-looking images; a visual discriminator D_v tells real images
from decodings of uniform samples; a classifier C tells reconstructions of real images
(label 1) from decodings of uniform samples (label 0). One training step follows Alg. 1:
  1. C:   BCE(C(De(l1)), 1) + BCE(C(De(l2)), 0),    l1 = En(x + n), l2 ~ U(-1, 1)^d
  2. D_l: BCE(D_l(l2), 1) + BCE(D_l(l1), 0);  D_v: BCE(D_v(x), 1) + BCE(D_v(De(l2)), 0)
  3. informative-negative mining: `mining_steps` gradient steps on l2 (networks fixed)
     towards latents whose decodings C calls fake, kept inside the box
  4. AE:  w_mse * ||x - De(l1)||^2 + BCE(D_l(l1), 1) + BCE(D_v(De(l2_mined)), 1)
The score is the reconstruction error mean((x - De(En(x)))^2) (Sec. 4), no noise added.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genad.models.base import Detector, DetectorConfig
from genad.models.gan_common import adams, bce, dcgan_init, discriminator_step, weights_frozen
from genad.nn import DCDiscriminator
from genad.nn.gan import DCAutoencoder, LatentDiscriminator
from genad.registry import register


@dataclass
class OCGANConfig(DetectorConfig):
    latent: int = 288  # code size d; 288 (= 32 x 3 x 3) for MNIST in a public TF
    # re-implementation (nuclearboy95); the paper's text we read gives no number
    width: int = 64  # first-stage channels of the conv networks (DCGAN's 64)
    lr: float = 2e-4  # Adam lr of every network (DCGAN's; not given in what we read)
    beta1: float = 0.5  # Adam beta1 (DCGAN's)
    w_mse: float = 10.0  # weight of the reconstruction loss (Perera et al. 2019, Sec. 3.3: 10)
    noise_std: float = 0.2  # std of the denoising noise n (chosen; the paper adds noise, Sec. 3.1)
    mining_steps: int = 5  # gradient steps of informative-negative mining (Alg. 1: 5)
    mining_lr: float = 1.0  # step size on each code's own gradient (chosen; TF re-impl.: 1)


@register("ocgan")
class OCGAN(Detector):
    Config = OCGANConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        return dcgan_init({
            "ae": DCAutoencoder(c.image_size, channels, c.latent, c.width, bounded=True),
            "dl": LatentDiscriminator(c.latent),
            "d": DCDiscriminator(c.image_size, channels, c.width),  # D_v
            "c": DCDiscriminator(c.image_size, channels, c.width),  # the classifier C
        })

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return adams(self.nets_, self.config.lr, (self.config.beta1, 0.999))

    def mine(self, l2: torch.Tensor) -> torch.Tensor:
        """Move each code l2 (B, d) towards decodings the classifier calls fake (Alg. 1,
        informative-negative mining); every code follows its own gradient and stays in
        [-1, 1]^d. No network weight changes."""
        ae, cls = self.nets_["ae"], self.nets_["c"]
        l2 = l2.detach().clone()
        with weights_frozen(ae, cls):
            for _ in range(self.config.mining_steps):
                l2.requires_grad_(True)
                logits = cls(ae.decode(l2))[0].float()
                # per-code BCE(., fake), summed: each code's gradient is its own loss's
                loss = nn.functional.binary_cross_entropy_with_logits(
                    logits, torch.zeros_like(logits), reduction="sum"
                )
                (grad,) = torch.autograd.grad(loss, l2)
                l2 = (l2 - self.config.mining_lr * grad).clamp(-1, 1).detach()
        return l2

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c, ae, dl, dv, cls = (self.config, *(self.nets_[k] for k in ("ae", "dl", "d", "c")))
        l1 = ae.encode(x + c.noise_std * torch.randn_like(x))
        l2 = torch.rand_like(l1) * 2 - 1
        x_rec, x_gen = ae.decode(l1), ae.decode(l2)
        # 1. classifier: reconstructions of real images vs decodings of random codes
        loss_c = bce(cls(x_rec.detach())[0], True) + bce(cls(x_gen.detach())[0], False)
        self.optimize(loss_c, "c")
        # 2. discriminators
        loss_dl = bce(dl(l2), True) + bce(dl(l1.detach()), False)
        self.optimize(loss_dl, "dl")
        loss_dv = discriminator_step(self, dv(x)[0], x_gen)
        # 3. informative-negative mining, 4. the autoencoder
        x_neg = ae.decode(self.mine(l2))
        with weights_frozen(dl, dv):
            adv = bce(dl(l1), True) + bce(dv(x_neg)[0], True)
        mse = (x - x_rec.float()).pow(2).mean()
        self.optimize(c.w_mse * mse + adv, "ae")
        return {"mse": mse.detach(), "adv": adv.detach(), "c": loss_c.detach(),
                "dl": loss_dl.detach(), "dv": loss_dv}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) codes in [-1, 1]."""
        return self.nets_["ae"].encode(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets_["ae"](x)

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x).float() - x).pow(2).mean(1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.pixel_map(x).flatten(1).mean(1)
