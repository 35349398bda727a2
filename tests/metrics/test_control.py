"""The attribute-control measure (genad.metrics.control): known answers."""

from __future__ import annotations

import numpy as np
import pytest

from genad.errors import DataError
from genad.metrics.control import attribute_control, traversal_variance


def test_one_factor_per_code_covering_all_factors_scores_one() -> None:
    r = attribute_control(np.eye(4) * 2.0)
    assert r["control"] == pytest.approx(1.0) and r["coverage"] == 1.0
    np.testing.assert_array_equal(r["top_factor"], [0, 1, 2, 3])


def test_codes_that_move_two_factors_equally_or_nothing_score_zero() -> None:
    assert attribute_control(np.ones((3, 4)))["control"] == pytest.approx(0.0)
    r = attribute_control(np.zeros((2, 3)))
    assert r["control"] == 0.0 and r["coverage"] == 0.0


def test_weak_and_duplicated_codes_lower_the_figures() -> None:
    v = np.array([[1.0, 0.0, 0.0], [0.05, 0.0, 0.0], [0.9, 0.0, 0.0]])
    r = attribute_control(v)
    # code 1 moves factor 0 but by 5% of its range: effect 0.05
    assert r["control"] == pytest.approx((1.0 + 0.05 + 0.9) / 3)
    assert r["coverage"] == pytest.approx(1 / 3)  # all codes move the same factor
    half = attribute_control(np.array([[0.6, 0.3, 0.1]]))
    assert half["control"] == pytest.approx(0.6 * (0.6 - 0.3))


def test_traversal_variance_normalises_by_the_data_variance() -> None:
    steps = np.linspace(-1, 1, 5)
    # 2 codes, 3 bases, 5 steps, readouts: factor A (1 column), factor B (2 columns)
    r = np.zeros((2, 3, 5, 3))
    r[0, :, :, 0] = steps  # code 0 moves factor A
    r[1, :, :, 1] = steps * 2  # code 1 moves factor B's first column
    ref = np.array([steps.var(), 2.0, 2.0])
    v = traversal_variance(r, [[0], [1, 2]], ref)
    np.testing.assert_allclose(v, [[1.0, 0.0], [0.0, 4 * steps.var() / 4.0]])
    with pytest.raises(DataError):
        traversal_variance(r[:, :, :1], [[0], [1, 2]], ref)
    with pytest.raises(DataError):
        traversal_variance(r, [[0], [1, 2]], ref[:2])
    with pytest.raises(DataError):
        traversal_variance(r, [[0], [1, 2]], np.array([0.0, 1.0, 1.0]))
    with pytest.raises(DataError):
        attribute_control(-np.eye(2))
