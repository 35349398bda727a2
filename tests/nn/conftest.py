"""Sizes, inputs and the seeded no-grad context shared by test_dcgan.py and test_unet.py."""

from __future__ import annotations

import pytest
import torch

SIZES = [8, 16, 32, 64]
CHANNELS = [1, 3]
WIDTH = 8
NZ = 5
B = 2


@pytest.fixture
def _seed_no_grad():
    torch.manual_seed(0)
    with torch.no_grad():
        yield


def _x(size: int, channels: int) -> torch.Tensor:
    return torch.rand(B, channels, size, size) * 2 - 1
