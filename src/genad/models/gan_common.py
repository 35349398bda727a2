"""Pieces the GAN-based models share (GANomaly, Skip-GANomaly, AnoGAN, f-AnoGAN, EGBAD, ALOCC,
OCGAN, the InfoGAN family, FactorVAE's discriminator): BCE against a constant label, DCGAN
initialisation, one Adam per network, freezing a network's weights while gradients flow
through it, GANomaly's discriminator update, the WGAN-GP gradient penalty and AnoGAN's
generator-then-discriminator update, and the moving average of weights (EGBAD, the InfoGAN family).

Not a model: it registers nothing, so every model module may import it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch
import torch.nn.functional as F
from torch import nn

from genad.nn import init_dcgan_weights
from genad.trainable import Trainable


def bce(logits: torch.Tensor, real: bool) -> torch.Tensor:
    """Mean BCE of `logits` against the label 1 (real) or 0 (fake), computed in float32."""
    logits = logits.float()
    target = torch.ones_like(logits) if real else torch.zeros_like(logits)
    return F.binary_cross_entropy_with_logits(logits, target)


def dcgan_init(nets: dict[str, nn.Module]) -> dict[str, nn.Module]:
    """Apply DCGAN's initialisation to every network, in order; returns `nets`."""
    for net in nets.values():
        net.apply(init_dcgan_weights)
    return nets


def adams(nets: dict[str, nn.Module], lr: float, betas: tuple[float, float]) -> dict:
    """One Adam optimiser per network, under the network's own name."""
    return {k: torch.optim.Adam(n.parameters(), lr, betas=betas) for k, n in nets.items()}


def frozen(net: nn.Module, flag: bool = True) -> None:
    """Stop (or restart) weight gradients of `net`: the G update backpropagates *through* D
    but has no use for D's own weight gradients, which would cost a third of the step."""
    for p in net.parameters():
        p.requires_grad_(not flag)


@contextlib.contextmanager
def weights_frozen(*nets: nn.Module) -> Iterator[None]:
    """Gradients flow through `nets` but not into their weights, inside the block; each
    weight's own flag is restored after it (a net that is never trained stays frozen)."""
    params = [p for net in nets for p in net.parameters()]
    flags = [p.requires_grad for p in params]
    for net in nets:
        frozen(net)
    try:
        yield
    finally:
        for p, flag in zip(params, flags):
            p.requires_grad_(flag)


def discriminator_step(det: Trainable, d_real: torch.Tensor, x_hat: torch.Tensor) -> torch.Tensor:
    """GANomaly's D update, BCE(real -> 1, fake -> 0), on optimiser "d" of `det` (a Trainable
    whose D is det.nets_["d"]). Returns the loss, detached.

    `d_real` are D's logits on the real batch (computed with grad); the fake batch is
    detached. As in the authors' code, D is re-initialised when its loss collapses below
    1e-5, since a perfect D gives the generator no gradient."""
    net_d = det.nets_["d"]
    d_fake, _ = net_d(x_hat.detach())
    loss = 0.5 * (bce(d_real, True) + bce(d_fake, False))
    det.optimize(loss, "d")
    # decide on the loss of the whole (all-rank) batch, so that under DDP every rank
    # re-initialises D together or none does
    if det.world_mean(loss.detach().float()).item() < 1e-5:
        net_d.apply(init_dcgan_weights)
    return loss.detach()


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
    det: Trainable, x: torch.Tensor, fake: torch.Tensor, extra: torch.Tensor | float = 0.0,
    opt: str = "g",
) -> tuple[torch.Tensor, torch.Tensor]:
    """One non-saturating generator update, BCE(D(fake), real) + `extra` on optimiser `opt`,
    then `discriminator_step` on (x, fake) with D = det.nets_["d"]. Returns (adv, loss_d)."""
    d = det.nets_["d"]
    d_real, _ = d(x)  # one pass over the real batch serves the D update
    with weights_frozen(d):
        adv = bce(d(fake)[0], True)
    det.optimize(adv + extra, opt)
    return adv.detach(), discriminator_step(det, d_real, fake)


@torch.no_grad()
def ema_update(ema: nn.Module, net: nn.Module, decay: float) -> None:
    """ema <- decay * ema + (1 - decay) * net, parameter by parameter (TensorFlow's
    ExponentialMovingAverage, which EGBAD's authors apply to the trainable variables after each
    update); buffers (BatchNorm's running statistics, not trainable there) are copied."""
    for p_ema, p in zip(ema.parameters(), net.parameters()):
        p_ema.lerp_(p.detach(), 1 - decay)
    for b_ema, b in zip(ema.buffers(), net.buffers()):
        b_ema.copy_(b)
