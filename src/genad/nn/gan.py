"""Networks beyond DCGAN's that the GAN models share: a WGAN-GP critic, an autoencoder with an
optionally bounded code, and InfoGAN's networks. Pure torch.nn, no training logic.
"""
from __future__ import annotations

import torch
from torch import nn

from genad.nn.dcgan import DCDecoder, DCEncoder, _levels


class Critic(nn.Module):
    """WGAN-GP critic: the DCGAN trunk without BatchNorm, since the gradient penalty is a
    per-sample quantity that batch statistics would mix (Gulrajani et al. 2017, Sec. 4; the
    f-AnoGAN authors' residual critic uses layer normalisation, this one none).

    forward: (B, C, S, S) -> (score (B,), features (B, w, 4, 4))."""

    def __init__(self, size: int, channels: int, width: int = 64) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        c_in, w = channels, width
        for i in range(_levels(size)):
            if i:
                c_in, w = w, w * 2
            layers += [nn.Conv2d(c_in, w, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
        self.features = nn.Sequential(*layers)
        self.head = nn.Conv2d(w, 1, 4, 1, 0)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.head(f).flatten(), f


class DCAutoencoder(nn.Module):
    """DCGAN encoder -> decoder: (B, C, S, S) -> (B, C, S, S) in [-1, 1]; `encode` gives the
    (B, nz) code, squashed by tanh into (-1, 1) when `bounded` (OCGAN's latent)."""

    def __init__(
        self, size: int, channels: int, nz: int, width: int = 64, bounded: bool = False
    ) -> None:
        super().__init__()
        self.encoder = DCEncoder(size, channels, nz, width)
        self.decoder = DCDecoder(size, channels, nz, width)
        self.bounded = bounded

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        z = self.encoder(x)
        return torch.tanh(z) if self.bounded else z

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        return self.decoder(z)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.decode(self.encode(x))



class ContrastiveDiscriminator(nn.Module):
    """InfoGAN-CR's contrastive regulariser network (Lin et al., ICML 2020, Sec. 3): a pair of
    images stacked on the channel axis (B, 2C, S, S) -> logits (B, n_codes) of which code the
    two images share. The authors' dSprites net: 4x4 stride-2 convolutions of widths 32, 32,
    64, 64 (64 beyond) down to 4x4, FC 128, LeakyReLU(0.2), spectral normalisation on every
    layer but the last."""

    def __init__(self, size: int, channels: int, n_codes: int) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        layers: list[nn.Module] = []
        c_in = 2 * channels
        for i in range(_levels(size)):
            w = (32, 32, 64, 64)[i] if i < 4 else 64
            layers += [sn(nn.Conv2d(c_in, w, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c_in = w
        layers += [nn.Flatten(), sn(nn.Linear(c_in * 16, 128)), nn.LeakyReLU(0.2),
                   nn.Linear(128, n_codes)]
        self.net = nn.Sequential(*layers)

    def forward(self, pairs: torch.Tensor) -> torch.Tensor:
        return self.net(pairs)


class InfoGANGenerator(nn.Module):
    """The InfoGAN authors' MNIST generator (Chen et al. 2016, App. C.1, Table 1; their
    network_type "mnist"): FC 1024, FC (S/4)^2 x 128, 4x4 stride-2 deconvolution to 64 channels,
    4x4 stride-2 deconvolution to the image; BatchNorm and ReLU between, tanh out (their
    sigmoid, on [-1, 1] images). (B, nz) -> (B, C, S, S)."""

    def __init__(self, size: int, channels: int, nz: int) -> None:
        super().__init__()
        q = size // 4
        self.net = nn.Sequential(
            nn.Linear(nz, 1024), nn.BatchNorm1d(1024), nn.ReLU(True),
            nn.Linear(1024, q * q * 128), nn.BatchNorm1d(q * q * 128), nn.ReLU(True),
            nn.Unflatten(1, (128, q, q)),
            nn.ConvTranspose2d(128, 64, 4, 2, 1), nn.BatchNorm2d(64), nn.ReLU(True),
            nn.ConvTranspose2d(64, channels, 4, 2, 1), nn.Tanh(),
        )

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class InfoGANDiscriminator(nn.Module):
    """The InfoGAN authors' MNIST discriminator trunk: 4x4 stride-2 convolutions to 64 and 128
    channels, FC 1024 (BatchNorm after the last two, LeakyReLU after each, with their code's
    slope 0.01; the paper's table says 0.1), then a linear logit.
    forward: (B, C, S, S) -> (logit (B,), features (B, 1024), shared with the Q head)."""

    def __init__(self, size: int, channels: int) -> None:
        super().__init__()
        q = size // 4
        self.features = nn.Sequential(
            nn.Conv2d(channels, 64, 4, 2, 1), nn.LeakyReLU(0.01),
            nn.Conv2d(64, 128, 4, 2, 1), nn.BatchNorm2d(128), nn.LeakyReLU(0.01),
            nn.Flatten(), nn.Linear(q * q * 128, 1024), nn.BatchNorm1d(1024), nn.LeakyReLU(0.01),
        )
        self.classifier = nn.Linear(1024, 1)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.classifier(f).flatten(), f


def init_infogan_weights(m: nn.Module) -> None:
    """The InfoGAN authors' initialisation: every weight N(0, 0.02), biases 0, BatchNorm scales
    N(1, 0.02). A spectrally normalised layer's underlying weight is the one drawn."""
    if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
        parametrized = nn.utils.parametrize.is_parametrized(m, "weight")
        with torch.no_grad():
            (m.parametrizations.weight.original if parametrized else m.weight).normal_(0, 0.02)
        if m.bias is not None:
            nn.init.zeros_(m.bias)
    elif isinstance(m, (nn.BatchNorm1d, nn.BatchNorm2d)):
        nn.init.normal_(m.weight, 1.0, 0.02)
        nn.init.zeros_(m.bias)


def _cr_width(res: int) -> int:
    """Channels at a resolution in InfoGAN-CR's dSprites nets: 64 at 8x8 and 4x4, 32 above."""
    return 64 if res <= 8 else 32


class CRGenerator(nn.Module):
    """The InfoGAN-CR authors' dSprites generator (Lin et al., ICML 2020; their `Decoder`):
    FC 128, FC 4x4x64 (ReLU then BatchNorm after each), then 4x4 stride-2 deconvolutions
    doubling the resolution (64 channels at 8x8, 32 above; LeakyReLU(0.2) then BatchNorm)
    and a last one to the image; tanh out (their sigmoid, on [-1, 1] images). At 64 px it is
    their net exactly; at 32 px one 32-channel layer fewer. (B, nz) -> (B, C, S, S)."""

    def __init__(self, size: int, channels: int, nz: int) -> None:
        super().__init__()
        layers: list[nn.Module] = [
            nn.Linear(nz, 128), nn.ReLU(True), nn.BatchNorm1d(128),
            nn.Linear(128, 4 * 4 * 64), nn.ReLU(True), nn.BatchNorm1d(4 * 4 * 64),
            nn.Unflatten(1, (64, 4, 4)),
        ]
        c_in, res = 64, 4
        while res * 2 < size:
            res *= 2
            w = _cr_width(res)
            layers += [nn.ConvTranspose2d(c_in, w, 4, 2, 1), nn.LeakyReLU(0.2, True),
                       nn.BatchNorm2d(w)]
            c_in = w
        layers += [nn.ConvTranspose2d(c_in, channels, 4, 2, 1), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.net(z)


class CRDiscriminator(nn.Module):
    """The InfoGAN-CR authors' dSprites discriminator trunk (their `InfoGANDiscriminator`,
    shared part): 4x4 stride-2 convolutions down to 4x4 (32 channels above 8x8, 64 at 8x8
    and 4x4), FC 128, LeakyReLU(0.2) after each, no normalisation but spectral normalisation
    of every layer; a spectrally normalised linear logit.
    forward: (B, C, S, S) -> (logit (B,), features (B, 128), shared with the Q head)."""

    def __init__(self, size: int, channels: int) -> None:
        super().__init__()
        sn = nn.utils.parametrizations.spectral_norm
        layers: list[nn.Module] = []
        c_in, res = channels, size
        while res > 4:
            res //= 2
            w = _cr_width(res)
            layers += [sn(nn.Conv2d(c_in, w, 4, 2, 1)), nn.LeakyReLU(0.2)]
            c_in = w
        layers += [nn.Flatten(), sn(nn.Linear(c_in * 16, 128)), nn.LeakyReLU(0.2)]
        self.features = nn.Sequential(*layers)
        self.classifier = sn(nn.Linear(128, 1))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.features(x)
        return self.classifier(f).flatten(), f
