"""ImageSet: the one container every source returns and every model consumes.

Images are held as uint8 (N, C, H, W) to keep memory small; models see float tensors in
[-1, 1], made by `to_float` here (the only place pixels are converted).
"""
from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from genad.errors import DataError

DEFAULT_SIZE = 32  # images are read, and networks run, at 32 x 32 unless told otherwise


@dataclass
class ImageSet:
    """A set of images with optional labels, ground-truth factors and pixel masks.

    images:  (N, C, H, W) uint8, C in {1, 3}
    labels:  (N,) int64. In an anomaly split: 0 = normal, 1 = anomalous. In a raw source:
             the class index (see `classes`). -1 where unknown.
    classes: names of the class indices of the raw source; in an anomaly split, the names of
             the original classes that `targets` index (empty when there are none)
    targets: (N,) int64 original class of each image, kept through protocols; or None
    factors: (N, K) float32 ground-truth generative factors, or None
    masks:   (N, 1, H, W) uint8 {0, 1} pixel masks (1 = anomalous), or None
    paths:   the file each image was read from (image folders), or None
    """

    images: torch.Tensor
    labels: torch.Tensor
    classes: list[str] = field(default_factory=list)
    targets: torch.Tensor | None = None
    factors: torch.Tensor | None = None
    masks: torch.Tensor | None = None
    name: str = ""
    factor_names: list[str] = field(default_factory=list)
    paths: list[str] | None = None

    def __post_init__(self) -> None:
        if self.images.dtype != torch.uint8 or self.images.ndim != 4:
            raise DataError(
                f"ImageSet needs uint8 images of shape (N, C, H, W); got {self.images.dtype} "
                f"{tuple(self.images.shape)}"
            )
        if self.images.shape[1] not in (1, 3):
            raise DataError(f"images must have 1 or 3 channels, got {self.images.shape[1]}")
        n = len(self.images)
        for what in ("labels", "targets", "factors", "masks", "paths"):
            v = getattr(self, what)
            if v is not None and len(v) != n:
                raise DataError(f"{what} has {len(v)} entries for {n} images")

    def __len__(self) -> int:
        return len(self.images)

    @property
    def channels(self) -> int:
        return int(self.images.shape[1])

    @property
    def size(self) -> tuple[int, int]:
        return int(self.images.shape[2]), int(self.images.shape[3])

    def subset(self, index: torch.Tensor | np.ndarray | list[int]) -> ImageSet:
        """The images at `index` (an index array or a boolean mask), with everything aligned."""
        idx = torch.as_tensor(np.asarray(index))
        if idx.dtype == torch.bool:
            idx = idx.nonzero().flatten()
        take = lambda v: None if v is None else v[idx]
        return replace(
            self,
            images=self.images[idx],
            labels=self.labels[idx],
            targets=take(self.targets),
            factors=take(self.factors),
            masks=take(self.masks),
            paths=None if self.paths is None else [self.paths[i] for i in idx.tolist()],
        )

    def float_images(self) -> torch.Tensor:
        """(N, C, H, W) float32 in [-1, 1]."""
        return to_float(self.images)


@dataclass
class Split:
    """A train/test split for one protocol run. `train` holds normal images only."""

    train: ImageSet
    test: ImageSet
    protocol: str = ""
    normal: str = ""  # human-readable description of the normal class(es)
    seed: int = 0


def family(name: str) -> str:
    """The data set a set of images comes from, from its name without the part: "mnist-train"
    -> "mnist", "cifar10-test" -> "cifar10"; "" for unnamed images."""
    for part in ("-train", "-test"):
        name = name.removesuffix(part)
    return name


def to_float(images: torch.Tensor | np.ndarray) -> torch.Tensor:
    """uint8 (N, C, H, W) -> float32 in [-1, 1]. Float input must already be in [-1, 1]."""
    x = torch.as_tensor(images)
    if x.dtype == torch.uint8:
        return x.float().div_(127.5).sub_(1.0)
    if not x.is_floating_point():
        raise DataError(f"images must be uint8 or float in [-1, 1], got {x.dtype}")
    return x.float()


def to_uint8(images: torch.Tensor) -> torch.Tensor:
    """float in [-1, 1] -> uint8."""
    return ((images.detach().float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8)


def as_images(data: ImageSet | torch.Tensor | np.ndarray, keep_uint8: bool = False
              ) -> torch.Tensor:
    """Accept what users pass to a detector: an ImageSet, an (N, C, H, W) tensor/array (uint8
    or float in [-1, 1]), or an (N, H, W) grey array. Returns float32 (N, C, H, W) in [-1, 1]
    (with keep_uint8, uint8 images stay uint8)."""
    if isinstance(data, ImageSet):
        return data.images if keep_uint8 else data.float_images()
    x = torch.as_tensor(np.asarray(data) if not isinstance(data, torch.Tensor) else data)
    if x.ndim == 3:
        if x.shape[0] == 3:
            raise DataError(f"a {tuple(x.shape)} array is ambiguous (one RGB image or three "
                            "grey ones): pass (1, 3, H, W) or (3, 1, H, W)")
        x = x.unsqueeze(1)
    if x.ndim != 4:
        raise DataError(f"expected images of shape (N, C, H, W), got {tuple(x.shape)}")
    if len(x) == 0:
        raise DataError("no images given")
    if x.shape[1] not in (1, 3) or min(x.shape[2:]) < 1:
        raise DataError(f"expected images of shape (N, C, H, W) with C 1 or 3 and H, W at "
                        f"least 1, got {tuple(x.shape)}")
    return x if keep_uint8 and x.dtype == torch.uint8 else to_float(x)


def user_images(data: ImageSet | torch.Tensor | np.ndarray) -> torch.Tensor:
    """What a user hands a model as (N, C, H, W) images, checked, uint8 kept as uint8 (a
    float copy of a large set would take four times its memory: models convert each batch,
    `float_batch`): a channels-last (N, H, W, C) array (C 1 or 3, H and W not) is moved to
    (N, C, H, W), an (N, H, W) array is grey; float images must be finite and in [-1, 1]
    (0-255 floats, NaN or Inf raise DataError saying what to pass instead)."""
    if not isinstance(data, ImageSet):
        x = torch.as_tensor(np.asarray(data) if not isinstance(data, torch.Tensor) else data)
        if x.ndim == 4 and x.shape[1] not in (1, 3) and x.shape[-1] in (1, 3):
            x = x.permute(0, 3, 1, 2)
        if x.is_floating_point() and x.numel():
            if not bool(torch.isfinite(x).all()):
                raise DataError("the images hold NaN or Inf values: clean or drop those images")
            lo, hi = float(x.min()), float(x.max())
            if lo < -1.001 or hi > 1.001:
                hint = (" (they look like 0-255 values: pass uint8, or x / 127.5 - 1)"
                        if hi > 2 else " (for [0, 1] images: 2 * x - 1)" if lo >= 0 else "")
                raise DataError(f"float images must lie in [-1, 1], these span [{lo:.3g}, "
                                f"{hi:.3g}]{hint}")
        data = x
    return as_images(data, keep_uint8=True)


def float_batch(x: torch.Tensor) -> torch.Tensor:
    """A batch as the networks take it: uint8 images -> float32 in [-1, 1]; anything else
    (float images, latents, labels) unchanged."""
    return to_float(x) if x.dtype == torch.uint8 else x


def resize(images: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize float or uint8 (N, C, H, W) images (bilinear, antialiased when shrinking)."""
    hw = (size, size) if isinstance(size, int) else tuple(size)
    if tuple(images.shape[-2:]) == hw:
        return images
    was_uint8 = images.dtype == torch.uint8
    x = images.float()
    shrink = hw[0] < x.shape[-2] or hw[1] < x.shape[-1]  # antialias changes nothing upwards
    x = F.interpolate(x, size=hw, mode="bilinear", align_corners=False, antialias=shrink)
    return x.round().clamp(0, 255).to(torch.uint8) if was_uint8 else x


def convert_channels(images: torch.Tensor, channels: int) -> torch.Tensor:
    """uint8 (N, C, H, W) with C in {1, 3} -> (N, channels, H, W). Grey is repeated to RGB;
    RGB becomes grey by ITU-R 601 luma (0.299 R + 0.587 G + 0.114 B), as PIL does."""
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    c = images.shape[1]
    if c == channels:
        return images
    if c == 1:
        return images.expand(-1, 3, -1, -1).contiguous()
    weights = torch.tensor([0.299, 0.587, 0.114]).view(1, 3, 1, 1)
    grey = (images.float() * weights).sum(1, keepdim=True)
    return grey.round().clamp(0, 255).to(torch.uint8)


def resize_masks(masks: torch.Tensor, size: int | tuple[int, int]) -> torch.Tensor:
    """Resize {0, 1} uint8 masks (N, 1, H, W): bilinear on 0/255, then > 127 (a pixel is
    anomalous when at least half of its area was)."""
    if tuple(masks.shape[-2:]) == ((size, size) if isinstance(size, int) else tuple(size)):
        return masks
    return (resize(masks * 255, size) > 127).to(torch.uint8)


def fit(data: ImageSet, size: int | None = None, channels: int | None = None) -> ImageSet:
    """The same set with images (and masks) resized to `size` x `size` and converted to
    `channels`; None keeps what is there."""
    images, masks = data.images, data.masks
    if size is not None:
        if size < 1:
            raise DataError(f"size must be a positive number of pixels, got {size}")
        images = resize(images, size)
        masks = None if masks is None else resize_masks(masks, size)
    if channels is not None:
        images = convert_channels(images, channels)
    return replace(data, images=images, masks=masks)


def concat(sets: list[ImageSet], name: str = "") -> ImageSet:
    """One ImageSet holding `sets` in order (same channels and size; `classes` of the first).
    targets/factors/masks are kept only where every set has them."""
    if not sets:
        raise DataError("nothing to concatenate: no image sets given")

    def cat(what: str) -> torch.Tensor | None:
        parts = [getattr(s, what) for s in sets]
        return None if any(p is None for p in parts) else torch.cat(parts)

    first = sets[0]
    shapes = {tuple(s.images.shape[1:]) for s in sets}
    if len(shapes) > 1:
        raise DataError(f"cannot pool image sets of different shapes {sorted(shapes)}")
    return ImageSet(
        images=torch.cat([s.images for s in sets]),
        labels=torch.cat([s.labels for s in sets]),
        classes=list(first.classes),
        targets=cat("targets"),
        factors=cat("factors"),
        masks=cat("masks"),
        name=name or first.name,
        factor_names=list(first.factor_names),
        paths=(None if any(s.paths is None for s in sets)
               else [p for s in sets for p in s.paths]),
    )
