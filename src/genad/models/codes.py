"""The convolutional autoencoder detectors share, and what the code-based detectors (Gaussian
AD, the one-class SVM and the isolation forest on codes) add to it: a classical estimator on
its bottleneck codes, the fitted estimator's arrays saved as buffers.

`ConvAutoencoder` is the autoencoder (genad.nn.conv_autoencoder, mean squared reconstruction
error, Adam) scored by its reconstruction error: the `ae` detector registers it as it is.
`CodeDetector` trains the same autoencoder with the engine on the normal images; after training
(`after_training`) a subclass fits its estimator (a Gaussian, a one-class SVM, an isolation
forest) on the codes of the training images and scores codes with it. The fitted estimator
lives in a `FittedState` net, so it is saved with the weights in safetensors, never pickled.

Not a model: it registers nothing, so every model module may import it.
"""

from __future__ import annotations

from abc import abstractmethod
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from torch import nn

from genad.data.base import float_batch
from genad.models.base import Detector, DetectorConfig
from genad.nn import conv_autoencoder


@dataclass
class AEConfig(DetectorConfig):
    """The autoencoder's settings."""

    latent: int = 100  # bottleneck width, as GANomaly's (Akcay et al. 2018, Sec. 4.2)
    width: int = 64  # first-stage channels of the DCGAN encoder/decoder (Radford et al. 2016)
    lr: float = 2e-4  # Adam, DCGAN's setting (Radford et al. 2016, Sec. 4)
    beta1: float = 0.5  # Adam beta1, DCGAN's setting (Radford et al. 2016, Sec. 4)


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


class ConvAutoencoder(Detector):
    """A DCGAN autoencoder trained on normal images; score = mean squared reconstruction
    error, the per-pixel squared error is the anomaly map."""

    Config = AEConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        return {"ae": conv_autoencoder(c.image_size, channels, c.latent, c.width)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        c = self.config
        return {"ae": torch.optim.Adam(self.nets_["ae"].parameters(), c.lr, betas=(c.beta1, 0.999))}

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        loss = (self.nets_["ae"](x) - x).pow(2).mean()
        self.optimize(loss, "ae")
        return {"rec": loss.detach()}

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor:
        return self.nets_["ae"](x)

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor | None:
        return (self.reconstruct(x).float() - x).pow(2).mean(1)  # (B, H, W)

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.pixel_map(x).flatten(1).mean(1)


class CodeDetector(ConvAutoencoder):
    """An autoencoder trained on normal images; an estimator fit on its features scores.

    `features(x)` gives a list of (B, D_l) float64 tensors, by default one: the bottleneck
    codes. Subclasses provide `fit_head(levels)` (the training images' features, a list of
    (N, D_l) float64 arrays; stores what it fits in `self.nets_["head"]`) and
    `score_features(levels)` ((B,) scores, higher = more anomalous). The score is not a
    reconstruction error, so there is no pixel map."""

    pixel_map = Detector.pixel_map

    def build(self, channels: int) -> dict[str, nn.Module]:
        return {**super().build(channels), "head": FittedState()}

    # ---- the estimator on its features ------------------------------------------------------
    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        return [self.nets_["ae"][0](x).double()]

    @torch.no_grad()
    def after_training(self, x: torch.Tensor) -> None:
        for net in self.nets_.values():
            net.eval()
        bs = self.config.eval_batch_size
        parts = [self.features(float_batch(x[i : i + bs].to(self.device_)))
                 for i in range(0, len(x), bs)]
        self.fit_head([torch.cat(level).cpu().numpy() for level in zip(*parts)])
        self.nets_["head"].to(self.device_)

    @abstractmethod
    def fit_head(self, levels: list[np.ndarray]) -> None: ...

    @abstractmethod
    def score_features(self, levels: list[torch.Tensor]) -> torch.Tensor: ...

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return self.score_features(self.features(x))
