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

Probes are cached as safetensors under $GENAD_CACHE (default ~/.cache/genad)/probes/, keyed by
data set, image size and `VERSION`; a cached probe is loaded, not retrained.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genad.data.base import as_images, resize
from genad.errors import ConfigError, DataError

VERSION = 1
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


class Probe:
    """A trained probe. `features` and `read` take anything `genad.data.as_images` takes, or
    float tensors in [-1, 1] (generated images)."""

    def __init__(self, net: ProbeNet, heads: tuple[Head, ...], size: int, channels: int,
                 key: str) -> None:
        self.net, self.heads, self.size, self.channels, self.key = net, heads, size, channels, key
        self.net.eval()

    # ---- reading images ---------------------------------------------------------------------
    def _float(self, images: Any) -> torch.Tensor:
        x = resize(as_images(images), self.size)
        if x.shape[1] != self.channels:
            raise DataError(f"the probe reads {self.channels}-channel images, got {x.shape[1]}")
        return x

    @torch.no_grad()
    def _run(self, images: Any, batch: int = 512) -> tuple[np.ndarray, np.ndarray]:
        x = self._float(images)
        feats, outs = [], []
        for i in range(0, len(x), batch):
            f, o = self.net(x[i : i + batch])
            feats.append(f)
            outs.append(o)
        return torch.cat(feats).double().numpy(), torch.cat(outs).double().numpy()

    def features(self, images: Any) -> np.ndarray:
        """(N, feature_dim) float64 penultimate features (the offline FID's features)."""
        return self._run(images)[0]

    def read(self, images: Any) -> np.ndarray:
        """(N, R) readouts: per head, class probabilities or regressed values (in `groups`
        order)."""
        out = self._run(images)[1]
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

    # ---- persistence ------------------------------------------------------------------------
    def save(self, path: Path) -> None:
        from genad import io

        path.parent.mkdir(parents=True, exist_ok=True)
        meta = {"heads": [vars(h) for h in self.heads], "size": self.size,
                "channels": self.channels, "key": self.key, "version": VERSION}
        io.atomic_write_text(path.with_suffix(".json"), json.dumps(meta, indent=2))
        io.atomic_save_tensors(dict(self.net.state_dict()), path)

    @classmethod
    def load(cls, path: Path) -> Probe:
        from safetensors.torch import load_file

        tensors = load_file(str(path))
        info = json.loads(path.with_suffix(".json").read_text())
        heads = tuple(Head(**h) for h in info["heads"])
        net = ProbeNet(info["channels"], heads)
        net.load_state_dict(tensors)
        return cls(net, heads, info["size"], info["channels"], info["key"])


def train_probe(images: Any, targets: torch.Tensor, heads: tuple[Head, ...], size: int,
                key: str = "", epochs: int = 4, batch_size: int = 128, seed: int = 0,
                quiet: bool = True) -> Probe:
    """Train a probe on uint8 `images` with per-image `targets` (N, T): one column per class
    head (the class index), `n` columns per regression head. Adam 1e-3; a fixed seed."""
    from genad.train import Progress, seed_everything

    seed_everything(seed)
    x = resize(as_images(images), size)
    t = torch.as_tensor(targets, dtype=torch.float32)
    if t.ndim == 1:
        t = t[:, None]
    if len(t) != len(x):
        raise DataError(f"{len(x)} images but {len(t)} targets")
    net = ProbeNet(x.shape[1], heads)
    opt = torch.optim.Adam(net.parameters(), 1e-3)
    gen = torch.Generator().manual_seed(seed)
    per_epoch = math.ceil(len(x) / batch_size)
    bar, done = Progress(epochs * per_epoch, f"probe {key}", quiet), 0
    try:
        for _ in range(epochs):
            order = torch.randperm(len(x), generator=gen)
            for i in range(0, len(x), batch_size):
                idx = order[i : i + batch_size]
                _, out = net(x[idx])
                loss = _probe_loss(out, t[idx], heads)
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                done += 1
                if done % 20 == 0 or done == epochs * per_epoch:
                    bar.update(done, f"loss {float(loss.detach()):.3g}")
    finally:
        bar.close()
    return Probe(net, heads, size, int(x.shape[1]), key)


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
    from genad import data
    from genad.data import shapes

    name = spec.split(":", 1)[0]
    tag = "".join(ch if ch.isalnum() else "-" for ch in spec).strip("-")
    path = cache_dir() / f"{'shapes' if name == 'shapes' else tag}-{size}-v{VERSION}.safetensors"
    if path.exists() and not refresh:
        return Probe.load(path)
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
        probe = train_probe(src.images, labels, heads, size, key=tag, quiet=quiet)
    probe.save(path)
    return probe


def fid(extractor: Any, images_a: Any, images_b: Any) -> float:
    """Frechet distance between the features of two image sets. `extractor` is a Probe
    ("FID (genad probe)") or any callable images -> (N, D) features, e.g. a wrapper around an
    Inception network the user has locally (then, and only then, the figure is an FID)."""
    from genad.metrics import fid_from_features

    features = extractor.features if hasattr(extractor, "features") else extractor
    return fid_from_features(np.asarray(features(images_a)), np.asarray(features(images_b)))
