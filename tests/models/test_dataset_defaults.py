"""Per-data-set defaults: a config field left at None takes the official code's value for the
data set the detector is fitted on; a value the user gives is kept."""

from __future__ import annotations

import dataclasses
import json

import pytest

import genad
from genad import experiment, registry
from genad.data.base import family
from genad.models.codes import AEConfig, ConvAutoencoder


@dataclasses.dataclass
class _Config(AEConfig):
    latent: int | None = None  # type: ignore[assignment]


class _PerData(ConvAutoencoder):
    Config = _Config
    DATASET_DEFAULTS = {"mnist": {"latent": 7}, "cifar10": {"latent": 9},
                        "default": {"latent": 5}}


def test_family_drops_the_part():
    assert family("mnist-train") == "mnist"
    assert family("cifar10-test") == "cifar10"
    assert family("fashion-mnist-train") == "fashion-mnist"
    assert family("digits") == "digits" and family("") == ""


@pytest.mark.parametrize(("name", "latent"), [("mnist-train", 7), ("cifar10-train", 9),
                                              ("tiles", 5), ("", 5)])
def test_unset_fields_take_the_data_sets_value(name, latent):
    data = genad.data.load("digits", size=8)
    data = dataclasses.replace(data, name=name)
    assert _PerData().for_data(data).config.latent == latent


def test_a_given_value_is_kept_and_arrays_get_the_default():
    data = dataclasses.replace(genad.data.load("digits", size=8), name="mnist-train")
    assert _PerData(latent=3).for_data(data).config.latent == 3
    assert _PerData().for_data(data.images).config.latent == 5


def test_fit_resolves_and_the_run_folder_records_the_settings(tmp_path, monkeypatch):
    registry.names()  # the built-in models first, so the two below are not overwritten
    monkeypatch.setitem(registry._CLASSES, "per-data-test", _PerData)
    monkeypatch.setitem(registry._KIND, "per-data-test", "detector")
    split = genad.data.load("digits", protocol="leave-one-out", cls=3, size=8)
    split = dataclasses.replace(split, train=dataclasses.replace(split.train, name="mnist-train"))
    tiny = {"epochs": 1, "width": 4, "image_size": 8, "batch_size": 8}
    det = _PerData(**tiny).fit(split.train.subset(range(40)))
    assert det.config.latent == 7
    experiment.run("per-data-test", split, params=tiny, out=tmp_path / "run")
    params = json.loads((tmp_path / "run" / "config.json").read_text())["params"]
    assert params["latent"] == 7


@pytest.mark.parametrize("name", genad.list_models())
def test_every_family_sets_the_same_fields_and_default_exists(name):
    table = registry.get(name).DATASET_DEFAULTS
    if not table:
        return
    assert "default" in table
    fields = set(table["default"])
    config = registry.get(name).Config()
    for fam, values in table.items():
        assert set(values) == fields, fam
        assert all(getattr(config, k) is None for k in values), fam
