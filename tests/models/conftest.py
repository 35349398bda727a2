"""Fixtures and helpers shared by the model tests."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genad
from genad.models.codes import FittedState


# ---- the GAN zoo: test_anogan.py, test_egbad.py, test_alocc.py, test_ocgan.py -------------
@pytest.fixture(scope="module")
def digits() -> torch.Tensor:
    return genad.data.load("digits", size=16).images[:64].clone()


def _eval(det) -> None:
    for net in det.nets_.values():
        net.eval()


# ---- detectors on codes: test_gaussian_ad.py, test_classic.py ------------------------------
def _data(n: int, d: int, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, d)) @ rng.normal(size=(d, d)) + rng.normal(size=d)


def _head_only(name: str, **kw) -> genad.models.Detector:
    """A detector of `name` with only its fitted-state net, for testing fit_head/score."""
    det = genad.create(name, **kw)
    det.nets_ = {"head": FittedState()}
    return det
