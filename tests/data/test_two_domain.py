"""Two-domain data for content transfer (data/two_domain.py): synthetic tasks with known ground
truth, folders as domains, and real MNIST."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genad
from genad.data.two_domain import compose, load_folders, load_task, make_task
from genad.errors import DataError
from tests.data.conftest import SHARED


def test_two_domain_task_is_disjoint_with_known_ground_truth() -> None:
    source = genad.data.load("digits", size=16)
    source.labels = torch.arange(len(source))  # each image's identity
    for attribute in ("digit", "frame"):
        t = make_task(source, attribute, seed=1, limit=300)
        ids = [set(s.labels.tolist()) for s in (t.a, t.test_a, t.b, t.test_b)]
        assert sum(map(len, ids)) == len(set().union(*ids)) == 300  # disjoint, all used
        assert torch.equal(t.test_b.images, compose(t.clean, t.layers))
        assert torch.equal(t.clean, source.images[t.test_b.labels])  # the real images
        outside = t.test_b.masks.expand_as(t.layers) == 0
        assert torch.all(t.layers[outside] == 0)  # the attribute stays inside its region
        assert t.layers.flatten(1).amax(1).min() > 0  # every B image has one


def test_folders_as_domains(tmp_path) -> None:
    from PIL import Image

    rng = np.random.default_rng(0)
    for name, channels in (("a", 1), ("b", 3)):
        (tmp_path / name).mkdir()
        for i in range(6):
            shape = (20, 20) if channels == 1 else (20, 20, 3)
            Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8)).save(
                tmp_path / name / f"{i}.png")
    t = load_folders(str(tmp_path / "a"), str(tmp_path / "b"), size=16, test_fraction=0.34)
    assert t.a.images.shape == (4, 3, 16, 16) and t.test_b.images.shape == (2, 3, 16, 16)
    assert t.layers is None
    with pytest.raises(DataError, match="does not exist"):
        load_folders(str(tmp_path / "none"), str(tmp_path / "b"))


def test_real_mnist_task() -> None:
    path = SHARED / "mnist" / "npz"
    if not path.exists():
        pytest.skip(f"real MNIST not present at {path} (see ../shared/data/README.md)")
    t = load_task(f"mnist:{path}", "digit", size=28, limit=200)
    assert len(t.a) + len(t.test_a) == 100 and t.test_b.images.shape[1:] == (1, 28, 28)
