"""The scikit-learn / PyOD side of the API: get_params / set_params (so `sklearn.base.clone`
works for every model), fit_predict, predict_proba, pickling."""

from __future__ import annotations

import pickle

import numpy as np
import pytest
import sklearn.base

import genad
from genad.errors import ConfigError


@pytest.mark.parametrize("name", genad.list_models())
def test_clone_gives_an_unfitted_copy_with_the_same_params(name) -> None:
    model = genad.create(name, epochs=2)
    copy = sklearn.base.clone(model)
    assert copy is not model and type(copy) is type(model)
    assert copy.get_params() == model.get_params() and copy.get_params()["epochs"] == 2


def test_set_params_checks_like_create_and_fit_predict_proba_pickle() -> None:
    model = genad.create("ae", image_size=16, epochs=1, width=8, latent=4)
    assert model.set_params(epochs=2) is model and model.config.epochs == 2
    with pytest.raises(ConfigError, match="Known parameters"):
        model.set_params(nope=1)
    with pytest.raises(ConfigError, match="latent must be at least 1"):
        model.set_params(latent=0)
    data = genad.data.load("digits")
    labels = model.fit_predict(data)
    assert labels.shape == (len(data),) and set(np.unique(labels)) <= {0, 1}
    np.testing.assert_array_equal(labels, model.predict(data))
    proba = model.predict_proba(data.images[:5])
    np.testing.assert_allclose(proba.sum(1), 1)
    np.testing.assert_array_equal(proba[:, 1], model.calibrated_score(data.images[:5]))
    again = pickle.loads(pickle.dumps(model))
    np.testing.assert_array_equal(again.decision_function(data.images[:5]),
                                  model.decision_function(data.images[:5]))


TINY = {"image_size": 16, "epochs": 1, "width": 8, "latent": 4, "batch_size": 32}


@pytest.fixture(scope="module")
def shuffled_digits():
    """200 bundled digits in a seeded shuffled order, at their own size (resized at fit)."""
    data = genad.data.load("digits")
    return data.images[np.random.default_rng(1).permutation(len(data))[:200]]


def test_fit_sets_pyod_decision_scores_and_labels_of_every_training_image(
        shuffled_digits) -> None:
    x = shuffled_digits
    det = genad.create("ae", **TINY)
    scored: list[int] = []
    inner = det.scores_prepared
    det.scores_prepared = lambda imgs: scored.append(len(imgs)) or inner(imgs)
    labels = det.fit_predict(x)
    assert sum(scored) == len(x), "fit_predict scores each training image once"
    del det.scores_prepared
    s = det.decision_scores_
    assert s.shape == (len(x),) and s.dtype == np.float64
    np.testing.assert_allclose(s, det.decision_function(x), rtol=1e-6)  # all, in their order
    np.testing.assert_array_equal(det.labels_, (s > det.threshold_).astype(np.int64))
    assert labels is det.labels_ and labels.dtype == np.int64
    assert 0 < labels.sum() < len(x) // 5  # ~1% of normals cross the 0.99 quantile
    cal, fit = det.calibration_indices(len(x))
    assert len(cal) == 20 and sorted(np.r_[cal, fit]) == list(range(len(x)))
    np.testing.assert_array_equal(det.calibration_scores_, np.sort(s[cal.numpy()]))


def test_calib_fraction_zero_scores_in_sample_and_rescore_updates_the_scores(
        shuffled_digits, tmp_path) -> None:
    x = shuffled_digits[:120]
    det = genad.create("alocc", image_size=16, epochs=1, width=8, batch_size=32,
                       calib_fraction=0.0).fit(x)
    np.testing.assert_array_equal(det.calibration_scores_, np.sort(det.decision_scores_))
    before = det.decision_scores_.copy()
    kind = "d" if det.config.score_kind != "d" else "d_of_r"
    det.rescore(x, score_kind=kind)
    assert not np.allclose(det.decision_scores_, before)
    np.testing.assert_allclose(det.decision_scores_, det.decision_function(x), rtol=1e-6)
    np.testing.assert_array_equal(det.labels_, det.decision_scores_ > det.threshold_)
    # a saved model scores without them: they describe training data it does not hold
    loaded = genad.load(det.save(tmp_path / "m"))
    assert not hasattr(loaded, "decision_scores_") and not hasattr(loaded, "labels_")
    np.testing.assert_array_equal(loaded.predict(x), det.labels_)


def test_score_training_false_calibrates_alike_without_scoring_the_rest(
        shuffled_digits) -> None:
    x = shuffled_digits
    full = genad.create("ae", **TINY).fit(x)
    lean = genad.create("ae", **TINY)
    scored: list[int] = []
    inner = lean.scores_prepared
    lean.scores_prepared = lambda imgs: scored.append(len(imgs)) or inner(imgs)
    lean.fit(x, score_training=False)
    assert scored == [20]  # the held-out 10 % alone
    np.testing.assert_allclose(lean.calibration_scores_, full.calibration_scores_, rtol=1e-6)
    assert lean.threshold_ == pytest.approx(full.threshold_)
    assert not hasattr(lean, "decision_scores_") and not hasattr(lean, "labels_")
    full.fit(x[:100], score_training=False)  # a refit leaves no scores of the old images
    assert not hasattr(full, "decision_scores_")
