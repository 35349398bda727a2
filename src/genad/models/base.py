"""The detector contract every anomaly model follows (scikit-learn's estimator rules, PyOD's
sign), on top of `genad.trainable.Trainable`.

A detector subclasses `Detector`, declares its `Config` dataclass (paper defaults, each cited),
and provides the Trainable hooks (`build`, `optimizers`, `train_step`) and
    score(x)             -> (B,) raw anomaly score, higher = more anomalous
    reconstruct(x)       -> (B, C, H, W) or None  (models that reconstruct)
    before_training(x)   -> pre-train / initialise on the training images (optional)
    after_training(x)    -> fit non-gradient parts on the training images (optional)
    pixel_map(x)         -> (B, H, W) or None     (models that localise)
`Detector` adds to Trainable only what detection needs: the calibration split, the
threshold, scoring and maps. Training, devices and save/load live in Trainable and train.py.
"""

from __future__ import annotations

import dataclasses
import math
from abc import abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from genad.data.base import ImageSet, family, float_batch, resize, user_images
from genad.errors import ConfigError, DataError
from genad.trainable import Trainable, TrainableConfig, is_network_size

__all__ = ["Detector", "DetectorConfig", "is_network_size", "pretrain_autoencoder"]


@dataclass
class DetectorConfig(TrainableConfig):
    """Settings every detector shares. Model configs subclass this and add the paper's own."""

    calib_fraction: float = 0.1  # share of the normal training images held out for calibration;
    #   0 = train on all of them and calibrate on their own (in-sample) scores: no training
    #   image is lost (a paper's protocol), but unseen normals score higher than trained ones,
    #   so more of them cross the threshold than its quantile says
    threshold_quantile: float = 0.99  # predict() flags scores above this quantile of normals
    contamination: float | None = None  # if set, threshold at the (1 - contamination) quantile

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.calib_fraction < 1:
            raise ConfigError("calib_fraction must be in [0, 1)")
        if self.contamination is not None and not 0 < self.contamination < 0.5:
            raise ConfigError("contamination must be in (0, 0.5)")
        if self.epochs < 1:
            raise ConfigError("a detector trains for epochs >= 1")


class Detector(Trainable):
    """Fit on normal images only; `decision_function` returns raw scores (higher = more
    anomalous); `predict` thresholds them at `threshold_`, set from held-out normal images.

    Fitted attributes: `threshold_` and `calibration_scores_` (saved with the model), and
    PyOD's `decision_scores_` / `labels_` of the training images (not saved: they describe
    data the model file does not hold)."""

    name: ClassVar[str] = ""
    Config: ClassVar[type[DetectorConfig]] = DetectorConfig
    #: config fields that change only how a trained model scores, never its training, so
    #: that `rescore` can switch them on a fitted detector instead of training it again
    SCORING_PARAMS: ClassVar[tuple[str, ...]] = ()
    #: settings the official code changes with the data set, {family: {field: value}}, with
    #: family the data's name without its part ("mnist", "cifar10") and "default" for any
    #: other images (a user's folder, an array). A config field left at None takes its
    #: value from here when the detector meets its training data (`for_data`, called by
    #: `fit`), so one model name runs each paper's own setting; a value the user gives is kept.
    DATASET_DEFAULTS: ClassVar[dict[str, dict[str, Any]]] = {}

    # ---- hooks for subclasses -------------------------------------------------------------
    @abstractmethod
    def score(self, x: torch.Tensor) -> torch.Tensor: ...

    def reconstruct(self, x: torch.Tensor) -> torch.Tensor | None:
        return None

    def before_training(self, x: torch.Tensor) -> None:
        """Prepare on the training images `x` (network size; uint8, or float in [-1, 1]: read
        them through `evaluate_batches` or `float_batch`) before the engine's epochs:
        pre-training, a centre from the initial codes. Default: nothing."""

    def after_training(self, x: torch.Tensor) -> None:
        """Fit what gradient training does not (a density of codes, a centre) on the training
        images `x` (as `before_training`'s), before calibration. Default: nothing."""

    def pixel_map(self, x: torch.Tensor) -> torch.Tensor | None:
        return None

    def rebuild_scoring(self) -> None:
        """Replace the networks that SCORING_PARAMS shape after they changed (`rescore`),
        before `after_training` fits them again. Default: nothing."""

    # ---- the public API ---------------------------------------------------------------------
    def for_data(self, data: ImageSet | torch.Tensor | np.ndarray) -> Detector:
        """Fill the config fields left at None with `DATASET_DEFAULTS` for the data set `data`
        comes from (an ImageSet's name; "default" for anything else). Returns self."""
        table = self.DATASET_DEFAULTS
        if table:
            name = family(data.name) if isinstance(data, ImageSet) else ""
            chosen = table.get(name, table["default"])
            unset = {k: v for k, v in chosen.items() if getattr(self.config, k) is None}
            if unset:
                self.config = dataclasses.replace(self.config, **unset)
        return self

    def fit(
        self,
        data: ImageSet | torch.Tensor | np.ndarray,
        *,
        run_dir: str | Path | None = None,
        resume: bool = False,
        quiet: bool = True,
        on_epoch_end: Any = None,
        score_training: bool = True,
    ) -> Detector:
        """Train on normal images (an ImageSet or an (N, C, H, W) array) and calibrate.

        A seeded `calib_fraction` of the images is held out (`calibration_indices`); their
        scores set `threshold_` and the calibration table used by `calibrated_score`. As
        PyOD's detectors do, sets `decision_scores_` ((N,) the raw scores of all N images
        given, held-out ones included, in their order) and `labels_` ((N,) 0/1,
        decision_scores_ > threshold_). Those two describe the training data: `save` does not
        store them, so a model from `genad.load` has neither. score_training=False scores
        only the held-out images and sets neither: for callers that do not need them when
        scoring is costly (AnoGAN's latent search, a very large set). Returns self."""
        self.for_data(data)
        x = user_images(data)
        if len(x) < 10:
            raise DataError(f"{self.name} needs at least 10 normal training images, got {len(x)}")
        self.input_size_ = tuple(int(s) for s in x.shape[-2:])  # the images' own size
        x_cal, x_fit = self._calibration_split(x)

        self.setup(int(x.shape[1]))
        self.n_train_ = len(x_fit)
        self.before_training(x_fit)
        self.train(x_fit, run_dir=run_dir, resume=resume, quiet=quiet, on_epoch_end=on_epoch_end)
        self.after_training(x_fit)
        self._score_training(x_cal, x_fit, score_training)
        return self

    def calibration_indices(self, n: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(indices of the held-out calibration images, indices of the training images) among
        the n images `fit` is given, seeded by `seed`; with calib_fraction 0, all n both."""
        if self.config.calib_fraction == 0:
            every = torch.arange(n)
            return every, every
        gen = torch.Generator().manual_seed(self.config.seed)
        perm = torch.randperm(n, generator=gen)
        n_cal = max(1, int(round(n * self.config.calib_fraction)))
        return perm[:n_cal], perm[n_cal:]

    def _calibration_split(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(held-out calibration images, training images) at the network size, seeded; with
        calib_fraction 0, (all images, all images)."""
        x = self._at_network_size(x)
        if self.config.calib_fraction == 0:
            return x, x
        cal, fit = self.calibration_indices(len(x))
        return x[cal], x[fit]

    def _score_training(self, x_cal: torch.Tensor, x_fit: torch.Tensor, every: bool) -> None:
        """Score every training image once (network size, uint8 kept): the held-out ones
        calibrate; all of them, back in the order `fit` was given, are `decision_scores_`.
        every=False: the held-out ones only, and no decision_scores_ / labels_."""
        if not every:
            self._set_calibration(self.scores_prepared(x_cal))
            for stale in ("decision_scores_", "labels_"):  # of an earlier fit
                self.__dict__.pop(stale, None)
            return
        if self.config.calib_fraction == 0:  # x_cal is x_fit: every image, in order
            s = s_cal = self.scores_prepared(x_fit)
        else:
            cal, fit = self.calibration_indices(len(x_cal) + len(x_fit))
            s = np.empty(len(x_cal) + len(x_fit), dtype=np.float64)
            s[cal.numpy()] = s_cal = self.scores_prepared(x_cal)
            s[fit.numpy()] = self.scores_prepared(x_fit)
        self._set_calibration(s_cal)
        self.decision_scores_ = s
        self.labels_ = (s > self.threshold_).astype(np.int64)

    def rescore(self, data: ImageSet | torch.Tensor | np.ndarray, *,
                score_training: bool = True, **params: Any) -> Detector:
        """Switch scoring-only parameters (`SCORING_PARAMS`, e.g. the InfoGAN family's
        `score_kind`) of a fitted detector, then refit what depends on them and the threshold
        on `data`, which must be the images `fit` was given (`decision_scores_` and `labels_`
        are set anew from them, unless score_training=False, as `fit`'s). Training never sees
        these parameters, so this equals a fresh `fit` with them, without training again.
        Returns self."""
        self.check_fitted()
        fixed = sorted(set(params) - set(self.SCORING_PARAMS))
        if fixed:
            can = ", ".join(self.SCORING_PARAMS) or "none"
            raise ConfigError(f"{self.name}: {', '.join(fixed)} change training, so they cannot "
                              f"be switched on a fitted model (scoring-only: {can}); fit anew")
        self.config = dataclasses.replace(self.config, **params)
        x = user_images(data)
        if x.shape[1] != self.channels_:
            raise DataError(f"rescore needs the {self.channels_}-channel images fit was given")
        x_cal, x_fit = self._calibration_split(x)
        self.rebuild_scoring()
        self.after_training(x_fit)
        self._score_training(x_cal, x_fit, score_training)
        return self

    def calibrate(self, normal: torch.Tensor) -> None:
        """Store the sorted scores of held-out normal images (network size, as `prepared`
        gives them) and set `threshold_` from them."""
        self._set_calibration(self.scores_prepared(normal))

    def _set_calibration(self, scores: np.ndarray) -> None:
        s = np.sort(scores)
        self.calibration_scores_ = s
        q = (
            1 - self.config.contamination
            if self.config.contamination
            else self.config.threshold_quantile
        )
        self.threshold_ = float(np.quantile(s, q))

    def decision_function(self, data: ImageSet | torch.Tensor | np.ndarray) -> np.ndarray:
        """(N,) float64 raw anomaly scores; higher = more anomalous."""
        self.check_fitted()
        return self.scores_prepared(self.prepared(data))

    def predict(self, data: ImageSet | torch.Tensor | np.ndarray) -> np.ndarray:
        """(N,) int 0/1 labels: 1 where the score exceeds `threshold_`."""
        return (self.decision_function(data) > self.threshold_).astype(np.int64)

    def calibrated_score(self, data: ImageSet | torch.Tensor | np.ndarray) -> np.ndarray:
        """(N,) in [0, 1]: the share of held-out normal images that scored lower."""
        s = self.decision_function(data)
        return np.searchsorted(self.calibration_scores_, s, side="left") / len(
            self.calibration_scores_
        )

    def predict_proba(self, data: ImageSet | torch.Tensor | np.ndarray) -> np.ndarray:
        """(N, 2) [P(normal), P(anomalous)] as PyOD orders them, P(anomalous) being the
        calibrated score (the share of held-out normal images that scored lower)."""
        p = self.calibrated_score(data)
        return np.stack([1 - p, p], axis=1)

    def fit_predict(self, data: ImageSet | torch.Tensor | np.ndarray, **fit_kw: Any
                    ) -> np.ndarray:
        """`fit` on data and return its `labels_` (scikit-learn's and PyOD's fit_predict):
        what `predict(data)` gives, without scoring the images a second time."""
        return self.fit(data, **fit_kw).labels_

    def anomaly_map(self, data: ImageSet | torch.Tensor | np.ndarray) -> np.ndarray:
        """(N, H, W) float32 per-pixel anomaly, at the input's size. Raises for models that
        give no map."""
        self.check_fitted()
        x_in = user_images(data)
        maps = self.evaluate_batches(self.prepared(x_in), self.pixel_map)
        if maps is None:
            raise ConfigError(f"{self.name} gives no pixel-level anomaly map")
        maps = resize(maps.unsqueeze(1), tuple(x_in.shape[-2:])).squeeze(1)
        return maps.numpy().astype(np.float32)

    def reconstruction(self, data: ImageSet | torch.Tensor | np.ndarray) -> np.ndarray | None:
        """(N, C, h, w) float32 in [-1, 1] at the network's size, or None."""
        self.check_fitted()
        out = self.evaluate_batches(self.prepared(data), self.reconstruct)
        return None if out is None else out.numpy()

    # ---- save / load: Trainable's, plus the calibration --------------------------------------
    def save(self, path: Any) -> Any:
        """Write `model.safetensors` (weights + calibration) and `model.json` to folder `path`
        (not `decision_scores_` / `labels_`: they belong to the training images)."""
        self.check_fitted()
        if not hasattr(self, "threshold_"):
            raise ConfigError(f"this {self.name} is not calibrated: fit it before saving")
        return super().save(path)

    def extra_tensors(self) -> dict[str, torch.Tensor]:
        return {"calibration_scores": torch.from_numpy(np.asarray(self.calibration_scores_))}

    def load_extra_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        scores = tensors["calibration_scores"].numpy().astype(np.float64)
        if scores.ndim != 1 or not len(scores):
            raise DataError("the saved calibration scores are empty or not a list of scores")
        self.calibration_scores_ = np.sort(scores)

    def extra_state(self) -> dict[str, Any]:
        """Fitted values beyond the weights (JSON-able): the threshold, the input size and what
        a subclass adds (`fitted_state`)."""
        return {"threshold": self.threshold_, "input_size": list(self.input_size_),
                **self.fitted_state()}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        threshold = state["threshold"]
        if isinstance(threshold, bool) or not isinstance(threshold, (int, float)) \
                or not math.isfinite(threshold):
            raise DataError(f"the saved threshold must be a finite number, got {threshold!r}")
        self.threshold_ = float(threshold)
        self.input_size_ = tuple(int(v) for v in state["input_size"])
        if len(self.input_size_) != 2 or min(self.input_size_) < 1:
            raise DataError(f"the saved input size must be two positive sides, got "
                            f"{state['input_size']!r}")
        self.load_fitted_state(state)

    def fitted_state(self) -> dict[str, Any]:
        """A subclass's own fitted values (JSON-able). Default: none."""
        return {}

    def load_fitted_state(self, state: dict[str, Any]) -> None:
        pass

    # ---- scoring ----------------------------------------------------------------------------
    def prepare(self, data: Any) -> torch.Tensor:
        """Images as the networks take them: (N, C, S, S) float in [-1, 1] at the network
        size, channels checked (a float copy: for a large set the scoring paths use the uint8
        `prepared`)."""
        return float_batch(self.prepared(data))

    def prepared(self, data: Any) -> torch.Tensor:
        """`prepare` without the float conversion: uint8 images stay uint8."""
        x = user_images(data)
        if x.shape[1] != self.channels_:
            raise DataError(
                f"{self.name} was trained on {self.channels_}-channel images, got {x.shape[1]} "
                "channels (convert them to that many: PIL's Image.convert('L') or ('RGB'))"
            )
        return self._at_network_size(x)

    def _at_network_size(self, x: torch.Tensor) -> torch.Tensor:
        """Images at the network size: uint8 images already at it stay uint8 (a large set,
        such as the whole dSprites grid, is held at a quarter of a float copy's memory);
        others are resized as float, so a resized image is not rounded to 8 bits."""
        size = self.config.image_size
        if tuple(x.shape[-2:]) == (size, size):
            return x
        return resize(float_batch(x), size)

    def scores_prepared(self, x: torch.Tensor) -> np.ndarray:
        """(N,) float64 scores of images already `prepare`d (network size, checked)."""
        return self.evaluate_batches(x, self.score).numpy().astype(np.float64)


class _AutoencoderPretraining(Trainable):
    """Reconstruction of images through encoder -> decoder (Adam): the pre-training some
    detectors (Deep SVDD) run before their own objective. `loss(x_rec, x)` defaults to the
    mean squared error per pixel; with `lr_milestone`, lr x 0.1 from that epoch on."""

    name = "autoencoder-pretraining"

    def __init__(self, encoder: nn.Module, decoder: nn.Module, lr: float, weight_decay: float,
                 loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
                 lr_milestone: int | None = None, **params: Any) -> None:
        super().__init__(**params)
        self._net, self._lr, self._weight_decay = nn.Sequential(encoder, decoder), lr, weight_decay
        self._loss, self._lr_milestone, self._steps = loss, lr_milestone, 0

    def build(self, channels: int) -> dict[str, nn.Module]:
        return {"ae": self._net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"ae": torch.optim.Adam(self.nets_["ae"].parameters(), self._lr,
                                       weight_decay=self._weight_decay)}

    def train_step(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        if self._lr_milestone is not None:
            epoch = self._steps // self.steps_per_epoch_
            for group in self.optimizers_["ae"].param_groups:
                group["lr"] = self._lr * (0.1 if epoch >= self._lr_milestone else 1.0)
        x_rec = self.nets_["ae"](x)
        loss = (x_rec - x).pow(2).mean() if self._loss is None else self._loss(x_rec, x)
        self.optimize(loss, "ae")
        self._steps += 1
        return {"rec": loss.detach()}


def pretrain_autoencoder(
    det: Detector,
    encoder: nn.Module,
    decoder: nn.Module,
    x: torch.Tensor,
    *,
    epochs: int,
    lr: float,
    weight_decay: float,
    loss: Callable[[torch.Tensor, torch.Tensor], torch.Tensor] | None = None,
    lr_milestone: int | None = None,
) -> list[dict]:
    """Train `encoder` -> `decoder` to reconstruct `x` (Adam) for `epochs` with the engine, at
    `det`'s batch size, seed and device; the modules are trained in place. `loss(x_rec, x)`:
    the scalar to minimise, mean squared error per pixel by default; `lr_milestone`: lr x 0.1
    from that epoch on (none by default). Returns the per-epoch metrics."""
    c = det.config
    pre = _AutoencoderPretraining(encoder, decoder, lr, weight_decay, loss, lr_milestone,
                                  image_size=c.image_size, epochs=epochs,
                                  batch_size=c.batch_size, seed=c.seed, device=c.device)
    pre.channels_, pre.device_ = det.channels_, det.device_
    pre.nets_ = {"ae": pre._net.to(det.device_)}
    pre.optimizers_ = pre.optimizers()
    return pre.train(x)
