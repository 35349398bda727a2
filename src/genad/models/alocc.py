"""ALOCC: Adversarially Learned One-Class Classifier (Sabokrou, Khalooei, Fathy, Adeli,
CVPR 2018, arXiv 1802.09088), as the authors' code trains it (khalooei/ALOCC-CVPR2018:
models.py, train.py, ops.py, kh_tools.py).

R, a fully convolutional denoising autoencoder, sees x~ = clip(x + eta, -1, 1), eta ~ N(0,
sigma^2 I) (kh_tools.py: skimage's random_noise); D, a CNN, learns to tell the normal images
x (label 1) from R(x~) (label 0). Each step updates D once on
    BCE(D(x), 1) + BCE(D(R(x~)), 0)
then R twice (models.py: "Run g_optim twice to make sure that d_loss does not go to zero
(different from paper)") on
    BCE(D(R(x~)), 1) + r_alpha * BCE_logits(R(x~), x~)
The authors' refinement term is a sigmoid cross-entropy that takes R's (tanh) output as
logits and the *noisy* input as labels (models.py g_r_loss); the paper writes
lambda * ||X - X'||^2 against the clean image with lambda 0.4 (`rec_loss="mse"`, `lam=0.4`).
Both networks use RMSProp (TF 1's, genad.models.tf_optim), although train.py's flag text says
Adam.

Scores: the authors' test.py (f_test_frozen_model) runs D on the test images themselves and
keeps its logits, so the default score is -logit D(x) (`score_kind="d"`, the paper's "D(X)"
variant); the paper's detector flags x when D(R(x)) falls below a threshold
(`score_kind="d_of_r"`, Sec. 3). Either way the score is -logit: a strictly increasing
function of 1 - D(.) = sigmoid(-logit), so the same ranking, AUROC and thresholds, but one that
does not saturate (in float32 the sigmoid rounds every logit below about -17 to 1). At genad's
CPU budgets D(R(x)) is the less reliable of the two: on digits leave-one-out (digit 3, 16x16,
10 epochs, seeds 0-2) D(x) gave AUROC 0.780 / 0.712 / 0.664, D(R(x)) 0.286 / 0.215 / 0.704.
The anomaly map is R's squared reconstruction error.

Their batch norm always runs in training mode (ops.py batch_norm(train=True), never switched
off), so their test scores depend on the test batch; genad scores in eval mode (running
statistics), so that a score does not depend on the other images in its batch.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn

from genad.errors import ConfigError
from genad.models.base import Detector, DetectorConfig
from genad.models.gan_common import bce, weights_frozen
from genad.models.tf_optim import tf_rmsprop
from genad.registry import register
from genad.trainable import check_choices

REC_LOSSES = ("bce", "mse")
SCORE_KINDS = ("d_of_r", "d")


@dataclass
class ALOCCConfig(DetectorConfig):
    epochs: int = 40  # train.py: epoch 40
    batch_size: int = 128  # train.py: batch_size 128
    width: int = 16  # models.py: gf_dim = df_dim = 16 (R: 32-64-128 down, 32-16 up; D: 16-128)
    lr: float = 2e-3  # RMSProp lr of R and D, train.py learning_rate 0.002 (models.py train())
    r_steps: int = 2  # R updates per D update (models.py: g_optim run twice)
    lam: float = 0.2  # weight of the refinement loss, r_alpha = 0.2 (train.py, models.py);
    # the paper's lambda is 0.4, with rec_loss "mse"
    rec_loss: str = "bce"  # "bce": models.py g_r_loss, sigmoid cross-entropy (logits R(x~),
    # labels x~); "mse": the paper's ||x - R(x~)||^2 against the clean image
    noise_std: float = 0.155  # sigma of eta, 0.155 (kh_tools.py) on train.py's default UCSD
    # images, read in [-1, 1] as genad's are; their MNIST path adds it to [0, 1] images (0.31
    # on genad's scale)
    score_kind: str = "d"  # "d": -logit D(x), as the authors' test.py scores; "d_of_r":
    # -logit D(R(x)), the paper's one-class rule (Sec. 3)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices(self, rec_loss=REC_LOSSES, score_kind=SCORE_KINDS)
        if self.r_steps < 1 or self.width < 1 or self.noise_std < 0:
            raise ConfigError("r_steps and width must be >= 1 and noise_std >= 0")


# ---- the authors' networks (models.py; ops.py conv2d / deconv2d: 5x5, stride 2, 'SAME') -------
def _init(m: nn.Module) -> None:
    """ops.py: conv weights truncated N(0, 0.02) (cut at 2 s.d.), deconv and linear weights
    N(0, 0.02), biases 0; batch norm scale 1, offset 0 (tf.contrib batch_norm)."""
    if isinstance(m, nn.Conv2d):
        nn.init.trunc_normal_(m.weight, 0.0, 0.02, -0.04, 0.04)
    elif isinstance(m, (nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
    elif isinstance(m, nn.BatchNorm2d):
        nn.init.ones_(m.weight)
    if getattr(m, "bias", None) is not None:
        nn.init.zeros_(m.bias)


def _down(c_in: int, c_out: int, norm: bool = True) -> list[nn.Module]:
    """5x5 stride-2 convolution (size -> ceil(size / 2)), batch norm, LeakyReLU(0.2)."""
    return [nn.Conv2d(c_in, c_out, 5, 2, 2), *([nn.BatchNorm2d(c_out)] if norm else []),
            nn.LeakyReLU(0.2)]


class Refiner(nn.Module):
    """R (models.py generator): three 5x5 stride-2 convolutions to 2w, 4w, 8w channels (batch
    norm, LeakyReLU 0.2), then 5x5 stride-2 deconvolutions to 2w, w (batch norm, ReLU) and to
    the image (tanh). No dense layer: (B, C, S, S) -> (B, C, S, S), S divisible by 8."""

    def __init__(self, channels: int, width: int = 16) -> None:
        super().__init__()

        def up(c_in: int, c_out: int) -> nn.ConvTranspose2d:  # size -> 2 * size
            return nn.ConvTranspose2d(c_in, c_out, 5, 2, 2, output_padding=1)

        w = width
        self.net = nn.Sequential(
            *_down(channels, 2 * w), *_down(2 * w, 4 * w), *_down(4 * w, 8 * w),  # -> S/8
            up(8 * w, 2 * w), nn.BatchNorm2d(2 * w), nn.ReLU(),
            up(2 * w, w), nn.BatchNorm2d(w), nn.ReLU(),
            up(w, channels), nn.Tanh(),
        )
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


class Discriminator(nn.Module):
    """D (models.py discriminator): four 5x5 stride-2 convolutions to w, 2w, 4w, 8w channels
    (batch norm after all but the first, LeakyReLU 0.2), then a linear logit.
    (B, C, S, S) -> logit (B,)."""

    def __init__(self, size: int, channels: int, width: int = 16) -> None:
        super().__init__()
        w = width
        out = size
        for _ in range(4):
            out = (out + 1) // 2
        self.net = nn.Sequential(
            *_down(channels, w, norm=False), *_down(w, 2 * w), *_down(2 * w, 4 * w),
            *_down(4 * w, 8 * w), nn.Flatten(), nn.Linear(8 * w * out * out, 1),
        )
        self.apply(_init)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x).flatten()


@register("alocc")
class ALOCC(Detector):
    Config = ALOCCConfig
    SCORING_PARAMS = ("score_kind",)

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        return {"r": Refiner(channels, c.width),
                "d": Discriminator(c.image_size, channels, c.width)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {k: tf_rmsprop(n.parameters(), self.config.lr) for k, n in self.nets_.items()}

    def refinement_loss(self, x: torch.Tensor, noisy: torch.Tensor,
                        x_rec: torch.Tensor) -> torch.Tensor:
        """Mean over the batch and pixels of the refinement term (see `rec_loss`)."""
        x_rec = x_rec.float()
        if self.config.rec_loss == "bce":  # labels outside [0, 1] as theirs: the same formula
            return F.binary_cross_entropy_with_logits(x_rec, noisy.float())
        return (x - x_rec).pow(2).mean()

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c, r, d = self.config, self.nets_["r"], self.nets_["d"]
        noisy = (x + c.noise_std * torch.randn_like(x)).clamp(-1, 1)  # random_noise clips
        with torch.no_grad():
            fake = r(noisy)
        loss_d = bce(d(x), True) + bce(d(fake), False)  # d_loss = d_loss_real + d_loss_fake
        self.optimize(loss_d, "d")
        for _ in range(c.r_steps):
            x_rec = r(noisy)
            with weights_frozen(d):
                adv = bce(d(x_rec), True)
            rec = self.refinement_loss(x, noisy, x_rec)
            self.optimize(adv + c.lam * rec, "r")
        return {"adv": adv.detach(), "rec": rec.detach(), "d": loss_d.detach()}

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets_["r"](x)

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x).float() - x).pow(2).mean(1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        seen = self.reconstruct(x) if self.config.score_kind == "d_of_r" else x
        return -self.nets_["d"](seen).float()  # increasing in 1 - D(.) = sigmoid(-logit)
