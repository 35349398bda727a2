"""Anomaly metrics (metrics/anomaly.py): known answers, agreement with scikit-learn, error
cases."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from genad.errors import DataError
from genad.metrics import (
    auprc,
    auroc,
    best_f1,
    f1_at,
    pixel_auroc,
    rates_at,
    roc_curve,
    summary,
)

# Hand-computed example: ranks (desc) 0.8:+, 0.4:-, 0.35:+, 0.1:-
Y = np.array([0, 0, 1, 1])
S = np.array([0.1, 0.4, 0.35, 0.8])


def random_case(seed: int, n: int = 300, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = rng.normal(size=n) + 1.2 * y
    return y, (np.round(s, 1) if ties else s)


# ---------------------------------------------------------------- known answers


def test_perfect_and_reversed() -> None:
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert auroc(y, s) == 1.0
    assert auprc(y, s) == 1.0
    assert best_f1(y, s) == (1.0, 0.8)
    assert auroc(y, -s) == 0.0
    assert auroc(1 - y, s) == 0.0


def test_hand_computed_example() -> None:
    assert auroc(Y, S) == pytest.approx(0.75)  # 3 of 4 (anomalous, normal) pairs ordered
    assert auprc(Y, S) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    f1, thr = best_f1(Y, S)
    assert (f1, thr) == (pytest.approx(0.8), 0.35)  # flag {0.8, 0.4, 0.35}: p=2/3, r=1


def test_ties_count_half() -> None:
    assert auroc([0, 1], [1.0, 1.0]) == 0.5
    assert auroc([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert auroc([0, 0, 1], [0.5, 0.2, 0.5]) == pytest.approx(0.75)


def test_inputs_may_be_lists_bools_and_tensors() -> None:
    assert auroc(Y.tolist(), S.tolist()) == pytest.approx(0.75)
    assert auroc(Y.astype(bool), S) == pytest.approx(0.75)
    assert auroc(torch.tensor(Y), torch.tensor(S, requires_grad=True)) == pytest.approx(0.75)


def test_f1_at_and_rates_use_strict_threshold() -> None:
    # score > 0.35 flags 0.4 (normal) and 0.8 (anomalous): tp=1, fp=1, fn=1, tn=1
    r = rates_at(Y, S, 0.35)
    assert r == {"f1": 0.5, "precision": 0.5, "recall": 0.5, "fpr": 0.5}
    assert f1_at(Y, S, 0.35) == 0.5
    assert f1_at(Y, S, 0.8) == 0.0  # nothing flagged
    assert rates_at(Y, S, -1.0) == pytest.approx(
        {"f1": 2 / 3, "precision": 0.5, "recall": 1.0, "fpr": 1.0}
    )


def test_summary() -> None:
    out = summary(Y, S)
    assert set(out) == {"auroc", "auprc", "best_f1", "best_f1_threshold"}
    out = summary(Y, S, threshold=0.35)
    assert out["auroc"] == pytest.approx(0.75)
    assert out["best_f1"] == pytest.approx(0.8)
    assert out["best_f1_threshold"] == 0.35
    assert out["threshold"] == 0.35
    assert (out["f1"], out["precision"], out["recall"], out["fpr"]) == (0.5, 0.5, 0.5, 0.5)
    assert all(isinstance(v, float) for v in out.values())


# ---------------------------------------------------------------- against scikit-learn


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_agrees_with_sklearn(seed: int, ties: bool) -> None:
    y, s = random_case(seed, ties=ties)
    assert auroc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert auprc(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    for t in (np.median(s), np.quantile(s, 0.9)):
        assert f1_at(y, s, t) == pytest.approx(skm.f1_score(y, s > t))
        r = rates_at(y, s, t)
        assert r["precision"] == pytest.approx(skm.precision_score(y, s > t))
        assert r["recall"] == pytest.approx(skm.recall_score(y, s > t))


def test_roc_curve_points() -> None:
    y, s = random_case(3, ties=True)
    fpr, tpr, thr = roc_curve(y, s)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.isinf(thr[0]) and np.all(np.diff(thr) < 0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    for k in range(1, len(thr)):  # each point is the rule score >= thr[k]
        flagged = s >= thr[k]
        assert tpr[k] == pytest.approx(flagged[y == 1].mean())
        assert fpr[k] == pytest.approx(flagged[y == 0].mean())
    area = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)
    assert area == pytest.approx(auroc(y, s))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [False, True])
def test_best_f1_matches_brute_force(seed: int, ties: bool) -> None:
    y, s = random_case(seed, n=200, ties=ties)
    brute = {}
    for t in np.unique(s):  # plain loop: F1 of flagging score >= t
        tp, fp = np.sum((s >= t) & (y == 1)), np.sum((s >= t) & (y == 0))
        brute[t] = 2 * tp / (2 * tp + fp + np.sum((s < t) & (y == 1)))
    f1, thr = best_f1(y, s)
    assert f1 == pytest.approx(max(brute.values()), abs=1e-12)
    assert thr in brute and brute[thr] == pytest.approx(f1, abs=1e-12)


def test_pixel_auroc() -> None:
    rng = np.random.default_rng(0)
    masks = (rng.random((4, 1, 8, 8)) < 0.2).astype(np.uint8)
    maps = rng.random((4, 8, 8)) + masks[:, 0]
    expected = skm.roc_auc_score(masks.reshape(-1), maps.reshape(-1))
    assert pixel_auroc(masks, maps) == pytest.approx(expected)
    assert pixel_auroc(masks[:, 0], maps[:, None]) == pytest.approx(expected)
    assert pixel_auroc(masks * 255, maps) == pytest.approx(expected)  # any value > 0 counts
    # Images without a mask (None) are left out.
    listed = [masks[0], None, masks[2], None]
    keep = np.array([0, 2])
    expected = skm.roc_auc_score(masks[keep].reshape(-1), maps[keep].reshape(-1))
    assert pixel_auroc(listed, maps) == pytest.approx(expected)


def test_pixel_auroc_errors() -> None:
    with pytest.raises(DataError, match="shape"):
        pixel_auroc(np.zeros((2, 8, 8)), np.zeros((2, 4, 4)))
    with pytest.raises(DataError, match="no image has a pixel mask"):
        pixel_auroc([None, None], np.zeros((2, 4, 4)))
    with pytest.raises(DataError, match="only normal"):
        pixel_auroc(np.zeros((2, 4, 4)), np.random.default_rng(0).random((2, 4, 4)))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("fn", [auroc, auprc, roc_curve, best_f1, summary])
def test_one_class_raises(fn) -> None:
    with pytest.raises(DataError, match="only normal"):
        fn([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match="only anomalous"):
        fn([1, 1], [0.1, 0.2])


@pytest.mark.parametrize(
    ("labels", "scores", "match"),
    [
        ([0, 1, 1], [0.1, 0.2], "differ in length"),
        ([0, 1], [0.1, np.nan], "NaN/inf"),
        ([0, 1], [np.inf, 0.2], "NaN/inf"),
        ([0, 2], [0.1, 0.2], "0 \\(normal\\) or 1"),
        ([0, -1], [0.1, 0.2], "0 \\(normal\\) or 1"),
        ([], [], "empty"),
        ([0, 1], ["a", "b"], "must be numbers"),
    ],
)
def test_bad_input_raises(labels, scores, match: str) -> None:
    for fn in (auroc, auprc, best_f1, summary):
        with pytest.raises(DataError, match=match):
            fn(labels, scores)
    with pytest.raises(DataError, match=match):
        f1_at(labels, scores, 0.5)


def test_f1_at_rejects_nan_threshold() -> None:
    with pytest.raises(DataError, match="threshold"):
        f1_at(Y, S, float("nan"))
