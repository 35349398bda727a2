"""The LeNet-type networks of Deep SVDD's authors (Ruff et al., ICML 2018; lukasruff/
Deep-SVDD-PyTorch, src/networks/mnist_LeNet.py and src/networks/cifar10_LeNet.py), written
anew and split into encoder and decoder so that the encoder alone is phi.

Encoder: per stage a 5x5 convolution (padding 2, no bias), BatchNorm (eps 1e-4, affine=False:
no shift), leaky_relu (slope 0.01, F.leaky_relu's default) and 2x2 max-pool; then a bias-free
linear layer to rep_dim. MNIST_LeNet: stages of 8 and 4 channels; CIFAR10_LeNet: 32, 64, 128.
Nothing in it is a bias, so phi cannot map every image to c by itself (the paper's Sec. 3.3).

Decoders (the *_Autoencoder classes' second half): the code viewed as (rep_dim / 16, 4, 4),
nearest-neighbour upsampling x2 (F.interpolate) and bias-free 5x5 transposed convolutions
with the same BatchNorm, ending in a sigmoid: images in (0, 1), as the authors' inputs are
after GCN + min-max scaling.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

MNIST_WIDTHS = (8, 4)  # mnist_LeNet.py: conv1 1 -> 8, conv2 8 -> 4
CIFAR10_WIDTHS = (32, 64, 128)  # cifar10_LeNet.py: conv1 3 -> 32, conv2 -> 64, conv3 -> 128


def _norm2d(n: int) -> nn.BatchNorm2d:
    return nn.BatchNorm2d(n, eps=1e-4, affine=False)


def init_xavier_leaky(m: nn.Module) -> None:
    """Xavier-uniform weights with leaky_relu's gain for (transposed) convolutions: the
    initialisation of every convolution in CIFAR10_LeNet_Autoencoder (cifar10_LeNet.py)."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d)):
        nn.init.xavier_uniform_(m.weight, gain=nn.init.calculate_gain("leaky_relu"))


class LeNetEncoder(nn.Module):
    """(B, C, S, S) -> (B, rep_dim): one conv-BN-leaky_relu-pool stage per entry of `widths`,
    then a bias-free linear layer; S must be divisible by 2 ** len(widths). At the authors'
    sizes (28 px, widths 8-4; 32 px, widths 32-64-128) the map before the linear layer is 7x7
    and 4x4; at other sizes the linear layer takes the larger or smaller map."""

    def __init__(self, size: int, channels: int, rep_dim: int, widths: tuple[int, ...]) -> None:
        super().__init__()
        if size % 2 ** len(widths) or size < 2 ** len(widths):
            raise ValueError(
                f"a LeNet of {len(widths)} pooling stages needs an image size "
                f"divisible by {2 ** len(widths)}, got {size}"
            )
        ins = (channels, *widths[:-1])
        self.convs = nn.ModuleList(
            nn.Conv2d(i, o, 5, padding=2, bias=False) for i, o in zip(ins, widths)
        )
        self.norms = nn.ModuleList(_norm2d(w) for w in widths)
        side = size // 2 ** len(widths)
        self.fc = nn.Linear(widths[-1] * side * side, rep_dim, bias=False)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        for conv, norm in zip(self.convs, self.norms):
            x = F.max_pool2d(F.leaky_relu(norm(conv(x))), 2)  # (B, w, S/2^k, S/2^k)
        return self.fc(x.flatten(1))


class MNISTLeNetDecoder(nn.Module):
    """(B, rep_dim) -> (B, 1, S, S) in (0, 1), S = 28 (the authors') or 32 (genad's MNIST
    size): MNIST_LeNet_Autoencoder's decoder. Its middle transposed convolution pads 3 to go
    from 16 to 14 px, so that the last upsampling ends at 28; for 32 px it pads 2 (16 -> 16).
    Initialised as PyTorch's default, as theirs."""

    def __init__(self, size: int = 28, rep_dim: int = 32) -> None:
        super().__init__()
        if size not in (28, 32) or rep_dim % 16:
            raise ValueError(
                f"the MNIST LeNet decoder gives 28 or 32 px from a code of a "
                f"multiple of 16, got size {size}, rep_dim {rep_dim}"
            )
        pad = (40 - size) // 4  # 16 + 4 - 2 * pad = size / 2
        self.deconvs = nn.ModuleList(
            [
                nn.ConvTranspose2d(rep_dim // 16, 4, 5, padding=2, bias=False),
                nn.ConvTranspose2d(4, 8, 5, padding=pad, bias=False),
                nn.ConvTranspose2d(8, 1, 5, padding=2, bias=False),
            ]
        )
        self.norms = nn.ModuleList([_norm2d(4), _norm2d(8)])

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = z.view(z.shape[0], -1, 4, 4)  # (B, rep_dim / 16, 4, 4)
        x = F.interpolate(F.leaky_relu(x), scale_factor=2)  # 8x8
        x = self.deconvs[0](x)  # (B, 4, 8, 8)
        x = F.interpolate(F.leaky_relu(self.norms[0](x)), scale_factor=2)  # 16x16
        x = self.deconvs[1](x)  # (B, 8, S/2, S/2)
        x = F.interpolate(F.leaky_relu(self.norms[1](x)), scale_factor=2)  # S x S
        return torch.sigmoid(self.deconvs[2](x))  # (B, 1, S, S)


class CIFAR10LeNetDecoder(nn.Module):
    """(B, rep_dim) -> (B, 3, 32, 32) in (0, 1): CIFAR10_LeNet_Autoencoder's decoder, which
    first normalises the code (BatchNorm1d, eps 1e-4, affine=False; phi itself has none), then
    runs 4 -> 8 -> 16 -> 32 px through transposed convolutions of 128, 64, 32 and 3 channels.
    Xavier-initialised with leaky_relu's gain, as theirs."""

    def __init__(self, rep_dim: int = 128) -> None:
        super().__init__()
        if rep_dim % 16:
            raise ValueError(
                f"the CIFAR-10 LeNet decoder needs a code of a multiple of 16, "
                f"got rep_dim {rep_dim}"
            )
        self.code_norm = nn.BatchNorm1d(rep_dim, eps=1e-4, affine=False)
        widths = (rep_dim // 16, 128, 64, 32, 3)
        self.deconvs = nn.ModuleList(
            nn.ConvTranspose2d(i, o, 5, padding=2, bias=False)
            for i, o in zip(widths[:-1], widths[1:])
        )
        self.norms = nn.ModuleList(_norm2d(w) for w in widths[1:-1])
        self.apply(init_xavier_leaky)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        x = F.leaky_relu(self.code_norm(z).view(z.shape[0], -1, 4, 4))  # (B, rep_dim/16, 4, 4)
        for deconv, norm in zip(self.deconvs[:-1], self.norms):
            x = F.interpolate(F.leaky_relu(norm(deconv(x))), scale_factor=2)  # 8, 16, 32 px
        return torch.sigmoid(self.deconvs[-1](x))  # (B, 3, 32, 32)


def lenet_encoder(size: int, channels: int, rep_dim: int,
                  autoencoder: bool = False) -> LeNetEncoder:
    """The authors' MNIST LeNet for 1-channel images, their CIFAR-10 LeNet for 3-channel ones
    (PyTorch's default initialisation, as MNIST_LeNet and CIFAR10_LeNet). `autoencoder`: the
    encoder half of their autoencoder instead, whose CIFAR-10 convolutions are
    Xavier-initialised (phi when it is pre-trained)."""
    if channels not in (1, 3):
        raise ValueError(f"the LeNets take 1 or 3 channels, got {channels}")
    enc = LeNetEncoder(size, channels, rep_dim, MNIST_WIDTHS if channels == 1 else CIFAR10_WIDTHS)
    if autoencoder and channels == 3:
        enc.apply(init_xavier_leaky)
    return enc


def lenet_decoder(size: int, channels: int, rep_dim: int) -> nn.Module:
    """The decoder of the authors' autoencoder for `lenet_encoder(size, channels, rep_dim)`."""
    if channels == 1:
        return MNISTLeNetDecoder(size, rep_dim)
    if size != 32:
        raise ValueError(f"the CIFAR-10 LeNet decoder gives 32 px images, not {size}")
    return CIFAR10LeNetDecoder(rep_dim)


def lenet_autoencoder(size: int, channels: int, rep_dim: int) -> nn.Sequential:
    """The authors' MNIST_LeNet_Autoencoder / CIFAR10_LeNet_Autoencoder: (B, C, S, S) ->
    (B, C, S, S) in (0, 1); net[0] is the encoder (phi after pre-training). The CIFAR-10 one's
    encoder convolutions are Xavier-initialised, as theirs."""
    return nn.Sequential(lenet_encoder(size, channels, rep_dim, autoencoder=True),
                         lenet_decoder(size, channels, rep_dim))
