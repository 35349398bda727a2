"""AnoGAN (Schlegl et al., IPMI 2017, arXiv 1703.05921) and f-AnoGAN (Schlegl et al., Medical
Image Analysis 54, 2019).

AnoGAN trains a DCGAN on normal images. To score x it searches the latent space: starting
from z0 it takes `search_steps` Adam steps on z to minimise (Sec. 2.2)
    L(z) = (1 - lam) * sum |x - G(z)|  +  lam * sum |f(x) - f(G(z))|
(residual loss + discrimination loss, f = D's last feature map) and scores x by the final
L(z*). We divide L by the pixel count C*H*W, the same constant for every image: the ranking,
and Adam's path (invariant to a constant loss scale up to its epsilon), are unchanged.
Every image's z is optimised independently: the batch objective is the *sum* of per-image
losses, so each row of z gets the gradient of its own loss, and Adam's steps are per
coordinate; a batch mean would scale every gradient by 1/B and so tie each image's steps to
the batch size through Adam's epsilon. z0 is one seeded draw from N(0, I), the same for every
image, so a score does not depend on which images share its batch. The paper starts from a
random z1 and takes 500 steps (Sec. 3); `search_steps` defaults to 30 (Adam lr 0.1) to keep
scoring cheap on a CPU. Longer searches lower every image's loss further but, with a GAN
trained for a few CPU epochs, they fit the anomalies too: on digits leave-one-out (digit 3,
32x32, 4 epochs) AUROC was 0.62 after 25 steps and 0.51 after 100 at lr 0.1.

f-AnoGAN replaces the search by an encoder, in two phases as in the authors' code
(tSchlegl/f-AnoGAN): a WGAN-GP (Gulrajani et al. 2017) generator and critic are trained on
normal images (wgangp_64x64.py; the engine's `epochs`), then the encoder E is trained with G
and the critic fixed (z_encoding_izif.py; `encoder_epochs`, run by `train` after the engine)
on the izi_f loss (Sec. 2.3.2)
    (1/n) ||x - G(E(x))||^2 + kappa (1/n_d) ||f(x) - f(G(E(x)))||^2
with f the critic's last feature map; the score A(x) is the same quantity per image (Eq. 4;
anomaly_detection.py, dual_iloss). E ends in tanh (their default Z_REG_TYPE "tanh_fc"; their
G is trained on z ~ N(0, I) all the same). The networks are their residual ones
(genad.nn.wgan_resnet) unless `arch="dcgan"`, genad's DCGAN nets, about 20x cheaper on a CPU.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genad.errors import ConfigError
from genad.models.base import Detector, DetectorConfig
from genad.models.gan_common import (
    adams,
    dcgan_init,
    generator_step,
    gradient_penalty,
    weights_frozen,
)
from genad.models.tf_optim import tf_rmsprop
from genad.nn import DCDecoder, DCDiscriminator, DCEncoder
from genad.nn.gan import Critic
from genad.nn.wgan_resnet import ResNetCritic, ResNetEncoder, ResNetGenerator
from genad.registry import register
from genad.trainable import Trainable, check_choices


# ---- AnoGAN -----------------------------------------------------------------------------------
@dataclass
class AnoGANConfig(DetectorConfig):
    latent: int = 100  # z dimension of DCGAN (Radford et al. 2016, Sec. 4), used by AnoGAN
    width: int = 64  # ngf = ndf = 64, DCGAN's generator/discriminator width
    lr: float = 2e-4  # Adam lr, DCGAN's setting (Radford et al. 2016, Sec. 4)
    beta1: float = 0.5  # Adam beta1, DCGAN's setting (Radford et al. 2016, Sec. 4)
    lam: float = 0.1  # weight of the discrimination loss (Schlegl et al. 2017, Sec. 3: 0.1)
    search_steps: int = 30  # latent-search steps; the paper takes 500 (Sec. 3), see the top
    search_lr: float = 0.1  # Adam lr of the latent search (not given in the paper; chosen)


@register("anogan")
class AnoGAN(Detector):
    Config = AnoGANConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        return dcgan_init({
            "g": DCDecoder(c.image_size, channels, c.latent, c.width),
            "d": DCDiscriminator(c.image_size, channels, c.width),
        })

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return adams(self.nets_, self.config.lr, (self.config.beta1, 0.999))

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        fake = self.nets_["g"](torch.randn(x.shape[0], self.config.latent, device=x.device))
        loss_g, loss_d = generator_step(self, x, fake)
        return {"g": loss_g, "d": loss_d}

    # ---- the latent search ----------------------------------------------------------------
    def z0(self, n: int, device: torch.device) -> torch.Tensor:
        """(n, nz): one seeded N(0, I) draw, repeated for every image."""
        gen = torch.Generator().manual_seed(self.config.seed)
        return torch.randn(self.config.latent, generator=gen).to(device).expand(n, -1).clone()

    def search_loss(self, x: torch.Tensor, f_x: torch.Tensor, z: torch.Tensor) -> tuple:
        """Per-image L(z) / (C*H*W): (loss (B,), G(z))."""
        c = self.config
        x_hat = self.nets_["g"](z)
        _, f_hat = self.nets_["d"](x_hat)
        res = (x - x_hat.float()).abs().flatten(1).sum(1)
        disc = (f_x - f_hat.float()).abs().flatten(1).sum(1)
        return ((1 - c.lam) * res + c.lam * disc) / x[0].numel(), x_hat

    def latent_search(
        self, x: torch.Tensor, steps: int | None = None
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Optimise one z per image; returns (z* (B, nz), L(z*) (B,), G(z*) (B, C, H, W))."""
        g, d = self.nets_["g"], self.nets_["d"]
        steps = self.config.search_steps if steps is None else steps
        with torch.enable_grad(), weights_frozen(g, d):  # score() runs under no_grad
            f_x = d(x)[1].float().detach()
            z = self.z0(len(x), x.device).requires_grad_(True)
            opt = torch.optim.Adam([z], lr=self.config.search_lr)
            for _ in range(steps):
                loss, _ = self.search_loss(x, f_x, z)
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()  # a sum: each z row gets only its own image's gradient
                opt.step()
        with torch.no_grad():
            loss, x_hat = self.search_loss(x, f_x, z)
        return z.detach(), loss, x_hat

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.latent_search(x)[1]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.latent_search(x)[2]

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x).float() - x).abs().mean(1)  # the residual |x - G(z*)|


# ---- f-AnoGAN ---------------------------------------------------------------------------------
ARCHS = ("resnet", "dcgan")
Z_REGS = ("tanh_fc", "none")


@dataclass
class FAnoGANConfig(DetectorConfig):
    # The authors' code, tSchlegl/f-AnoGAN: wgangp_64x64.py trains the GAN, z_encoding_izif.py
    # the encoder, anomaly_detection.py scores
    arch: str = "resnet"  # their residual G, critic and E (GoodGenerator, GoodDiscriminator,
    # Encoder); "dcgan": genad's DCGAN nets (critic without normalisation), ~20x cheaper
    latent: int = 128  # ZDIM = 128 (both scripts)
    width: int = 64  # DIM = 64 (both scripts)
    epochs: int = 7  # TRAIN_EPOCHS = 7 (wgangp_64x64.py): GAN epochs, one critic step a batch
    batch_size: int = 64  # BATCH_SIZE = 64 (both scripts)
    lr: float = 1e-4  # Adam lr of G and critic (wgangp_64x64.py; Gulrajani et al. 2017, Alg. 1)
    beta1: float = 0.0  # Adam betas (0, 0.9) (wgangp_64x64.py; Gulrajani et al. 2017, Alg. 1)
    beta2: float = 0.9  # Adam betas (0, 0.9) (wgangp_64x64.py; Gulrajani et al. 2017, Alg. 1)
    gp_lambda: float = 10.0  # LAMBDA = 10 (wgangp_64x64.py)
    n_critic: int = 5  # CRITIC_ITERS = 5 (wgangp_64x64.py)
    kappa: float = 1.0  # train_enc_izi(kappa=1.0) (z_encoding_izif.py; Schlegl et al. 2019, 2.3.2)
    encoder_lr: float = 5e-5  # RMSProp lr, train_enc_izi(lr=5e-5) (z_encoding_izif.py)
    encoder_epochs: int | None = None  # None = epochs. Theirs: ITERS_ENC = 50,000 batches of
    # 64 (z_encoding_izif.py), a number of epochs that depends on the training set's size
    z_reg: str = "tanh_fc"  # Z_REG_TYPE = 'tanh_fc', "DEFAULT (paper version)"
    # (z_encoding_izif.py): tanh after E's last linear layer; "none": unconstrained (App. A.2)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices(self, arch=ARCHS, z_reg=Z_REGS)
        if self.n_critic < 1 or (self.encoder_epochs or 0) < 0:
            raise ConfigError("n_critic must be >= 1 and encoder_epochs >= 0")


@register("f-anogan")
class FAnoGAN(Detector):
    Config = FAnoGANConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        if c.arch == "resnet":  # these initialise themselves as the authors' tflib does
            return {
                "g": ResNetGenerator(c.image_size, channels, c.latent, c.width),
                "d": ResNetCritic(c.image_size, channels, c.width),
                "e": ResNetEncoder(c.image_size, channels, c.latent, c.width),
            }
        return dcgan_init({
            "g": DCDecoder(c.image_size, channels, c.latent, c.width),
            "d": Critic(c.image_size, channels, c.width),
            "e": DCEncoder(c.image_size, channels, c.latent, c.width),
        })

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        """G and the critic's Adams; E's RMSProp belongs to the encoder phase."""
        c = self.config
        return adams({k: self.nets_[k] for k in ("g", "d")}, c.lr, (c.beta1, c.beta2))

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Phase 1 (wgangp_64x64.py): a critic step, and a generator step after every
        n_critic-th critic step. E is not touched."""
        c, g, d = self.config, self.nets_["g"], self.nets_["d"]
        fake = g(torch.randn(x.shape[0], c.latent, device=x.device))
        gp = gradient_penalty(d, x, fake)
        wdist = d(x)[0].float().mean() - d(fake.detach())[0].float().mean()
        self.optimize(-wdist + c.gp_lambda * gp, "d")
        out = {"wdist": wdist.detach(), "gp": gp.detach()}
        if self.critic_steps() % c.n_critic == 0:
            with weights_frozen(d):
                loss_g = -d(fake)[0].float().mean()
            self.optimize(loss_g, "g")
            out["g"] = loss_g.detach()
        return out

    def train(self, data: torch.Tensor, *, run_dir=None, resume: bool = False,
              quiet: bool = True, on_epoch_end=None) -> list[dict]:
        """Phase 1, the GAN, for `epochs` through the engine (checkpointed in run_dir), then
        phase 2, the encoder, for `encoder_epochs` (its metrics in `encoder_history_`).
        Returns phase 1's per-epoch metrics."""
        history = super().train(data, run_dir=run_dir, resume=resume, quiet=quiet,
                                on_epoch_end=on_epoch_end)
        c = self.config
        epochs = c.epochs if c.encoder_epochs is None else c.encoder_epochs
        self.encoder_history_: list[dict] = []
        if epochs:
            phase = _EncoderPhase(self, image_size=c.image_size, epochs=epochs,
                                  batch_size=c.batch_size, seed=c.seed, device=c.device,
                                  epoch_images=c.epoch_images)
            self.encoder_history_ = phase.train(data, quiet=quiet)
        return history

    def critic_steps(self) -> int:
        """Critic updates so far, read from its Adam state, so that a resumed run keeps the
        n_critic rhythm of the uninterrupted one."""
        state = self.optimizers_["d"].state.get(next(self.nets_["d"].parameters()))
        return int(state["step"]) if state else 0

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """E(x): (B, C, H, W) -> (B, latent), in (-1, 1) with z_reg "tanh_fc"."""
        z = self.nets_["e"](x)
        return torch.tanh(z) if self.config.z_reg == "tanh_fc" else z

    def izif(self, x: torch.Tensor, x_hat: torch.Tensor | None = None) -> torch.Tensor:
        """Per-image izi_f loss = anomaly score A(x) (Schlegl et al. 2019, Eq. 4;
        anomaly_detection.py: MSE(x, G(E(x))) + kappa * MSE(f(G(E(x))), f(x)), each a mean
        over one image's pixels / features): (B,)."""
        d = self.nets_["d"]
        x_hat = self.reconstruct(x) if x_hat is None else x_hat
        _, f_x = d(x)
        _, f_hat = d(x_hat)
        res = (x - x_hat.float()).pow(2).flatten(1).mean(1)
        feat = (f_x.float() - f_hat.float()).pow(2).flatten(1).mean(1)
        return res + self.config.kappa * feat

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.izif(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets_["g"](self.encode(x))

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x).float() - x).pow(2).mean(1)


class _EncoderPhase(Trainable):
    """f-AnoGAN's phase 2 (z_encoding_izif.py train_enc_izi) as a Trainable the engine runs:
    E learns the batch-mean izi_f loss with RMSProp; G and the critic stay fixed, G in
    inference mode (their is_training=False), E's batch norm in training mode."""

    name = "f-anogan-encoder"

    def __init__(self, det: FAnoGAN, **params) -> None:
        super().__init__(**params)
        self.det = det
        self.channels_, self.device_ = det.channels_, det.device_
        self.nets_ = {"e": det.nets_["e"]}
        self.optimizers_ = self.optimizers()

    def build(self, channels: int) -> dict[str, nn.Module]:
        return {"e": self.det.nets_["e"]}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"e": tf_rmsprop(self.det.nets_["e"].parameters(), self.det.config.encoder_lr)}

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        g, d = self.det.nets_["g"], self.det.nets_["d"]
        g.eval()
        d.eval()
        with weights_frozen(g, d):
            loss = self.det.izif(x).mean()
        self.optimize(loss, "e")
        return {"izif": loss.detach()}
