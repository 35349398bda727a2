"""Variational autoencoders: VAE, beta-VAE, FactorVAE and beta-TCVAE (one family, one file).

A conv encoder gives the posterior q(z|x) = N(mu, diag(exp(logvar))) of `latent` dims, the
mirrored conv decoder the logits of p(x|z): for beta-vae, factor-vae and beta-tcvae
disentanglement_lib's nets (`arch="dlib"`, genad.nn.dlib: no normalisation, Glorot init), for
vae the DCGAN-style DCEncoder / DCDecoder with BatchNorm and PyTorch's default initialisation
(`arch="dcgan"`). Images inside genad are in [-1, 1]; the
likelihood sees them as x01 = (x + 1) / 2 in [0, 1]:

    likelihood="bernoulli"  recon = sum BCE(logits, x01) - H(x01)  (disentanglement_lib's
                            `bernoulli_loss` with `subtract_true_image_entropy=True`)
    likelihood="gaussian"   recon = sum (sigmoid(logits) - x01)^2  (its `l2_loss`)

H(x01), the entropy of the image read as pixel probabilities, is 0 for binary images such as
dSprites, where recon is exactly -log p(x|z). For grey images it is a constant of each image
that changes no gradient, but it varies from image to image and would dominate the score: on
the digits (leave-one-out, digit 3; 6 epochs, seeds 0-2) the negative ELBO ranks at AUROC
0.73 / 0.64 / 0.65 with it and 0.95 / 0.90 / 0.88 without it (the known bias of likelihoods
towards simple images). With it removed, recon is 0 for a perfect reconstruction.

Training losses per image (z = mu + std * eps, one sample; kl in closed form):

    vae / beta-vae  recon + beta * KL                         (Higgins et al. 2017, Eq. 4)
    factor-vae      recon + KL + gamma * TC_D                 (Kim & Mnih 2018, Eq. 2)
    beta-tcvae      recon + KL + (beta - 1) * TC_MWS          (Chen et al. 2018, Eq. 5 with
                                                                alpha = gamma = 1)

Detector API: `score` is the negative ELBO with recon as above (`score_kind="elbo"`, the
default) or the mean squared reconstruction error of the decoder mean (`"recon"`, the `ae`
score). Both use z = mu, so scores are deterministic, and both are per pixel value (the
negative ELBO is divided by C*H*W, which ranks images as the negative ELBO itself does and
keeps the numbers small).
`reconstruct` decodes mu to [-1, 1]; `pixel_map` is the squared error averaged over channels.
For disentanglement work: `encode`, `decode`, `sample`, `traverse`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genad.data.base import DEFAULT_SIZE
from genad.errors import ConfigError
from genad.models.base import Detector, DetectorConfig
from genad.models.gan_common import weights_frozen
from genad.models.generative import LatentModel
from genad.nn import DCDecoder, DCEncoder
from genad.nn.dlib import DlibDecoder, DlibEncoder
from genad.registry import register
from genad.trainable import check_choices

LOG_2PI = math.log(2 * math.pi)


# ---- per-sample losses, pure functions on tensors ---------------------------------------------
def gaussian_kl(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) per sample: (B, d) -> (B,), in nats."""
    return 0.5 * (mu.pow(2) + logvar.exp() - logvar - 1).sum(1)


def log_density_gaussian(z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """Elementwise log N(z; mu, exp(logvar)) (the arguments broadcast)."""
    return -0.5 * (LOG_2PI + logvar + (z - mu).pow(2) * torch.exp(-logvar))


def mws_total_correlation(
    z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, dataset_size: int
) -> torch.Tensor:
    """Per-sample total correlation estimate log q(z_i) - sum_d log q(z_id), (B,) in nats.

    Minibatch-weighted sampling (Chen et al. 2018, Sec. 4.1 and their `vae_quant.py`): with
    M = batch size and N = `dataset_size`, log q(z_i) ~ logsumexp_j log q(z_i | x_j) - log(NM)
    and the same per dimension for the marginals. The weights are a constant shift: the
    estimate exceeds disentanglement_lib's (which drops them) by exactly (d - 1) log(NM), and
    equals (d - 1) log N for posteriors that are all the same (a factorised q(z)), so compare
    values at equal N and d. Gradients do not depend on N."""
    m, d = z.shape
    log_q = log_density_gaussian(z[:, None], mu[None], logvar[None])  # [i, j, k]: q(z_ik | x_j)
    log_nm = math.log(dataset_size * m)
    log_qz = torch.logsumexp(log_q.sum(2), dim=1) - log_nm
    log_prod = (torch.logsumexp(log_q, dim=1) - log_nm).sum(1)
    return log_qz - log_prod


def permute_dims(z: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Shuffle each column of z (B, d) across the batch independently (Kim & Mnih 2018, Alg. 1):
    samples of prod_k q(z_k) from samples of q(z)."""
    device = generator.device if generator is not None else z.device
    keys = torch.rand(z.shape, generator=generator, device=device).to(z.device)
    return z.gather(0, keys.argsort(dim=0))


# ---- configs ----------------------------------------------------------------------------------
LIKELIHOODS = ("bernoulli", "gaussian")
SCORE_KINDS = ("elbo", "recon")
ARCHS = ("dcgan", "dlib")
# beta-vae, factor-vae and beta-tcvae build disentanglement_lib's conv_encoder / deconv_decoder
# (Locatello et al. 2019), the nets of the published dSprites figures: on the whole dSprites
# grid at 32 px beta-VAE read MIG 0.29 after 16,800 steps with them against 0.05 with the
# BatchNorm DCGAN nets (docs/curves/README.md). `vae`, the anomaly detector, keeps "dcgan".


@dataclass
class _VAEBaseConfig(DetectorConfig):
    image_size: int = 64  # dSprites resolution (Locatello et al. 2019, disentanglement_lib)
    latent: int = 10  # encoder.num_latent = 10 (Locatello et al. 2019, model_configs/shared.gin)
    width: int = 32  # first conv stage; 32 filters as the conv_encoder (Locatello et al. 2019)
    lr: float = 1e-4  # vae/AdamOptimizer.learning_rate (Locatello et al. 2019, shared.gin)
    beta1: float = 0.9  # vae/AdamOptimizer.beta1 (Locatello et al. 2019, shared.gin)
    beta2: float = 0.999  # vae/AdamOptimizer.beta2 (Locatello et al. 2019, shared.gin)
    likelihood: str = "bernoulli"  # reconstruction_loss = bernoulli_loss (shared.gin)
    score_kind: str = "elbo"  # anomaly score: negative ELBO ("elbo") or squared error ("recon")
    arch: str = "dcgan"  # "dcgan": genad.nn.DCEncoder / DCDecoder (BatchNorm); "dlib":
    #   disentanglement_lib's conv_encoder / deconv_decoder (genad.nn.dlib, no normalisation)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices(self, likelihood=LIKELIHOODS, score_kind=SCORE_KINDS, arch=ARCHS)
        if self.arch == "dlib" and (self.image_size < 16 or self.image_size % 16):
            raise ConfigError(f"arch 'dlib' needs an image_size divisible by 16, got "
                              f"{self.image_size}")
        if self.latent < 1 or self.width < 1 or self.lr <= 0:
            raise ConfigError("latent, width and lr must be positive")


@dataclass
class VAEConfig(_VAEBaseConfig):
    image_size: int = DEFAULT_SIZE  # the detectors' shared default, not the family's 64
    latent: int = 10  # as the family (Locatello et al. 2019); on the digits 100 ranked worse
    beta: float = 1.0  # KL weight; 1 = the ELBO (Kingma & Welling 2014)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta < 0:
            raise ConfigError(f"beta must be >= 0, got {self.beta}")


@dataclass
class BetaVAEConfig(VAEConfig):
    image_size: int = 64  # dSprites resolution (Higgins et al. 2017)
    beta: float = 4.0  # beta = 4 in the dSprites experiments (Higgins et al. 2017)
    arch: str = "dlib"  # disentanglement_lib's conv nets (the note above ARCHS)


@dataclass
class FactorVAEConfig(_VAEBaseConfig):
    gamma: float = 35.0  # TC weight on dSprites (Kim & Mnih 2018, Sec. 4); Locatello: 10-100
    arch: str = "dlib"  # disentanglement_lib's conv nets (the note above ARCHS)
    d_layers: int = 6  # discriminator: MLP of 6 hidden layers (Kim & Mnih 2018, App. A)
    d_units: int = 1000  # of 1000 units each, LeakyReLU(0.2) (Kim & Mnih 2018, App. A)
    d_lr: float = 1e-4  # discriminator Adam lr (Kim & Mnih 2018, App. A; shared.gin)
    d_beta1: float = 0.5  # discriminator Adam beta1 (Kim & Mnih 2018, App. A; shared.gin)
    d_beta2: float = 0.9  # discriminator Adam beta2 (Kim & Mnih 2018, App. A; shared.gin)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.batch_size < 2:
            raise ConfigError("factor-vae needs batch_size >= 2 (the batch is split in halves)")
        if self.d_layers < 1 or self.d_units < 1 or self.gamma < 0:
            raise ConfigError("d_layers and d_units must be >= 1 and gamma >= 0")


@dataclass
class BetaTCVAEConfig(_VAEBaseConfig):
    beta: float = 6.0  # TC weight, the authors' command line (Chen et al. 2018, README)
    arch: str = "dlib"  # disentanglement_lib's conv nets (the note above ARCHS)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.beta < 0:
            raise ConfigError(f"beta must be >= 0, got {self.beta}")


# ---- the models -------------------------------------------------------------------------------
@register("vae")
class VAE(LatentModel, Detector):
    """VAE; beta-VAE with beta != 1. Score: negative ELBO per pixel value (see module doc)."""

    Config = VAEConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        if c.arch == "dlib":
            return {"encoder": DlibEncoder(c.image_size, channels, c.latent, c.width),
                    "decoder": DlibDecoder(c.image_size, channels, c.latent, c.width)}
        enc = DCEncoder(c.image_size, channels, 2 * c.latent, c.width)
        enc.head = nn.Conv2d(enc.out_width, 2 * c.latent, 4, 1, 0)  # with bias: mu and logvar
        dec = DCDecoder(c.image_size, channels, c.latent, c.width)
        dec.net[-1] = nn.Identity()  # logits, not tanh
        # PyTorch's default initialisation, not DCGAN's N(0, 0.02): with the latter the
        # reconstruction loss on 2,000 sprites was twice as high after 10 epochs (97 vs 46)
        return {"encoder": enc, "decoder": dec}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        params = [*self.nets_["encoder"].parameters(), *self.nets_["decoder"].parameters()]
        return {"vae": torch.optim.Adam(params, c.lr, betas=(c.beta1, c.beta2))}

    # ---- pieces ---------------------------------------------------------------------------
    def _posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        mu, logvar = self.nets_["encoder"](x).float().chunk(2, dim=1)
        return mu, logvar

    def _logits(self, z: torch.Tensor) -> torch.Tensor:
        return self.nets_["decoder"](z).float()

    def _recon_loss(self, logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
        """recon per image (B,) of images x in [-1, 1] (see the module doc)."""
        target = ((x.float() + 1) / 2).clamp(0, 1)
        if self.config.likelihood == "bernoulli":  # minus the target's entropy: 0 when perfect
            per = F.binary_cross_entropy_with_logits(logits, target, reduction="none")
            per = per + torch.xlogy(target, target) + torch.xlogy(1 - target, 1 - target)
        else:
            per = (torch.sigmoid(logits) - target).pow(2)
        return per.flatten(1).sum(1)

    def _regulariser(
        self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, kl: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """The loss beyond the reconstruction (batch mean) and extra terms to log."""
        return self.config.beta * kl, {}

    def _vae_step(self, x: torch.Tensor) -> tuple[dict[str, torch.Tensor], torch.Tensor]:
        mu, logvar = self._posterior(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp()
        recon = self._recon_loss(self._logits(z), x).mean()
        kl = gaussian_kl(mu, logvar).mean()
        reg, extra = self._regulariser(z, mu, logvar, kl)
        self.optimize(recon + reg, "vae")
        logs = {"recon": recon.detach(), "kl": kl.detach()}
        return {**logs, **{k: v.detach() for k, v in extra.items()}}, z.detach()

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        return self._vae_step(x)[0]

    # ---- detector API -------------------------------------------------------------------------
    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self._logits(self._posterior(x)[0])) * 2 - 1

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x) - x.float()).pow(2).mean(1)  # (B, H, W)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        if self.config.score_kind == "recon":
            return self.pixel_map(x).flatten(1).mean(1)
        mu, logvar = self._posterior(x)
        nll = self._recon_loss(self._logits(mu), x) + gaussian_kl(mu, logvar)
        return nll / x[0].numel()

    # ---- disentanglement API -------------------------------------------------------------------
    def encode(self, data: Any) -> np.ndarray:
        """(N, latent) float32 posterior means of images (anything decision_function takes)."""
        self.check_fitted()
        mu = self.evaluate_batches(self.prepared(data), lambda b: self._posterior(b)[0])
        return mu.numpy()

    def decode(self, z: Any) -> np.ndarray:
        """(N, C, S, S) float32 decoder means in [-1, 1] of codes z (N, latent)."""
        self.check_fitted()
        z = torch.as_tensor(z, dtype=torch.float32).reshape(-1, self.config.latent)
        return self.evaluate_batches(z, lambda b: torch.sigmoid(self._logits(b)) * 2 - 1).numpy()

    @property
    def latent_dim(self) -> int:
        return self.config.latent

    def sample_latent(self, n: int, seed: int = 0) -> np.ndarray:
        """(n, latent) codes z ~ N(0, I) drawn with `seed`."""
        g = torch.Generator().manual_seed(seed)
        return torch.randn(n, self.config.latent, generator=g).numpy()

    def sample(self, n: int, seed: int = 0) -> np.ndarray:
        """(n, C, S, S) images in [-1, 1] decoded from z ~ N(0, I) drawn with `seed`."""
        return self.generate(n, seed)

    def code_specs(self) -> list[dict[str, Any]]:
        """Every latent dimension is a continuous code, traversed over [-2, 2] (two prior
        standard deviations)."""
        return [{"name": f"z{i}", "kind": "continuous", "range": (-2.0, 2.0), "columns": [i]}
                for i in range(self.config.latent)]

    def traverse(self, image: Any, dim: int, values: Any) -> np.ndarray:
        """(len(values), C, S, S): `image`'s code (its posterior mean) with dimension `dim` set
        to each of `values` in turn, decoded. `image` is one image, (C, H, W) or (H, W)."""
        if not 0 <= int(dim) < self.config.latent:
            raise ConfigError(f"dim must be in 0..{self.config.latent - 1}, got {dim}")
        x = image if isinstance(image, torch.Tensor) else torch.as_tensor(np.asarray(image))
        while x.ndim < 4:  # (H, W) or (C, H, W) -> (1, C, H, W)
            x = x.unsqueeze(0)
        values = np.atleast_1d(np.asarray(values, dtype=np.float32))
        z = np.repeat(self.encode(x[:1]), len(values), axis=0)
        z[:, int(dim)] = values
        return self.decode(z)


@register("beta-vae")
class BetaVAE(VAE):
    """beta-VAE (Higgins et al. 2017): the VAE with the KL weighted by beta > 1."""

    Config = BetaVAEConfig


@register("factor-vae")
class FactorVAE(VAE):
    """FactorVAE (Kim & Mnih 2018): the ELBO plus gamma * TC, the total correlation estimated
    with the density-ratio trick: a discriminator D tells samples of q(z) from samples of
    prod_k q(z_k); TC ~ E[logit D(z)].

    Each engine batch is used as the paper's two batches: the VAE loss (with D frozen) uses all
    of it; D is then trained on z of the first half (label 1) against `permute_dims` of z of
    the second half (label 0), so that the permuted codes come from other images."""

    Config = FactorVAEConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        layers: list[nn.Module] = []
        width = c.latent
        for _ in range(c.d_layers):
            layers += [nn.Linear(width, c.d_units), nn.LeakyReLU(0.2, inplace=True)]
            width = c.d_units
        layers.append(nn.Linear(width, 1))  # logit of "from q(z)"
        return {**super().build(channels), "d": nn.Sequential(*layers)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        d = torch.optim.Adam(self.nets_["d"].parameters(), c.d_lr, betas=(c.d_beta1, c.d_beta2))
        return {**super().optimizers(), "d": d}

    def _regulariser(
        self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, kl: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        with weights_frozen(self.nets_["d"]):
            tc = self.nets_["d"](z).float().mean()
        return kl + self.config.gamma * tc, {"tc": tc}

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        logs, z = self._vae_step(x)
        half = len(z) // 2
        real = self.nets_["d"](z[:half]).float()
        fake = self.nets_["d"](permute_dims(z[half:])).float()
        loss = 0.5 * (
            F.binary_cross_entropy_with_logits(real, torch.ones_like(real))
            + F.binary_cross_entropy_with_logits(fake, torch.zeros_like(fake))
        )
        self.optimize(loss, "d")
        return {**logs, "d": loss.detach()}


@register("beta-tcvae")
class BetaTCVAE(VAE):
    """beta-TCVAE (Chen et al. 2018) with alpha = gamma = 1: ELBO + (beta - 1) * TC, the TC
    estimated on the minibatch by minibatch-weighted sampling (`mws_total_correlation`), as
    disentanglement_lib writes it. N is the number of training images. The logged `tc` is
    that estimate, constant included: about (d - 1) log N (67.5 nats for d = 10 and
    N = 1,800) for a factorised q(z), more for a dependent one."""

    Config = BetaTCVAEConfig

    def _regulariser(
        self, z: torch.Tensor, mu: torch.Tensor, logvar: torch.Tensor, kl: torch.Tensor
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        n = getattr(self, "n_train_", len(z))  # the images the engine trains on (Detector.fit)
        tc = mws_total_correlation(z, mu, logvar, n).mean()
        return kl + (self.config.beta - 1) * tc, {"tc": tc}
