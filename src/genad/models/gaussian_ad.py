"""Gaussian AD (Rippel, Mertens, Merhof, "Modeling the Distribution of Normal Data in
Pre-Trained Deep Features for Anomaly Detection", ICPR 2020, arXiv 2005.14140).

Features of several levels of a backbone are averaged over their spatial positions; each
level's features of the normal images get a multivariate Gaussian whose covariance is the
Ledoit-Wolf shrinkage estimate; the score is the sum over levels of the Mahalanobis distances
(the authors' code takes the square root of the quadratic form and averages the levels, which
ranks as the sum does).

Backbones (`backbone`):
  "ae"       (default, nothing downloaded) the encoder of the `ae` autoencoder, trained by the
             engine on the normal images; its levels are the outputs of each stride-2 stage
             (after the activation) and the bottleneck code.
  "resnet18", "resnet50", "wide_resnet50_2"
             an ImageNet ResNet defined in genad's code (genad.nn.resnet), its weights read
             at fit time from `weights`, a safetensors file of the torchvision state dict the
             user has, and kept frozen; its levels are the four stages' outputs (`layers`
             picks some). The images reach it as ImageNet weights expect them: [0, 1], minus
             ImageNet's mean, over its std, grey repeated to three channels (the authors'
             albumentations `Normalize()`). The paper's backbone is EfficientNet-B4 with all
             nine levels; a ResNet is what genad defines, so figures with it are not the paper's.
The backbone's weights are saved in the model's own safetensors file; loading a model reads
no other file and runs no code (a TorchScript backbone, which would, is not accepted).

`npca` (the authors' `--npca --variance_threshold T`): each level's features are projected,
before the Gaussian, on the principal components of the normal images beyond the first ones
that explain a share T of the variance (the least-varying directions, where the authors find
anomalies stand out); their recorded MVTec AD figures (95.8 mean AUROC) use T = 0.99, the
full Gaussian (npca None, the paper's main method) 95.2.
The Gaussians are fit in float64 after training (`after_training`) and stored as buffers.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genad.errors import ConfigError, DataError
from genad.models.codes import AEConfig, CodeDetector, FittedState
from genad.nn.density import ledoit_wolf, mahalanobis
from genad.nn.resnet import ARCHS, STAGES, ResNet, imagenet_input
from genad.registry import register


@dataclass
class GaussianADConfig(AEConfig):
    backbone: str = "ae"  # "ae" (trained here) or an ImageNet ResNet (module doc)
    weights: str | None = None  # the ResNet's safetensors file, read at fit time only
    layers: list[str] = field(default_factory=list)  # ResNet stages giving the levels
    #   (default all four: layer1..layer4)
    npca: float | None = None  # None: the full Gaussian (Rippel et al. 2020, Sec. 3); a
    #   variance share T: keep the components beyond it (the authors' --npca, 0.99 in their
    #   recorded MVTec AD table)

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.backbone != "ae" and self.backbone not in ARCHS:
            known = ", ".join(["ae", *ARCHS])
            hint = (" (TorchScript files are not loaded: they run code; give an architecture "
                    "and its safetensors weights)" if self.backbone.endswith((".pt", ".pth"))
                    else "")
            raise ConfigError(f"backbone must be one of {known}, not {self.backbone!r}{hint}")
        if not isinstance(self.layers, list) or not all(n in STAGES for n in self.layers):
            raise ConfigError(f"layers must be a list of ResNet stages {list(STAGES)}")
        if self.layers and self.backbone == "ae":
            raise ConfigError("layers name stages of a ResNet backbone; backbone is 'ae'")
        if self.npca is not None and not 0 < self.npca < 1:
            raise ConfigError(f"npca is a variance share in (0, 1), got {self.npca}")


def npca_components(f: np.ndarray, threshold: float) -> np.ndarray:
    """(K, D) principal directions of features f (N, D) beyond those that explain a share
    `threshold` of the variance, smallest variance last. The authors keep from one component
    before the one that crosses the threshold, since the exact cut lies in that interval."""
    centred = f - f.mean(0)
    _, sv, vt = np.linalg.svd(centred, full_matrices=False)
    share = np.cumsum(sv**2) / max(float((sv**2).sum()), 1e-300)
    last = int(np.argmax(share > threshold))
    return vt[max(last - 1, 0):]


@register("gaussian-ad")
class GaussianAD(CodeDetector):
    Config = GaussianADConfig

    @property
    def _own_backbone(self) -> bool:
        return self.config.backbone == "ae"

    def build(self, channels: int) -> dict[str, nn.Module]:
        if self._own_backbone:
            return super().build(channels)
        return {"backbone": ResNet(self.config.backbone, classifier=False),
                "head": FittedState()}

    def before_training(self, x: torch.Tensor) -> None:
        """A ResNet's ImageNet weights, from the user's safetensors file (the only time genad
        reads it); the model file keeps them."""
        if self._own_backbone:
            return
        self.nets_["backbone"].load_state_dict(self._read_weights())
        self.nets_["backbone"].requires_grad_(False).eval()

    def _read_weights(self) -> dict[str, torch.Tensor]:
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        c = self.config
        if c.weights is None:
            raise ConfigError(f"backbone {c.backbone} needs weights=FILE.safetensors (the "
                              f"torchvision state dict; see genad.nn.resnet)")
        path = Path(c.weights).expanduser()
        if not path.is_file():
            raise DataError(f"weights {path} is not a file")
        try:
            state = load_file(str(path))
        except (SafetensorError, OSError) as e:
            raise DataError(f"cannot read {path} as safetensors: {e}") from None
        state = {k: v for k, v in state.items() if not k.startswith("fc.")}
        own = self.nets_["backbone"].state_dict()
        missing = sorted(set(own) - set(state))
        wrong = sorted(k for k in own.keys() & state.keys() if own[k].shape != state[k].shape)
        if missing or wrong or set(state) - set(own):
            what = (f"lacks {missing[0]}" if missing else f"has {wrong[0]} of shape "
                    f"{tuple(state[wrong[0]].shape)}" if wrong else
                    f"has {sorted(set(state) - set(own))[0]}")
            raise DataError(f"{path} is not a {c.backbone} state dict: it {what}")
        return {k: v.float() for k, v in state.items()}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return super().optimizers() if self._own_backbone else {}

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        # a pre-trained backbone is frozen: nothing to train, the epochs pass without steps
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
        else:
            stages = tuple(self.config.layers) or STAGES
            maps = self.nets_["backbone"].features(imagenet_input(x), stages)
        return [(m.flatten(2).mean(2) if m.ndim > 2 else m).double() for m in maps]

    def fit_head(self, levels: list[np.ndarray]) -> None:
        state: dict[str, Any] = {}
        for i, f in enumerate(levels):
            if self.config.npca is not None:
                state[f"centre{i}"] = f.mean(0)
                state[f"components{i}"] = npca_components(f, self.config.npca)
                f = (f - state[f"centre{i}"]) @ state[f"components{i}"].T
            state[f"mean{i}"] = f.mean(0)
            state[f"precision{i}"] = np.linalg.pinv(ledoit_wolf(f)[0], hermitian=True)
        self.nets_["head"].set(**state)

    def score_features(self, levels: list[torch.Tensor]) -> torch.Tensor:
        """Sum over levels of the Mahalanobis distance (the authors average the levels' distances:
        the same ranking)."""
        head = self.nets_["head"]
        total = 0
        for i, f in enumerate(levels):
            if self.config.npca is not None:
                f = (f - head[f"centre{i}"]) @ head[f"components{i}"].T
            total = total + mahalanobis(f, head[f"mean{i}"], head[f"precision{i}"])
        return total
