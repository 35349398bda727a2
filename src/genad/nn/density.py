"""Gaussian density of feature vectors: the Ledoit-Wolf shrinkage covariance, the Mahalanobis
distance, and `GaussianModel`, a module holding a fitted mean and precision as buffers.

Pure maths on numpy / torch, no training logic; Gaussian AD and the InfoGAN family's
representation scores use it.
"""

from __future__ import annotations

import numpy as np
import torch
from torch import nn


def ledoit_wolf(x: np.ndarray) -> tuple[np.ndarray, float]:
    """Ledoit-Wolf shrinkage covariance of samples x (N, D), in float64 (Ledoit & Wolf 2004,
    "A well-conditioned estimator for large-dimensional covariance matrices", as scikit-learn's
    `ledoit_wolf`): (1 - s) * S + s * mu * I with S the (biased, 1/N) sample covariance,
    mu = trace(S) / D and the shrinkage s estimated from the data. Returns (cov, s)."""
    x = np.asarray(x, dtype=np.float64)
    n, d = x.shape
    x = x - x.mean(0)
    s = x.T @ x / n
    mu = np.trace(s) / d
    x2 = x**2
    # beta: the estimated variance of S's entries; delta: the squared distance of S to mu * I
    beta = ((x2.T @ x2).sum() / n - (s**2).sum()) / (n * d)
    delta = ((s - mu * np.eye(d)) ** 2).sum() / d
    beta = min(beta, delta)  # the shrinkage is at most 1
    shrink = 0.0 if beta == 0 else beta / delta
    return (1 - shrink) * s + shrink * mu * np.eye(d), float(shrink)


def mahalanobis(x: torch.Tensor, mean: torch.Tensor, precision: torch.Tensor) -> torch.Tensor:
    """sqrt((x - mean)^T P (x - mean)) for each row of x (B, D) -> (B,)."""
    d = x - mean
    return torch.einsum("bi,ij,bj->b", d, precision, d).clamp_min(0).sqrt()


class GaussianModel(nn.Module):
    """A Gaussian fitted to feature vectors, its covariance shrunk by Ledoit-Wolf; forward
    gives the Mahalanobis distance. Mean and precision are float64 buffers, so they are saved
    with the weights."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(dim, dtype=torch.float64))
        self.register_buffer("precision", torch.eye(dim, dtype=torch.float64))

    def fit_(self, feats: np.ndarray) -> GaussianModel:
        """Fit mean and precision to `feats` (N, dim) in place; returns self."""
        cov, _ = ledoit_wolf(feats)
        self.mean.copy_(torch.from_numpy(np.asarray(feats, dtype=np.float64).mean(0)))
        self.precision.copy_(torch.from_numpy(np.linalg.pinv(cov, hermitian=True)))
        return self

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return mahalanobis(f.double(), self.mean, self.precision)
