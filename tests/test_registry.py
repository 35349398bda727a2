"""The model registry (genad.registry, through genad.list_models and genad.create)."""

from __future__ import annotations

import pytest

import genad
from genad.errors import ConfigError

MODELS = genad.list_models()


def test_builtin_models_are_registered() -> None:
    assert {"ae", "ganomaly", "skip-ganomaly"} <= set(MODELS)


def test_unknown_model_raises_config_error() -> None:
    with pytest.raises(ConfigError, match="ganomaly"):
        genad.create("ganomali")
