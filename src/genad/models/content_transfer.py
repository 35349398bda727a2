"""Unsupervised content transfer (Press, Galanti, Benaim, Wolf: "Emerging Disentanglement in
Auto-Encoder Based Unsupervised Image Content Transfer", ICLR 2019).

Domain A = images without an attribute, domain B = the same kind of images with it. A
shared encoder E1 codes the common content, a small encoder E2 codes B's extra content, and
one decoder D decodes [E1(x), E2(x)]; A images are decoded from [E1(a), 0]. Losses:
reconstruction of both domains, and a domain-confusion term: a discriminator on E1's code
learns to tell A from B while E1 learns to make both look like A (alternating steps, as the
reference code github.com/oripress/ContentDisentanglement train.py does). Then
    add(a, b)    = D([E1(a), E2(b)])   a with b's attribute
    remove(b)    = D([E1(b), 0])       b without its attribute
    swap(x, y)   = D([E1(x), E2(y)]), D([E1(y), E2(x)])
The networks are genad's DCGAN blocks (BatchNorm; the paper uses InstanceNorm); A and B go
through E1 and D as one batch so that BatchNorm's statistics cannot tell the domains apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genad.data.base import ImageSet, as_images, resize
from genad.errors import ConfigError, DataError
from genad.nn import DCDecoder, DCEncoder, init_dcgan_weights
from genad.registry import register
from genad.trainable import Trainable, TrainableConfig

Images = ImageSet | torch.Tensor | np.ndarray


@dataclass
class ContentTransferConfig(TrainableConfig):
    """Defaults from the reference code (github.com/oripress/ContentDisentanglement, train.py
    and models.py) unless a comment says where and why genad departs for CPU size."""

    # image_size: paper 128 (CelebA crops); genad's default 32 holds digits and runs on a CPU
    latent_common: int = 128  # E1 code; paper: 487 x 2 x 2 + a 2 x 16 x 16 skip at 128 px
    latent_separate: int = 8  # E2 code, small by design; paper: --sep 25 channels x 2 x 2, a
    #                           twentieth of E1's; genad keeps about that ratio (8 / 128)
    width: int = 32  # first-stage channels of E1, E2 and D (paper: 32, models.py)
    lr: float = 2e-4  # Adam for E1, E2, D (paper: --lr 0.0002)
    beta1: float = 0.5  # Adam betas (0.5, 0.999) for both optimisers (paper: train.py)
    disc_lr: float = 2e-4  # discriminator Adam (paper: --disc_lr 0.0002)
    disc_weight: float = 0.1  # weight of the confusion loss. Paper: --disc_weight 0.001 over
    #                           1.25M steps; in a few thousand CPU steps 0.001 barely acts
    #                           (digits 16 px, 220 steps: add 24% vs 70% at 0.1)
    disc_hidden: int = 512  # discriminator MLP code -> 512 -> 1, LeakyReLU 0.2 (paper: Disc)
    disc_steps: int = 1  # discriminator updates per step (paper: 1, alternating)
    clip: float = 5.0  # gradient-norm clipping of both updates (paper: clip_grad_norm_ 5)
    batch_size: int = 32  # images per domain per step (paper: --bs 32)
    epochs: int = 20  # paper: 1.25M iterations on CelebA; 0 = networks at initialisation

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.latent_common, self.latent_separate, self.width, self.batch_size,
               self.disc_steps) < 1:
            raise ConfigError("latent sizes, width and batch_size must be >= 1")
        if self.epochs < 0 or self.disc_weight < 0:
            raise ConfigError("epochs and disc_weight must be >= 0")


# ---- losses (pure functions) ----------------------------------------------------------------
def reconstruction_loss(rec_a: torch.Tensor, a: torch.Tensor, rec_b: torch.Tensor,
                        b: torch.Tensor) -> torch.Tensor:
    """MSE of A from [E1(a), 0] plus MSE of B from [E1(b), E2(b)] (paper: mse + mse)."""
    return F.mse_loss(rec_a, a) + F.mse_loss(rec_b, b)


def confusion_loss(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """E1's adversarial term: the discriminator should call both domains' codes A (label 0),
    as the reference code pushes both to one label: bce(d(a), 0) + bce(d(b), 0)."""
    bce = F.binary_cross_entropy_with_logits
    return bce(logits_a, torch.zeros_like(logits_a)) + bce(logits_b, torch.zeros_like(logits_b))


def discriminator_loss(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """The discriminator's term: A codes -> 0, B codes -> 1 (logits; BCE)."""
    bce = F.binary_cross_entropy_with_logits
    return bce(logits_a, torch.zeros_like(logits_a)) + bce(logits_b, torch.ones_like(logits_b))


class DomainDiscriminator(nn.Module):
    """(B, latent_common) -> (B,) logit of "domain B" (paper's Disc, minus its sigmoid)."""

    def __init__(self, latent: int, hidden: int = 512) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(latent, hidden), nn.LeakyReLU(0.2), nn.Linear(hidden, 1))

    def forward(self, code: torch.Tensor) -> torch.Tensor:
        return self.net(code).flatten()


@register("content-transfer", kind="transfer")
class ContentTransfer(Trainable):
    """Fit on unpaired images of domain A (without the attribute) and B (with it), then
    add / remove / swap / interpolate B's attribute. Images in: ImageSet, (N, C, H, W) uint8
    or float in [-1, 1]; images out: float32 numpy (N, C, S, S) in [-1, 1], S = image_size."""

    Config = ContentTransferConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        nets = {
            "e1": DCEncoder(c.image_size, channels, c.latent_common, c.width),
            "e2": DCEncoder(c.image_size, channels, c.latent_separate, c.width),
            "dec": DCDecoder(c.image_size, channels, c.latent_common + c.latent_separate, c.width),
        }
        for net in nets.values():
            net.apply(init_dcgan_weights)
        nets["disc"] = DomainDiscriminator(c.latent_common, c.disc_hidden)
        return nets

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c, n = self.config, self.nets_
        ae = [p for k in ("e1", "e2", "dec") for p in n[k].parameters()]
        return {"ae": torch.optim.Adam(ae, c.lr, betas=(c.beta1, 0.999)),
                "disc": torch.optim.Adam(n["disc"].parameters(), c.disc_lr, betas=(c.beta1, 0.999))}

    def train_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        """batch (B, 2, C, S, S): [:, 0] domain A, [:, 1] domain B (unpaired)."""
        n = self.nets_
        a, b = batch[:, 0], batch[:, 1]
        k = len(a)
        common = n["e1"](torch.cat([a, b]))  # (2B, latent_common)
        sep_b = n["e2"](b)  # (B, latent_separate)
        sep = torch.cat([torch.zeros_like(sep_b), sep_b])  # A's E2 part is zeros
        rec = n["dec"](torch.cat([common, sep], 1))  # (2B, C, S, S)
        rec_loss = reconstruction_loss(rec[:k], a, rec[k:], b)
        loss = rec_loss
        out = {"rec": rec_loss.detach()}
        if self.config.disc_weight > 0:
            logits = n["disc"](common)
            conf = confusion_loss(logits[:k], logits[k:])
            loss = loss + self.config.disc_weight * conf
            out["conf"] = conf.detach()
        self.optimize(loss, "ae", clip=self.config.clip)
        for _ in range(self.config.disc_steps if self.config.disc_weight > 0 else 0):
            logits = n["disc"](common.detach())
            d_loss = discriminator_loss(logits[:k], logits[k:])
            self.optimize(d_loss, "disc", clip=self.config.clip)
            out["disc"] = d_loss.detach()
        return out

    # ---- the public API ---------------------------------------------------------------------
    def fit(self, a: Images, b: Images, *, run_dir: str | Path | None = None,
            resume: bool = False, quiet: bool = True) -> ContentTransfer:
        """Train on images `a` (domain A) and `b` (domain B) through genad's training engine
        (progress bar, NaN check, metrics.jsonl and checkpoints in run_dir). Each epoch sees
        max(len(a), len(b)) pairs; the smaller domain is cycled. Returns self."""
        xa, xb = (resize(as_images(d), self.config.image_size) for d in (a, b))
        if xa.shape[1] != xb.shape[1]:
            raise DataError(f"domain A has {xa.shape[1]} channels and B {xb.shape[1]}; "
                            "convert one (e.g. to RGB) so that both match")
        if min(len(xa), len(xb)) < 2:
            raise DataError("content transfer needs at least 2 images in each domain")
        gen = torch.Generator().manual_seed(self.config.seed)
        n = max(len(xa), len(xb))
        pick = [torch.randperm(len(x), generator=gen).repeat(n // len(x) + 1)[:n] for x in (xa, xb)]
        pairs = torch.stack([xa[pick[0]], xb[pick[1]]], 1)  # (N, 2, C, S, S)
        self.setup(int(xa.shape[1]))
        self.train(pairs, run_dir=run_dir, resume=resume, quiet=quiet)
        for net in self.nets_.values():
            net.eval()
        return self

    def encode(self, x: Images) -> tuple[np.ndarray, np.ndarray]:
        """(E1 code (N, latent_common), E2 code (N, latent_separate)), float32."""
        t = self.prepare(x)
        return (self.evaluate_batches(t, self.nets_["e1"]).numpy(),
                self.evaluate_batches(t, self.nets_["e2"]).numpy())

    def decode(self, common: Any, separate: Any) -> np.ndarray:
        """D([common, separate]) -> (N, C, S, S) float32 in [-1, 1]."""
        self.check_fitted()
        z = torch.cat([torch.as_tensor(common).float(), torch.as_tensor(separate).float()], 1)
        return self.evaluate_batches(z, self.nets_["dec"]).numpy()

    def add(self, a: Images, donors: Images) -> np.ndarray:
        """a with the attribute of donors (B images): D([E1(a), E2(donor)]). donors (N, ...)
        pairs with a, or one donor serves every image."""
        common, _ = self.encode(a)
        _, sep = self.encode(donors)
        if len(sep) not in (1, len(common)):
            raise DataError(f"{len(sep)} donors for {len(common)} images: give one or as many")
        return self.decode(common, sep if len(sep) > 1 else np.repeat(sep, len(common), 0))

    def remove(self, b: Images) -> np.ndarray:
        """b without its attribute: D([E1(b), 0])."""
        common, sep = self.encode(b)
        return self.decode(common, np.zeros_like(sep))

    def reconstruct(self, x: Images, has_attribute: bool) -> np.ndarray:
        """D([E1(x), E2(x)]) for B images, D([E1(x), 0]) for A images."""
        common, sep = self.encode(x)
        return self.decode(common, sep if has_attribute else np.zeros_like(sep))

    def swap(self, x: Images, y: Images) -> tuple[np.ndarray, np.ndarray]:
        """Exchange the attributes of B images x and y (paired): (x with y's, y with x's)."""
        return self.add(x, y), self.add(y, x)

    def interpolate(self, x: Images, donor: Images, steps: int = 5,
                    own: bool = True) -> np.ndarray:
        """(N, steps, C, S, S): E2 code moving linearly from x's own (own=False: from zero,
        x an A image) to the donor's (one donor, or one per image)."""
        if steps < 2:
            raise ConfigError(f"interpolate needs steps >= 2, got {steps}")
        common, sep_x = self.encode(x)
        _, sep_d = self.encode(donor)
        start = sep_x if own else np.zeros_like(sep_x)
        t = np.linspace(0, 1, steps, dtype=np.float32)[None, :, None]  # (1, steps, 1)
        codes = start[:, None] * (1 - t) + sep_d[:, None] * t  # (N, steps, latent_separate)
        out = self.decode(np.repeat(common, steps, 0), codes.reshape(-1, codes.shape[-1]))
        return out.reshape(len(common), steps, *out.shape[1:])

    def grid(self, a: Images, donors: Images) -> np.ndarray:
        """(len(a), len(donors), C, S, S): every A image with every donor's attribute."""
        common, _ = self.encode(a)
        _, sep = self.encode(donors)
        n, m = len(common), len(sep)
        out = self.decode(np.repeat(common, m, 0), np.tile(sep, (n, 1)))
        return out.reshape(n, m, *out.shape[1:])

    # ---- internals --------------------------------------------------------------------------
    def prepare(self, x: Images) -> torch.Tensor:
        self.check_fitted()
        t = as_images(x)
        if t.shape[1] != self.channels_:
            raise DataError(f"the model was trained on {self.channels_}-channel images, got "
                            f"{t.shape[1]} channels")
        return resize(t, self.config.image_size)
