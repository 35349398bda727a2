"""Probes: small CNNs that genad trains on labelled images, once per data set, and caches.

A probe reads attributes back from images. It serves two measures of generative models:
  * the attribute-control measure (genad.metrics.control): on `shapes` the probe regresses
    every ground-truth factor, so it can say which factors a latent traversal changes;
  * genad's offline Frechet distance: the probe's penultimate features replace Inception's
    (`fid`). Such a figure is comparable only with figures from the same probe, never with
    Inception FIDs; every report that quotes it says "FID (genad probe)".

Heads per data set:
  shapes  shape (3-way softmax), scale, orientation as (cos 4t, sin 4t), posX, posY
          (regression; orientation is read modulo a quarter turn, the symmetry of the square,
          which also covers the ellipse's half-turn symmetry; the heart's full turn is lost)
  others  the class labels (softmax), e.g. the ten digits

Probes are `Trainable`s, trained by genad's engine and cached as model folders under
$GENAD_CACHE (default ~/.cache/genad)/probes/, keyed by data set, image size and `VERSION`; a
cached probe is loaded (`genad.load`), not retrained.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genad.data.base import as_images, resize
from genad.errors import ConfigError, DataError
from genad.registry import register
from genad.trainable import Trainable, TrainableConfig

VERSION = 2  # 2: trained by genad's engine, saved as a model folder
SHAPES_TRAIN = 20_000  # sprites a shapes probe trains on (seeded, disjoint from seed 0..9 sets)
SHAPES_SEED = 987_654


def cache_dir() -> Path:
    return Path(os.environ.get("GENAD_CACHE", Path.home() / ".cache" / "genad")) / "probes"


@dataclass(frozen=True)
class Head:
    """One factor the probe reads: `kind` "class" (n = categories) or "regress" (n values)."""

    name: str
    kind: str
    n: int


SHAPES_HEADS = (Head("shape", "class", 3), Head("scale", "regress", 1),
                Head("orientation", "regress", 2), Head("posX", "regress", 1),
                Head("posY", "regress", 1))


class ProbeNet(nn.Module):
    """(B, C, S, S) in [-1, 1] -> (features (B, feature_dim), outputs (B, sum of head sizes))."""

    def __init__(self, channels: int, heads: tuple[Head, ...], width: int = 32,
                 feature_dim: int = 128) -> None:
        super().__init__()
        self.trunk = nn.Sequential(
            nn.Conv2d(channels, width, 3, 1, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(width, 2 * width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.Conv2d(2 * width, 4 * width, 4, 2, 1), nn.LeakyReLU(0.2),
            nn.AdaptiveAvgPool2d(4), nn.Flatten(),
            nn.Linear(4 * width * 16, feature_dim), nn.LeakyReLU(0.2),
        )
        self.out = nn.Linear(feature_dim, sum(h.n for h in heads))

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        f = self.trunk(x)
        return f, self.out(f)


def shapes_targets(factors: torch.Tensor) -> torch.Tensor:
    """(N, 5) dSprites factor values -> (N, 6) probe targets: shape index, scale rescaled to
    [0, 1], cos 4t, sin 4t, posX, posY."""
    f = factors.float()
    t = 4 * f[:, 2]
    return torch.stack([f[:, 0] - 1, (f[:, 1] - 0.5) / 0.5, t.cos(), t.sin(), f[:, 3], f[:, 4]],
                       dim=1)


@dataclass
class ProbeConfig(TrainableConfig):
    heads: list = field(default_factory=list)  # [name, kind, n] per head (see Head)
    key: str = ""  # what the probe was trained on (its cache key)
    epochs: int = 4
    batch_size: int = 128
    lr: float = 1e-3  # Adam
    width: int = 32
    feature_dim: int = 128
    eval_batch_size: int = 512


@register("probe", kind="auxiliary")
class Probe(Trainable):
    """A probe, trained by genad's engine on labelled images. `features` and `read` take
    anything `genad.data.as_images` takes, or float tensors in [-1, 1] (generated images)."""

    Config = ProbeConfig

    @property
    def heads(self) -> tuple[Head, ...]:
        return tuple(Head(*h) for h in self.config.heads)

    @property
    def size(self) -> int:
        return self.config.image_size

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        return {"net": ProbeNet(channels, self.heads, c.width, c.feature_dim)}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": torch.optim.Adam(self.nets_["net"].parameters(), self.config.lr)}

    def fit(self, images: Any, targets: Any, quiet: bool = True) -> Probe:
        """Train on `images` with per-image `targets` (N, T): one column per class head (the
        class index), `n` columns per regression head. Returns self."""
        x = resize(as_images(images), self.size)
        t = torch.as_tensor(targets, dtype=torch.float32)
        if t.ndim == 1:
            t = t[:, None]
        if len(t) != len(x):
            raise DataError(f"{len(x)} images but {len(t)} targets")
        self.setup(int(x.shape[1]))
        self.train((x, t), quiet=quiet)
        return self

    def train_step(self, batch: tuple[torch.Tensor, torch.Tensor]) -> dict[str, torch.Tensor]:
        x, t = batch
        _, out = self.nets_["net"](x)
        loss = _probe_loss(out, t, self.heads)
        self.optimize(loss, "net")
        return {"loss": loss.detach()}

    # ---- reading images ---------------------------------------------------------------------
    def _outputs(self, images: Any) -> tuple[np.ndarray, np.ndarray]:
        x = resize(as_images(images), self.size)
        if x.shape[1] != self.channels_:
            raise DataError(f"the probe reads {self.channels_}-channel images, got {x.shape[1]}")
        both = self.evaluate_batches(x, lambda v: torch.cat(self.nets_["net"](v), 1))
        both = both.double().numpy()
        dim = self.config.feature_dim
        return both[:, :dim], both[:, dim:]

    def features(self, images: Any) -> np.ndarray:
        """(N, feature_dim) float64 penultimate features (the offline FID's features)."""
        return self._outputs(images)[0]

    def read(self, images: Any) -> np.ndarray:
        """(N, R) readouts: per head, class probabilities or regressed values (in `groups`
        order)."""
        out = self._outputs(images)[1]
        cols, start = [], 0
        for h in self.heads:
            block = out[:, start : start + h.n]
            if h.kind == "class":
                block = np.exp(block - block.max(1, keepdims=True))
                block /= block.sum(1, keepdims=True)
            cols.append(block)
            start += h.n
        return np.concatenate(cols, axis=1)

    @property
    def groups(self) -> list[list[int]]:
        """Readout columns of each head (factor)."""
        out, start = [], 0
        for h in self.heads:
            out.append(list(range(start, start + h.n)))
            start += h.n
        return out

    @property
    def factor_names(self) -> list[str]:
        return [h.name for h in self.heads]


def train_probe(images: Any, targets: torch.Tensor, heads: tuple[Head, ...], size: int,
                key: str = "", epochs: int = 4, batch_size: int = 128, seed: int = 0,
                quiet: bool = True) -> Probe:
    """A probe trained on uint8 `images` with per-image `targets` (see `Probe.fit`)."""
    probe = Probe(heads=[[h.name, h.kind, h.n] for h in heads], key=key, image_size=size,
                  epochs=epochs, batch_size=min(batch_size, len(images)), seed=seed)
    return probe.fit(images, targets, quiet=quiet)


def _probe_loss(out: torch.Tensor, t: torch.Tensor, heads: tuple[Head, ...]) -> torch.Tensor:
    loss, o, c = out.new_zeros(()), 0, 0
    for h in heads:
        if h.kind == "class":
            loss = loss + F.cross_entropy(out[:, o : o + h.n], t[:, c].long())
            c += 1
        else:
            loss = loss + F.mse_loss(out[:, o : o + h.n], t[:, c : c + h.n]) * h.n
            c += h.n
        o += h.n
    return loss


def probe_for(spec: str, size: int, quiet: bool = True, refresh: bool = False) -> Probe:
    """The cached probe of data set `spec` at `size` pixels, trained on first use.

    "shapes" (any "shapes[:N]"): SHAPES_TRAIN sprites of a fixed seed, all five factors.
    Anything else `genad.data.load` reads with class labels (digits, mnist:PATH, ...): its
    training images and labels."""
    import genad
    from genad import data
    from genad.data import shapes

    name = spec.split(":", 1)[0]
    path = cache_path(spec, size)
    if (path / "model.json").is_file() and not refresh:
        return genad.load(path)
    if name == "shapes":
        s = shapes.sample(SHAPES_TRAIN, seed=SHAPES_SEED, size=min(size, 64))
        probe = train_probe(s.images, shapes_targets(s.factors), SHAPES_HEADS, size,
                            key="shapes", epochs=8, quiet=quiet)
    else:
        src = data.load(spec, size=size)
        labels = src.labels
        if (labels < 0).any():
            raise ConfigError(f"a probe needs class labels; {spec} has unlabelled images")
        heads = (Head("class", "class", int(labels.max()) + 1),)
        probe = train_probe(src.images, labels, heads, size, key=_tag(spec), quiet=quiet)
    probe.save(path)
    return probe


def cache_path(spec: str, size: int) -> Path:
    """The folder where `probe_for` keeps the probe of data set `spec` at `size` pixels."""
    name = spec.split(":", 1)[0]
    return cache_dir() / f"{'shapes' if name == 'shapes' else _tag(spec)}-{size}-v{VERSION}"


def _tag(spec: str) -> str:
    """A data-set spec as a file-name-safe key: "mnist:~/data" -> "mnist---data"."""
    return "".join(ch if ch.isalnum() else "-" for ch in spec).strip("-")


def fid(extractor: Any, images_a: Any, images_b: Any) -> float:
    """Frechet distance between the features of two image sets. `extractor` is a Probe
    ("FID (genad probe)") or any callable images -> (N, D) features, e.g. a wrapper around an
    Inception network the user has locally (then, and only then, the figure is an FID)."""
    from genad.metrics import fid_from_features

    features = extractor.features if hasattr(extractor, "features") else extractor
    return fid_from_features(np.asarray(features(images_a)), np.asarray(features(images_b)))
