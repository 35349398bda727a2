"""Loss pieces shared by the GAN-based detectors of the zoo (AnoGAN, f-AnoGAN, EGBAD, ALOCC,
OCGAN): BCE against a constant label, one Adam per network, the WGAN-GP gradient penalty, and
a context that freezes networks' weights, and the generator-then-discriminator update that
AnoGAN and ALOCC share (built on GANomaly's `discriminator_step` and `frozen`).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genad.models.ganomaly import discriminator_step, frozen
from genad.nn import init_dcgan_weights


def bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Mean BCE of `logits` against the label 1 (real) or 0 (fake), computed in float32."""
    logits = logits.float()
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def dcgan_init(nets: dict[str, nn.Module]) -> dict[str, nn.Module]:
    """Apply DCGAN's initialisation to every network; returns `nets`."""
    for net in nets.values():
        net.apply(init_dcgan_weights)
    return nets


def adams(nets: dict[str, nn.Module], lr: float, betas: tuple[float, float]) -> dict:
    """One Adam optimiser per network, under the network's own name."""
    return {k: torch.optim.Adam(n.parameters(), lr, betas=betas) for k, n in nets.items()}


@contextlib.contextmanager
def weights_frozen(*nets: nn.Module) -> Iterator[None]:
    """Gradients flow through `nets` but not into their weights, inside the block."""
    for net in nets:
        frozen(net)
    try:
        yield
    finally:
        for net in nets:
            frozen(net, False)


def gradient_penalty(critic: nn.Module, real: torch.Tensor, fake: torch.Tensor) -> torch.Tensor:
    """WGAN-GP penalty E[(||grad_x D(x_mix)||_2 - 1)^2] at random points x_mix on the lines
    between real and fake samples (Gulrajani et al. 2017, Eq. 3 and Algorithm 1). `critic`
    returns (score (B,), ...); the weight lambda is applied by the caller."""
    eps = torch.rand(real.shape[0], 1, 1, 1, device=real.device, dtype=real.dtype)
    mix = (eps * real + (1 - eps) * fake.detach()).requires_grad_(True)
    score = critic(mix)[0]
    (grad,) = torch.autograd.grad(score.float().sum(), mix, create_graph=True)
    return (grad.float().flatten(1).norm(dim=1) - 1).pow(2).mean()


def generator_step(
    det, x: torch.Tensor, fake: torch.Tensor, extra: torch.Tensor | float = 0.0, opt: str = "g"
) -> tuple[torch.Tensor, torch.Tensor]:
    """One non-saturating generator update, BCE(D(fake), real) + `extra` on optimiser `opt`,
    then GANomaly's D update on (x, fake) with D = det.nets_["d"]. Returns (adv, loss_d)."""
    d = det.nets_["d"]
    d_real, _ = d(x)  # one pass over the real batch serves the D update
    with weights_frozen(d):
        adv = bce(d(fake)[0], True)
    det.optimize(adv + extra, opt)
    return adv.detach(), discriminator_step(det, d_real, fake)
