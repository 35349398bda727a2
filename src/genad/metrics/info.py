"""Information measures of learnt codes: total correlation and InfoGAN's mutual-information
lower bounds. Pure numpy; inputs may be numpy arrays, lists or torch tensors. Results in nats.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from genad.errors import DataError
from genad.metrics.anomaly import to_numpy


def _finite_2d(x: Any, name: str, allow_neginf: bool = False) -> np.ndarray:
    a = to_numpy(x)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"{name} must be a non-empty 2-D array (samples, dims); got {a.shape}")
    try:
        a = a.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{name} must be numbers: {err}") from None
    bad = np.isnan(a) | np.isposinf(a) | (np.isneginf(a) & (not allow_neginf))
    if bad.any():
        raise DataError(f"{name} contain NaN/inf values")
    return a


def _plugin_entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0].astype(np.float64)
    p /= p.sum()
    return max(float(-(p * np.log(p)).sum()), 0.0)


def gaussian_total_correlation(codes: Any) -> float:
    """Total correlation of the Gaussian fitted to `codes` (N, d), in nats.

    TC = KL(N(mu, Sigma) || prod_i N(mu_i, Sigma_ii)) = 0.5 * (sum_i log Sigma_ii - log det Sigma)
       = -0.5 * log det R, with R the correlation matrix (computed that way, which is better
    conditioned). 0 for uncorrelated codes; for two dimensions with correlation rho it is
    -0.5 * log(1 - rho^2). Constant dimensions are dropped (a constant is independent of
    everything). Returns `inf` when the covariance of the other dimensions is singular (e.g. a
    duplicated dimension). Needs N >= 2.
    """
    x = _finite_2d(codes, "codes")
    if x.shape[0] < 2:
        raise DataError("gaussian_total_correlation needs at least 2 samples")
    x = x - x.mean(axis=0)
    std = np.sqrt((x * x).sum(axis=0) / (x.shape[0] - 1))
    keep = std > 0
    if keep.sum() < 2:
        return 0.0
    z = x[:, keep] / std[keep]
    corr = (z.T @ z) / (x.shape[0] - 1)
    sign, logdet = np.linalg.slogdet(corr)
    if sign <= 0 or not np.isfinite(logdet):
        return float("inf")
    return max(float(-0.5 * logdet), 0.0)


def discrete_total_correlation(codes_discrete: Any) -> float:
    """Total correlation of discrete codes (N, d), in nats: sum_i H(x_i) - H(x_1, ..., x_d).

    Plug-in estimate from the empirical counts (each distinct row of `codes_discrete` is one
    joint outcome; any values work as labels, e.g. the output of `discretize`). 0 for a single
    column; for two identical columns it equals H(x).

    Bias warning: the plug-in joint entropy is underestimated when the number of occupied joint
    cells is not small compared with N (its bias is about -(cells - 1) / (2N) nats), so TC is
    overestimated: independent variables give a positive value unless N is much larger than the
    product of the numbers of values. Compare estimates only at equal N and binning.
    """
    labels = _labels(codes_discrete, "codes_discrete")
    marginal = sum(_plugin_entropy(np.bincount(labels[:, j])) for j in range(labels.shape[1]))
    joint = _joint_entropy(labels)
    return max(float(marginal - joint), 0.0)


def _log_softmax(x: np.ndarray) -> np.ndarray:
    top = np.max(x, axis=1, keepdims=True)
    if not np.isfinite(top).all():
        raise DataError("log_q has a row with no finite entry (a zero-probability row)")
    shifted = x - top
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def categorical_mi_lower_bound(log_q: Any, c_index: Any, n_categories: int | None = None) -> float:
    """InfoGAN's variational lower bound on I(c; G(z, c)) for a uniform categorical code c.

    L = H(c) + E[log Q(c | x)] <= I(c; x) (Chen et al., "InfoGAN: Interpretable Representation
    Learning by Information Maximizing Generative Adversarial Nets", NeurIPS 2016, Lemma 5.1),
    with H(c) = log(n_categories) for the uniform prior and the expectation estimated by the
    mean over the N samples. A perfect Q (probability 1 on the true category) gives
    log(n_categories), the maximum; a Q that ignores x (uniform) gives 0.

    Args:
        log_q: (N, K) log Q(c | x) for every category. Rows are normalised with a log-softmax,
            so unnormalised logits work too (normalised log-probabilities are unchanged).
            -inf entries are allowed.
        c_index: (N,) the category (0..K-1) each sample was generated with.
        n_categories: K; defaults to log_q.shape[1] and must match it when given.
    """
    lq = _finite_2d(log_q, "log_q", allow_neginf=True)
    c = to_numpy(c_index).reshape(-1)
    k = lq.shape[1] if n_categories is None else int(n_categories)
    if k != lq.shape[1]:
        raise DataError(f"log_q has {lq.shape[1]} columns but n_categories is {k}")
    if c.size != lq.shape[0]:
        raise DataError(f"c_index has {c.size} entries for {lq.shape[0]} rows of log_q")
    if not np.issubdtype(c.dtype, np.integer):
        if not np.all(np.mod(c, 1) == 0):
            raise DataError("c_index must hold integer category indices")
        c = c.astype(np.int64)
    if c.min() < 0 or c.max() >= k:
        raise DataError(f"c_index values must lie in 0..{k - 1}")
    picked = _log_softmax(lq)[np.arange(c.size), c]
    return float(np.log(k) + picked.mean())


def gaussian_mi_lower_bound(mu: Any, log_sigma: Any, c: Any, prior_std: float | Any = 1.0) -> float:
    """InfoGAN's variational lower bound for continuous codes c ~ N(0, prior_std^2 I).

    L = H(c) + E[log N(c; mu(x), diag(sigma(x)^2))], summed over the code dimensions, with the
    prior's entropy H(c) = sum_j 0.5 * log(2 pi e prior_std_j^2) and the expectation estimated by
    the mean over samples (Chen et al., InfoGAN, NeurIPS 2016). L <= I(c; x) for any Q; it is
    tight when Q is the true posterior (e.g. c ~ N(0, 1), x = c + N(0, s^2): the posterior
    N(x / (1 + s^2), s^2 / (1 + s^2)) gives 0.5 * log(1 + 1/s^2) in expectation). A Q equal to
    the prior (mu = 0, sigma = prior_std) gives 0 in expectation.

    Args:
        mu: (N, d) or (N,) posterior means predicted by Q.
        log_sigma: log standard deviations, broadcastable to mu (e.g. a scalar or (d,) for a
            fixed sigma).
        c: the codes the samples were generated with, same shape as mu.
        prior_std: standard deviation of the prior, scalar or (d,).
    """
    mu_1d = np.ndim(to_numpy(mu)) == 1
    m = _finite_2d(mu, "mu")
    cc = _finite_2d(c, "c")
    if cc.shape != m.shape:
        raise DataError(f"c has shape {cc.shape}, mu has shape {m.shape}")
    ls = np.asarray(to_numpy(log_sigma), dtype=np.float64)
    if mu_1d and ls.ndim == 1:
        ls = ls[:, None]
    try:
        ls = np.broadcast_to(ls, m.shape)
    except ValueError:
        raise DataError(f"log_sigma of shape {ls.shape} does not broadcast to {m.shape}") from None
    if not np.isfinite(ls).all():
        raise DataError("log_sigma contains NaN/inf values")
    try:
        ps = np.broadcast_to(np.asarray(to_numpy(prior_std), dtype=np.float64), (m.shape[1],))
    except ValueError:
        raise DataError(f"prior_std must be a scalar or have {m.shape[1]} entries") from None
    if not (np.isfinite(ps) & (ps > 0)).all():
        raise DataError("prior_std must be positive")
    h_prior = float(np.sum(0.5 * np.log(2 * np.pi * np.e * ps**2)))
    z = (cc - m) * np.exp(-ls)
    log_q = -0.5 * np.log(2 * np.pi) - ls - 0.5 * z**2
    return float(h_prior + log_q.sum(axis=1).mean())


def _labels(x: Any, name: str) -> np.ndarray:
    a = to_numpy(x)
    if a.ndim == 1:
        a = a[:, None]
    if a.ndim != 2 or a.shape[0] == 0 or a.shape[1] == 0:
        raise DataError(f"{name} must be a non-empty 2-D array (samples, codes); got {a.shape}")
    return np.stack(
        [np.unique(a[:, j], return_inverse=True)[1].reshape(-1) for j in range(a.shape[1])],
        axis=1,
    )


def _joint_entropy(labels: np.ndarray) -> float:
    return _plugin_entropy(np.unique(labels, axis=0, return_counts=True)[1])


def lemma1_terms(codes: Any, inferred: Any) -> dict[str, Any]:
    """Both sides of genad's Lemma 1 (docs/lemma1.md) for discrete codes c (N, K) and the codes
    c_hat (N, K) inferred back from the images generated with them, column i of c_hat being the
    estimate of code i:

        TC(c_hat) <= TC(c) + sum_i H(c_hat_i | c_i) - H(c_hat | c)
                  <= TC(c) + sum_i H(c_hat_i | c_i)

    With independent codes (TC(c) = 0, the InfoGAN prior) the total correlation of what Q
    reads back is capped by the per-code uncertainty sum_i H(c_hat_i | c_i)
    = sum_i [H(c_hat_i) - I(c_i; c_hat_i)], which the mutual-information term drives down.

    All entropies are plug-in entropies of the empirical joint distribution of the N pairs, for
    which the inequalities hold exactly (a test checks them on random data); continuous codes
    must be discretised first (e.g. `genad.metrics.discretize`, the same bins for c and c_hat).

    Returns {"tc_inferred", "tc_codes", "cond_entropy" (sum_i H(c_hat_i | c_i)),
    "joint_cond_entropy" (H(c_hat | c)), "bound" (TC(c) + cond_entropy), "mi_per_code" (K,)
    I(c_i; c_hat_i)}, in nats.
    """
    c = _labels(codes, "codes")
    ch = _labels(inferred, "inferred")
    if c.shape != ch.shape:
        raise DataError(f"codes {c.shape} and inferred {ch.shape} must have the same shape")
    k = c.shape[1]
    h_c = np.array([_plugin_entropy(np.bincount(c[:, i])) for i in range(k)])
    h_ch = np.array([_plugin_entropy(np.bincount(ch[:, i])) for i in range(k)])
    h_pair = np.array([_joint_entropy(np.stack([c[:, i], ch[:, i]], 1)) for i in range(k)])
    cond = np.maximum(h_pair - h_c, 0.0)  # H(c_hat_i | c_i)
    mi = np.maximum(h_c + h_ch - h_pair, 0.0)
    joint_cond = max(_joint_entropy(np.concatenate([c, ch], 1)) - _joint_entropy(c), 0.0)
    tc_c = max(float(h_c.sum()) - _joint_entropy(c), 0.0)
    tc_ch = max(float(h_ch.sum()) - _joint_entropy(ch), 0.0)
    return {"tc_inferred": tc_ch, "tc_codes": tc_c, "cond_entropy": float(cond.sum()),
            "joint_cond_entropy": joint_cond, "bound": tc_c + float(cond.sum()),
            "mi_per_code": mi}


__all__ = [
    "lemma1_terms",
    "categorical_mi_lower_bound",
    "discrete_total_correlation",
    "gaussian_mi_lower_bound",
    "gaussian_total_correlation",
]
