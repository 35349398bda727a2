"""EGBAD (models/egbad.py): its score in closed form, and that the detector scores with its
networks. (The contract is in test_contract.py; that it learns the digits, in
test_learning.py.)"""

from __future__ import annotations

import numpy as np
import torch

import genad
from genad.models.egbad import egbad_score
from tests.conftest import SMALL
from tests.models.conftest import _eval


def test_egbad_score_formula() -> None:
    x = torch.zeros(2, 1, 2, 2)
    x_rec = torch.tensor([1.0, -1.0, 0.5, 0.0]).view(1, 1, 2, 2).repeat(2, 1, 1, 1)
    x_rec[1] = 0  # a perfect reconstruction
    f_real, f_rec = torch.zeros(2, 3), torch.tensor([[1.0, 2.0, -3.0], [0.0, 0.0, 4.0]])
    # L_G = ||.||_1 = 2.5 and 0; L_D = 6 and 4; divided by the 4 pixels
    for alpha in (0.9, 0.5, 1.0):
        s = egbad_score(x, x_rec, f_real, f_rec, alpha)
        expected = torch.tensor([alpha * 2.5 + (1 - alpha) * 6, (1 - alpha) * 4]) / 4
        torch.testing.assert_close(s, expected)


def test_egbad_detector_scores_with_its_networks(digits) -> None:
    det = genad.create("egbad", **SMALL).fit(digits)
    x = det.prepare(digits[:5])
    _eval(det)
    with torch.no_grad():
        z = det.nets_["e"](x)
        x_rec = det.nets_["g"](z)
        expected = egbad_score(x, x_rec, det.nets_["d"](x, z)[1], det.nets_["d"](x_rec, z)[1], 0.9)
    np.testing.assert_allclose(det.decision_function(digits[:5]), expected.numpy(), rtol=1e-5)
