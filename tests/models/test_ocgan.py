"""OCGAN (models/ocgan.py): bounded codes and mined negatives. (The contract is in
test_contract.py; that it learns the digits, in test_learning.py.)"""

from __future__ import annotations

import torch

import genad
from tests.conftest import SMALL
from tests.models.conftest import _eval


def test_ocgan_codes_and_mined_negatives_stay_in_the_box(digits) -> None:
    det = genad.create("ocgan", **SMALL).fit(digits)
    _eval(det)
    wild = torch.randn(8, 1, 16, 16, generator=torch.Generator().manual_seed(0)) * 100
    with torch.no_grad():
        codes = det.encode(torch.cat([det.prepare(digits[:8]), wild]))
    assert codes.shape == (16, det.config.latent)
    assert codes.abs().max() <= 1
    start = torch.rand(16, det.config.latent, generator=torch.Generator().manual_seed(1)) * 2 - 1
    with torch.enable_grad():
        mined = det.mine(start)
    assert mined.abs().max() <= 1 and not torch.equal(mined, start)
    # the mined codes are ones the classifier finds *less* real than where they started
    with torch.no_grad():
        c = det.nets_["c"]
        before = c(det.nets_["ae"].decode(start))[0]
        after = c(det.nets_["ae"].decode(mined))[0]
    assert after.mean() < before.mean()
