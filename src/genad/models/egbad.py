"""EGBAD: Efficient GAN-Based Anomaly Detection (Zenati, Foo, Lecouat, Manek, Chandrasekhar,
ICLR 2018 workshop, arXiv 1802.06222), as the authors' code (houssamzenati/
Efficient-GAN-Anomaly-Detection, bigan/run_mnist.py and bigan/mnist_utilities.py) trains it.

A BiGAN (Donahue et al. 2017): an encoder E (x -> z), a generator G (z -> x) and a joint
discriminator D(x, z) that tells pairs (x, E(x)) (label 1) from pairs (G(z), z) (label 0);
G and E are trained to fool it (the authors' code gives G the non-saturating loss on
(G(z), z) and E the flipped label on (x, E(x))). Each network keeps an exponential moving
average of its weights (decay 0.999), and those averaged copies score (Sec. 3):
    A(x) = alpha * L_G(x) + (1 - alpha) * L_D(x),   alpha = 0.9,
    L_G = ||x - G(E(x))||_1,
    L_D = ||f(x, E(x)) - f(G(E(x)), E(x))||_1      (the "fm" variant),
with f the joint layer of D before its logit. We divide A by the pixel count C*H*W, the same
constant for every image (the ranking is unchanged, the numbers stay near 1).

Networks (`arch`): "dcgan" (the default) gives E, G and D's image branch genad's DCGAN plan
(4x4 stride-2 stages down to 4x4, widths doubling from `width`); "official" builds the
authors' MNIST networks (bigan/mnist_utilities.py), whose layer plan ends at S/4 (7x7 at their
28 px, 8x8 at genad's 32 px): E a 3x3 convolution of width/2, two 3x3 stride-2 convolutions of
width and 2 * width (TensorFlow's SAME padding, one extra row and column at the bottom right),
then a dense layer to the code; G dense 1024, dense (S/4)^2 x 128, two 4x4 stride-2
deconvolutions (the InfoGAN MNIST generator's plan); D's image branch two 4x4 stride-2
convolutions of `width` each. Their BatchNorm keeps TensorFlow's defaults (running averages
decay 0.99, eps 1e-3). Kept different from the authors' code: D and the G/E update see the same
batch and z (theirs draw a second batch and a fresh z for the G/E update), since the engine
hands one batch per step.
"""

from __future__ import annotations

import copy
import itertools
from dataclasses import dataclass

import torch
from torch import nn

from genad.errors import ConfigError
from genad.models.base import Detector, DetectorConfig
from genad.models.gan_common import bce, ema_update, weights_frozen
from genad.nn import DCDecoder, DCEncoder
from genad.nn.dcgan import _levels
from genad.nn.gan import InfoGANGenerator
from genad.registry import register
from genad.trainable import check_choices

ARCHS = ("dcgan", "official")


@dataclass
class EGBADConfig(DetectorConfig):
    arch: str = "dcgan"  # "official": the authors' MNIST E, G, D (bigan/mnist_utilities.py)
    #                      at S/4 (see the module docstring); "dcgan": genad's DCGAN plan
    batch_size: int = 100  # batch_size (bigan/mnist_utilities.py)
    latent: int = 200  # latent_dim for MNIST (bigan/mnist_utilities.py)
    width: int = 64  # first-stage channels of E, G and D's image branch (DCGAN's 64)
    hidden: int = 512  # D's z branch; its joint layer is 2x this (mnist_utilities.py: 512, 1024)
    lr: float = 1e-5  # Adam lr for MNIST, constant (bigan/mnist_utilities.py learning_rate)
    beta1: float = 0.5  # Adam beta1 of D, G and E (bigan/run_mnist.py)
    slope: float = 0.1  # LeakyReLU slope in E and D (mnist_utilities.py leakyReLu, alpha=0.1)
    ema_decay: float = 0.999  # moving average of E, G, D's weights that scores
    #   (bigan/run_mnist.py ema_decay); 0 scores with the trained weights themselves
    alpha: float = 0.9  # weight of L_G in the score (Zenati et al. 2018, Sec. 3: 0.9;
    #   run_mnist.py: (1 - w) * gen_score + w * dis_score with README's w = 0.1)

    def __post_init__(self) -> None:
        super().__post_init__()
        check_choices(self, arch=ARCHS)
        if not 0 <= self.ema_decay < 1:
            raise ConfigError("ema_decay must be in [0, 1)")


class EGBADDiscriminator(nn.Module):
    """The authors' BiGAN discriminator D(x, z) (mnist_utilities.py `discriminator`) on a DCGAN
    trunk: x through 4x4 stride-2 convolutions (BatchNorm after all but the first) down to
    4x4, z through a dense layer of `hidden`, both joined by a dense layer of 2 * hidden whose
    activations are the features f, then a linear logit. LeakyReLU(`slope`) and dropout 0.5
    after every convolution and dense layer but the logit, as theirs (dropout in training only).

    With `official=True` the image branch is the authors' own: two stages of `width` channels
    each, down to S/4 (their 7x7 at 28 px).

    forward: (x (B, C, S, S), z (B, nz)) -> (logit (B,), features (B, 2 * hidden))."""

    def __init__(self, size: int, channels: int, nz: int, width: int = 64, hidden: int = 512,
                 slope: float = 0.1, official: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, w = channels, width
        stages = 2 if official else _levels(size)
        for i in range(stages):
            if i:
                c_in, w = w, w if official else 2 * w
            layers += [nn.Conv2d(c_in, w, 4, 2, 1), *([nn.BatchNorm2d(w)] if i else []),
                       nn.LeakyReLU(slope), nn.Dropout(0.5)]
        side = size >> stages
        self.x_net = nn.Sequential(*layers, nn.Flatten())  # -> (B, w * side * side)
        self.z_net = nn.Sequential(nn.Linear(nz, hidden), nn.LeakyReLU(slope), nn.Dropout(0.5))
        self.joint = nn.Sequential(nn.Linear(w * side * side + hidden, 2 * hidden),
                                   nn.LeakyReLU(slope), nn.Dropout(0.5))
        self.head = nn.Linear(2 * hidden, 1)

    def forward(self, x: torch.Tensor, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.joint(torch.cat([self.x_net(x), self.z_net(z)], 1))  # (B, 2 * hidden)
        return self.head(f).flatten(), f


class EGBADEncoder(nn.Module):
    """The authors' MNIST encoder (mnist_utilities.py `encoder`) at any size divisible by 4:
    a 3x3 convolution to width/2 channels (no normalisation or activation after it, as
    theirs), two 3x3 stride-2 convolutions to width and 2 * width with BatchNorm and
    LeakyReLU(`slope`), each padded as TensorFlow's SAME pads a stride-2 3x3 kernel on an even
    side (one row and column, at the bottom and right), then a dense layer to the code.
    (B, C, S, S) -> (B, nz); width 64 gives their 32, 64, 128 channels."""

    def __init__(self, size: int, channels: int, nz: int, width: int = 64,
                 slope: float = 0.1) -> None:
        super().__init__()
        if size % 4:
            raise ConfigError(f"the official EGBAD networks need a size divisible by 4, got {size}")
        half, side = max(width // 2, 1), size // 4
        self.net = nn.Sequential(
            nn.Conv2d(channels, half, 3, 1, 1),
            nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(half, width, 3, 2), nn.BatchNorm2d(width),
            nn.LeakyReLU(slope),
            nn.ZeroPad2d((0, 1, 0, 1)), nn.Conv2d(width, 2 * width, 3, 2),
            nn.BatchNorm2d(2 * width), nn.LeakyReLU(slope),
            nn.Flatten(), nn.Linear(2 * width * side * side, nz),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)


def tensorflow_batchnorm(net: nn.Module) -> nn.Module:
    """Give every BatchNorm in `net` TensorFlow's defaults (`tf.layers.batch_normalization`:
    running averages with decay 0.99, eps 1e-3); returns `net`."""
    for m in net.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.momentum, m.eps = 0.01, 1e-3
    return net


def init_egbad_weights(m: nn.Module) -> None:
    """The authors' initialisation (TensorFlow layers): kernels N(0, 0.02), biases 0, BatchNorm
    scale 1 and shift 0."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        nn.init.normal_(m.weight, 0.0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.ones_(m.weight)
        nn.init.zeros_(m.bias)


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
        official = c.arch == "official"
        nets = {
            "e": EGBADEncoder(c.image_size, channels, c.latent, c.width, c.slope) if official
            else DCEncoder(c.image_size, channels, c.latent, c.width, slope=c.slope),
            "g": InfoGANGenerator(c.image_size, channels, c.latent) if official
            else DCDecoder(c.image_size, channels, c.latent, c.width),
            "d": EGBADDiscriminator(c.image_size, channels, c.latent, c.width, c.hidden,
                                    c.slope, official),
        }
        for net in nets.values():
            net.apply(init_egbad_weights)
            if official:
                tensorflow_batchnorm(net)
        # the moving averages start at the initial weights, as TensorFlow's do; not optimised
        emas = {f"{k}_ema": copy.deepcopy(v).requires_grad_(False) for k, v in nets.items()}
        return {**nets, **emas}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        # one Adam over G and E equals the authors' two: Adam works parameter by parameter
        c, n = self.config, self.nets_
        ge = itertools.chain(n["g"].parameters(), n["e"].parameters())
        return {
            "d": torch.optim.Adam(n["d"].parameters(), c.lr, betas=(c.beta1, 0.999)),
            "ge": torch.optim.Adam(ge, c.lr, betas=(c.beta1, 0.999)),
        }

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        n, decay = self.nets_, self.config.ema_decay
        e, g, d = n["e"], n["g"], n["d"]
        z = torch.randn(x.shape[0], self.config.latent, device=x.device)
        z_enc, x_gen = e(x), g(z)
        loss_d = bce(d(x, z_enc.detach())[0], True) + bce(d(x_gen.detach(), z)[0], False)
        self.optimize(loss_d, "d")
        with weights_frozen(d):
            loss_ge = bce(d(x_gen, z)[0], True) + bce(d(x, z_enc)[0], False)
        self.optimize(loss_ge, "ge")
        # after both updates (D's weights did not move in the second), so that the copied
        # BatchNorm statistics are the step's last
        for k in ("d", "g", "e"):
            ema_update(n[f"{k}_ema"], n[k], decay)
        return {"d": loss_d.detach(), "ge": loss_ge.detach()}

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets_["g_ema"](self.nets_["e_ema"](x))

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(x).float() - x).abs().mean(1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        e, g, d = self.nets_["e_ema"], self.nets_["g_ema"], self.nets_["d_ema"]
        z = e(x)
        x_rec = g(z)
        return egbad_score(x, x_rec, d(x, z)[1], d(x_rec, z)[1], self.config.alpha)
