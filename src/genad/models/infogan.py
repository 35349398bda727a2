"""InfoGAN and the multiscale (style-based, progressive) InfoGAN: GANs whose latent codes are
tied to image attributes by mutual-information maximisation.

The generator's input is split into incompressible noise z ~ N(0, I) and structured codes c:
categorical codes (uniform over K categories, fed one-hot) and continuous codes
(Uniform(-1, 1)), as in InfoGAN (Chen et al., NeurIPS 2016, Sec. 5 and App. C). A Q head on
the discriminator's features predicts c from an image: a softmax per categorical code and a
Gaussian mean (fixed unit variance by default, `q_fixed_std`) per continuous code. The losses:

    D and Q:  BCE(D(x) -> real) + BCE(D(G(z, c)) -> fake) + lambda * L_info
    G:        BCE(D(G(z, c)) -> real)  + lambda * L_info     (non-saturating GAN loss)
    L_info = sum_cat CE(Q_cat, c_cat) + cont_weight * sum_cont NLL(Q_cont, c_cont)

L_info is minus InfoGAN's variational lower bound L_I <= I(c; G(z, c)) (Lemma 5.1) up to the
prior entropy; the bound itself, in nats, is logged as `mi` every step (with the prior
entropies log K and log 2 added back). With Q's variance fixed at 1 (the default; a learnt
variance made the GAN collapse to noise on sprites: the info term grows without bound as
sigma shrinks) the logged bound uses, per continuous code, the batch's best fixed sigma,
sigma^2 = mean (c - mu)^2, which is also a valid lower bound and is not capped below 0.
Q and D's trunk learn from L_info in the D step on the detached fakes; G learns from it
through the frozen D and Q in the G step.

`infogan`: DCGAN generator and discriminator (genad.nn.dcgan), Adam lr 2e-4 for D and 1e-3
for G, betas (0.5, 0.999) (InfoGAN App. C.1). `arch="infogan-mnist"` uses the authors' own
MNIST networks instead (FC layers of 1024, a BatchNorm Q head; their code's LeakyReLU slope
0.01 and N(0, 0.02) initialisation), and `noise="uniform"` their U(-1, 1) noise.
`ms-infogan` (the project's method, after Paul, Wang, Alajaji, Burlina, "Unsupervised
Discovery, Control, and Disentanglement of Semantic Attributes", Neural Computation 2021):
the style-based progressive generator of genad.nn.style with the codes entering the styles
of the scales listed in `code_scales` (all by default); the discriminator grows with it;
non-saturating loss with a lazy R1 penalty, gamma 10 every 16 steps (StyleGAN App. C,
StyleGAN2 Sec. B; StyleGAN2-ADA's heuristic gamma, `r1=None`, collapsed on sprites at 32 px,
see the config); a moving average of G's weights (`g_ema`,
StyleGAN2-ADA's half-life batch * 10 / 32 kimg with its ramp-up) makes every sample,
traversal and inversion; the discriminator has a minibatch standard deviation layer in
training (see genad.nn.style); growth phases can be counted in images (`phase_images`, ProGAN:
600k a phase); Adam lr 2e-3, betas (0.0, 0.99) (ProGAN Sec. A.1 / StyleGAN App. C use
lr 1e-3 .. 2e-3 with these betas; we take 2e-3).

As anomaly detectors (fit on normal images only), three scores built on the learned
representation (`score_kind`):
    "inversion"      latent inversion started from Q's codes (z = 0): `inversion_steps`
                     Adam steps on (z, c) minimising the per-image residual
                     mean |x - G(z, c)| + 0.1 * mean |f(x) - f(G(z, c))| (AnoGAN's weighting,
                     Schlegl et al. 2017, with f the discriminator features); the score is
                     that loss at the end.
    "code-density"   Mahalanobis distance of Q's codes of an image to a Gaussian fitted
                     (with Ledoit-Wolf shrinkage) to the codes of the normal training images.
    "disc-features"  the same Gaussian model on the discriminator's features.

InfoGAN-CR (`cr_weight` > 0, both models; Lin et al., "InfoGAN-CR and ModelCentrality", ICML
2020): after `cr_start` of the steps a second network (genad.nn.gan.ContrastiveDiscriminator)
sees pairs of generated images that share the value of one code, drawn at random, and every
other input drawn anew, and learns which code they share (cross-entropy, its own Adam); G
minimises the same cross-entropy (cooperatively), so each code must make a change that can be
told apart from the others'. The authors' dSprites setting: weight 2.0 from step 288,000 of
322,560, lr 2e-3, the shared code equal in both images (gap 0).

Generative API: `sample_latent`, `decode`, `generate`, `encode` (Q's estimate of the codes:
argmax index per categorical code, mean per continuous code), `code_specs`, `traverse_latent`.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genad.errors import ConfigError
from genad.models.base import Detector, DetectorConfig
from genad.models.gan_common import bce, ema_update, weights_frozen
from genad.models.generative import LatentModel
from genad.nn import DCDecoder, DCDiscriminator, init_dcgan_weights
from genad.nn.density import GaussianModel
from genad.nn.gan import (
    ContrastiveDiscriminator,
    CRDiscriminator,
    CRGenerator,
    InfoGANDiscriminator,
    InfoGANGenerator,
    init_infogan_weights,
)
from genad.nn.style import (
    ProgressiveDiscriminator,
    StyleGenerator,
    growth_by_images,
    growth_schedule,
)
from genad.registry import register
from genad.trainable import check_choices

SCORE_KINDS = ("inversion", "code-density", "disc-features")
# infogan's networks. The InfoGAN-CR authors' dSprites setting for "infogan-cr" (their
# config.py and gan_task.py; Lin et al., ICML 2020, "InfoGAN (modified)" without the
# regulariser): --param noise=uniform noise_dim=5 continuous=5 "categorical=[]"
# info_weight=0.05 lr=2e-3 lr_g=1e-3, batch 64; Q's Gaussian has unit variance as here.
ARCHS = ("dcgan", "infogan-mnist", "infogan-cr")


@dataclass
class InfoGANConfig(DetectorConfig):
    arch: str = "dcgan"  # "dcgan": genad.nn.dcgan's nets at `width`; "infogan-mnist": the
    #                      authors' MNIST nets (genad.nn.gan.InfoGANGenerator / ...Discriminator);
    #                      "infogan-cr": InfoGAN-CR's dSprites nets (genad.nn.gan.CRGenerator /
    #                      CRDiscriminator, spectral norm in D and Q; see ARCHS)
    width: int = 64  # DCGAN widths (InfoGAN App. C uses DCGAN-style nets)
    noise_dim: int = 62  # incompressible noise (InfoGAN App. C.1, MNIST: 62)
    noise: str = "normal"  # z ~ N(0, I), or "uniform": U(-1, 1) as the authors' MNIST code
    categorical: tuple[int, ...] = (10,)  # one code of 10 categories (InfoGAN App. C.1)
    continuous: int = 2  # continuous codes ~ U(-1, 1) (InfoGAN App. C.1, MNIST: 2)
    info_weight: float = 1.0  # lambda (InfoGAN Sec. 7: lambda = 1 for discrete codes)
    cont_weight: float = 1.0  # relative weight of the continuous terms inside L_info
    q_fixed_std: bool = True  # Q's Gaussian has unit variance (the InfoGAN reference code)
    lr: float = 2e-4  # D (and Q) Adam lr (InfoGAN App. C.1)
    lr_g: float = 1e-3  # G Adam lr (InfoGAN App. C.1)
    beta1: float = 0.5  # Adam beta1 (InfoGAN App. C.1, DCGAN's)
    beta2: float = 0.999
    q_hidden: int = 128  # Q head: FC 128 (InfoGAN App. C.1, Table 1)
    score_kind: str = "inversion"
    inversion_steps: int = 10  # latent-search steps when scoring (AnoGAN used 500; see doc)
    inversion_lr: float = 0.05
    cr_weight: float = 0.0  # InfoGAN-CR's contrastive regulariser (Lin et al., ICML 2020);
    #                         0 = off. The authors' dSprites runs use 2.0 (see the module doc)
    cr_start: float = 0.9  # share of the training steps before the regulariser starts (the
    #                        authors: step 288,000 of 322,560, after plain InfoGAN training)
    cr_lr: float = 2e-3  # its network's Adam lr, betas (0.5, 0.999) (the authors' crd_lr)
    q_refine_steps: int = 0  # after training, a copy of D's trunk and Q learns the codes of
    #                          the final generator's samples for this many steps and becomes
    #                          the encoder (`refine_encoder`); 0 = off, Q as trained encodes
    q_refine_lr: float = 1e-3  # that copy's Adam lr, betas (0.5, 0.99)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices(self, arch=ARCHS)
        if self.noise not in ("normal", "uniform"):
            raise ConfigError(f"noise must be 'normal' or 'uniform', got {self.noise!r}")
        if self.cr_weight < 0 or not 0 <= self.cr_start <= 1 or self.cr_lr <= 0:
            raise ConfigError("cr_weight must be >= 0, cr_start in [0, 1] and cr_lr > 0")
        self.categorical = _int_tuple(self.categorical or ())
        if any(k < 2 for k in self.categorical):
            raise ConfigError(f"categorical codes need >= 2 categories, got {self.categorical}")
        if self.continuous < 0 or self.noise_dim < 1:
            raise ConfigError("continuous must be >= 0 and noise_dim >= 1")
        if not self.categorical and not self.continuous:
            raise ConfigError("an InfoGAN needs at least one code (categorical or continuous)")
        if self.info_weight < 0 or self.cont_weight < 0:
            raise ConfigError("info_weight and cont_weight must be >= 0")
        check_choices(self, score_kind=SCORE_KINDS)
        if self.inversion_steps < 0:
            raise ConfigError("inversion_steps must be >= 0")
        if self.q_refine_steps < 0 or self.q_refine_lr <= 0:
            raise ConfigError("q_refine_steps must be >= 0 and q_refine_lr > 0")


@dataclass
class MSInfoGANConfig(InfoGANConfig):
    # channels at the top resolution, doubling towards 4x4 up to max_width (genad.nn.style):
    # ProGAN's plan, narrow where the pixels are many. At 64 px, batch 64, one CPU thread a
    # step takes 1.6 s (150 GFLOP) against infogan's DCGAN step 1.0 s (144 GFLOP); the
    # earlier 32 / 256 took 7-9 s (599 GFLOP) (benchmarks/speed.py --ms-param width=32 ...)
    width: int = 16
    max_width: int = 128
    w_dim: int = 128  # StyleGAN uses 512; smaller for CPU-sized runs
    mapping_layers: int = 4  # StyleGAN uses 8 (App. C)
    code_scales: tuple[int, ...] | None = None  # blocks (0 = 4x4) the codes enter; None = all
    cont_scales: tuple[int, ...] | tuple[tuple[int, ...], ...] | None = None  # blocks the
    #   continuous codes enter instead (the categorical ones keep `code_scales`); None = the
    #   same as code_scales; one tuple per continuous code gives each its own blocks, e.g.
    #   ((0, 1), (0, 1), (2, 3), (2, 3), (2, 3)) at 32 px: two coarse codes, three fine ones
    grow: bool = True  # progressive growing from 4x4 (ProGAN Sec. 3)
    final_share: float = 0.5  # share of the steps spent at the final resolution when growing
    phase_images: int | None = None  # images per growth phase (ProGAN Sec. A.1: 600k); None:
    #                                  the phases share (1 - final_share) of the run equally
    lr: float = 2e-3  # Adam lr for D, Q and G (StyleGAN App. C)
    lr_g: float = 2e-3
    beta1: float = 0.0  # Adam betas (0, 0.99) (ProGAN Sec. A.1, StyleGAN App. C)
    beta2: float = 0.99
    r1: float | None = 10.0  # R1 gamma (StyleGAN App. C); None: StyleGAN2-ADA's heuristic
    #   0.0002 * size^2 / batch ("auto" config), 0.0032 at 32 px and batch 64. Measured on
    #   shapes at 32 px (2,248 steps, width 8, seed 0): gamma 10 FID (probe) 91.5, the
    #   heuristic 150.6 with a collapse to a few sprites (both with EMA and minibatch std)
    r1_every: int = 16  # lazy regularisation interval (StyleGAN2 Sec. B)
    ema_kimg: float | None = None  # half-life of G's moving average, in thousands of images;
    #                                None: StyleGAN2-ADA's batch * 10 / 32 ("auto" config)
    ema_rampup: float = 0.05  # the half-life is at most this share of the images seen so far
    #                           (StyleGAN2-ADA), so that the average forgets the first steps
    mbstd_group: int = 4  # minibatch standard deviation over groups of 4 (ProGAN Sec. 3,
    #                       StyleGAN2); 0 = off. Training only: see genad.nn.style
    feature_dim: int = 256  # the discriminator's feature layer, which Q reads (the InfoGAN
    #                         authors' MNIST D: 1024)
    d_norm: str = "none"  # "batch": BatchNorm after each of D's layers but fromRGB, as the
    #                       InfoGAN authors' discriminators; "spectral": spectral normalisation
    #                       of every D and Q layer, as InfoGAN-CR's (genad.nn.style)
    d_equalized: bool = True  # False: D's layers plain, drawn from N(0, 0.02), instead of the
    #                           equalised learning rate (genad.nn.style)
    d_width: int | None = None  # D's channels at the top resolution; None: `width`
    d_max_width: int | None = None  # D's widest blocks; None: `max_width`
    d_arch: str = "style"  # "style": the progressive discriminator (genad.nn.style);
    #   "infogan-mnist": the InfoGAN authors' MNIST D and Q (BatchNorm, FC 1024; needs
    #   grow=false), to tell the generator's share of a result from the discriminator's
    q_batch_norm: bool = False  # a BatchNorm in Q's hidden layer, as the authors' MNIST Q

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.arch != "dcgan":
            raise ConfigError("ms-infogan builds its own style-based networks; arch is infogan's")
        if self.code_scales is not None:
            self.code_scales = _int_tuple(self.code_scales)
        if self.cont_scales is not None:
            self.cont_scales = _scales(self.cont_scales, self.continuous)
        if not 0 <= self.final_share < 1:
            raise ConfigError("final_share must be in [0, 1)")
        if (self.r1 is not None and self.r1 < 0) or self.r1_every < 1:
            raise ConfigError("r1 must be >= 0 and r1_every >= 1")
        if self.ema_kimg is not None and self.ema_kimg < 0:
            raise ConfigError("ema_kimg must be >= 0 (0 = no moving average)")
        if self.phase_images is not None and self.phase_images < 1:
            raise ConfigError("phase_images must be >= 1")
        if self.mbstd_group < 0:
            raise ConfigError("mbstd_group must be >= 0")
        check_choices(self, d_arch=("style", "infogan-mnist"),
                      d_norm=("none", "batch", "spectral"))
        if self.d_norm == "spectral" and self.d_equalized:
            raise ConfigError("d_norm='spectral' needs plain layers: set d_equalized=false")
        if any(w is not None and w < 1 for w in (self.d_width, self.d_max_width)):
            raise ConfigError("d_width and d_max_width must be >= 1")
        if self.d_arch != "style" and self.grow:
            raise ConfigError("d_arch='infogan-mnist' does not grow: set grow=false")

    @property
    def r1_gamma(self) -> float:
        return self.r1 if self.r1 is not None else 0.0002 * self.image_size**2 / self.batch_size

    @property
    def ema_images(self) -> float:
        kimg = self.ema_kimg if self.ema_kimg is not None else self.batch_size * 10 / 32
        return kimg * 1000


class QHead(nn.Module):
    """Discriminator features -> (logits of every categorical code, concatenated; means of the
    continuous codes; their log standard deviations). FC `hidden`, LeakyReLU(`slope`), FC;
    with `batch_norm` a BatchNorm before the LeakyReLU (the InfoGAN authors' MNIST Q)."""

    def __init__(self, n_in: int, hidden: int, n_logits: int, n_cont: int, fixed_std: bool,
                 batch_norm: bool = False, slope: float = 0.2, spectral: bool = False) -> None:
        super().__init__()
        self.n_logits, self.n_cont, self.fixed_std = n_logits, n_cont, fixed_std
        n_out = n_logits + n_cont * (1 if fixed_std else 2)
        norm = [nn.BatchNorm1d(hidden)] if batch_norm else []
        sn = nn.utils.parametrizations.spectral_norm if spectral else (lambda m: m)
        self.net = nn.Sequential(nn.Flatten(), sn(nn.Linear(n_in, hidden)), *norm,
                                 nn.LeakyReLU(slope), sn(nn.Linear(hidden, n_out)))

    def forward(self, f: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        out = self.net(f).float()
        logits = out[:, : self.n_logits]
        mu = out[:, self.n_logits : self.n_logits + self.n_cont]
        if self.fixed_std:
            log_sigma = torch.zeros_like(mu)
        else:
            log_sigma = out[:, self.n_logits + self.n_cont :].clamp(-5, 2)
        return logits, mu, log_sigma


class RefinedEncoder(nn.Module):
    """A copy of the discriminator trunk `d` and the Q head `q` that `refine_encoder` trains on
    the final generator's samples; `steps_done` (saved with it) counts its steps, 0 = not
    trained yet (Q as trained encodes until then)."""

    def __init__(self, d: nn.Module, q: nn.Module) -> None:
        super().__init__()
        self.d, self.q = d, q
        self.register_buffer("steps_done", torch.tensor(0))


class _InfoGANBase(LatentModel, Detector):
    """What InfoGAN and the multiscale InfoGAN share: codes, losses, scores, generative API.
    Subclasses build 'g' (z, c) -> image and 'd' image -> (logit, features) and a 'q' head."""

    Config = InfoGANConfig
    SCORING_PARAMS = ("score_kind", "inversion_steps", "inversion_lr")

    # ---- codes ------------------------------------------------------------------------------
    @property
    def code_dim(self) -> int:
        return sum(self.config.categorical) + self.config.continuous

    @property
    def latent_dim(self) -> int:
        """Width of the latent vectors of `sample_latent` / `decode`: [z, one-hots, continuous]."""
        return self.config.noise_dim + self.code_dim

    def code_specs(self) -> list[dict[str, Any]]:
        """One entry per code: kind, columns in the latent vector, categories or range."""
        c, col, out = self.config, self.config.noise_dim, []
        for i, k in enumerate(c.categorical):
            out.append({"name": f"cat{i}", "kind": "categorical", "categories": k,
                        "columns": list(range(col, col + k))})
            col += k
        for j in range(c.continuous):
            out.append({"name": f"cont{j}", "kind": "continuous", "range": (-1.0, 1.0),
                        "columns": [col]})
            col += 1
        return out

    def _draw(self, n: int, device: torch.device, generator: torch.Generator | None = None
              ) -> tuple[torch.Tensor, torch.Tensor, list[torch.Tensor], torch.Tensor]:
        """(z, code vector, categorical indices, continuous values) for n samples."""
        c = self.config
        if c.noise == "uniform":
            z = torch.rand(n, c.noise_dim, generator=generator) * 2 - 1
        else:
            z = torch.randn(n, c.noise_dim, generator=generator)
        idx = [torch.randint(0, k, (n,), generator=generator) for k in c.categorical]
        cont = torch.rand(n, c.continuous, generator=generator) * 2 - 1
        onehots = [F.one_hot(i, k).float() for i, k in zip(idx, c.categorical)]
        code = torch.cat([*onehots, cont], dim=1)
        return z.to(device), code.to(device), [i.to(device) for i in idx], cont.to(device)

    def _info_terms(self, logits: torch.Tensor, mu: torch.Tensor, log_sigma: torch.Tensor,
                    idx: list[torch.Tensor], cont: torch.Tensor
                    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(L_info, the MI lower bound in nats), both batch means."""
        c = self.config
        loss = logits.new_zeros(())
        mi = logits.new_zeros(())
        start = 0
        for i, k in zip(idx, c.categorical):
            ce = F.cross_entropy(logits[:, start : start + k], i)
            loss, mi, start = loss + ce, mi + math.log(k) - ce.detach(), start + k
        if c.continuous:
            nll = (0.5 * ((cont - mu) / log_sigma.exp()).pow(2) + log_sigma).sum(1).mean()
            loss = loss + c.cont_weight * nll
            if c.q_fixed_std:  # report the bound of the best fixed sigma per code (any sigma
                # gives a valid bound; the unit one caps it at log 2 - log(2 pi e)/2 < 0)
                var = (cont - mu).detach().pow(2).mean(0).clamp_min(1e-6)
                full = 0.5 * (math.log(2 * math.pi) + 1 + var.log()).sum()
            else:
                full = nll.detach() + 0.5 * math.log(2 * math.pi) * c.continuous
            mi = mi + c.continuous * math.log(2.0) - full
        return loss, mi

    # ---- training ---------------------------------------------------------------------------
    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        n_cat = sum(c.categorical)
        if c.arch == "infogan-mnist":
            g = InfoGANGenerator(c.image_size, channels, c.noise_dim + self.code_dim)
            g.apply(init_infogan_weights)
            d, q, feat = self._authors_mnist_dq(channels)
        elif c.arch == "infogan-cr":
            g = CRGenerator(c.image_size, channels, c.noise_dim + self.code_dim)
            d = CRDiscriminator(c.image_size, channels)
            q = QHead(128, c.q_hidden, n_cat, c.continuous, c.q_fixed_std, spectral=True)
            for net in (g, d, q):
                net.apply(init_infogan_weights)  # their N(0, 0.02) weights, zero biases
            feat = 128
        else:
            g = DCDecoder(c.image_size, channels, c.noise_dim + self.code_dim, c.width)
            d = DCDiscriminator(c.image_size, channels, c.width)
            g.apply(init_dcgan_weights)
            d.apply(init_dcgan_weights)
            feat = _feature_dim(d, channels, c.image_size)
            q = QHead(feat, c.q_hidden, n_cat, c.continuous, c.q_fixed_std)
        return {"g": g, "d": d, "q": q, **self._cr_nets(channels), **self._enc_nets(d, q),
                **self._score_nets(feat)}

    def _authors_mnist_dq(self, channels: int) -> tuple[nn.Module, nn.Module, int]:
        """The InfoGAN authors' MNIST D and its BatchNorm Q head, with their initialisation,
        and the width of the features they share."""
        c = self.config
        d = InfoGANDiscriminator(c.image_size, channels)
        q = QHead(1024, c.q_hidden, sum(c.categorical), c.continuous, c.q_fixed_std,
                  batch_norm=True, slope=0.01)
        for net in (d, q):
            net.apply(init_infogan_weights)
        return d, q, 1024

    def _cr_nets(self, channels: int) -> dict[str, nn.Module]:
        """InfoGAN-CR's network when `cr_weight` > 0; it counts the training steps (saved with
        it, so a resumed run starts the regulariser on time)."""
        if not self.config.cr_weight:
            return {}
        # drawn from its own seed: the other networks, and every step before the regulariser
        # starts, are those of the same run without it (an ablation compares like with like)
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(self.config.seed + 7_919)
            cr = ContrastiveDiscriminator(self.config.image_size, channels,
                                          len(self.code_specs()))
        cr.register_buffer("steps_done", torch.tensor(0))
        return {"cr": cr}

    def _cr_pairs(self, n: int, device: torch.device
                  ) -> tuple[torch.Tensor, torch.Tensor] | None:
        """(n pairs of generated images stacked on the channel axis, the index of the code each
        pair shares) once the regulariser is on; None before (and without it). Counts the step."""
        c = self.config
        if not c.cr_weight:
            return None
        cr = self.nets_["cr"]
        step = int(cr.steps_done)
        cr.steps_done += 1
        if step < int(c.cr_start * self.total_steps_):
            return None
        specs = self.code_specs()
        masks = torch.zeros(len(specs), self.code_dim, dtype=torch.bool, device=device)
        for j, spec in enumerate(specs):
            masks[j, [col - c.noise_dim for col in spec["columns"]]] = True
        z1, code1, _, _ = self._draw(n, device)
        z2, code2, _, _ = self._draw(n, device)
        shared = torch.randint(0, len(specs), (n,), device=device)
        code2 = torch.where(masks[shared], code1, code2)
        both = self._generate(torch.cat([z1, z2]), torch.cat([code1, code2]))
        if both.shape[-1] != c.image_size:  # ms-infogan while it grows
            both = F.interpolate(both, size=c.image_size, mode="nearest")
        return torch.cat([both[:n], both[n:]], dim=1), shared

    def _enc_nets(self, d: nn.Module, q: nn.Module) -> dict[str, nn.Module]:
        """The refined encoder's networks when `q_refine_steps` > 0 (copies of D and Q, trained
        only by `refine_encoder`)."""
        if not self.config.q_refine_steps:
            return {}
        return {"enc": RefinedEncoder(copy.deepcopy(d), copy.deepcopy(q)).requires_grad_(False)}

    def refine_encoder(self, steps: int | None = None) -> _InfoGANBase:
        """Fit the encoder to the final generator. Q learns the codes from the samples of a
        generator that moves while it learns, and ms-infogan samples from G's moving average,
        which Q never saw; this starts a copy of D's trunk and Q from their trained weights
        and trains it for `steps` (default `q_refine_steps`) Adam steps (lr `q_refine_lr`,
        betas (0.5, 0.99), batch `batch_size`) on L_info alone, on samples of the generator
        that `decode` uses (g_ema where there is one), with the generator and the trained D
        and Q left as they are. From then `encode` (and the code-density score) read the
        copy. `fit` calls it when `q_refine_steps` > 0; on a fitted model it refines (again,
        from the trained D and Q) and records `steps` in the config, so that a saved model
        keeps its encoder. Returns self."""
        self.check_fitted()
        c = self.config
        steps = c.q_refine_steps if steps is None else int(steps)
        if steps < 1:
            raise ConfigError(f"refine_encoder needs steps >= 1, got {steps}")
        if steps != c.q_refine_steps:
            self.config = replace(c, q_refine_steps=steps)
        if "enc" not in self.nets_:
            self.nets_.update({k: v.to(self.device_) for k, v in
                               self._enc_nets(self.nets_["d"], self.nets_["q"]).items()})
        enc = self.nets_["enc"]
        enc.d.load_state_dict(self.nets_["d"].state_dict())
        enc.q.load_state_dict(self.nets_["q"].state_dict())
        enc.steps_done.zero_()
        enc.requires_grad_(True).train()
        opt = torch.optim.Adam(enc.parameters(), c.q_refine_lr, betas=(0.5, 0.99))
        gen = torch.Generator().manual_seed(c.seed + 104_729)  # its own draws: reproducible
        g = self.nets_.get("g_ema", self.nets_["g"])
        g.eval()
        for _ in range(steps):
            z, code, idx, cont = self._draw(c.batch_size, self.device_, gen)
            with torch.no_grad():
                fake = self._generate(z, code, ema=True)
            loss, _ = self._info_terms(*enc.q(enc.d(fake)[1]), idx, cont)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            enc.steps_done += 1
        enc.requires_grad_(False).eval()
        return self

    def rebuild_scoring(self) -> None:
        self.nets_.pop("gauss", None)
        feat = _feature_dim(self.nets_["d"], self.channels_, self.config.image_size)
        self.nets_.update({k: v.to(self.device_) for k, v in self._score_nets(feat).items()})

    def _score_nets(self, d_features: int) -> dict[str, nn.Module]:
        """The Gaussian of the representation scores (fitted in `after_training`)."""
        kind = self.config.score_kind
        if kind == "inversion":
            return {}
        return {"gauss": GaussianModel(self.code_dim if kind == "code-density" else d_features)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        dq = [*self.nets_["d"].parameters(), *self.nets_["q"].parameters()]
        return {
            "d": torch.optim.Adam(dq, c.lr, betas=(c.beta1, c.beta2)),
            "g": torch.optim.Adam(self.nets_["g"].parameters(), c.lr_g, betas=(c.beta1, c.beta2)),
            **self._cr_optimizer(),
        }

    def _cr_optimizer(self) -> dict[str, torch.optim.Optimizer]:
        if "cr" not in self.nets_:
            return {}
        return {"cr": torch.optim.Adam(self.nets_["cr"].parameters(), self.config.cr_lr,
                                       betas=(0.5, 0.999))}

    def _generate(self, z: torch.Tensor, code: torch.Tensor, noise: bool = True,
                  ema: bool = False) -> torch.Tensor:
        """G(z, code); `noise` and `ema` (the moving average of G's weights, for sampling and
        evaluation) where the generator has them."""
        return self.nets_["g"](torch.cat([z, code], dim=1))

    def _d_regulariser(self, real: torch.Tensor) -> torch.Tensor | None:
        return None

    def train_step(self, real: torch.Tensor) -> dict[str, torch.Tensor]:
        """One D-and-Q update, then one G update; `real` is the batch of real images as D
        sees them."""
        c = self.config
        d, q = self.nets_["d"], self.nets_["q"]
        z, code, idx, cont = self._draw(len(real), real.device)
        fake = self._generate(z, code)
        cr = self._cr_pairs(len(real), real.device)
        if cr is not None:  # InfoGAN-CR: its network learns which code each pair shares
            pairs, shared = cr
            self.optimize(F.cross_entropy(self.nets_["cr"](pairs.detach()), shared), "cr")
        # D and Q: real/fake BCE on detached fakes, plus L_info on those fakes
        d_real, _ = d(real)
        d_fake, f_fake = d(fake.detach())
        info_d, _ = self._info_terms(*q(f_fake), idx, cont)
        loss_d = bce(d_real, True) + bce(d_fake, False)
        reg = self._d_regulariser(real)
        total_d = loss_d + c.info_weight * info_d + (reg if reg is not None else 0.0)
        self.optimize(total_d, "d")
        # G: non-saturating loss plus L_info through the frozen D and Q (and InfoGAN-CR's
        # cross-entropy through its frozen network)
        with weights_frozen(d, q, *([self.nets_["cr"]] if "cr" in self.nets_ else [])):
            logit, feat = d(fake)
            info_g, mi = self._info_terms(*q(feat), idx, cont)
            adv = bce(logit, True)
            loss_g = adv + c.info_weight * info_g
            cr_loss = None
            if cr is not None:
                cr_loss = F.cross_entropy(self.nets_["cr"](pairs), shared)
                loss_g = loss_g + c.cr_weight * cr_loss
            self.optimize(loss_g, "g")
        out = {"d": loss_d.detach(), "g": adv.detach(), "info": info_g.detach(),
               "mi": mi.detach()}
        if c.cr_weight:  # logged as 0 before the regulariser starts
            out["cr"] = cr_loss.detach() if cr_loss is not None else loss_d.new_zeros(())
        return out

    # ---- representation: codes, features, Gaussian scores -----------------------------------
    def _q_codes(self, x: torch.Tensor, soft: bool = False) -> torch.Tensor:
        """Q's estimate of the codes of images x: argmax index per categorical code (or the
        softmax probabilities with soft=True) and the mean per continuous code."""
        enc = self.nets_.get("enc")
        if enc is not None and int(enc.steps_done):  # refined: see refine_encoder
            d, q = enc.d, enc.q
        else:
            d, q = self.nets_["d"], self.nets_["q"]
        logits, mu, _ = q(d(x)[1])
        parts, start = [], 0
        for k in self.config.categorical:
            block = logits[:, start : start + k]
            parts.append(block.softmax(1) if soft else block.argmax(1, keepdim=True).float())
            start += k
        return torch.cat([*parts, mu], dim=1)

    def _features(self, x: torch.Tensor, kind: str) -> torch.Tensor:
        if kind == "code-density":
            return self._q_codes(x, soft=True)
        return self.nets_["d"](x)[1].flatten(1).float()

    def after_training(self, x: torch.Tensor) -> None:
        enc = self.nets_.get("enc")
        if enc is not None and not int(enc.steps_done):  # not again on rescore
            self.refine_encoder()
        kind = self.config.score_kind
        if kind == "inversion":
            return
        feats = self.evaluate_batches(x, lambda b: self._features(b, kind)).double().numpy()
        self.nets_["gauss"].fit_(feats)

    # ---- anomaly scores ---------------------------------------------------------------------
    def score(self, x: torch.Tensor) -> torch.Tensor:
        kind = self.config.score_kind
        if kind != "inversion":
            return self.nets_["gauss"](self._features(x, kind).double()).float()
        return self._invert(x)[2]

    def _invert(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(z, code, loss per image) after latent search started from Q's codes and z = 0.
        Each image's loss is summed, not averaged, over the batch, so every image's search
        (Adam is element-wise) is independent of the others in its batch."""
        c = self.config
        g, d = self.nets_.get("g_ema", self.nets_["g"]), self.nets_["d"]
        with torch.enable_grad(), weights_frozen(g, d):
            code0 = self._q_codes(x, soft=True).detach()
            cat = sum(c.categorical)
            logits0 = code0[:, :cat].clamp_min(1e-4).log()  # search the categories as logits
            z = torch.zeros(len(x), c.noise_dim, device=x.device, requires_grad=True)
            logits = logits0.clone().requires_grad_(True)
            cont = code0[:, cat:].clone().requires_grad_(True)
            _, f_x = d(x)
            f_x = f_x.detach()
            opt = torch.optim.Adam([z, logits, cont], lr=c.inversion_lr)
            for step in range(c.inversion_steps + 1):
                code = torch.cat([self._soft_onehots(logits), cont.clamp(-1, 1)], dim=1)
                gen = self._generate(z, code, noise=False, ema=True)
                _, f_g = d(gen)
                loss = ((x - gen).abs().flatten(1).mean(1)
                        + 0.1 * (f_x - f_g).abs().flatten(1).mean(1))
                if step == c.inversion_steps:
                    break
                opt.zero_grad(set_to_none=True)
                loss.sum().backward()
                opt.step()
        return z.detach(), code.detach(), loss.detach()

    def _soft_onehots(self, logits: torch.Tensor) -> torch.Tensor:
        parts, start = [], 0
        for k in self.config.categorical:
            parts.append(logits[:, start : start + k].softmax(1))
            start += k
        return torch.cat(parts, dim=1) if parts else logits[:, :0]

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor | None:
        if self.config.score_kind != "inversion":
            return None
        z, code, _ = self._invert(x)
        return self._generate(z, code, noise=False, ema=True).clamp(-1, 1)

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor | None:
        rec = self.reconstruct(x)
        return None if rec is None else (x - rec).abs().mean(1)

    # ---- generative API ---------------------------------------------------------------------
    def sample_latent(self, n: int, seed: int = 0) -> np.ndarray:
        """(n, latent_dim) latent vectors [z, one-hot categorical codes, continuous codes]
        drawn from the prior with `seed`."""
        z, code, _, _ = self._draw(n, torch.device("cpu"), torch.Generator().manual_seed(seed))
        return torch.cat([z, code], dim=1).numpy()

    def decode(self, latent: Any) -> np.ndarray:
        """(N, C, S, S) images in [-1, 1] of latent vectors (see `sample_latent`); no noise
        inputs, so the same latent always gives the same image."""
        self.check_fitted()
        lat = torch.as_tensor(np.asarray(latent, dtype=np.float32)).reshape(-1, self.latent_dim)
        nz = self.config.noise_dim
        return self.evaluate_batches(
            lat, lambda b: self._generate(b[:, :nz], b[:, nz:], noise=False, ema=True).clamp(-1, 1)
        ).numpy()

    def encode(self, data: Any) -> np.ndarray:
        """(N, n_codes) Q's estimate of each code: the category index of each categorical code,
        then the mean of each continuous code."""
        self.check_fitted()
        return self.evaluate_batches(self.prepared(data), self._q_codes).numpy()


def _scales(values: Any, n_codes: int) -> tuple[int, ...] | tuple[tuple[int, ...], ...]:
    """`cont_scales` as given: one tuple of blocks for every continuous code, or one per code
    (the same object kept when it already is one, as `_int_tuple`)."""
    if isinstance(values, (list, tuple)) and values and all(
            isinstance(v, (list, tuple)) for v in values):
        if len(values) != n_codes:
            raise ConfigError(f"cont_scales needs one list of blocks per continuous code "
                              f"({n_codes}), got {len(values)}")
        if any(not v for v in values):
            raise ConfigError("each continuous code must enter at least one block")
        per_code = tuple(_int_tuple(v) for v in values)
        return values if per_code == values else per_code
    return _int_tuple(values)


def _int_tuple(values: Any) -> tuple[int, ...]:
    """A tuple of ints; one already is kept as the same object (scikit-learn's `clone` checks
    that the constructor stores the parameters it was given)."""
    if isinstance(values, tuple) and all(type(v) is int for v in values):
        return values
    return tuple(int(v) for v in np.atleast_1d(values))


def _feature_dim(d: nn.Module, channels: int, size: int) -> int:
    """Length of the flattened features a discriminator gives for one image."""
    was = d.training
    d.eval()
    with torch.no_grad():
        n = d(torch.zeros(1, channels, size, size))[1][0].numel()
    d.train(was)
    return n


@register("infogan")
class InfoGAN(_InfoGANBase):
    """InfoGAN on DCGAN networks (Chen et al. 2016); see the module doc."""

    Config = InfoGANConfig


@register("ms-infogan")
class MSInfoGAN(_InfoGANBase):
    """The multiscale InfoGAN: style-based progressive generator + Q head; see the module doc."""

    Config = MSInfoGANConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        g = StyleGenerator(c.image_size, channels, c.noise_dim, self.code_dim, c.width,
                           c.max_width, c.w_dim, c.mapping_layers,
                           None if c.code_scales is None else list(c.code_scales),
                           c.cont_scales, c.continuous)
        if c.d_arch == "infogan-mnist":
            d, q, feat = self._authors_mnist_dq(channels)
        else:
            d = ProgressiveDiscriminator(c.image_size, channels, c.d_width or c.width,
                                         c.d_max_width or c.max_width, c.feature_dim,
                                         c.mbstd_group, norm=c.d_norm,
                                         equalized=c.d_equalized)
            q = QHead(c.feature_dim, c.q_hidden, sum(c.categorical), c.continuous,
                      c.q_fixed_std, batch_norm=c.q_batch_norm,
                      spectral=c.d_norm == "spectral")
            feat = c.feature_dim
        g.register_buffer("steps_done", torch.tensor(0))
        g_ema = copy.deepcopy(g).requires_grad_(False)  # not optimised: a moving average of g
        return {"g": g, "g_ema": g_ema, "d": d, "q": q, **self._cr_nets(channels),
                **self._enc_nets(d, q), **self._score_nets(feat)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        dq = [*self.nets_["d"].parameters(), *self.nets_["q"].parameters()]
        return {
            "d": torch.optim.Adam(dq, c.lr, betas=(c.beta1, c.beta2), eps=1e-8),
            "g": torch.optim.Adam(self.nets_["g"].parameters(), c.lr_g, betas=(c.beta1, c.beta2),
                                  eps=1e-8),
            **self._cr_optimizer(),
        }

    def _generate(self, z: torch.Tensor, code: torch.Tensor, noise: bool = True,
                  ema: bool = False) -> torch.Tensor:
        return self.nets_["g_ema" if ema else "g"](z, code, noise=noise)

    def _set_growth(self, stage: int, alpha: float) -> None:
        for net in (self.nets_["g"], self.nets_["g_ema"], self.nets_["d"]):
            if not hasattr(net, "stage"):  # d_arch="infogan-mnist" does not grow
                continue
            net.stage.fill_(stage)
            net.alpha.fill_(alpha)

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # the step count is read from its buffer (saved with G, so resume continues it) once
        # a step: growth, R1's interval and the moving average all use this one read
        self._step = int(self.nets_["g"].steps_done)
        stage, alpha = self._advance_growth()  # counts this step: R1's interval sees the count
        losses = super().train_step(self._real_at(x, stage, alpha))
        self._update_ema(len(x))
        return losses

    def _images_seen(self, steps: int) -> int:
        """Images `steps` training steps covered, over every DDP rank (the engine sets
        world_size_)."""
        return steps * self.config.batch_size * self.world_size_

    @torch.no_grad()
    def _update_ema(self, batch: int) -> None:
        """g_ema <- beta g_ema + (1 - beta) g, with the half-life `ema_images` (capped at
        `ema_rampup` of the images seen), as StyleGAN2-ADA's training loop does."""
        c = self.config
        half_life = min(c.ema_images, self._images_seen(self._step + 1) * c.ema_rampup)
        beta = 0.5 ** (batch * self.world_size_ / half_life) if half_life > 0 else 0.0
        ema_update(self.nets_["g_ema"], self.nets_["g"], beta)

    def _advance_growth(self) -> tuple[int, float]:
        """Set the networks' resolution for this training step from the growth schedule and
        count the step (g.steps_done, saved with G); returns (stage, alpha)."""
        g = self.nets_["g"]
        n = g.n_blocks
        if self.config.grow and self.config.phase_images:
            stage, alpha = growth_by_images(self._images_seen(self._step),
                                            self.config.phase_images, n)
        elif self.config.grow:
            # total_steps_: set by the engine before the first step
            stage, alpha = growth_schedule(self._step, self.total_steps_, n,
                                           self.config.final_share)
        else:
            stage, alpha = n - 1, 1.0
        self._set_growth(stage, alpha)
        g.steps_done += 1
        return stage, alpha

    def _real_at(self, x: torch.Tensor, stage: int, alpha: float) -> torch.Tensor:
        """The real batch x as D sees it at growth `stage`, faded in by `alpha`."""
        factor = 2 ** (self.nets_["g"].n_blocks - 1 - stage)
        real = F.avg_pool2d(x, factor) if factor > 1 else x
        if alpha < 1:  # fade the reals as the networks fade (ProGAN Sec. A.1)
            low = F.interpolate(F.avg_pool2d(real, 2), scale_factor=2, mode="nearest")
            real = torch.lerp(low, real, alpha)
        return real

    def encode(self, data: Any) -> np.ndarray:
        """As the base's, at the networks' current resolution while they grow (a learning
        curve reads codes between epochs): D reads the images pooled as it reads reals."""
        g = self.nets_["g"]
        stage, alpha = int(g.stage), float(g.alpha)
        if stage == g.n_blocks - 1 and alpha == 1:
            return super().encode(data)
        x = self._real_at(self.prepare(data), stage, alpha)
        return self.evaluate_batches(x, self._q_codes).numpy()

    def after_training(self, x: torch.Tensor) -> None:
        # a run too short to finish growing still generates and scores at full resolution
        self._set_growth(self.nets_["g"].n_blocks - 1, 1.0)
        super().after_training(x)

    def _d_regulariser(self, real: torch.Tensor) -> torch.Tensor | None:
        c = self.config
        if c.r1_gamma == 0 or (self._step + 1) % c.r1_every != 0:  # the count after this step
            return None
        real = real.detach().requires_grad_(True)
        logit, _ = self.nets_["d"](real)
        (grad,) = torch.autograd.grad(logit.float().sum(), real, create_graph=True)
        return 0.5 * c.r1_gamma * c.r1_every * grad.pow(2).flatten(1).sum(1).mean()
