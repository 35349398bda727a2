"""Deep SVDD (Ruff, Vandermeulen, Goernitz, Deecke, Siddiqui, Binder, Mueller, Kloft,
"Deep One-Class Classification", ICML 2018).

A network phi maps the normal images into a hypersphere of centre c. One-class objective:
    mean_i ||phi(x_i) - c||^2  (+ weight decay);
soft-boundary objective with nu in (0, 1]:
    R^2 + 1/nu * mean_i max(0, ||phi(x_i) - c||^2 - R^2)  (+ weight decay),
R set on each batch, after `warm_up_epochs`, to the (1 - nu) quantile of the batch's distances
(the authors' code). Score: ||phi(x) - c||^2, minus R^2 for the soft boundary.

phi must not be able to map everything to c (the hypersphere collapse, the paper's Sec. 3.3):
it has no bias terms (bias-free convolutions and linear layer, BatchNorm without affine shift)
and no bounded activation at the end, and c is fixed, not learned: the mean of the codes after
autoencoder pre-training, with coordinates closer to 0 than `eps` pushed out to +-eps
(the authors' `init_center_c`). c, R and the step count are buffers of the `svdd` net, so they
are saved in the model file and in checkpoints.

Settings follow the authors' code (Deep-SVDD-PyTorch: README commands, src/main.py,
src/optim/ae_trainer.py), per data set through `DATASET_DEFAULTS`: a field left at None takes
the MNIST or CIFAR-10 command's value, and the MNIST one for other images ("default"), except
that other images keep genad's [-1, 1] input (see preprocess below).

Networks (`arch`): "dcgan" (the default, genad's choice) makes phi a bias-free DCGAN encoder of
`width` channels at any image size; "lenet" uses the authors' own LeNets (genad.nn.lenet:
networks/mnist_LeNet.py for 1-channel images, cifar10_LeNet.py for 3-channel ones) and their
autoencoders' decoders for pre-training. Their decoders start from the code as 4x4 maps and
end at 28 px (MNIST) or 32 px (CIFAR-10); 28 is not a genad network size (powers of two), so
"lenet" runs at image_size 32: MNIST, resized to 32 as for every detector, gives phi's linear
layer 4*8*8 inputs instead of 4*7*7, and the MNIST decoder's middle layer pads 2 instead of 3.

Pre-training: an autoencoder (phi, then a DCGAN or LeNet decoder) learns to reconstruct the
images with the per-image *sum* of squared errors over the pixels, averaged over the batch
(ae_trainer.py), Adam with weight decay, lr x 0.1 from `pretrain_lr_milestone` on.

Preprocessing: `preprocess="gcn"` applies the paper's (Sec. 4.1, as in the authors' code, for
MNIST and CIFAR-10 alike): global contrast normalisation with the l1 norm (each image minus its
mean, divided by its mean absolute deviation), then min-max scaling to [0, 1] with the smallest
and largest value over the normal training images (the authors hard-code these per class, from
the training set of the normal class, datasets/mnist.py and cifar10.py), before the
pre-training autoencoder too. "none" gives phi the same [-1, 1] images as every other detector;
it is the default for images other than MNIST and CIFAR-10, for which the authors have no
setting and where GCN lowered AUROC on the magnetic tiles at the budgets we measured (README).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genad.data.base import ImageSet, to_float
from genad.errors import ConfigError
from genad.models.base import Detector, DetectorConfig, pretrain_autoencoder
from genad.nn import DCDecoder, DCEncoder, init_dcgan_weights
from genad.nn.lenet import lenet_decoder, lenet_encoder
from genad.registry import register
from genad.trainable import check_choices

#: --n_epochs of both README commands: pre-training scales with `epochs` against it
OFFICIAL_EPOCHS = 150
ARCHS = ("dcgan", "lenet")


@dataclass
class DeepSVDDConfig(DetectorConfig):
    # Settings of the authors' README commands (Deep-SVDD-PyTorch, Ruff et al. 2018), the same
    # for MNIST and CIFAR-10 unless marked; None = the data set's value, `DATASET_DEFAULTS`
    epochs: int = OFFICIAL_EPOCHS  # --n_epochs 150
    batch_size: int = 200  # --batch_size 200 (and --ae_batch_size 200)
    lr: float = 1e-4  # Adam, --lr 0.0001
    lr_milestone: int = 50  # --lr_milestone 50: lr x 0.1 from this epoch on
    weight_decay: float = 0.5e-6  # --weight_decay 0.5e-6 (lambda)
    pretrain_epochs: int | None = None  # --ae_n_epochs: MNIST 150, CIFAR-10 350, scaled by
    # epochs / 150 when `epochs` is not the official 150; 0 = no autoencoder pre-training
    pretrain_lr: float = 1e-4  # --ae_lr 0.0001
    pretrain_lr_milestone: int | None = None  # --ae_lr_milestone: MNIST 50, CIFAR-10 250
    pretrain_weight_decay: float | None = None  # --ae_weight_decay: MNIST 0.5e-3, CIFAR-10 0.5e-6
    rep_dim: int | None = None  # MNIST 32, CIFAR-10 128 (networks/mnist_LeNet.py, cifar10_LeNet.py)
    arch: str = "dcgan"  # "dcgan": genad's bias-free DCGAN encoder; "lenet": the authors'
    # LeNets, 8-4 channels (MNIST) / 32-64-128 (CIFAR-10), at image_size 32 (networks/*.py)
    width: int = 32  # first-stage channels of the DCGAN encoder (genad's choice; not "lenet")
    eps: float = 0.1  # |c_k| < eps -> +-eps (the authors' init_center_c)
    objective: str = "one-class"  # --objective: "one-class" or "soft-boundary"
    nu: float = 0.1  # soft-boundary trade-off, --nu 0.1 (the authors' default)
    warm_up_epochs: int = 10  # soft boundary: R stays 0 for these epochs (deepSVDD_trainer.py)
    preprocess: str | None = None  # "gcn" (the authors', MNIST and CIFAR-10; datasets/*.py) or
    # "none" (genad's [-1, 1] images; the default for other data, see the module docstring)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.objective not in ("one-class", "soft-boundary"):
            raise ConfigError(f"objective must be one-class or soft-boundary, not {self.objective}")
        if not 0 < self.nu <= 1:
            raise ConfigError(f"nu must be in (0, 1], got {self.nu}")
        if self.preprocess not in ("gcn", "none", None):
            raise ConfigError(f"preprocess must be gcn or none, not {self.preprocess!r}")
        check_choices(self, arch=ARCHS)
        if self.arch == "lenet" and self.image_size != 32:
            raise ConfigError(f"arch lenet runs at image_size 32 (where the authors' decoders "
                              f"end), got {self.image_size}")
        if self.arch == "lenet" and (self.rep_dim or 16) % 16:
            raise ConfigError(f"arch lenet needs a rep_dim divisible by 16 (its decoders start "
                              f"from rep_dim / 16 maps of 4x4), got {self.rep_dim}")
        if (self.rep_dim or 1) < 1 or self.width < 1 or self.lr <= 0 or self.eps < 0:
            raise ConfigError("rep_dim, width and lr must be positive and eps >= 0")
        if min(self.pretrain_epochs or 0, self.pretrain_lr_milestone or 0, self.warm_up_epochs,
               self.lr_milestone) < 0 or (self.pretrain_weight_decay or 0) < 0:
            raise ConfigError("pretrain_epochs, pretrain_lr_milestone, pretrain_weight_decay, "
                              "warm_up_epochs and lr_milestone must be >= 0")


@dataclass
class SoftDeepSVDDConfig(DeepSVDDConfig):
    objective: str = "soft-boundary"  # the authors' --objective soft-boundary


def bias_free_encoder(size: int, channels: int, rep_dim: int, width: int) -> DCEncoder:
    """The DCGAN encoder with no bias anywhere: its convolutions have none, and its BatchNorm
    layers lose their affine shift (as the authors' LeNet networks: affine=False, eps=1e-4)."""
    enc = DCEncoder(size, channels, rep_dim, width)
    enc.apply(init_dcgan_weights)
    for i, layer in enumerate(enc.trunk):
        if isinstance(layer, nn.BatchNorm2d):
            enc.trunk[i] = nn.BatchNorm2d(layer.num_features, eps=1e-4, affine=False)
    return enc


def fix_centre(c: torch.Tensor, eps: float) -> torch.Tensor:
    """Coordinates of c with |c_k| < eps moved to sign(c_k) * eps (exact zeros stay 0, as in
    the authors' code): a unit whose weights reach zero cannot then sit on c for free."""
    c = c.clone()
    small = c.abs() < eps
    c[small & (c < 0)] = -eps
    c[small & (c > 0)] = eps
    return c


def radius(dist: torch.Tensor, nu: float) -> torch.Tensor:
    """R: the (1 - nu) quantile of the distances sqrt(dist) (the authors' get_radius)."""
    return torch.quantile(dist.detach().double().sqrt(), 1 - nu)


def pretrain_loss_01(x_rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """`pretrain_loss` against x mapped from [-1, 1] to [0, 1]: for a LeNet decoder, whose
    sigmoid cannot reach genad's [-1, 1] images (preprocess "none")."""
    return pretrain_loss(x_rec, (x.float() + 1) / 2)


def global_contrast(x: torch.Tensor) -> torch.Tensor:
    """Each image minus its mean, divided by its mean absolute deviation (GCN, l1 norm); a
    constant image becomes 0."""
    flat = x.flatten(1).float()
    flat = flat - flat.mean(1, keepdim=True)
    return (flat / flat.abs().mean(1, keepdim=True).clamp_min(1e-8)).view(x.shape)


def pretrain_loss(x_rec: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """The authors' autoencoder loss (ae_trainer.py): each image's squared error summed over
    its pixels, averaged over the batch. (B, C, H, W) x 2 -> scalar."""
    return (x_rec.float() - x.float()).pow(2).flatten(1).sum(1).mean()


class SVDDState(nn.Module):
    """Centre c, radius R, training progress and the min-max range of the preprocessing, as
    buffers (saved with the weights)."""

    def __init__(self, rep_dim: int) -> None:
        super().__init__()
        self.register_buffer("c", torch.zeros(rep_dim))
        self.register_buffer("lo", torch.zeros(()))
        self.register_buffer("hi", torch.ones(()))
        self.register_buffer("r", torch.zeros((), dtype=torch.float64))
        self.register_buffer("steps", torch.zeros((), dtype=torch.int64))
        self.register_buffer("steps_per_epoch", torch.ones((), dtype=torch.int64))


@register("deep-svdd")
class DeepSVDD(Detector):
    """One-class Deep SVDD; `deep-svdd-soft` is the soft-boundary variant."""

    Config = DeepSVDDConfig
    # the two README commands (Deep-SVDD-PyTorch); "default": MNIST's, on genad's [-1, 1] input
    DATASET_DEFAULTS = {
        "mnist": {"rep_dim": 32, "pretrain_epochs": 150, "pretrain_lr_milestone": 50,
                  "pretrain_weight_decay": 0.5e-3, "preprocess": "gcn"},
        "cifar10": {"rep_dim": 128, "pretrain_epochs": 350, "pretrain_lr_milestone": 250,
                    "pretrain_weight_decay": 0.5e-6, "preprocess": "gcn"},
        "default": {"rep_dim": 32, "pretrain_epochs": 150, "pretrain_lr_milestone": 50,
                    "pretrain_weight_decay": 0.5e-3, "preprocess": "none"},
    }

    def for_data(self, data: ImageSet | torch.Tensor | np.ndarray) -> DeepSVDD:
        """`Detector.for_data`; a pre-training length taken from the table is the official
        one at the official 150 epochs, so it scales with `epochs` (MNIST: pre-training as
        long as training, as --ae_n_epochs = --n_epochs; CIFAR-10: 350/150 as long)."""
        from_table = self.config.pretrain_epochs is None
        super().for_data(data)
        c = self.config
        if from_table and c.pretrain_epochs:
            n = max(1, round(c.pretrain_epochs * c.epochs / OFFICIAL_EPOCHS))
            self.config = dataclasses.replace(c, pretrain_epochs=n)
        return self

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        if c.arch == "lenet":
            # pre-trained, phi is their autoencoder's encoder (its own initialisation)
            encoder = lenet_encoder(c.image_size, channels, c.rep_dim,
                                    autoencoder=bool(c.pretrain_epochs))
        else:
            encoder = bias_free_encoder(c.image_size, channels, c.rep_dim, c.width)
        return {"encoder": encoder, "svdd": SVDDState(c.rep_dim)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        params = self.nets_["encoder"].parameters()
        return {"encoder": torch.optim.Adam(params, c.lr, weight_decay=c.weight_decay)}

    def preprocess(self, x: torch.Tensor) -> torch.Tensor:
        """The input phi sees: GCN + min-max scaling (config.preprocess "gcn"), or x itself."""
        if self.config.preprocess == "none":
            return x
        return self._min_max(global_contrast(x))

    def _min_max(self, g: torch.Tensor) -> torch.Tensor:
        state = self.nets_["svdd"]
        lo, hi = state.lo.to(g.device), state.hi.to(g.device)
        return (g - lo) / (hi - lo).clamp_min(1e-8)

    def codes(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets_["encoder"](self.preprocess(x)).float()

    def before_training(self, x: torch.Tensor) -> None:
        """The preprocessing's min-max range, autoencoder pre-training of phi, then c from the
        codes of all training images."""
        c = self.config
        state = self.nets_["svdd"]
        x = to_float(x)  # the data sets Deep SVDD trains on are small
        seen = x  # what phi is pre-trained on: the preprocessed training images
        if c.preprocess == "gcn":
            g = global_contrast(x)
            state.lo.fill_(float(g.min()))
            state.hi.fill_(float(g.max()))
            seen = self._min_max(g)
        if c.pretrain_epochs:
            loss = pretrain_loss
            if c.arch == "lenet":
                # The authors' decoders end in a sigmoid, for their inputs in [0, 1] after
                # GCN + min-max: with preprocess "gcn" genad's are too (the min-max range is
                # these very images'). With "none" phi sees [-1, 1] images, out of a sigmoid's
                # reach: the decoder then reconstructs them mapped to [0, 1], which keeps the
                # loss, and so its balance against the weight decay, on the authors' scale.
                decoder = lenet_decoder(c.image_size, x.shape[1], c.rep_dim)
                if c.preprocess == "none":
                    loss = pretrain_loss_01
            else:  # tanh: covers both [-1, 1] and the [0, 1] of "gcn"
                decoder = DCDecoder(c.image_size, x.shape[1], c.rep_dim, c.width)
                decoder.apply(init_dcgan_weights)
            self.pretrain_history_ = pretrain_autoencoder(
                self, self.nets_["encoder"], decoder, seen, epochs=c.pretrain_epochs,
                lr=c.pretrain_lr, weight_decay=c.pretrain_weight_decay,
                lr_milestone=c.pretrain_lr_milestone, loss=loss,
            )
        state.c.copy_(fix_centre(self.evaluate_batches(x, self.codes).mean(0), c.eps))

    def _distance(self, x: torch.Tensor) -> torch.Tensor:
        return (self.codes(x) - self.nets_["svdd"].c).pow(2).sum(1)

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        c, state = self.config, self.nets_["svdd"]
        state.steps_per_epoch.fill_(self.steps_per_epoch_)  # the engine's, per rank
        epoch = int(state.steps) // int(state.steps_per_epoch)
        for group in self.optimizers_["encoder"].param_groups:
            group["lr"] = c.lr * (0.1 if epoch >= c.lr_milestone else 1.0)
        dist = self._distance(x)
        if c.objective == "soft-boundary":
            r2 = state.r.float() ** 2
            loss = r2 + F.relu(dist - r2).mean() / c.nu
        else:
            loss = dist.mean()
        self.optimize(loss, "encoder")
        if c.objective == "soft-boundary" and epoch >= c.warm_up_epochs:
            state.r.copy_(radius(dist, c.nu))
        state.steps += 1
        return {"loss": loss.detach(), "dist": dist.detach().mean()}

    def score(self, x: torch.Tensor) -> torch.Tensor:
        dist = self._distance(x).double()
        if self.config.objective == "soft-boundary":
            dist = dist - self.nets_["svdd"].r ** 2
        return dist


@register("deep-svdd-soft")
class SoftDeepSVDD(DeepSVDD):
    """Soft-boundary Deep SVDD: a share nu of the normal images may lie outside
    the sphere of radius R; score ||phi(x) - c||^2 - R^2."""

    Config = SoftDeepSVDDConfig
