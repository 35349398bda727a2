"""ALOCC (models/alocc.py): its score is D's verdict on R(x). (The contract is in
test_contract.py; that it learns the digits, in test_learning.py.)"""

from __future__ import annotations

import numpy as np
import torch

import genad
from tests.conftest import SMALL
from tests.models.conftest import _eval


def test_alocc_score_ranks_as_one_minus_d_of_r(digits) -> None:
    det = genad.create("alocc", **{**SMALL, "epochs": 3}).fit(digits)
    x = det.prepare(digits)
    _eval(det)
    with torch.no_grad():
        d_of_r = torch.sigmoid(det.nets_["d"](det.nets_["r"](x))[0].double())
    s = det.decision_function(digits)
    np.testing.assert_allclose(1 / (1 + np.exp(s)), d_of_r.numpy(), rtol=1e-5)  # s = -logit
