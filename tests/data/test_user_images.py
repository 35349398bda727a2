"""What users hand a model is checked before it reaches a network (data/base.py
`user_images`): channels-last arrays are moved, float images must be finite and in [-1, 1]."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genad
from genad.data.base import as_images, user_images
from genad.errors import DataError

RNG = np.random.default_rng(0)
NCHW = RNG.integers(0, 256, (4, 3, 8, 8), dtype=np.uint8)


def test_channels_last_arrays_are_moved_and_uint8_stays_uint8() -> None:
    kept = as_images(NCHW, keep_uint8=True)
    assert kept.dtype == torch.uint8
    torch.testing.assert_close(user_images(NCHW.transpose(0, 2, 3, 1)), kept)
    grey = NCHW[:, :1]
    torch.testing.assert_close(user_images(grey.transpose(0, 2, 3, 1)),
                               as_images(grey, keep_uint8=True))
    assert user_images(NCHW[:, 0]).shape == (4, 1, 8, 8)


def test_floats_in_range_pass_and_others_raise_with_a_hint() -> None:
    x = as_images(NCHW)
    torch.testing.assert_close(user_images(x), x)
    with pytest.raises(DataError, match="0-255"):
        user_images(NCHW.astype(np.float32))
    with pytest.raises(DataError, match=r"2 \* x - 1"):
        user_images((x + 1) / 2 * 1.5)
    bad = x.clone()
    bad[1, 0, 2, 2] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        user_images(bad)
    bad[1, 0, 2, 2] = float("inf")
    with pytest.raises(DataError, match="Inf"):
        user_images(bad)


def test_a_detector_refuses_nan_and_0_255_floats_and_reads_channels_last(small_kwargs,
                                                                          digits16) -> None:
    det = genad.create("ae", **small_kwargs).fit(digits16)
    s = det.decision_function(digits16)
    np.testing.assert_allclose(det.decision_function(digits16.numpy().transpose(0, 2, 3, 1)), s,
                               rtol=1e-6)
    with pytest.raises(DataError, match="0-255"):
        det.decision_function(digits16.float())
    x = digits16.float() / 127.5 - 1
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(DataError, match="NaN"):
        det.predict(x)
    with pytest.raises(DataError, match="NaN"):
        genad.create("ae", **small_kwargs).fit(x)
