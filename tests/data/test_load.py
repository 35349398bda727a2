"""genad.data.load and its specs (data/__init__.py): names, paths and their errors, the
shapes spec, and memoised sources."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from genad.data import datasets, load
from genad.data.folder import load_folder
from genad.data.mnist import load_mnist
from genad.errors import ConfigError, DataError
from tests.data.conftest import save


def test_missing_and_empty_folders(tmp_path: Path) -> None:
    for spec in (f"folder:{tmp_path / 'nope'}", f"mnist:{tmp_path / 'nope'}",
                 f"cifar10:{tmp_path / 'nope'}", f"mvtec:{tmp_path / 'nope'}"):
        with pytest.raises(DataError, match="nope"):
            load(spec)
    with pytest.raises(DataError, match="no images"):
        load_folder(tmp_path)
    with pytest.raises(DataError, match="no mnist files"):
        load_mnist(tmp_path)


def test_specs_names_and_home_expansion(tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(ConfigError, match="mnist:PATH"):
        load("imagenet:/x")
    with pytest.raises(ConfigError, match="Did you mean 'mnist'"):
        load("mnsit:/x")
    with pytest.raises(ConfigError, match="folder:PATH"):
        load("folder")
    with pytest.raises(ConfigError, match="protocol"):
        load("digits", cls=3)
    monkeypatch.setenv("HOME", str(tmp_path))
    save(tmp_path / "pics" / "a.png", np.zeros((8, 8), np.uint8))
    assert len(load("folder:~/pics")) == 1
    names = [d["name"] for d in datasets()]
    assert names == ["digits", "mnist", "fashion-mnist", "cifar10", "folder", "shapes",
                     "dsprites", "mvtec", "masks"]
    assert all({"spec", "needs", "protocols", "download"} <= d.keys() for d in datasets())


def test_memoised_sources_read_each_source_once(tmp_path: Path, make_cifar_batches) -> None:
    import shutil

    from genad.data import memoised_sources

    folder = tmp_path / "cifar-10-batches-py"
    make_cifar_batches(folder)
    with memoised_sources():
        first = load(f"cifar10:{tmp_path}")
        shutil.rmtree(folder)  # a second load inside the block does not touch the disk
        again = load(f"cifar10:{tmp_path}")
        assert torch.equal(first.images, again.images)
        split = load(f"cifar10:{tmp_path}", protocol="one-vs-rest", cls=0)
        assert len(split.test) == 6
    with pytest.raises(DataError):  # outside it, the source is read (and is gone)
        load(f"cifar10:{tmp_path}")


def test_load_specs_for_shapes() -> None:
    import genad
    from genad.errors import ConfigError

    a = genad.data.load("shapes:300", size=32)
    b = genad.data.load("shapes:300", size=32)
    assert a.images.shape == (300, 1, 32, 32) and a.factors.shape == (300, 5)
    assert torch.equal(a.images, b.images)  # the seed fixes the sample
    assert set(a.images.unique().tolist()) <= {0, 255}  # shrinking keeps sprites binary
    split = genad.data.load("shapes:600", protocol="one-vs-rest", cls="heart", seed=1)
    assert (split.train.targets == 2).all() and split.test.labels.sum() > 0
    with pytest.raises(ConfigError):
        genad.data.load("shapes:lots")
    with pytest.raises(ConfigError):
        genad.data.load("dsprites")  # needs a path


@pytest.mark.parametrize("bad", [{"size": 0}, {"size": -3}, {"seed": -1}, {"seed": 2**40}])
def test_bad_size_or_seed_is_a_config_error(bad) -> None:
    with pytest.raises(ConfigError, match="size|seed"):
        load("digits", protocol="leave-one-out", cls=3, **bad)
