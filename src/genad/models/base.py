"""The detector contract every model follows (scikit-learn's estimator rules, PyOD's sign).

A model subclasses `Detector`, declares its `Config` dataclass (paper defaults, each cited),
and provides:
    build(channels)      -> dict of nn.Modules (the networks)
    optimizers()         -> dict of torch optimizers over those networks
    train_step(x)        -> dict of floats (losses to log); x is a float batch in [-1, 1]
    score(x)             -> (B,) raw anomaly score, higher = more anomalous
    reconstruct(x)       -> (B, C, H, W) or None  (models that reconstruct)
    before_training(x)   -> pre-train / initialise on the training images (optional)
    after_training(x)    -> fit non-gradient parts on the training images (optional)
    pixel_map(x)         -> (B, H, W) or None     (models that localise)
Everything else (training loop, devices, calibration, save/load) lives here and in train.py.
"""

from __future__ import annotations

import dataclasses
import json
from abc import ABC, abstractmethod
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from genad.data.base import ImageSet, as_images, resize
from genad.errors import ConfigError, DataError, NotFittedError


def is_network_size(n: int) -> bool:
    """Whether the networks can run at n x n: a power of two, at least 8."""
    return n >= 8 and not n & (n - 1)


@dataclass
class DetectorConfig:
    """Settings every detector shares. Model configs subclass this and add the paper's own."""

    image_size: int = 32  # networks run at this size; inputs of any size are resized to it
    epochs: int = 15
    batch_size: int = 64
    seed: int = 0
    calib_fraction: float = 0.1  # share of the normal training images held out for calibration
    threshold_quantile: float = 0.99  # predict() flags scores above this quantile of normals
    contamination: float | None = None  # if set, threshold at the (1 - contamination) quantile
    device: str = "auto"  # "auto" = CUDA when present, else CPU
    score_batch_size: int = 256

    def __post_init__(self) -> None:
        if not is_network_size(self.image_size):
            raise ConfigError(f"image_size must be a power of two >= 8, got {self.image_size}")
        if not 0 < self.calib_fraction < 1:
            raise ConfigError("calib_fraction must be in (0, 1)")
        if self.contamination is not None and not 0 < self.contamination < 0.5:
            raise ConfigError("contamination must be in (0, 0.5)")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs and batch_size must be >= 1")


class Detector(ABC):
    """Fit on normal images only; `decision_function` returns raw scores (higher = more
    anomalous); `predict` thresholds them at `threshold_`, set from held-out normal images."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[DetectorConfig]] = DetectorConfig
    #: config fields that change only how a trained model scores, never its training, so
    #: that `rescore` can switch them on a fitted detector instead of training it again
    SCORING_PARAMS: ClassVar[tuple[str, ...]] = ()

    def __init__(self, **params: Any) -> None:
        try:
            self.config = self.Config(**params)
        except TypeError as e:
            known = ", ".join(f.name for f in dataclasses.fields(self.Config))
            raise ConfigError(f"{self.name}: {e}. Known parameters: {known}") from None

    # ---- hooks for subclasses -------------------------------------------------------------
    @abstractmethod
    def build(self, channels: int) -> dict[str, nn.Module]: ...

    @abstractmethod
    def optimizers(self) -> dict[str, torch.optim.Optimizer]: ...

    @abstractmethod
    def train_step(self, x: torch.Tensor) -> dict[str, float]: ...

    @abstractmethod
    def score(self, x: torch.Tensor) -> torch.Tensor: ...

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor | None:
        return None

    def before_training(self, x: torch.Tensor) -> None:
        """Prepare on the training images `x` (float, [-1, 1], network size) before the engine's
        epochs: pre-training, a centre from the initial codes. Default: nothing."""

    def after_training(self, x: torch.Tensor) -> None:
        """Fit what gradient training does not (a density of codes, a centre) on the training
        images `x` (float, [-1, 1], network size), before calibration. Default: nothing."""

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor | None:
        return None

    def rebuild_scoring(self) -> None:
        """Replace the networks that SCORING_PARAMS shape after they changed (`rescore`),
        before `after_training` fits them again. Default: nothing."""

    # ---- helpers for train_step -----------------------------------------------------------
    def optimize(self, loss: torch.Tensor, opt: str) -> None:
        """Zero, backward, average gradients over DDP ranks, step: one optimiser update."""
        o = self.optimizers_[opt]
        o.zero_grad(set_to_none=True)
        loss.backward()
        if self._grad_hook is not None:
            self._grad_hook([p for g in o.param_groups for p in g["params"]])
        o.step()

    _grad_hook = None  # set by train.fit under DDP

    # ---- the public API ---------------------------------------------------------------------
    def fit(
        self,
        data: ImageSet | torch.Tensor | np.ndarray,
        *,
        run_dir: str | Path | None = None,
        resume: bool = False,
        quiet: bool = True,
        on_epoch_end: Any = None,
    ) -> Detector:
        """Train on normal images (an ImageSet or an (N, C, H, W) array) and calibrate.

        A seeded `calib_fraction` of the images is held out; their scores set `threshold_`
        and the calibration table used by `calibrated_score`. Returns self."""
        from genad import train

        x = as_images(data)
        if len(x) < 10:
            raise DataError(f"{self.name} needs at least 10 normal training images, got {len(x)}")
        self.input_size_ = tuple(int(s) for s in x.shape[-2:])  # the images' own size
        x_cal, x_fit = self._calibration_split(x)

        self.channels_ = int(x.shape[1])
        train.seed_everything(self.config.seed)
        self.device_ = train.pick_device(self.config.device)
        self.nets_ = {k: v.to(self.device_) for k, v in self.build(self.channels_).items()}
        self.optimizers_ = self.optimizers()
        self.n_train_ = len(x_fit)
        self.before_training(x_fit)
        self.history_ = train.fit(
            self, x_fit, run_dir=run_dir, resume=resume, quiet=quiet, on_epoch_end=on_epoch_end
        )
        self.after_training(x_fit)
        self.calibrate(x_cal)
        return self

    def _calibration_split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(held-out calibration images, training images) at the network size, seeded."""
        x = resize(x, self.config.image_size)
        gen = torch.Generator().manual_seed(self.config.seed)
        perm = torch.randperm(len(x), generator=gen)
        n_cal = max(1, int(round(len(x) * self.config.calib_fraction)))
        return x[perm[:n_cal]], x[perm[n_cal:]]

    def rescore(self, data: ImageSet | torch.Tensor | np.ndarray, **params: Any) -> Detector:
        """Switch scoring-only parameters (`SCORING_PARAMS`, e.g. the InfoGAN family's
        `score_kind`) of a fitted detector, then refit what depends on them and the threshold
        on `data`, which must be the images `fit` was given. Training never sees these
        parameters, so this equals a fresh `fit` with them, without training again.
        Returns self."""
        self._check_fitted()
        fixed = sorted(set(params) - set(self.SCORING_PARAMS))
        if fixed:
            can = ", ".join(self.SCORING_PARAMS) or "none"
            raise ConfigError(f"{self.name}: {', '.join(fixed)} change training, so they cannot "
                              f"be switched on a fitted model (scoring-only: {can}); fit anew")
        self.config = dataclasses.replace(self.config, **params)
        x = as_images(data)
        if x.shape[1] != self.channels_:
            raise DataError(f"rescore needs the {self.channels_}-channel images fit was given")
        x_cal, x_fit = self._calibration_split(x)
        self.rebuild_scoring()
        self.after_training(x_fit)
        self.calibrate(x_cal)
        return self

    def calibrate(self, normal: torch.Tensor) -> None:
        """Store the sorted scores of held-out normal images and set `threshold_` from them."""
        s = np.sort(self._scores(normal))
        self.calibration_scores_ = s
        q = (
            1 - self.config.contamination
            if self.config.contamination
            else self.config.threshold_quantile
        )
        self.threshold_ = float(np.quantile(s, q))

    def decision_function(self, data: ImageSet | torch.Tensor | np.ndarray) -> np.ndarray:
        """(N,) float64 raw anomaly scores; higher = more anomalous."""
        self._check_fitted()
        return self._scores(self._prepare(data))

    def predict(self, data: ImageSet | torch.Tensor | np.ndarray) -> np.ndarray:
        """(N,) int 0/1 labels: 1 where the score exceeds `threshold_`."""
        return (self.decision_function(data) > self.threshold_).astype(np.int64)

    def calibrated_score(self, data: ImageSet | torch.Tensor | np.ndarray) -> np.ndarray:
        """(N,) in [0, 1]: the share of held-out normal images that scored lower."""
        s = self.decision_function(data)
        return np.searchsorted(self.calibration_scores_, s, side="left") / len(
            self.calibration_scores_
        )

    def anomaly_map(self, data: ImageSet | torch.Tensor | np.ndarray) -> np.ndarray:
        """(N, H, W) float32 per-pixel anomaly, at the input's size. Raises for models that
        give no map."""
        self._check_fitted()
        x_in = as_images(data)
        x = self._prepare(x_in)
        maps = self._batched(x, self.pixel_map)
        if maps is None:
            raise ConfigError(f"{self.name} gives no pixel-level anomaly map")
        maps = resize(maps.unsqueeze(1), tuple(x_in.shape[-2:])).squeeze(1)
        return maps.numpy().astype(np.float32)

    def reconstruction(self, data: ImageSet | torch.Tensor | np.ndarray) -> np.ndarray | None:
        """(N, C, h, w) float32 in [-1, 1] at the network's size, or None."""
        self._check_fitted()
        out = self._batched(self._prepare(data), self.reconstruct)
        return None if out is None else out.numpy()

    # ---- save / load ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write `model.safetensors` (weights + calibration) and `model.json` to folder `path`."""
        from genad import io

        self._check_fitted()
        return io.save_detector(self, Path(path))

    def extra_state(self) -> dict[str, Any]:
        """Fitted values beyond the networks' weights (JSON-able). Subclasses extend."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        pass

    # ---- internals --------------------------------------------------------------------------
    def _check_fitted(self) -> None:
        if not hasattr(self, "nets_"):
            raise NotFittedError(
                f"this {self.name} detector is not fitted: call fit() or genad.load()"
            )

    def _prepare(self, data: Any) -> torch.Tensor:
        x = as_images(data)
        if x.shape[1] != self.channels_:
            raise DataError(
                f"{self.name} was trained on {self.channels_}-channel images, got {x.shape[1]} "
                "channels (convert the images, e.g. to grey with --grey or to RGB)"
            )
        return resize(x, self.config.image_size)

    @torch.no_grad()
    def _batched(self, x: torch.Tensor, fn: Any) -> torch.Tensor | None:
        for net in self.nets_.values():
            net.eval()
        outs = []
        bs = self.config.score_batch_size
        for i in range(0, len(x), bs):
            out = fn(x[i : i + bs].to(self.device_))
            if out is None:
                return None
            outs.append(out.float().cpu())
        return torch.cat(outs)

    def _scores(self, x: torch.Tensor) -> np.ndarray:
        s = self._batched(x, self.score).numpy().astype(np.float64)
        return s

    def __repr__(self) -> str:
        changed = {
            f.name: getattr(self.config, f.name)
            for f in dataclasses.fields(self.config)
            if getattr(self.config, f.name) != f.default
        }
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"

    def config_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self.config)))
