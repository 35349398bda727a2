"""Skip-GANomaly (Akcay, Atapour-Abarghouei, Breckon, IJCNN 2019, arXiv 1901.08954), as the
authors' code (samet-akcay/skip-ganomaly, lib/models/skipganomaly.py) trains and scores it.

A U-Net generator with skip connections reconstructs x. The discriminator (the authors'
`BasicDiscriminator`) maps an image through a DCGAN trunk and a 4x4 convolution to features
f (B, nz, 1, 1), and f through a 3x3 convolution to a logit. G minimises
    w_adv * BCE(D(x_hat), real) + w_con * |x - x_hat|_1 + w_lat * mean((f(x) - f(x_hat))^2)
and D minimises
    BCE(D(x), real) + BCE(D(x_hat), fake) + w_lat * mean((f(x) - f(x_hat))^2),
the last term being G's latent loss, which the authors' `backward_d` adds (`err_g_lat`).
Score (Sec. 3.3; `test()`), per image:
    0.9 * mean((x - x_hat)^2) + 0.1 * mean((f(x) - f(x_hat))^2).

Kept different from the authors' code, on purpose: genad scores with BatchNorm in eval mode
(their `test()` never calls `.eval()`, so their scores use each test batch's statistics and
depend on which images share a batch), and it does not min-max normalise scores over the
test set or keep the epoch of best test AUC (both need the test labels or the whole test set).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import nn

from genad.models.base import Detector, DetectorConfig
from genad.models.gan_common import adams, bce, dcgan_init, weights_frozen
from genad.nn import DCEncoder, UNet, init_dcgan_weights
from genad.registry import register


@dataclass
class SkipGANomalyConfig(DetectorConfig):
    epochs: int = 25  # --niter 25 (experiments/run_cifar.sh; options.py's default is 15)
    batch_size: int = 64  # --batchsize (options.py)
    width: int = 64  # ngf = ndf = 64 (options.py)
    latent: int = 100  # nz, the channels of D's features f (options.py; BasicDiscriminator)
    lr: float = 2e-4  # Adam lr, constant (options.py; their scheduler is never stepped)
    beta1: float = 0.5  # Adam betas (0.5, 0.999) (options.py; lib/models/skipganomaly.py)
    w_adv: float = 1.0  # adversarial weight (options.py)
    w_con: float = 50.0  # contextual (L1) weight (options.py)
    w_lat: float = 1.0  # latent (feature) weight, in G's and D's loss (options.py)
    score_lambda: float = 0.9  # weight of the reconstruction term (lib/models/skipganomaly.py
    #   test(): 0.9 * rec + 0.1 * lat; paper Sec. 3.3)


class SkipDiscriminator(nn.Module):
    """The authors' `BasicDiscriminator` (lib/models/networks.py): the DCGAN trunk down to 4x4,
    a 4x4 convolution to `nz` channels (no bias, no activation) that gives the features, and a
    3x3 convolution (padding 1, no bias) to the logit; their sigmoid is inside our BCE.

    forward: (B, C, S, S) -> (logit (B,), features (B, nz, 1, 1))."""

    def __init__(self, size: int, channels: int, nz: int = 100, width: int = 64) -> None:
        super().__init__()
        enc = DCEncoder(size, channels, nz, width)
        self.features = nn.Sequential(enc.trunk, enc.head)
        self.classifier = nn.Conv2d(nz, 1, 3, 1, 1, bias=False)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)  # (B, nz, 1, 1)
        return self.classifier(f).flatten(), f


def feature_distance(f_a: torch.Tensor, f_b: torch.Tensor) -> torch.Tensor:
    """Per-image mean squared difference of two feature maps (B, ...) -> (B,), in float32."""
    return (f_a.float() - f_b.float()).pow(2).flatten(1).mean(1)


@register("skip-ganomaly")
class SkipGANomaly(Detector):
    Config = SkipGANomalyConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        return dcgan_init({
            # the authors' UnetGenerator: widths ngf, 2ngf, 4ngf, then 8ngf down to 1x1
            "g": UNet(c.image_size, channels, c.width, max_width=8 * c.width),
            "d": SkipDiscriminator(c.image_size, channels, c.latent, c.width),
        })

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return adams(self.nets_, self.config.lr, (self.config.beta1, 0.999))

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c, g, d = self.config, self.nets_["g"], self.nets_["d"]
        # The authors form both losses from the state before either update (forward(), then
        # G's step, then D's), so D's terms use the x_hat and the D of before G's step.
        x_hat = g(x)
        d_real, f_real = d(x)
        with weights_frozen(d):
            d_fake, f_fake = d(x_hat)
        adv = bce(d_fake, True)
        con = (x - x_hat.float()).abs().mean()
        lat = feature_distance(f_real.detach(), f_fake).mean()
        self.optimize(c.w_adv * adv + c.w_con * con + c.w_lat * lat, "g")

        # D's third pass, as theirs: the same values as d(x_hat) above, now with D's gradient
        d_fake, f_fake = d(x_hat.detach())
        lat_d = feature_distance(f_real, f_fake).mean()
        loss_d = bce(d_real, True) + bce(d_fake, False) + c.w_lat * lat_d
        self.optimize(loss_d, "d")
        # a collapsed D gives G no gradient: re-initialise it (reinit_d, when err_d < 1e-5),
        # deciding on the all-rank loss so that under DDP every rank does it or none
        if self.world_mean(loss_d.detach().float()).item() < 1e-5:
            d.apply(init_dcgan_weights)
        return {"adv": adv.detach(), "con": con.detach(), "lat": lat.detach(),
                "d": loss_d.detach()}

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets_["g"](x)

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x).float() - x).pow(2).mean(1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        x_hat = self.reconstruct(x)
        _, f_real = self.nets_["d"](x)
        _, f_fake = self.nets_["d"](x_hat)
        rec = (x - x_hat.float()).pow(2).flatten(1).mean(1)
        lam = self.config.score_lambda
        return lam * rec + (1 - lam) * feature_distance(f_real, f_fake)
