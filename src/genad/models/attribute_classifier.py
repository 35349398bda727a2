"""The attribute classifier that content transfer is judged by (genad.transfer): a
DCGAN-encoder CNN trained by genad's engine to tell real A images (without the attribute)
from real B images (with it)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from genad.data.base import as_images, resize
from genad.nn import DCEncoder, init_dcgan_weights
from genad.registry import register
from genad.trainable import Trainable, TrainableConfig


@dataclass
class ClassifierConfig(TrainableConfig):
    width: int = 16
    epochs: int = 5
    lr: float = 1e-3


@register("attribute-classifier", kind="auxiliary")
class AttributeClassifier(Trainable):
    """A DCGAN-encoder CNN giving the logit of "has B's attribute", trained by genad's
    engine on real A (label 0) vs real B (label 1) images."""

    Config = ClassifierConfig

    def build(self, channels: int) -> dict[str, nn.Module]:
        c = self.config
        net = DCEncoder(c.image_size, channels, 1, c.width)
        net.apply(init_dcgan_weights)
        return {"net": net}

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"net": torch.optim.Adam(self.nets_["net"].parameters(), self.config.lr,
                                        betas=(0.5, 0.999))}

    def fit(self, a: Any, b: Any, quiet: bool = True) -> AttributeClassifier:
        c = self.config
        xa, xb = (resize(as_images(d), c.image_size) for d in (a, b))
        gen = torch.Generator().manual_seed(c.seed)
        n = max(len(xa), len(xb))
        pick = [torch.randperm(len(x), generator=gen).repeat(n // len(x) + 1)[:n] for x in (xa, xb)]
        self.config = dataclasses.replace(c, batch_size=min(c.batch_size, n))
        self.setup(int(xa.shape[1]))
        self.train(torch.stack([xa[pick[0]], xb[pick[1]]], 1), quiet=quiet)  # (N, 2, C, S, S)
        return self

    def train_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        x = torch.cat([batch[:, 0], batch[:, 1]])  # (2B, C, S, S): A then B
        y = torch.cat([torch.zeros(len(batch)), torch.ones(len(batch))]).to(x.device)
        loss = F.binary_cross_entropy_with_logits(self.nets_["net"](x).flatten(), y)
        self.optimize(loss, "net")
        return {"bce": loss.detach()}

    def predict(self, x: Any) -> np.ndarray:
        """(N,) 0/1: 1 = has the attribute."""
        t = resize(as_images(x), self.config.image_size)
        logits = self.evaluate_batches(t, lambda v: self.nets_["net"](v).flatten())
        return (logits > 0).numpy().astype(np.int64)
