"""The classical detectors on codes (models/classic.py): the one-class SVM's decision function
and the isolation forest's score against scikit-learn and known values."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn.ensemble import IsolationForest
from sklearn.svm import OneClassSVM

from genad.models.classic import average_path_length, isolation_score, rbf_decision
from tests.models.conftest import _data, _head_only


@pytest.mark.parametrize(("nu", "d"), [(0.1, 3), (0.5, 16)])
def test_rbf_decision_matches_sklearn(nu, d) -> None:
    x, test = _data(300, d), _data(50, d, seed=9)
    svm = OneClassSVM(nu=nu, gamma="scale").fit(x)
    got = rbf_decision(
        torch.from_numpy(test), torch.from_numpy(svm.support_vectors_),
        torch.from_numpy(svm.dual_coef_[0]), float(svm.intercept_[0]), float(svm._gamma),
    )
    np.testing.assert_allclose(got.numpy(), svm.decision_function(test), rtol=1e-9, atol=1e-9)


def test_ocsvm_codes_head_is_sklearn_on_standardised_codes() -> None:
    codes, test = _data(200, 8), _data(40, 8, seed=10)
    det = _head_only("ocsvm-codes", nu=0.2)
    det.fit_head([codes])
    m, s = codes.mean(0), codes.std(0)
    svm = OneClassSVM(nu=0.2, gamma="scale").fit((codes - m) / s)
    got = det.score_features([torch.from_numpy(test)]).numpy()
    np.testing.assert_allclose(got, -svm.decision_function((test - m) / s), rtol=1e-9, atol=1e-9)


def test_average_path_length_known_values() -> None:
    c = average_path_length(torch.tensor([0, 1, 2, 3, 256]))
    c256 = 2 * (np.log(255) + np.euler_gamma) - 2 * 255 / 256  # Liu et al. 2008, Eq. 1
    np.testing.assert_allclose(c.numpy(), [0, 0, 1, 2 * (np.log(2) + np.euler_gamma) - 4 / 3, c256])


@pytest.mark.parametrize(("n", "seed"), [(600, 0), (90, 3)])
def test_isolation_score_matches_sklearn(n, seed) -> None:
    # float32-exact codes, as the networks give them (sklearn's trees compare in float32)
    codes = _data(n, 6, seed).astype(np.float32).astype(np.float64)
    test = np.concatenate([_data(60, 6, seed + 1) * 3, codes[:20]]).astype(np.float32)
    det = _head_only("iforest-codes", seed=seed)
    det.fit_head([codes])
    forest = IsolationForest(n_estimators=100, max_samples=min(256, n), random_state=seed)
    want = -forest.fit(codes).score_samples(test.astype(np.float64))
    got = det.score_features([torch.from_numpy(test.astype(np.float64))]).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    h = det.nets_["head"]
    assert len(h["roots"]) == 100 and int(h["max_samples"]) == min(256, n)


def test_isolation_score_of_a_single_stump() -> None:
    # one tree: root splits feature 0 at 0.5; left leaf holds 1 sample, right leaf 2
    kw = dict(
        roots=torch.tensor([0]), left=torch.tensor([1, -1, -1]), right=torch.tensor([2, -1, -1]),
        feature=torch.tensor([0, -2, -2]), threshold=torch.tensor([0.5, -2.0, -2.0]),
        n_node_samples=torch.tensor([3, 1, 2]), max_samples=3,
    )
    z = torch.tensor([[0.0], [1.0]], dtype=torch.float64)
    c3 = 2 * (np.log(2) + np.euler_gamma) - 4 / 3
    want = [2 ** (-1 / c3), 2 ** (-(1 + 1) / c3)]  # h = depth 1 + c(1) = 1; 1 + c(2) = 2
    np.testing.assert_allclose(isolation_score(z, **kw).numpy(), want, rtol=1e-12)
