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
The networks are genad's DCGAN blocks (BatchNorm; `norm="instance"` gives the paper's
InstanceNorm); A and B go through E1 and D as one batch so that BatchNorm's statistics
cannot tell the domains apart.

genad adds two non-adversarial terms (on by default; `mmd_weight=0, linear_weight=0,
mmd_bank=0, standardize=False` is the paper): an RBF MMD between E1(a) and E1(b) in each batch,
on codes standardised per dimension. Why: in a CPU budget of ~2,000 steps the discriminator
never learns what a probe trained afterwards finds (a fresh one needs ~3,000 steps on frozen
codes), so E1 leaked the domain (MNIST: 0.93-0.98 balanced accuracy); the MMD is a two-sample
statistic that needs no training. The RBF kernel, though, hardly sees a shift along the codes'
low-variance directions, where the remaining leak sits, so a second untrained term
(`linear_weight`) takes Fisher's discriminant direction, computed in closed form each step from
the batch and a bank of the last `mmd_bank` codes of each domain (at most a quarter of the
smaller domain's images), and penalises the batch's separation along it.
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
    norm: str = "batch"  # "batch" (genad's DCGAN blocks) or "instance" (paper: InstanceNorm2d,
    #                      no affine, in E1, E2 and D; the same in train and eval mode)
    confusion: str = "a"  # E1's target for the discriminator: "a" = call both domains A
    #                       (paper: bce(d(a), B_label) + bce(d(b), B_label)) or "half" = 0.5,
    #                       the maximum-entropy target (domain confusion, Tzeng et al. 2015)
    standardize: bool = True  # the discriminator and the MMD see E1's codes standardised per
    #                           dimension over the batch (A and B pooled), as the leakage probe
    #                           does (paper: raw codes; False)
    mmd_weight: float = 3.0  # weight of a multi-bandwidth RBF MMD between E1(a) and E1(b) in the
    #   batch, a non-adversarial match of the two code distributions (Variational Fair
    #   Autoencoder, Louizos et al. 2016); paper: 0 (none). In a CPU budget the adversary never
    #   catches up (MNIST frame 16 px, 12 epochs: its loss at chance, leakage 0.98); with the
    #   MMD on standardised codes, batch 64, 24 epochs: leakage 0.58, add 0.995, remove 1.0
    linear_weight: float = 1.0  # weight of a closed-form linear adversary (`linear_witness`):
    #   Fisher's discriminant direction between E1(a) and E1(b), computed each step from the
    #   batch and the bank (no training, detached), and the batch's separation along it as
    #   the loss; paper: none (0). E1's codes are nearly low-rank (covariance eigenvalues 40,
    #   30, 26, 15, ... down to 0.002) and the leak sits in low-variance directions that the
    #   isotropic RBF kernel hardly sees (MNIST digit 32 px: mean difference 0.5 of a pairwise
    #   distance of 16, LDA on the codes 0.79). MNIST digit 32 px, batch 64, 24 epochs, bank
    #   1024: leakage 0.77 (MMD alone) -> 0.53, add 0.958, remove 0.989, cycle MAE 0.059;
    #   frame 0.63 -> 0.50 (benchmarks/content_transfer.py)
    mmd_bank: int = 1024  # earlier detached E1 codes of each domain (newest first) that the
    #   MMD and the linear adversary add to the batch's samples; gradients reach only the
    #   batch. 0 = the batch alone (paper: no such term). Fisher's direction needs it (a
    #   128 x 128 covariance from 64 + 64 codes is singular). At fit it is capped at a quarter
    #   of the smaller domain's images (`bank_size_`): a bank that holds most of a small
    #   training set wrecks the term (bundled digits, frame 16 px, 240 steps, seed 0: leakage
    #   0.54 / 0.56 / 0.85 / 0.96 with banks 128 / 256 / 512 / 1024, 0.51 without the term;
    #   the cap gives 179 there: 0.553 / 0.528 / 0.622 over seeds 0-2, against 0.508 / 0.556 /
    #   0.544 without the term); MNIST's 4,800 training images a domain leave 1024
    ridge: float = 0.01  # added to the covariance's diagonal for the linear adversary (the
    #                      codes are standardised: variance 1 per dimension)
    clip: float = 5.0  # gradient-norm clipping of both updates (paper: clip_grad_norm_ 5)
    batch_size: int = 32  # images per domain per step (paper: --bs 32)
    epochs: int = 20  # paper: 1.25M iterations on CelebA; 0 = networks at initialisation

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.ridge <= 0:
            raise ConfigError(f"ridge must be > 0, got {self.ridge}")
        if min(self.latent_common, self.latent_separate, self.width, self.batch_size,
               self.disc_steps) < 1:
            raise ConfigError("latent sizes, width and batch_size must be >= 1")
        if min(self.epochs, self.disc_weight, self.mmd_weight, self.mmd_bank,
               self.linear_weight) < 0:
            raise ConfigError("epochs, disc_weight, mmd_weight, linear_weight and mmd_bank "
                              "must be >= 0")
        if self.norm not in ("batch", "instance"):
            raise ConfigError(f"norm must be 'batch' or 'instance', got {self.norm!r}")
        if self.confusion not in ("a", "half"):
            raise ConfigError(f"confusion must be 'a' or 'half', got {self.confusion!r}")


# ---- losses (pure functions) ----------------------------------------------------------------
def reconstruction_loss(rec_a: torch.Tensor, a: torch.Tensor, rec_b: torch.Tensor,
                        b: torch.Tensor) -> torch.Tensor:
    """MSE of A from [E1(a), 0] plus MSE of B from [E1(b), E2(b)] (paper: mse + mse)."""
    return F.mse_loss(rec_a, a) + F.mse_loss(rec_b, b)


def confusion_loss(logits_a: torch.Tensor, logits_b: torch.Tensor,
                   target: float = 0.0) -> torch.Tensor:
    """E1's adversarial term: bce(d(a), target) + bce(d(b), target). target 0 = the
    discriminator should call both domains' codes A (the reference code's); 0.5 = it should
    be unsure of both (minimised exactly where d outputs 0.5)."""
    bce = F.binary_cross_entropy_with_logits
    return (bce(logits_a, torch.full_like(logits_a, target))
            + bce(logits_b, torch.full_like(logits_b, target)))


def mmd(x: torch.Tensor, y: torch.Tensor, scales: tuple[float, ...] = (0.25, 0.5, 1, 2, 4)
        ) -> torch.Tensor:
    """Squared maximum mean discrepancy (biased V-statistic) between samples x (N, D) and y
    (M, D) under a sum of RBF kernels exp(-|u - v|^2 / (s * h)), h = the mean squared
    distance of the pooled sample (detached), s in `scales`. 0 for identical sets."""
    z = torch.cat([x, y])
    d2 = torch.cdist(z, z).pow(2)  # (N + M, N + M)
    h = d2.detach().mean().clamp(min=1e-8)
    k = sum(torch.exp(-d2 / (s * h)) for s in scales)
    n = len(x)
    return k[:n, :n].mean() + k[n:, n:].mean() - 2 * k[:n, n:].mean()


def mmd_witness(x: torch.Tensor, y: torch.Tensor, bank_x: torch.Tensor | None = None,
                bank_y: torch.Tensor | None = None,
                scales: tuple[float, ...] = (0.25, 0.5, 1, 2, 4)) -> torch.Tensor:
    """The MMD of `mmd` with each domain's sample enlarged by a bank of earlier (detached)
    codes: X = [x; bank_x], Y = [y; bank_y], w = mean k(., X) - mean k(., Y) (the witness
    function), loss = mean w(x) - mean w(y). Only the rows of the current samples are
    computed (the bank-bank block carries no gradient), so the cost grows linearly with the
    bank. With empty banks it equals `mmd(x, y)`; with banks it estimates the same quantity
    with the witness averaged over many more samples (less noise in the gradient)."""
    empty = x.new_zeros((0, x.shape[1]))
    big_x = torch.cat([x, empty if bank_x is None else bank_x.detach()])
    big_y = torch.cat([y, empty if bank_y is None else bank_y.detach()])
    rows = torch.cat([x, y])  # (n + m, D)
    d2 = torch.cdist(rows, torch.cat([big_x, big_y])).pow(2)  # (n + m, |X| + |Y|)
    h = d2.detach().mean().clamp(min=1e-8)
    k = sum(torch.exp(-d2 / (s * h)) for s in scales)
    nx = len(big_x)
    w = k[:, :nx].mean(1) - k[:, nx:].mean(1)  # witness at each current sample
    return w[:len(x)].mean() - w[len(x):].mean()


def linear_witness(x: torch.Tensor, y: torch.Tensor, bank_x: torch.Tensor | None = None,
                   bank_y: torch.Tensor | None = None, ridge: float = 0.01) -> torch.Tensor:
    """A closed-form linear adversary: d = mean([x; bank_x]) - mean([y; bank_y]) and the
    pooled covariance C of all of them (both detached) give the discriminant direction
    v = (C + ridge I)^-1 d (Fisher's LDA); loss = (mean x - mean y) . v, the current batch's
    separation along it (its expectation is d^T (C + ridge I)^-1 d, the squared Mahalanobis
    distance of the domain means). The gradient moves x's and y's codes towards each other
    along v, which weighs directions of small variance up."""
    with torch.no_grad():
        xs = torch.cat([x] + ([] if bank_x is None else [bank_x]))
        ys = torch.cat([y] + ([] if bank_y is None else [bank_y]))
        d = xs.mean(0) - ys.mean(0)
        pool = torch.cat([xs - xs.mean(0), ys - ys.mean(0)])
        cov = pool.T @ pool / max(len(pool) - 2, 1)
        eye = torch.eye(len(cov), dtype=torch.float64, device=cov.device)
        v = torch.linalg.solve(cov.double() + ridge * eye, d.double()).to(x.dtype)
    return (x.mean(0) - y.mean(0)) @ v


def discriminator_loss(logits_a: torch.Tensor, logits_b: torch.Tensor) -> torch.Tensor:
    """The discriminator's term: A codes -> 0, B codes -> 1 (logits; BCE)."""
    bce = F.binary_cross_entropy_with_logits
    return bce(logits_a, torch.zeros_like(logits_a)) + bce(logits_b, torch.ones_like(logits_b))


def _instance_norm(net: nn.Module) -> None:
    """Swap every BatchNorm2d of `net` for the paper's InstanceNorm2d (no affine, no running
    statistics: one image's code does not depend on its batch, in training or evaluation)."""
    for name, m in net.named_children():
        if isinstance(m, nn.BatchNorm2d):
            setattr(net, name, nn.InstanceNorm2d(m.num_features))
        else:
            _instance_norm(m)


def _standardize(z: torch.Tensor) -> torch.Tensor:
    """(N, D) -> each column at mean 0 and standard deviation 1 over the N rows."""
    return (z - z.mean(0)) / (z.std(0) + 1e-5)


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
            if c.norm == "instance":
                _instance_norm(net)
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
        c = self.config
        seen = _standardize(common) if c.standardize else common
        if c.disc_weight > 0:
            logits = n["disc"](seen)
            conf = confusion_loss(logits[:k], logits[k:], 0.5 if c.confusion == "half" else 0.0)
            loss = loss + c.disc_weight * conf
            out["conf"] = conf.detach()
        bank = self.__dict__.setdefault("bank_", {})
        if c.mmd_weight > 0:
            match = mmd_witness(seen[:k], seen[k:], bank.get("a"), bank.get("b"))
            loss = loss + c.mmd_weight * match
            out["mmd"] = match.detach()
        if c.linear_weight > 0:
            lin = linear_witness(seen[:k], seen[k:], bank.get("a"), bank.get("b"), c.ridge)
            loss = loss + c.linear_weight * lin
            out["linear"] = lin.detach()
        if c.mmd_bank > 0 and (c.mmd_weight > 0 or c.linear_weight > 0):
            size = getattr(self, "bank_size_", c.mmd_bank)  # fit caps it (see the config)
            for key, z in (("a", seen[:k]), ("b", seen[k:])):  # the last `size` codes of
                old = bank.get(key, z.new_zeros((0, z.shape[1])))  # each domain, newest first
                bank[key] = torch.cat([z.detach(), old])[:size]
        self.optimize(loss, "ae", clip=self.config.clip)
        for _ in range(c.disc_steps if c.disc_weight > 0 else 0):
            logits = n["disc"](seen.detach())
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
        self.bank_: dict[str, torch.Tensor] = {}  # mmd_bank's codes of A and B (train_step)
        self.bank_size_ = min(self.config.mmd_bank, min(len(xa), len(xb)) // 4)
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
