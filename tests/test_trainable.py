"""The contract every registered Trainable keeps, whatever its kind (detectors, the
content-transfer model, the attribute classifier, the probes): set up and trained by the one
engine, unfitted use refused, parameters checked, save -> genad.load gives the same outputs.
(Detectors' own contract, scores and thresholds, is in models/test_contract.py.)"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import genad
from genad import registry
from genad.errors import ConfigError, NotFittedError
from genad.trainable import Trainable

TINY = {"image_size": 16, "epochs": 1, "seed": 0}


@pytest.fixture(scope="module")
def digits16():
    return genad.data.load("digits", size=16)


def _fit(name: str, digits) -> tuple[Trainable, torch.Tensor]:
    """A tiny fitted `name` and the images to compare its outputs on."""
    cls = registry.get(name, kind=None)
    fields = cls.Config.__dataclass_fields__
    params = {**TINY, **({"width": 8} if "width" in fields else {}),
              "batch_size": 16}
    images = digits.images[:200]
    if registry.kind_of(name) == "detector":
        return genad.create(name, **params).fit(images), images[:8]
    if name == "content-transfer":
        return cls(**params).fit(images[:100], images[100:]), images[:8]
    if name == "attribute-classifier":
        return cls(**params).fit(images[:100], images[100:]), images[:8]
    if name == "probe":
        model = cls(heads=[["class", "class", 10]], key="digits", **params)
        return model.fit(images, digits.labels[:200]), images[:8]
    raise AssertionError(f"add {name} to this contract test")


def _outputs(model: Trainable, x: torch.Tensor) -> np.ndarray:
    """One deterministic output of each kind of trainable."""
    if hasattr(model, "decision_function"):
        return model.decision_function(x)
    if hasattr(model, "add"):
        return model.add(x, x)
    if hasattr(model, "read"):
        return model.read(x)
    return model.predict(x)


@pytest.mark.parametrize("name", [n for n in registry.names(None)
                                  if registry.kind_of(n) != "detector"] + ["ae", "ganomaly"])
def test_trainable_contract(name: str, digits16, tmp_path) -> None:
    cls = registry.get(name, kind=None)
    assert issubclass(cls, Trainable) and cls.name == name
    with pytest.raises(ConfigError, match="Known parameters"):
        cls(no_such_parameter=1)
    with pytest.raises(NotFittedError):
        cls(**TINY).save(tmp_path / "unfitted")
    model, x = _fit(name, digits16)
    assert len(model.history_) == 1 and model.history_[0]["step"] >= 1  # the engine trained it
    back = genad.load(model.save(tmp_path / "m"))
    assert type(back) is cls and back.config == model.config
    np.testing.assert_array_equal(_outputs(back, x), _outputs(model, x))


def test_every_registered_class_is_a_trainable() -> None:
    for name in registry.names(None):
        assert issubclass(registry.get(name, kind=None), Trainable), name
    assert "content-transfer" not in registry.names()  # `genad models` lists detectors only
    with pytest.raises(ConfigError, match="Did you mean 'ganomaly'"):
        registry.get("ganomly")


class _Recorder(Trainable):
    """Trains nothing; remembers the first pixel of every image of every batch."""

    name = "recorder"

    def build(self, channels: int) -> dict[str, torch.nn.Module]:
        self.seen: list[list[float]] = []
        return {"w": torch.nn.Linear(1, 1)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"w": torch.optim.SGD(self.nets_["w"].parameters(), 0.0)}

    def train_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        self.seen.append(batch[:, 0, 0, 0].tolist())
        return {"loss": torch.zeros(())}


def test_epoch_images_draws_a_fresh_share_of_the_data_each_epoch() -> None:
    """epoch_images shortens the epoch and each epoch draws its images anew from all of
    them; without it an epoch is one pass."""
    x = torch.arange(1000, dtype=torch.float32).reshape(1000, 1, 1, 1).expand(-1, 1, 8, 8)
    short = _Recorder(image_size=8, epochs=3, batch_size=16, epoch_images=64)
    short.setup(1)
    short.train(x.contiguous())
    assert short.steps_per_epoch_ == 4 and len(short.seen) == 12
    epochs = [sorted(sum(short.seen[i * 4 : (i + 1) * 4], [])) for i in range(3)]
    assert all(len(set(e)) == 64 for e in epochs) and epochs[0] != epochs[1] != epochs[2]
    full = _Recorder(image_size=8, epochs=1, batch_size=16)
    full.setup(1)
    full.train(x.contiguous())
    assert full.steps_per_epoch_ == 62 and len(set(sum(full.seen, []))) == 992
    with pytest.raises(ConfigError):
        _Recorder(image_size=8, batch_size=16, epoch_images=8)
