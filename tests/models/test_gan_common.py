"""Pieces the GANs share (models/gan_common.py): the WGAN-GP gradient penalty (f-AnoGAN) and
the discriminator step that re-initialises D when its loss collapses (GANomaly)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from genad.models.gan_common import gradient_penalty
from tests.conftest import d_step_resets


class _Linear(nn.Module):
    """A linear critic w . x: its gradient is w everywhere."""

    def __init__(self, w: torch.Tensor) -> None:
        super().__init__()
        self.w = nn.Parameter(w)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return (x * self.w).flatten(1).sum(1), x


@pytest.mark.parametrize("norm", [0.0, 1.0, 3.0])
def test_gradient_penalty_of_a_linear_critic(norm) -> None:
    w = torch.randn(1, 4, 4, generator=torch.Generator().manual_seed(0))
    w = w / w.norm() * norm
    real, fake = torch.randn(8, 1, 4, 4), torch.randn(8, 1, 4, 4)
    gp = gradient_penalty(_Linear(w), real, fake)
    assert gp.item() == pytest.approx((norm - 1) ** 2, abs=1e-5)
    gp.backward()  # and it trains the critic (create_graph)


def test_discriminator_is_reset_when_its_loss_collapses() -> None:
    assert d_step_resets(50.0, -50.0)  # D is perfect: loss ~ 0
    assert not d_step_resets(1.0, -1.0)
