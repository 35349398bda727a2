"""What every trained thing in genad is: a `Trainable`.

Detectors, the content-transfer model, the attribute classifier, the probes and autoencoder
pre-training all subclass it, so that each is built, trained by the one engine (`train.fit`:
progress, metrics.jsonl, checkpoints, resume, DDP, bf16), evaluated in no-grad batches and
saved / loaded (safetensors + JSON, classes found through the registry) the same way.

A subclass declares `Config` (a dataclass subclassing `TrainableConfig`, paper defaults) and
provides
    build(channels)   -> dict of nn.Modules (the networks), on the CPU
    optimizers()      -> dict of torch optimizers over self.nets_
    train_step(batch) -> dict of losses to log; batch is what the engine cut from the data
and calls, inside train_step,
    optimize(loss, opt)   zero, backward, (DDP: gradients averaged by the engine), step
    world_mean(t)         the mean of a tensor over DDP ranks (t itself in one process)
The engine sets `steps_per_epoch_`, `total_steps_` (per rank) and `world_size_` (the number
of DDP ranks) before the first step.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import types
import typing
from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import torch
from torch import nn

from genad import io, train
from genad.data.base import DEFAULT_SIZE, float_batch
from genad.errors import ConfigError, DataError, NotFittedError

MAX_SIZE = 1024  # the largest network size: beyond it one image's activations need gigabytes


def is_network_size(n: int) -> bool:
    """Whether the networks can run at n x n: a power of two from 8 to MAX_SIZE."""
    return 8 <= n <= MAX_SIZE and not n & (n - 1)


@dataclass
class TrainableConfig:
    """Settings every trainable shares. Model configs subclass this and add their own."""

    image_size: int = DEFAULT_SIZE  # networks run at this size; inputs are resized to it
    epochs: int = 15
    batch_size: int = 64
    seed: int = 0
    device: str = "auto"  # "auto" = CUDA when present, else CPU
    eval_batch_size: int = 256  # images per no-grad batch when scoring, encoding, decoding
    epoch_images: int | None = None  # an epoch is this many images, drawn anew each epoch
    #   from all the training images (a large set, e.g. the whole dSprites grid, read in
    #   shorter epochs); None = one pass over them

    def __post_init__(self) -> None:
        _check_types(self)
        if not is_network_size(self.image_size):
            raise ConfigError(f"image_size must be a power of two from 8 to {MAX_SIZE}, got "
                              f"{self.image_size}")
        if self.epochs < 0 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise ConfigError("epochs must be >= 0, batch_size and eval_batch_size >= 1")
        if isinstance(self.seed, bool) or not isinstance(self.seed, int) or not (
                0 <= self.seed < 2**32):
            raise ConfigError(f"seed must be an integer in [0, 2**32), got {self.seed!r}")
        for f in dataclasses.fields(self):  # every learning rate of every model
            value = getattr(self, f.name)
            if (f.name == "lr" or f.name.endswith("_lr")) and value is not None and not (
                    isinstance(value, (int, float)) and math.isfinite(value) and value >= 0):
                raise ConfigError(f"{f.name} must be a finite number >= 0, got {value!r}")
        if self.epoch_images is not None and self.epoch_images < self.batch_size:
            raise ConfigError(f"epoch_images must be at least batch_size ({self.batch_size}), "
                              f"got {self.epoch_images}")


_SCALARS = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}


@functools.cache
def _scalar_fields(cls: type) -> dict[str, tuple[type, bool]]:
    """{field: (scalar type, None allowed)} of a config class's int / float / bool / str
    fields (and their `| None` forms); other annotations are left to the model's checks."""
    out = {}
    for name, hint in typing.get_type_hints(cls).items():
        args = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
        kinds = [a for a in args if a is not type(None)]
        if len(kinds) == 1 and kinds[0] in _SCALARS:
            out[name] = (kinds[0], len(kinds) < len(args))
    return out


def _check_types(config: Any) -> None:
    """A value of the wrong kind (a string for a number, 1.5 for an integer) is a one-line
    ConfigError here rather than a traceback deep in a network."""
    for name, (kind, optional) in _scalar_fields(type(config)).items():
        value = getattr(config, name)
        if value is None and optional:
            continue
        ok = (isinstance(value, kind) and not (kind is not bool and isinstance(value, bool))
              or kind is float and isinstance(value, int) and not isinstance(value, bool))
        if not ok:
            raise ConfigError(f"{name} must be {_SCALARS[kind]}"
                              f"{' or null' if optional else ''}, got {value!r}")
        if kind is int and name.endswith(_SIZE_NAMES) and value is not None and value < 1:
            raise ConfigError(f"{name} must be at least 1, got {value}")


# int fields that count channels, units or layers: 0 or less builds no network
_SIZE_NAMES = ("width", "_dim", "latent", "hidden", "channels", "_layers")


def check_choices(config: Any, **choices: tuple[str, ...]) -> None:
    """A ConfigError unless each named field of `config` holds one of its choices."""
    for name, allowed in choices.items():
        value = getattr(config, name)
        if value not in allowed:
            raise ConfigError(f"{name} must be one of {allowed}, got {value!r}")


class Trainable(ABC):
    """Networks, their optimisers and one training step; the engine does the rest."""

    name: ClassVar[str] = ""  # set by registry.register
    Config: ClassVar[type[TrainableConfig]] = TrainableConfig

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
    def train_step(self, batch: Any) -> dict[str, Any]: ...

    def extra_state(self) -> dict[str, Any]:
        """Fitted values beyond the networks' weights (JSON-able), saved in model.json."""
        return {}

    def load_extra_state(self, state: dict[str, Any]) -> None:
        """Restore what `extra_state` returned."""

    def extra_tensors(self) -> dict[str, torch.Tensor]:
        """Fitted arrays beyond the networks' weights, saved in model.safetensors."""
        return {}

    def load_extra_tensors(self, tensors: dict[str, torch.Tensor]) -> None:
        """Restore what `extra_tensors` returned."""

    # ---- set-up and training ----------------------------------------------------------------
    def setup(self, channels: int) -> None:
        """Seed, pick the device, build the networks on it and their optimisers."""
        self.channels_ = int(channels)
        train.seed_everything(self.config.seed)
        self.device_ = train.pick_device(self.config.device)
        self.nets_ = {k: v.to(self.device_) for k, v in self.build(self.channels_).items()}
        self.optimizers_ = self.optimizers()

    def train(
        self,
        data: torch.Tensor | tuple[torch.Tensor, ...],
        *,
        run_dir: str | Path | None = None,
        resume: bool = False,
        quiet: bool = True,
        on_epoch_end: Callable[[int, Any], dict | None] | None = None,
    ) -> list[dict]:
        """Run the engine for `config.epochs` on `data` (a tensor, or tensors of equal length
        cut into batches together) after `setup`; stores and returns the per-epoch metrics."""
        self.history_ = (
            train.fit(self, data, run_dir=run_dir, resume=resume, quiet=quiet,
                      on_epoch_end=on_epoch_end)
            if self.config.epochs > 0 else []
        )
        return self.history_

    # ---- helpers for train_step (the engine installs the DDP parts) -------------------------
    _grad_hook: Callable[[list[torch.Tensor]], None] | None = None
    _mean_hook: Callable[[torch.Tensor], torch.Tensor] | None = None

    def optimize(self, loss: torch.Tensor, opt: str, clip: float | None = None) -> None:
        """Zero, backward, average gradients over DDP ranks, clip (if asked), step."""
        o = self.optimizers_[opt]
        o.zero_grad(set_to_none=True)
        loss.backward()
        params = [p for g in o.param_groups for p in g["params"]]
        if self._grad_hook is not None:
            self._grad_hook(params)
        if clip is not None:
            nn.utils.clip_grad_norm_(params, clip)
        o.step()

    def world_mean(self, t: torch.Tensor) -> torch.Tensor:
        """Mean of `t` over the DDP ranks (a decision every rank must take alike)."""
        return t if self._mean_hook is None else self._mean_hook(t)

    # ---- evaluation -------------------------------------------------------------------------
    @torch.no_grad()
    def evaluate_batches(
        self, x: torch.Tensor, fn: Callable[[torch.Tensor], torch.Tensor | None]
    ) -> torch.Tensor | None:
        """`fn` over `x` in no-grad batches of `eval_batch_size` on the model's device (uint8
        images as float in [-1, 1]), the networks in eval mode; float32 results concatenated
        on the CPU (None if fn gives None)."""
        self.check_fitted()
        for net in self.nets_.values():
            net.eval()
        outs = []
        bs = self.config.eval_batch_size
        for i in range(0, len(x), bs):
            out = fn(float_batch(x[i : i + bs].to(self.device_)))
            if out is None:
                return None
            outs.append(out.float().cpu())
        return torch.cat(outs) if outs else torch.empty(0)

    def check_fitted(self) -> None:
        if not hasattr(self, "nets_"):
            raise NotFittedError(f"this {self.name} is not fitted: call fit() or genad.load()")

    # ---- save / load ------------------------------------------------------------------------
    def save(self, path: str | Path) -> Path:
        """Write `model.safetensors` (weights + fitted arrays) and `model.json` (name, config,
        fitted values, versions) to folder `path`; returns the folder."""
        self.check_fitted()
        tensors = {
            f"{name}.{k}": v for name, net in self.nets_.items()
            for k, v in net.state_dict().items()
        }
        tensors.update(self.extra_tensors())
        meta = {"model": self.name, "config": self.config_dict(), "channels": self.channels_,
                "extra": self.extra_state()}
        return io.save_model(Path(path), tensors, meta)

    @classmethod
    def from_saved(cls, meta: dict[str, Any], tensors: dict[str, torch.Tensor],
                   device: str | None = None) -> Trainable:
        """The fitted model that `save` wrote (meta = model.json, tensors = its weights)."""
        config = dict(meta["config"])
        if device is not None:
            config["device"] = device
        model = cls(**config)
        model.channels_ = int(meta["channels"])
        if model.channels_ not in (1, 3):
            raise DataError(f"the saved channel count must be 1 or 3, got {meta['channels']!r}")
        model.device_ = train.pick_device(model.config.device)
        nets = model.build(model.channels_)
        for name, net in nets.items():
            state = {k[len(name) + 1 :]: v for k, v in tensors.items()
                     if k.startswith(name + ".")}
            try:
                net.load_state_dict(state)
            except RuntimeError as e:
                detail = " ".join(line.strip() for line in str(e).splitlines()[1:])
                raise DataError(f"the saved weights of {name} do not fit {cls.name}'s "
                                f"networks: {detail[:300] or e}") from None
            net.to(model.device_).eval()
        model.nets_ = nets
        model.load_extra_tensors(tensors)
        model.load_extra_state(meta.get("extra") or {})
        return model

    # ---- parameters -------------------------------------------------------------------------
    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The config's fields (scikit-learn's estimator API: `sklearn.base.clone` builds an
        unfitted copy from them)."""
        return {f.name: getattr(self.config, f.name) for f in dataclasses.fields(self.config)}

    def set_params(self, **params: Any) -> Trainable:
        """Change config fields (checked as at creation); a fitted model keeps its networks
        until the next `fit`. Returns self (scikit-learn's estimator API)."""
        try:
            self.config = dataclasses.replace(self.config, **params)
        except TypeError as e:
            known = ", ".join(f.name for f in dataclasses.fields(self.config))
            raise ConfigError(f"{self.name}: {e}. Known parameters: {known}") from None
        return self

    def config_dict(self) -> dict[str, Any]:
        return json.loads(json.dumps(dataclasses.asdict(self.config)))

    def __repr__(self) -> str:
        changed = {
            f.name: getattr(self.config, f.name)
            for f in dataclasses.fields(self.config)
            if getattr(self.config, f.name) != f.default
        }
        return f"{type(self).__name__}({', '.join(f'{k}={v!r}' for k, v in changed.items())})"
