"""OCGAN (Perera, Nallapati, Xiang, CVPR 2019, arXiv 1903.08550): one-class novelty detection
with a constrained latent space.

A denoising autoencoder whose code is squashed by tanh into (-1, 1)^d; a latent
discriminator D_l pushes the codes of normal images towards U(-1, 1)^d, so that the whole
latent box decodes to normal-looking images; a visual discriminator D_v tells real images
from decodings of uniform samples; a classifier C tells reconstructions of real images
(label 1) from decodings of uniform samples (label 0). One training step follows the authors'
MXNet code (PramuPerera/OCGAN, andgan.py `trainadnov`), l1 = En(x + n), n ~ N(0, noise_std^2):
  1. from `mining_start_epoch` on, informative-negative mining: mu ~ U(-1, 1)^d takes
     `mining_steps` gradient steps towards codes tanh(mu) whose decodings C calls fake
     (networks fixed); before it, mu stays as drawn; l_neg = tanh(mu)
  2. D_v: BCE(D_v(x), 1) + BCE(D_v(De(l2)), 0);  D_l: BCE(D_l(u), 1) + BCE(D_l(l1), 0),
     l2, u ~ U(-1, 1)^d
  3. C:   BCE(C(De(l1)), 1) + BCE(C(De(l2)), 0)
  4. AE:  w_mse * 0.5 * mean (x - De(l1))^2 + w_latent * BCE(D_l(l1), 1) + BCE(D_v(De(l_neg)), 1)
Score: the reconstruction error mean((x - De(En(x + n)))^2) of a noisy input, as the authors'
test (TestNovelty.py, score 3, images with noise of the training std); each image's noise is
drawn from a generator seeded by the image itself, so a score does not depend on the batch.

Kept from the paper rather than the released code (each a choice, not an oversight): the
encoder ends in tanh (Sec. 3.1; models.py's Encoder defaults to usetanh=False, a LeakyReLU);
fresh input noise at every step (load_image.py draws each image's noise once, at loading);
D_l's 16 outputs are logits (models.py ends it in a sigmoid and the loss applies another);
DCGAN networks at genad's image size (the authors: 5x5 stride-2 convolutions on 61 x 61
images, dropout in the decoder). The authors give one command (MNIST, README); their code has
no CIFAR-10 setting, so one set of defaults serves every data set.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

import torch
from torch import nn

from genad.errors import ConfigError
from genad.models.base import Detector, DetectorConfig
from genad.models.gan_common import adams, bce, dcgan_init, weights_frozen
from genad.nn import DCDiscriminator
from genad.nn.gan import DCAutoencoder
from genad.registry import register


@dataclass
class OCGANConfig(DetectorConfig):
    # The authors' README command (MNIST) over the defaults of their options.py
    epochs: int = 200  # --epochs 201: andgan.py trains epochs range(1, 201), 200 of them
    batch_size: int = 512  # options.py --batch_size 512 (the command keeps it)
    latent: int = 16  # --latent 16 (the encoder's 1 x 1 x 16 output on 61 x 61 images)
    width: int = 64  # --ngf 64: encoder, decoder and classifier C (models.py: netDS ndf=ngf)
    d_width: int = 12  # --ndf 12: first-stage channels of the visual discriminator D_v
    lr: float = 2e-4  # --lr 0.0002: Adam of every network
    beta1: float = 0.5  # --beta1 0.5
    w_mse: float = 10.0  # --lambda 10 (lambda1), on gluon's L2Loss = 0.5 x mean squared error
    w_latent: float = 10.0  # andgan.py: errG = 10.0 * GAN_loss(netD2(En(x + n)), real) + ...
    noise_std: float = 0.2  # --noisevar 0.2, the std of load_image.py's normal(0, noisevar)
    mining_start_epoch: int = 150  # andgan.py mines `if epoch > 150` counting epochs from 1:
    # genad's epochs 150..199, counted from 0
    mining_steps: int = 1  # andgan.py: `for ep2 in range(1)`, "doing single gradient step"
    mining_lr: float = 2.0  # andgan.py: mu -= lr / batch * mu.grad, lr = 2.0 * batch_size
    score_noise: bool = True  # TestNovelty.py scores De(En(x + n)) (--noisevar 0.2); False:
    # De(En(x)), the paper's plain reconstruction error

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.latent, self.width, self.d_width) < 1 or self.noise_std < 0:
            raise ConfigError("latent, width and d_width must be >= 1 and noise_std >= 0")
        if self.mining_start_epoch < 0 or self.mining_steps < 0:
            raise ConfigError("mining_start_epoch and mining_steps must be >= 0")


def latent_discriminator(latent: int) -> nn.Sequential:
    """The authors' D_l (models.py LatentDiscriminator): dense 128-64-32-16 with ReLU, here
    ending in 16 logits; weights and biases N(0, 0.02) as their param_init."""
    dims = (latent, 128, 64, 32, 16)
    layers: list[nn.Module] = []
    for i in range(4):
        layers += [nn.Linear(dims[i], dims[i + 1])] + ([nn.ReLU()] if i < 3 else [])
    net = nn.Sequential(*layers)
    for p in net.parameters():
        nn.init.normal_(p, 0.0, 0.02)
    return net


def image_noise(x: torch.Tensor, std: float, seed: int) -> torch.Tensor:
    """N(0, std^2) noise like `x` (B, C, H, W), each image's from a generator seeded by `seed`
    and the image's own bytes: an image gets the same noise in any batch, at any position."""
    xs = x.detach().float().cpu().contiguous()
    noise = torch.empty_like(xs)
    for i, img in enumerate(xs):
        key = hashlib.blake2b(img.numpy().tobytes(), digest_size=7, person=b"genad-ocgan")
        key.update(seed.to_bytes(8, "little", signed=True))
        gen = torch.Generator().manual_seed(int.from_bytes(key.digest(), "little"))
        noise[i] = torch.randn(img.shape, generator=gen)
    return (noise * std).to(x.device, x.dtype)


class TrainingProgress(nn.Module):
    """The step count and the engine's steps per epoch, as buffers (saved in checkpoints, so
    that a resumed run starts mining at the same epoch)."""

    def __init__(self) -> None:
        super().__init__()
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("steps_per_epoch", torch.ones((), dtype=torch.int64))


@register("ocgan")
class OCGAN(Detector):
    Config = OCGANConfig
    SCORING_PARAMS = ("score_noise",)

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        nets = dcgan_init({
            "ae": DCAutoencoder(c.image_size, channels, c.latent, c.width, bounded=True),
            "d": DCDiscriminator(c.image_size, channels, c.d_width),  # D_v
            "c": DCDiscriminator(c.image_size, channels, c.width),  # the classifier C
        })
        return {**nets, "dl": latent_discriminator(c.latent), "progress": TrainingProgress()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        nets = {k: v for k, v in self.nets_.items() if k != "progress"}
        return adams(nets, self.config.lr, (self.config.beta1, 0.999))

    def mine(self, mu: torch.Tensor) -> torch.Tensor:
        """Informative-negative mining (andgan.py): `mining_steps` gradient steps of size
        `mining_lr` on mu (B, d), pre-tanh, towards codes whose decodings the classifier calls
        fake; every code follows its own loss's gradient. Returns the codes tanh(mu) (B, d)
        in (-1, 1). No network weight changes."""
        ae, cls = self.nets_["ae"], self.nets_["c"]
        mu = mu.detach().clone()
        with weights_frozen(ae, cls):
            for _ in range(self.config.mining_steps):
                mu.requires_grad_(True)
                logits = cls(ae.decode(torch.tanh(mu)))[0].float()
                # per-code BCE(., fake), summed: each code's gradient is its own loss's
                loss = nn.functional.binary_cross_entropy_with_logits(
                    logits, torch.zeros_like(logits), reduction="sum"
                )
                (grad,) = torch.autograd.grad(loss, mu)
                mu = (mu - self.config.mining_lr * grad).detach()
        return torch.tanh(mu)

    def epoch_now(self) -> int:
        """The epoch the next step belongs to, counted from 0."""
        progress = self.nets_["progress"]
        progress.steps_per_epoch.fill_(self.steps_per_epoch_)  # the engine's, per rank
        return int(progress.steps) // int(progress.steps_per_epoch)

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c, ae, dl, dv, cls = (self.config, *(self.nets_[k] for k in ("ae", "dl", "d", "c")))
        # 1. negatives for the AE's visual-adversarial term: tanh(mu), mined from the start epoch
        mu = torch.rand(len(x), c.latent, device=x.device) * 2 - 1
        mining = self.epoch_now() >= c.mining_start_epoch and c.mining_steps > 0
        l_neg = self.mine(mu) if mining else torch.tanh(mu)
        l1 = ae.encode(x + c.noise_std * torch.randn_like(x))
        l2 = torch.rand_like(l1) * 2 - 1
        x_rec, x_gen = ae.decode(l1), ae.decode(l2).detach()
        # 2. discriminators: D_v real images vs decodings of random codes; D_l U(-1, 1) vs codes
        loss_dv = 0.5 * (bce(dv(x)[0], True) + bce(dv(x_gen)[0], False))
        self.optimize(loss_dv, "d")
        loss_dl = 0.5 * (bce(dl(torch.rand_like(l1) * 2 - 1), True) + bce(dl(l1.detach()), False))
        self.optimize(loss_dl, "dl")
        # 3. classifier: reconstructions of real images vs decodings of random codes
        loss_c = 0.5 * (bce(cls(x_rec.detach())[0], True) + bce(cls(x_gen)[0], False))
        self.optimize(loss_c, "c")
        # 4. the autoencoder
        with weights_frozen(dl, dv):
            adv_latent = bce(dl(l1), True)
            adv_visual = bce(dv(ae.decode(l_neg))[0], True)
        mse = (x - x_rec.float()).pow(2).mean()
        self.optimize(c.w_mse * 0.5 * mse + c.w_latent * adv_latent + adv_visual, "ae")
        self.nets_["progress"].steps += 1
        return {"mse": mse.detach(), "adv_latent": adv_latent.detach(),
                "adv_visual": adv_visual.detach(), "c": loss_c.detach(),
                "dl": loss_dl.detach(), "dv": loss_dv.detach(),
                "mining": torch.tensor(float(mining), device=x.device)}

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """(B, d) codes in [-1, 1]."""
        return self.nets_["ae"].encode(x)

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        """De(En(x)), no noise."""
        return self.nets_["ae"](x)

    def scoring_input(self, x: torch.Tensor) -> torch.Tensor:
        """What the score reconstructs: x plus its own seeded noise (score_noise), or x."""
        c = self.config
        return x + image_noise(x, c.noise_std, c.seed) if c.score_noise and c.noise_std else x

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor:
        return (self.reconstruct(self.scoring_input(x)).float() - x).pow(2).mean(1)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.pixel_map(x).flatten(1).mean(1)
