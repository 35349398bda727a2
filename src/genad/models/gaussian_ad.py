"""Gaussian AD (Rippel, Mertens, Merhof, "Modeling the Distribution of Normal Data in
Pre-Trained Deep Features for Anomaly Detection", ICPR 2020, arXiv 2005.14140).

Features of several levels of a backbone are averaged over their spatial positions; each
level's features of the normal images get a multivariate Gaussian whose covariance is the
Ledoit-Wolf shrinkage estimate; the score is the sum over levels of the Mahalanobis distances
(the authors' code takes the square root of the quadratic form and averages the levels, which
ranks as the sum does).

Backbones (`backbone`):
  "ae"            (default, nothing downloaded) the encoder of the `ae` autoencoder, trained by
                  the engine on the normal images; its levels are the outputs of each stride-2
                  stage (after the activation) and the bottleneck code.
  "path/to/x.pt"  a TorchScript file the user has (torch.jit.load), kept frozen. With `layers`
                  empty, its forward must return a feature map (B, C, H, W), a vector (B, D) or
                  a list/tuple of them; with `layers` = names of its top-level children, those
                  children are run in order (as a sequential net, stopping after the last named
                  one) and the named children's outputs are the levels. The backbone receives
                  the images as genad holds them: [-1, 1], `image_size`, the data's channels.
The Gaussians are fit in float64 after training (`after_training`) and stored as buffers.
TorchScript files hold code: load only backbones you trust. The model file records the
backbone's sha256 and refuses to load against a changed file.
"""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genad.errors import ConfigError, DataError
from genad.models.codes import AEConfig, CodeDetector, FittedState
from genad.nn.density import ledoit_wolf, mahalanobis
from genad.registry import register


@dataclass
class GaussianADConfig(AEConfig):
    backbone: str = "ae"  # "ae" (trained here) or a TorchScript file (module doc)
    layers: list[str] = field(default_factory=list)  # TorchScript children giving the levels

    def __post_init__(self) -> None:
        super().__post_init__()
        if not isinstance(self.layers, list) or not all(isinstance(n, str) for n in self.layers):
            raise ConfigError("layers must be a list of child-module names")
        if self.layers and self.backbone == "ae":
            raise ConfigError("layers name children of a TorchScript backbone; backbone is 'ae'")


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@register("gaussian-ad")
class GaussianAD(CodeDetector):
    Config = GaussianADConfig

    @property
    def _own_backbone(self) -> bool:
        return self.config.backbone == "ae"

    def build(self, channels: int) -> dict[str, nn.Module]:
        if self._own_backbone:
            return super().build(channels)
        path = Path(self.config.backbone).expanduser()
        if not path.is_file():
            raise DataError(f"backbone {path} is not a file: give a TorchScript .pt file or 'ae'")
        try:
            with warnings.catch_warnings():  # torch >= 2.9 marks TorchScript as deprecated
                warnings.simplefilter("ignore", DeprecationWarning)
                self.backbone_ = torch.jit.load(str(path), map_location=self.device_).eval()
        except Exception as e:
            raise DataError(f"cannot load TorchScript backbone {path}: {e}") from None
        names = dict(self.backbone_.named_children())
        missing = [n for n in self.config.layers if n not in names]
        if missing:
            raise ConfigError(f"backbone has no child {missing[0]!r}; children: {list(names)}")
        self.backbone_sha256_ = _sha256(path)
        return {"head": FittedState()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return super().optimizers() if self._own_backbone else {}

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # a TorchScript backbone is frozen: nothing to train, the epochs pass without steps
        return super().train_step(x) if self._own_backbone else {}

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor | None:
        return super().reconstruct(x) if self._own_backbone else None

    # ---- features ---------------------------------------------------------------------------
    def features(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The levels' features of images x: a list of (B, D_l) float64 tensors."""
        if self._own_backbone:
            enc = self.nets_["ae"][0]
            maps: list[torch.Tensor] = []
            h = x
            for layer in enc.trunk:
                h = layer(h)
                if isinstance(layer, nn.LeakyReLU):
                    maps.append(h)
            maps.append(enc.head(h))
        elif self.config.layers:
            maps, h, wanted = [], x, self.config.layers
            for name, child in self.backbone_.named_children():
                h = child(h)
                if name in wanted:
                    maps.append(h)
                if len(maps) == len(wanted):
                    break
        else:
            out = self.backbone_(x)
            maps = list(out) if isinstance(out, (list, tuple)) else [out]
        return [(m.flatten(2).mean(2) if m.ndim > 2 else m).double() for m in maps]

    def fit_head(self, levels: list[np.ndarray]) -> None:
        state: dict[str, Any] = {}
        for i, f in enumerate(levels):
            state[f"mean{i}"] = f.mean(0)
            state[f"precision{i}"] = np.linalg.pinv(ledoit_wolf(f)[0], hermitian=True)
        self.nets_["head"].set(**state)

    def score_features(self, levels: list[torch.Tensor]) -> torch.Tensor:
        head = self.nets_["head"]
        return sum(
            mahalanobis(f, head[f"mean{i}"], head[f"precision{i}"]) for i, f in enumerate(levels)
        )

    # ---- save / load ------------------------------------------------------------------------
    def fitted_state(self) -> dict[str, Any]:
        return {} if self._own_backbone else {"backbone_sha256": self.backbone_sha256_}

    def load_fitted_state(self, state: dict[str, Any]) -> None:
        saved = state.get("backbone_sha256")
        if saved is not None and saved != self.backbone_sha256_:
            raise DataError(
                f"backbone {self.config.backbone} changed since this model was fitted "
                "(sha256 differs): refit, or restore the original file"
            )
