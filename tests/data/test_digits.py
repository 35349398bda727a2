"""The bundled digits (data/digits.py)."""
from __future__ import annotations

import torch

from genad.data import load


def test_digits_embedded_default() -> None:
    d = load("digits")
    assert d.images.shape == (1797, 1, 32, 32) and d.images.dtype == torch.uint8
    assert int(d.images.max()) == 255 and int(d.images.min()) == 0
    assert d.labels.bincount().tolist() == [178, 182, 177, 183, 181, 182, 181, 179, 174, 180]
    small = load("digits", size=16, channels=3)
    assert small.images.shape == (1797, 3, 16, 16)
