"""Fréchet distance between Gaussians fitted to feature sets (the statistic behind FID).

No feature extractor lives here: pass features (N, D) from any network. All arithmetic is in
float64. scipy is imported inside the functions so that `import genad` stays fast.
"""

from __future__ import annotations

import warnings
from typing import Any

import numpy as np

from genad.errors import DataError
from genad.metrics.anomaly import to_numpy

#: Largest |imaginary part| on the diagonal of sqrtm(sigma1 @ sigma2) that is treated as
#: round-off and dropped (the tolerance used by the reference TTUR / pytorch-fid code).
IMAG_TOL = 1e-3


def _vector(x: Any, name: str) -> np.ndarray:
    v = np.asarray(to_numpy(x), dtype=np.float64)
    if v.ndim == 0 or (v.ndim == 2 and 1 in v.shape):
        v = v.reshape(-1)
    if v.ndim != 1 or not np.isfinite(v).all():
        raise DataError(f"{name} must be a finite 1-D vector; got shape {v.shape}")
    return v


def _matrix(x: Any, name: str, dim: int) -> np.ndarray:
    m = np.asarray(to_numpy(x), dtype=np.float64)
    if dim == 1 and m.ndim < 2:
        m = m.reshape(1, 1)
    if m.shape != (dim, dim):
        raise DataError(f"{name} must have shape ({dim}, {dim}); got {m.shape}")
    if not np.isfinite(m).all():
        raise DataError(f"{name} contains NaN/inf values")
    return m


def _sqrtm_flagged(a: np.ndarray) -> tuple[np.ndarray, bool]:
    """scipy.linalg.sqrtm(a) and whether scipy warned that `a` is singular (LinAlgWarning).

    Other warnings are passed on unchanged."""
    from scipy import linalg

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        root = linalg.sqrtm(a)
    singular = False
    for w in caught:
        if issubclass(w.category, linalg.LinAlgWarning):
            singular = True
        else:
            warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
    return root, singular


def frechet_distance(mu1: Any, sigma1: Any, mu2: Any, sigma2: Any, eps: float = 1e-6) -> float:
    """Squared Fréchet (2-Wasserstein) distance between N(mu1, sigma1) and N(mu2, sigma2).

    d^2 = ||mu1 - mu2||^2 + tr(sigma1 + sigma2 - 2 (sigma1 sigma2)^(1/2))

    (Dowson & Landau 1982; used as FID by Heusel et al., "GANs Trained by a Two Time-Scale
    Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017). Computed in float64 with
    `scipy.linalg.sqrtm`, following the reference TTUR / pytorch-fid procedure:

    * if sqrtm(sigma1 @ sigma2) is not finite or scipy flags the product as singular (its
      `LinAlgWarning`, which is then not shown), it is recomputed as
      sqrtm((sigma1 + eps I) @ (sigma2 + eps I)); this happens e.g. when there are fewer
      samples than feature dimensions, and shifts the result by O(eps * D);
    * the matrix square root of a product of PSD matrices has real eigenvalues, so a complex
      result is round-off: its imaginary part is dropped when every diagonal entry has
      |imag| <= 1e-3 (`IMAG_TOL`), otherwise `DataError` is raised (the covariances are not
      valid PSD matrices or are badly conditioned).

    mu1, mu2: (D,); sigma1, sigma2: (D, D). Returns a float (may be a tiny negative number
    from round-off when the two Gaussians are equal).
    """
    from scipy import linalg

    m1, m2 = _vector(mu1, "mu1"), _vector(mu2, "mu2")
    if m1.shape != m2.shape:
        raise DataError(f"mu1 and mu2 differ in shape: {m1.shape} vs {m2.shape}")
    dim = m1.shape[0]
    s1, s2 = _matrix(sigma1, "sigma1", dim), _matrix(sigma2, "sigma2", dim)
    diff = m1 - m2

    covmean, singular = _sqrtm_flagged(s1 @ s2)
    if singular or not np.isfinite(covmean).all():
        offset = np.eye(dim) * eps
        covmean = linalg.sqrtm((s1 + offset) @ (s2 + offset))
    if np.iscomplexobj(covmean):
        worst = float(np.max(np.abs(np.diagonal(covmean).imag), initial=0.0))
        if worst > IMAG_TOL:
            raise DataError(
                f"sqrtm(sigma1 @ sigma2) has an imaginary component of {worst:.3g}; the "
                "covariances are not positive semi-definite or are badly conditioned "
                "(use more samples than feature dimensions)"
            )
        covmean = covmean.real
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * np.trace(covmean))


class FeatureStats:
    """Streaming mean and covariance of features, accumulated in float64.

    `add(batch)` takes (n, D) features (numpy or torch, any float dtype). The running state is
    the count, the sum of the features and the sum of their outer products, both taken about
    the mean of the first batch (a fixed shift that keeps the sums small and the covariance
    accurate when |mean| >> std; the statistics are those of the unshifted features).

    `mean` is the sample mean (D,); `cov` the unbiased covariance (D, D) (ddof=1), equal to
    `np.cov(all_features, rowvar=False)` up to round-off.
    """

    def __init__(self) -> None:
        self.count = 0
        self.dim: int | None = None
        self._shift: np.ndarray | None = None
        self._sum: np.ndarray | None = None
        self._outer: np.ndarray | None = None

    def add(self, features: Any) -> FeatureStats:
        """Add a batch (n, D) (a single (D,) vector counts as one row). Returns self."""
        x = np.asarray(to_numpy(features), dtype=np.float64)
        if x.ndim == 1:
            x = x[None, :]
        if x.ndim != 2:
            raise DataError(f"features must be (n, D); got shape {x.shape}")
        if x.shape[0] == 0:
            return self
        if not np.isfinite(x).all():
            raise DataError("features contain NaN/inf values")
        if self._shift is None or self._sum is None or self._outer is None:
            self.dim = x.shape[1]
            self._shift = x.mean(axis=0)
            self._sum = np.zeros(self.dim)
            self._outer = np.zeros((self.dim, self.dim))
        elif x.shape[1] != self.dim:
            raise DataError(f"features have {x.shape[1]} dims; earlier batches had {self.dim}")
        xc = x - self._shift
        self._sum += xc.sum(axis=0)
        self._outer += xc.T @ xc
        self.count += x.shape[0]
        return self

    @property
    def mean(self) -> np.ndarray:
        """(D,) float64 mean of everything added."""
        if self.count == 0 or self._sum is None or self._shift is None:
            raise DataError("FeatureStats is empty; add features first")
        return self._shift + self._sum / self.count

    @property
    def cov(self) -> np.ndarray:
        """(D, D) float64 unbiased covariance (ddof=1); needs at least 2 samples."""
        if self.count < 2 or self._sum is None or self._outer is None:
            raise DataError(f"the covariance needs at least 2 samples; have {self.count}")
        centred = self._sum / self.count
        c = (self._outer - self.count * np.outer(centred, centred)) / (self.count - 1)
        return (c + c.T) / 2.0


def fid_from_features(features1: Any, features2: Any, eps: float = 1e-6) -> float:
    """Fréchet distance between Gaussians fitted to two feature sets (N1, D) and (N2, D).

    Means and unbiased covariances (ddof=1) in float64, then `frechet_distance`. With features
    of an Inception-v3 pool layer this is FID; the value depends on the extractor, so only
    compare numbers computed with the same one (and similar N: the estimate is biased upwards
    for small N).
    """
    s1, s2 = FeatureStats().add(features1), FeatureStats().add(features2)
    if s1.dim != s2.dim:
        raise DataError(f"feature sets differ in dimension: {s1.dim} vs {s2.dim}")
    return frechet_distance(s1.mean, s1.cov, s2.mean, s2.cov, eps=eps)


__all__ = ["FeatureStats", "IMAG_TOL", "fid_from_features", "frechet_distance"]
