"""Disentanglement metrics: known answers on synthetic codes (identity, duplicated, rotated,
constant and random codes), hand examples, invariances and error cases."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from sklearn.metrics import mutual_info_score

from genad.errors import ConfigError, DataError
from genad.metrics.disentangle import (
    beta_vae_score,
    dci,
    dci_completeness,
    dci_disentanglement,
    discretize,
    entropy,
    factor_vae_score,
    mig,
    mutual_info_matrix,
    sap,
)

SIZES = (6, 7, 8, 9, 10)


def draw_factors(rng: np.random.Generator, n: int, sizes=SIZES) -> np.ndarray:
    return np.stack([rng.integers(0, s, n) for s in sizes], axis=1)


@pytest.fixture(scope="module")
def factors() -> np.ndarray:
    return draw_factors(np.random.default_rng(0), 5000)


# ---- helpers -----------------------------------------------------------------------------------
def test_discretize_hand_example() -> None:
    # 5 equal-width bins over [0, 10]: edges 0, 2, 4, 6, 8, 10; the maximum goes to the last bin
    out = discretize([0.0, 1.0, 2.0, 3.0, 4.0, 10.0], n_bins=5)
    assert out.shape == (6, 1) and out.dtype == np.int64
    assert out[:, 0].tolist() == [0, 0, 1, 1, 2, 4]
    # per column, each over its own range; a constant column lands in one bin
    two = discretize(np.array([[0.0, 5.0], [1.0, 5.0], [2.0, 5.0]]), n_bins=2)
    assert two[:, 0].tolist() == [0, 1, 1]
    assert len(set(two[:, 1].tolist())) == 1


def test_discretize_matches_histogram_counts() -> None:
    x = np.random.default_rng(1).normal(size=(1000, 3))
    d = discretize(x, n_bins=20)
    assert d.min() == 0 and d.max() == 19
    for j in range(3):
        assert np.bincount(d[:, j], minlength=20).tolist() == np.histogram(x[:, j], 20)[0].tolist()


def test_entropy_and_mutual_info_matrix() -> None:
    y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    assert entropy(y) == pytest.approx(math.log(4))
    assert entropy(np.stack([y, y // 2], 1)) == pytest.approx([math.log(4), math.log(2)])
    rng = np.random.default_rng(2)
    c, f = rng.integers(0, 5, (300, 3)), rng.integers(0, 4, (300, 2))
    m = mutual_info_matrix(c, f)
    assert m.shape == (3, 2)
    assert m[2, 1] == pytest.approx(mutual_info_score(f[:, 1], c[:, 2]))
    assert entropy(f)[0] == pytest.approx(mutual_info_score(f[:, 0], f[:, 0]))


# ---- MIG ---------------------------------------------------------------------------------------
def test_mig_identity_code_is_near_one(factors: np.ndarray) -> None:
    out = mig(factors.astype(float), factors)
    assert out["mig"] > 0.9
    assert out["per_factor"].shape == (5,) and (out["per_factor"] > 0.9).all()
    assert out["mutual_info"].shape == (5, 5)
    # the identity code carries all the factor's information
    assert np.diag(out["mutual_info"]) == pytest.approx(out["factor_entropy"], rel=1e-9)


def test_mig_constant_duplicated_and_random_codes(factors: np.ndarray) -> None:
    assert mig(np.zeros((len(factors), 5)), factors)["mig"] == pytest.approx(0.0, abs=1e-12)
    assert mig(np.repeat(factors, 2, axis=1), factors)["mig"] < 0.1
    noise = np.random.default_rng(3).normal(size=(len(factors), 10))
    assert mig(noise, factors)["mig"] < 0.1


def test_mig_invariant_to_permuting_code_dims(factors: np.ndarray) -> None:
    rng = np.random.default_rng(4)
    codes = factors + 0.8 * rng.normal(size=factors.shape)
    codes = np.concatenate([codes, rng.normal(size=(len(codes), 3))], axis=1)
    perm = rng.permutation(codes.shape[1])
    a, b = mig(codes, factors), mig(codes[:, perm], factors)
    assert a["mig"] == b["mig"]
    assert 0.05 < a["mig"] < 0.95  # a partly informative code, not a trivial case


def test_mig_hand_example() -> None:
    # H(y) = log 4; code 0 = y // 2 carries log 2 nats; code 1 alternates within each y value
    # (independent of y); the gap is log 2 / log 4 = 0.5 exactly.
    y = np.array([0, 0, 1, 1, 2, 2, 3, 3])
    codes = np.stack([y // 2, np.arange(8) % 2], axis=1).astype(float)
    out = mig(codes, y)
    assert out["mig"] == pytest.approx(0.5)
    assert out["mutual_info"][:, 0] == pytest.approx([math.log(2), 0.0], abs=1e-12)


def test_mig_continuous_factor_is_discretised() -> None:
    rng = np.random.default_rng(5)
    cont = rng.uniform(0, 1, 4000)
    disc = rng.integers(0, 5, 4000)
    factors = np.stack([cont, disc], axis=1)
    codes = np.stack([cont, disc + 0.0, rng.normal(size=4000)], axis=1)
    out = mig(codes, factors, discrete_factors=[False, True])
    assert out["mig"] > 0.9


def test_mig_accepts_torch_and_rejects_bad_input(factors: np.ndarray) -> None:
    t = torch.as_tensor(factors[:500], dtype=torch.float32)
    assert mig(t, factors[:500])["mig"] == pytest.approx(mig(factors[:500], factors[:500])["mig"])
    with pytest.raises(DataError, match="single value"):
        mig(factors[:100], np.zeros(100))
    with pytest.raises(DataError, match="at least 2"):
        mig(factors[:100, :1], factors[:100, :1])
    with pytest.raises(DataError, match="different numbers"):
        mig(factors[:100], factors[:99])
    with pytest.raises(DataError, match="NaN"):
        mig(np.full((10, 2), np.nan), factors[:10])
    with pytest.raises(ConfigError):
        mig(factors[:100], factors[:100], discrete_factors=[True])


# ---- FactorVAE and BetaVAE ---------------------------------------------------------------------
VALUES = (4, 5, 6, 3)


def _random_factors(r: np.random.Generator, n: int) -> np.ndarray:
    return np.stack([r.integers(0, v, n) for v in VALUES], axis=1).astype(float)


def factor_sampler(noise_only: bool):
    def sample(k, n, r):
        fac = _random_factors(r, n)
        if k is not None:
            fac[:, k] = r.integers(0, VALUES[k])
        if noise_only:
            return r.normal(size=(n, 6))
        return fac + 1e-3 * r.normal(size=fac.shape)

    return sample


def pair_sampler(noise_only: bool):
    def sample(k, n, r):
        a, b = _random_factors(r, n), _random_factors(r, n)
        b[:, k] = a[:, k]
        if noise_only:
            return r.normal(size=(n, 6)), r.normal(size=(n, 6))
        return a + 1e-3 * r.normal(size=a.shape), b + 1e-3 * r.normal(size=b.shape)

    return sample


SMALL = {"n_train": 300, "n_eval": 400}


def test_factor_vae_identity_code_is_near_one() -> None:
    out = factor_vae_score(
        factor_sampler(False),
        4,
        np.random.default_rng(0),
        batch_size=32,
        n_variance_estimate=2000,
        **SMALL,
    )
    assert out["train_accuracy"] > 0.95 and out["eval_accuracy"] > 0.95
    assert out["num_active_dims"] == 4
    assert out["votes"].sum() == SMALL["n_train"]


def test_factor_vae_noise_code_is_near_chance() -> None:
    out = factor_vae_score(
        factor_sampler(True),
        4,
        np.random.default_rng(1),
        batch_size=32,
        n_variance_estimate=2000,
        **SMALL,
    )
    assert abs(out["eval_accuracy"] - 0.25) < 0.12


def test_factor_vae_prunes_collapsed_dims_and_is_reproducible() -> None:
    def sample(k, n, r):
        codes = factor_sampler(False)(k, n, r)
        # a collapsed dimension (std 0.01 < 0.05) that would otherwise win every argmin
        return np.concatenate([codes, 0.01 * r.normal(size=(n, 1))], axis=1)

    a, b = (factor_vae_score(sample, 4, np.random.default_rng(2), batch_size=16, n_train=100,
                             n_eval=100, n_variance_estimate=500) for _ in range(2))
    assert a["num_active_dims"] == 4 and a["eval_accuracy"] > 0.95
    assert a["votes"][:, 4].sum() == 0
    assert a["eval_accuracy"] == b["eval_accuracy"] and (a["votes"] == b["votes"]).all()
    dead = factor_vae_score(
        lambda k, n, r: np.zeros((n, 3)), 4, 0, n_train=5, n_eval=5, n_variance_estimate=10
    )
    assert dead["eval_accuracy"] == 0.0 and dead["num_active_dims"] == 0


def test_factor_vae_checks_the_sampler() -> None:
    with pytest.raises(DataError, match="asked for"):
        factor_vae_score(
            lambda k, n, r: np.zeros((n + 1, 3)), 2, 0, n_train=2, n_eval=2, n_variance_estimate=10
        )
    with pytest.raises(ConfigError):
        factor_vae_score(factor_sampler(False), 4, 0, batch_size=1)
    with pytest.raises(ConfigError):
        factor_vae_score(factor_sampler(False), 4, "seed")  # type: ignore[arg-type]


def test_beta_vae_identity_code_is_near_one() -> None:
    out = beta_vae_score(pair_sampler(False), 4, np.random.default_rng(0), batch_size=32, **SMALL)
    assert out["train_accuracy"] > 0.95 and out["eval_accuracy"] > 0.95


def test_beta_vae_noise_code_is_near_chance() -> None:
    out = beta_vae_score(pair_sampler(True), 4, np.random.default_rng(1), batch_size=32, **SMALL)
    assert abs(out["eval_accuracy"] - 0.25) < 0.12


# ---- DCI ---------------------------------------------------------------------------------------
def test_dci_scores_from_importance_matrices() -> None:
    assert dci_disentanglement(np.eye(4)) == pytest.approx(1.0)
    assert dci_completeness(np.eye(4)) == pytest.approx(1.0)
    assert dci_disentanglement(np.ones((3, 4))) == pytest.approx(0.0, abs=1e-12)
    assert dci_completeness(np.ones((3, 4))) == pytest.approx(0.0, abs=1e-12)
    # two codes used for factor 0 only: each code is perfectly disentangled (D = 1), but factor 0
    # is split evenly over two codes (C_0 = 0) and factor 1 has no weight
    r = np.array([[1.0, 0.0], [1.0, 0.0]])
    assert dci_disentanglement(r) == pytest.approx(1.0)
    assert dci_completeness(r) == pytest.approx(0.0, abs=1e-12)
    # an unused code dimension does not lower D
    assert dci_disentanglement(np.vstack([np.eye(3), np.zeros(3)])) == pytest.approx(1.0)


@pytest.fixture(scope="module")
def dci_data() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(6)
    sizes = (3, 4, 3)
    rotation = np.linalg.qr(rng.normal(size=(3, 3)))[0]
    return draw_factors(rng, 400, sizes), draw_factors(rng, 400, sizes), rotation


def test_dci_gbt_identity_versus_rotation(dci_data) -> None:
    f_tr, f_te, rot = dci_data
    ident = dci(f_tr, f_tr, f_te, f_te)
    assert ident["disentanglement"] > 0.9 and ident["completeness"] > 0.9
    assert ident["informativeness_train"] > 0.95 and ident["informativeness_test"] > 0.95
    assert ident["importance_matrix"].shape == (3, 3)
    mixed = dci(f_tr @ rot, f_tr, f_te @ rot, f_te)
    assert mixed["disentanglement"] < ident["disentanglement"] - 0.25
    assert mixed["completeness"] < ident["completeness"] - 0.25


@pytest.mark.parametrize("method", ["forest", "lasso"])
def test_dci_fast_methods(dci_data, method: str) -> None:
    f_tr, f_te, rot = dci_data
    ident = dci(f_tr, f_tr, f_te, f_te, method=method, rng=np.random.default_rng(0))
    mixed = dci(f_tr @ rot, f_tr, f_te @ rot, f_te, method=method, rng=np.random.default_rng(0))
    assert ident["disentanglement"] > 0.8 and ident["completeness"] > 0.8
    assert mixed["disentanglement"] < ident["disentanglement"] - 0.25
    assert mixed["completeness"] < ident["completeness"] - 0.25


def test_dci_errors(dci_data) -> None:
    f_tr, f_te, _ = dci_data
    with pytest.raises(ConfigError, match="unknown DCI method"):
        dci(f_tr, f_tr, f_te, f_te, method="svm")
    with pytest.raises(DataError, match="single value"):
        dci(f_tr, np.zeros(len(f_tr)), f_te, np.zeros(len(f_te)), method="lasso")
    with pytest.raises(DataError, match="shapes differ"):
        dci(f_tr, f_tr, f_te[:, :2], f_te, method="lasso")


# ---- SAP ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def sap_data() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(7)
    return draw_factors(rng, 1000, (2, 3, 2, 3)), draw_factors(rng, 1000, (2, 3, 2, 3))


def test_sap_identity_is_high_and_duplicated_is_zero(sap_data) -> None:
    f_tr, f_te = sap_data
    ident = sap(f_tr, f_tr, f_te, f_te)
    # with 2-3 values per factor an uninformative dimension still scores 1/2-1/3 (balanced
    # classes), so the largest possible gap is about 0.5-0.67
    assert ident["sap"] > 0.45
    assert ident["score_matrix"].shape == (4, 4)
    assert np.diag(ident["score_matrix"]) == pytest.approx(1.0)
    dup = sap(np.repeat(f_tr, 2, axis=1), f_tr, np.repeat(f_te, 2, axis=1), f_te)
    assert dup["sap"] == pytest.approx(0.0, abs=1e-12)
    noise = np.random.default_rng(8).normal(size=(2, 1000, 4))
    assert sap(noise[0], f_tr, noise[1], f_te)["sap"] < 0.1


def test_sap_continuous_factors() -> None:
    rng = np.random.default_rng(9)
    f = rng.normal(size=(800, 3))
    ident = sap(f, f, f, f, continuous_factors=True)
    assert ident["sap"] > 0.95
    assert np.diag(ident["score_matrix"]) == pytest.approx(1.0)
    dup = sap(np.repeat(f, 2, axis=1), f, np.repeat(f, 2, axis=1), f, continuous_factors=True)
    assert dup["sap"] == pytest.approx(0.0, abs=1e-12)
    # constant code dimensions score 0 (disentanglement_lib's var <= 1e-12 rule)
    const = sap(np.zeros((800, 2)), f, np.zeros((800, 2)), f, continuous_factors=True)
    assert const["sap"] == 0.0
    with pytest.raises(DataError, match="at least 2"):
        sap(f[:, :1], f, f[:, :1], f)
