"""genad: generative anomaly detection and unsupervised attribute discovery for images.

import genad
split = genad.data.load("digits", protocol="leave-one-out", cls=3)
det = genad.create("ganomaly", epochs=15).fit(split.train)
scores = det.decision_function(split.test)      # (N,), higher = more anomalous
genad.metrics.auroc(split.test.labels, scores)
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from genad import data, metrics  # noqa: E402
from genad.errors import GenadError  # noqa: E402


def create(model: str, **params: Any) -> Any:
    """A new, unfitted detector: `model` is a registered name (see `list_models()`); params
    override the paper's defaults in its config dataclass."""
    from genad import registry

    return registry.get(model)(**params)


def load(path: str, device: str | None = None) -> Any:
    """A fitted model (a detector, a content-transfer model, ...) from a folder written by
    its `save(folder)`; its class is the one registered under the name saved with it."""
    from genad import io, registry
    from genad.errors import DataError, GenadError

    meta, tensors, folder = io.read_model(path)
    cls = registry.get(str(meta.get("model")), kind=None)
    try:
        return cls.from_saved(meta, tensors, device)
    except GenadError as e:
        raise type(e)(f"{folder}: {e}") from None
    except (KeyError, TypeError, ValueError) as e:
        what = f"missing {e}" if isinstance(e, KeyError) else str(e).splitlines()[0]
        raise DataError(f"{folder} holds a damaged model ({what})") from None


def list_models() -> list[str]:
    """The registered detector names. (Not `genad.models`: that is the package of models.)"""
    from genad import registry

    return registry.names()


__all__ = ["create", "load", "list_models", "data", "metrics", "GenadError", "__version__"]
