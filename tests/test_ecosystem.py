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
