"""The autoencoder (models/ae.py): it overfits a single batch. (The detector contract is in
test_contract.py; that it learns the digits, in test_learning.py.)"""

from __future__ import annotations

import numpy as np
import torch

import genad


def test_ae_overfits_eight_images() -> None:
    """Reconstruction loss falls at least 10x in 100 steps on one batch of 8 digits."""
    from genad import train

    x = genad.data.load("digits", size=16).float_images()[:8]
    det = genad.create("ae", image_size=16, width=16, lr=1e-3, seed=0)
    train.seed_everything(0)
    det.device_ = torch.device("cpu")
    det.nets_ = det.build(1)
    det.optimizers_ = det.optimizers()
    for net in det.nets_.values():
        net.train()
    losses = [float(det.train_step(x)["rec"]) for _ in range(100)]
    assert losses[-1] <= losses[0] / 10, (losses[0], losses[-1])


def test_calib_fraction_zero_trains_on_every_image_and_calibrates_in_sample(
        small_kwargs, digits16) -> None:
    held = genad.create("ae", **small_kwargs).fit(digits16)
    every = genad.create("ae", **{**small_kwargs, "calib_fraction": 0.0}).fit(digits16)
    assert (held.n_train_, len(held.calibration_scores_)) == (58, 6)
    assert (every.n_train_, len(every.calibration_scores_)) == (64, 64)
    # the calibration table is the training images' own scores
    np.testing.assert_allclose(every.calibration_scores_,
                               np.sort(every.decision_function(digits16)), rtol=1e-5)
