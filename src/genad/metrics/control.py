"""Attribute control: does moving one code change exactly one ground-truth factor?

A measure of our own (the paper names "a new metric of attribute control" without a
definition we can read). Inputs are the readouts of generated images along latent
traversals: for each code j, from each of B base latents, the code is moved over its range in
S steps (categorical codes: through every category) and a probe (genad.probe) reads the
ground-truth factors of the S images.

    V[j, k]    mean over bases of the variance along the traversal of factor k's readout
               (summed over the factor's readout columns), divided by that readout's
               variance over images of the data set (`reference_var`): 1 means moving code j
               changes factor k as much as the whole data set varies it
    share      V[j, :] / sum_k V[j, k]
    gap_j      top share - second share of code j (1: one factor only; 0: two equally)
    effect_j   min(1, max_k V[j, k])
    control    mean over codes of effect_j * gap_j   (a code that changes nothing counts 0)
    coverage   share of the factors that are the top factor of some code with
               effect_j >= `min_effect`

Both `control` and `coverage` are in [0, 1]; a generator whose every code moves one factor
and whose codes cover all factors scores 1 on both.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from genad.errors import DataError
from genad.metrics.anomaly import to_numpy


def traversal_variance(readouts: Any, groups: Sequence[Sequence[int]],
                       reference_var: Any) -> np.ndarray:
    """V (n_codes, n_factors) from readouts (n_codes, n_bases, n_steps, R); see module doc.
    `reference_var` (R,) is each readout column's variance over data-set images."""
    r = np.asarray(to_numpy(readouts), dtype=np.float64)
    if r.ndim != 4 or r.shape[2] < 2:
        raise DataError(f"readouts must be (codes, bases, steps >= 2, R); got {r.shape}")
    ref = np.asarray(to_numpy(reference_var), dtype=np.float64).reshape(-1)
    if ref.size != r.shape[3]:
        raise DataError(f"reference_var has {ref.size} entries for {r.shape[3]} readouts")
    var = r.var(axis=2).mean(axis=1)  # (codes, R)
    out = np.empty((r.shape[0], len(groups)))
    for k, cols in enumerate(groups):
        cols = list(cols)
        denom = ref[cols].sum()
        if denom <= 0:
            raise DataError(f"factor {k}'s readouts do not vary over the reference images")
        out[:, k] = var[:, cols].sum(axis=1) / denom
    return out


def attribute_control(v: Any, min_effect: float = 0.1) -> dict[str, Any]:
    """The control summary of a V matrix (n_codes, n_factors) from `traversal_variance`."""
    m = np.asarray(to_numpy(v), dtype=np.float64)
    if m.ndim != 2 or m.shape[1] < 2 or m.shape[0] < 1:
        raise DataError(f"V must be (codes >= 1, factors >= 2); got {m.shape}")
    if (m < 0).any() or not np.isfinite(m).all():
        raise DataError("V must be finite and non-negative")
    total = m.sum(axis=1, keepdims=True)
    share = np.divide(m, total, out=np.zeros_like(m), where=total > 0)
    ordered = np.sort(share, axis=1)
    gap = ordered[:, -1] - ordered[:, -2]
    effect = np.minimum(1.0, m.max(axis=1))
    top = m.argmax(axis=1)
    covered = {int(t) for t, e in zip(top, effect) if e >= min_effect}
    return {"control": float((effect * gap).mean()), "coverage": len(covered) / m.shape[1],
            "gap": gap, "effect": effect, "top_factor": top, "share": share}
