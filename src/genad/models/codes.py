"""What the feature- and code-based detectors share: fitted arrays saved as buffers, an
autoencoder whose bottleneck codes a classical estimator scores, and autoencoder pre-training.

`CodeDetector` is the `ae` autoencoder (genad.models.ae) trained by the engine on the normal
images; after training (`after_training`) a subclass fits its estimator (a Gaussian, a
one-class SVM, an isolation forest) on the codes of the training images and scores codes with
it. The fitted estimator lives in a `FittedState` net, so it is saved with the weights in
safetensors, never pickled.
"""

from __future__ import annotations

from abc import abstractmethod
from typing import Any

import numpy as np
import torch
from torch import nn

from genad import train
from genad.models.ae import AutoEncoder
from genad.models.base import Detector


class FittedState(nn.Module):
    """Arrays an estimator fitted (means, precisions, support vectors, trees) held as buffers.

    Their shapes are known only after fitting, so a loaded state dict gives each buffer its
    shape, whatever it was before (strict loading would refuse buffers that do not exist)."""

    def set(self, **arrays: Any) -> None:
        for name, value in arrays.items():
            self.register_buffer(name, torch.as_tensor(np.asarray(value)).clone())

    def __getitem__(self, name: str) -> torch.Tensor:
        return self._buffers[name]

    def _load_from_state_dict(
        self, state_dict, prefix, local_metadata, strict, missing_keys, unexpected_keys, errors
    ) -> None:
        for key, value in state_dict.items():
            name = key[len(prefix) :]
            if key.startswith(prefix) and "." not in name:
                self.register_buffer(name, value.detach().clone())


class CodeDetector(AutoEncoder):
    """An autoencoder trained on normal images; an estimator fit on its features scores.

    `features(x)` gives a list of (B, D_l) float64 tensors, by default one: the bottleneck
    codes. Subclasses provide `fit_head(levels)` (the training images' features, a list of
    (N, D_l) float64 arrays; stores what it fits in `self.nets_["head"]`) and
    `score_features(levels)` ((B,) scores, higher = more anomalous)."""

    pixel_map = Detector.pixel_map  # the score is not a reconstruction error: no pixel map

    def build(self, channels: int) -> dict[str, nn.Module]:
        return {**super().build(channels), "head": FittedState()}

    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.nets_["ae"][0](x).double()]

    @torch.no_grad()
    def after_training(self, x: torch.Tensor) -> None:
        for net in self.nets_.values():
            net.eval()
        bs = self.config.score_batch_size
        parts = [self.features(x[i : i + bs].to(self.device_)) for i in range(0, len(x), bs)]
        self.fit_head([torch.cat(level).cpu().numpy() for level in zip(*parts)])
        self.nets_["head"].to(self.device_)

    @abstractmethod
    def fit_head(self, levels: list[np.ndarray]) -> None: ...

    @abstractmethod
    def score_features(self, levels: list[torch.Tensor]) -> torch.Tensor: ...

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.score_features(self.features(x))


def pretrain_autoencoder(
    det: Detector,
    encoder: nn.Module,
    decoder: nn.Module,
    x: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
) -> list[dict]:
    """Train `encoder` -> `decoder` to reconstruct `x` (mean squared error, Adam) for `epochs`
    with the engine, at `det`'s batch size, seed and device; the modules are trained in place.
    Returns the per-epoch metrics."""
    c = det.config
    ae = AutoEncoder(
        image_size=c.image_size, epochs=epochs, batch_size=c.batch_size, seed=c.seed,
        device=c.device,
    )
    ae.device_ = det.device_
    ae.nets_ = {"ae": nn.Sequential(encoder, decoder).to(det.device_)}
    ae.optimizers_ = {
        "ae": torch.optim.Adam(ae.nets_["ae"].parameters(), lr, weight_decay=weight_decay)
    }
    return train.fit(ae, x)
