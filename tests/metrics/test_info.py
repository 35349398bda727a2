"""Total correlation and InfoGAN mutual-information lower bounds: closed forms."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from genad.errors import DataError
from genad.metrics.disentangle import entropy
from genad.metrics.info import (
    categorical_mi_lower_bound,
    discrete_total_correlation,
    gaussian_mi_lower_bound,
    gaussian_total_correlation,
    lemma1_terms,
)


def with_exact_covariance(rng: np.random.Generator, n: int, cov: np.ndarray) -> np.ndarray:
    """n samples whose sample covariance (ddof=1) is exactly `cov`."""
    z = rng.normal(size=(n, len(cov)))
    z -= z.mean(axis=0)
    z = z @ np.linalg.inv(np.linalg.cholesky(np.cov(z, rowvar=False))).T
    return z @ np.linalg.cholesky(cov).T + 3.0


# ---- total correlation -------------------------------------------------------------------------
def test_gaussian_tc_independent_is_near_zero() -> None:
    x = np.random.default_rng(0).normal(size=(20000, 5)) * [1, 2, 3, 0.5, 10]
    assert 0.0 <= gaussian_total_correlation(x) < 0.01


@pytest.mark.parametrize("rho", [0.3, 0.6, -0.9])
def test_gaussian_tc_two_dims_closed_form(rho: float) -> None:
    cov = np.array([[2.0, rho * math.sqrt(2.0 * 0.5)], [rho * math.sqrt(2.0 * 0.5), 0.5]])
    x = with_exact_covariance(np.random.default_rng(1), 500, cov)
    assert gaussian_total_correlation(x) == pytest.approx(-0.5 * math.log(1 - rho**2), rel=1e-9)
    # and from plain samples, within sampling error
    y = np.random.default_rng(2).multivariate_normal([0, 0], cov, size=100000)
    assert gaussian_total_correlation(y) == pytest.approx(-0.5 * math.log(1 - rho**2), abs=0.01)


def test_gaussian_tc_general_covariance() -> None:
    a = np.random.default_rng(3).normal(size=(4, 4))
    cov = a @ a.T + np.eye(4)
    expected = 0.5 * (np.sum(np.log(np.diag(cov))) - np.linalg.slogdet(cov)[1])
    x = with_exact_covariance(np.random.default_rng(4), 300, cov)
    assert gaussian_total_correlation(torch.as_tensor(x)) == pytest.approx(expected, rel=1e-9)


def test_gaussian_tc_degenerate_cases() -> None:
    x = np.random.default_rng(5).normal(size=(100, 2))
    assert gaussian_total_correlation(np.column_stack([x, x[:, 0]])) == math.inf
    with_const = np.column_stack([x, np.full(100, 7.0)])
    assert gaussian_total_correlation(with_const) == pytest.approx(gaussian_total_correlation(x))
    assert gaussian_total_correlation(x[:, :1]) == 0.0
    with pytest.raises(DataError):
        gaussian_total_correlation(x[:1])
    with pytest.raises(DataError):
        gaussian_total_correlation(np.full((4, 2), np.nan))


def test_discrete_tc_independent_uniform_is_near_zero() -> None:
    x = np.random.default_rng(6).integers(0, 4, size=(200000, 3))
    assert 0.0 <= discrete_total_correlation(x) < 0.005


def test_discrete_tc_duplicated_variable_equals_its_entropy() -> None:
    x = np.random.default_rng(7).integers(0, 6, size=5000)
    assert discrete_total_correlation(np.column_stack([x, x])) == pytest.approx(entropy(x))
    assert discrete_total_correlation(np.column_stack([x, 10 * x, x])) == pytest.approx(
        2 * entropy(x)
    )
    assert discrete_total_correlation(x) == pytest.approx(0.0, abs=1e-12)


def test_discrete_tc_hand_example() -> None:
    # x2 = x1 xor x3 with x1, x3 uniform bits: each bit has H = log 2, joint H = 2 log 2
    bits = np.array([[a, a ^ b, b] for a in (0, 1) for b in (0, 1)])
    assert discrete_total_correlation(bits) == pytest.approx(math.log(2))


# ---- InfoGAN lower bounds ----------------------------------------------------------------------
def test_categorical_bound_perfect_and_uniform_q() -> None:
    k, n = 10, 500
    c = np.random.default_rng(8).integers(0, k, n)
    perfect = np.full((n, k), -np.inf)
    perfect[np.arange(n), c] = 0.0
    assert categorical_mi_lower_bound(perfect, c, k) == pytest.approx(math.log(k))
    uniform = np.full((n, k), -math.log(k))
    assert categorical_mi_lower_bound(uniform, c, k) == pytest.approx(0.0, abs=1e-12)
    # unnormalised logits are normalised first; the bound never exceeds log k
    logits = np.random.default_rng(9).normal(size=(n, k)) * 3
    value = categorical_mi_lower_bound(torch.as_tensor(logits), torch.as_tensor(c))
    log_probs = logits - np.log(np.exp(logits).sum(axis=1, keepdims=True))
    assert value == pytest.approx(math.log(k) + log_probs[np.arange(n), c].mean())
    assert value <= math.log(k)


def test_categorical_bound_errors() -> None:
    with pytest.raises(DataError, match="n_categories"):
        categorical_mi_lower_bound(np.zeros((3, 4)), [0, 1, 2], 5)
    with pytest.raises(DataError, match="0..3"):
        categorical_mi_lower_bound(np.zeros((3, 4)), [0, 1, 4])
    with pytest.raises(DataError, match="entries"):
        categorical_mi_lower_bound(np.zeros((3, 4)), [0, 1])


def test_gaussian_bound_exact_posterior_equals_mutual_information() -> None:
    # c ~ N(0, 1), x = c + N(0, s^2): I(c; x) = 0.5 log(1 + 1/s^2), posterior known in closed form
    rng = np.random.default_rng(10)
    s2, n = 0.25, 200000
    c = rng.normal(size=n)
    x = c + math.sqrt(s2) * rng.normal(size=n)
    mu = x / (1 + s2)
    log_sigma = 0.5 * math.log(s2 / (1 + s2))
    mi = 0.5 * math.log(1 + 1 / s2)
    assert gaussian_mi_lower_bound(mu, log_sigma, c) == pytest.approx(mi, abs=0.01)
    # a Q that ignores x (the prior itself) gives 0 in expectation
    assert gaussian_mi_lower_bound(np.zeros(n), 0.0, c) == pytest.approx(0.0, abs=0.01)


def test_gaussian_bound_exact_value_and_shapes() -> None:
    # mu = c exactly: L = sum_j (0.5 + log(prior_std_j / sigma_j))
    c = np.random.default_rng(11).normal(size=(50, 2)) * [1.0, 2.0]
    log_sigma = np.log([0.1, 0.5])
    expected = (0.5 + math.log(1.0 / 0.1)) + (0.5 + math.log(2.0 / 0.5))
    got = gaussian_mi_lower_bound(c, log_sigma, c, prior_std=[1.0, 2.0])
    assert got == pytest.approx(expected)
    per_sample = np.tile(log_sigma, (50, 1))
    assert gaussian_mi_lower_bound(c, per_sample, c, [1.0, 2.0]) == pytest.approx(expected)
    with pytest.raises(DataError):
        gaussian_mi_lower_bound(c, np.zeros(3), c)
    with pytest.raises(DataError):
        gaussian_mi_lower_bound(c, 0.0, c[:, :1])
    with pytest.raises(DataError):
        gaussian_mi_lower_bound(c, 0.0, c, prior_std=0.0)


# ---- Lemma 1 (docs/lemma1.md) ------------------------------------------------------------------
@pytest.mark.parametrize("seed", range(6))
def test_lemma1_inequality_holds_on_any_empirical_distribution(seed) -> None:
    """TC(c_hat) <= TC(c) + sum_i H(c_hat_i | c_i) - H(c_hat | c) for plug-in entropies: the
    proof holds for every joint distribution, so it must hold exactly on samples, whether the
    codes are independent, dependent, read back noisily or mixed up."""
    rng = np.random.default_rng(seed)
    n, k = 500, 3
    c = rng.integers(0, 4, (n, k))
    if seed % 2:  # dependent codes: TC(c) > 0
        c[:, 1] = (c[:, 0] + rng.integers(0, 2, n)) % 4
    noise = rng.integers(0, 4, (n, k))
    keep = rng.random((n, k)) < [0.9, 0.5, 0.1]
    c_hat = np.where(keep, c, noise)
    c_hat[:, 2] = (c_hat[:, 2] + c_hat[:, 0]) % 4  # a read-back code that mixes two codes
    t = lemma1_terms(c, c_hat)
    assert t["tc_inferred"] <= t["tc_codes"] + t["cond_entropy"] - t["joint_cond_entropy"] + 1e-9
    assert t["tc_inferred"] <= t["bound"] + 1e-9
    assert t["bound"] == pytest.approx(t["tc_codes"] + t["cond_entropy"])
    np.testing.assert_allclose(t["tc_inferred"], discrete_total_correlation(c_hat), atol=1e-9)
    np.testing.assert_allclose(t["tc_codes"], discrete_total_correlation(c), atol=1e-9)


def test_lemma1_perfect_read_back_has_zero_uncertainty() -> None:
    rng = np.random.default_rng(0)
    c = rng.integers(0, 5, (2000, 3))
    relabelled = (c + 2) % 5  # any bijection per code is a perfect read-back
    t = lemma1_terms(c, relabelled)
    assert t["cond_entropy"] == pytest.approx(0.0, abs=1e-12)
    assert t["tc_inferred"] == pytest.approx(t["tc_codes"])
    np.testing.assert_allclose(t["mi_per_code"], entropy(c), atol=1e-12)


def test_lemma1_read_back_of_one_code_into_all_columns_is_fully_correlated() -> None:
    rng = np.random.default_rng(1)
    c = rng.integers(0, 4, (4000, 3))
    c_hat = np.repeat(c[:, :1], 3, axis=1)  # Q reads code 0 everywhere: no control of 1 and 2
    t = lemma1_terms(c, c_hat)
    h0 = entropy(c[:, 0])
    assert t["tc_inferred"] == pytest.approx(2 * h0)
    assert t["cond_entropy"] == pytest.approx(2 * h0, rel=0.02)  # H(c_0 | c_1), H(c_0 | c_2)
    with pytest.raises(DataError):
        lemma1_terms(c, c_hat[:, :2])
