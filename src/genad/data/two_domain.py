"""Two-domain tasks for unsupervised content transfer (Press et al., ICLR 2019): domain A =
images without an attribute, domain B = images of the same kind with it.

`load_task` builds one from any labelled genad source (default: the bundled digits) by
drawing a real second object onto the B images, so the ground truth of every transfer is
known: A and B are disjoint sets of real images, and each B image carries its attribute as
an uint8 layer composited by `compose` (pixel-wise maximum: light strokes on a dark
ground, as handwriting). Attributes:

    digit  another real image of the B pool, shrunk to 3/8 of the side, in the bottom-right
           corner (its box is the attribute's region); donors differ in class and style
    frame  a drawn border, 1 or 2 px (at 32 px) thick, grey level 160..255 (its pixels are
           the region)

`load_folders` is the generic case: two folders of the user's own images (e.g. CelebA
without / with glasses); there is no ground truth there.
"""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np
import torch

from genad.data.base import DEFAULT_SIZE, ImageSet, convert_channels, resize
from genad.errors import ConfigError, DataError

ATTRIBUTES = ("digit", "frame")


@dataclass
class TwoDomain:
    """Train and test images of both domains (disjoint sets of real images).

    a, test_a: domain A (no attribute); b, test_b: domain B (with it). test_b.masks (N, 1,
    H, W) {0, 1} marks the attribute's region where it is known.
    layers: (len(test_b), C, H, W) uint8, the attribute drawn on each test_b image; the
            ground truth of adding test_b[j]'s attribute to x is `compose(x, layers[j])`
    clean:  (len(test_b), C, H, W) uint8, test_b before the attribute was drawn (the
            ground truth of removing it); both None for user folders.
    """

    a: ImageSet
    b: ImageSet
    test_a: ImageSet
    test_b: ImageSet
    layers: torch.Tensor | None = None
    clean: torch.Tensor | None = None
    attribute: str = ""
    name: str = ""


def compose(base: torch.Tensor, layer: torch.Tensor) -> torch.Tensor:
    """Draw `layer` onto `base` (same dtype, broadcastable (N, C, H, W)): pixel-wise max."""
    return torch.maximum(base, layer)


def digit_layers(donors: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """uint8 (N, C, S, S) donor images -> (layers, masks): each donor shrunk to 3/8 of the
    side in the bottom-right corner (1 px margin at 32 px), masks = its box (N, 1, S, S)."""
    n, c, s, _ = donors.shape
    p, margin = max(3, round(s * 3 / 8)), max(1, s // 32)
    layers = torch.zeros_like(donors)
    layers[:, :, s - margin - p : s - margin, s - margin - p : s - margin] = resize(donors, p)
    masks = torch.zeros((n, 1, s, s), dtype=torch.uint8)
    masks[:, :, s - margin - p : s - margin, s - margin - p : s - margin] = 1
    return layers, masks


def frame_layers(n: int, channels: int, size: int,
                 rng: np.random.Generator) -> tuple[torch.Tensor, torch.Tensor]:
    """n drawn borders (N, C, S, S) uint8 of thickness 1 or 2 (times S/32, at least 1) and
    grey level 160..255, and their pixel masks (N, 1, S, S)."""
    masks = torch.zeros((n, 1, size, size), dtype=torch.uint8)
    thick = np.maximum(1, rng.integers(1, 3, n) * size // 32)
    for i, t in enumerate(thick):
        masks[i, :, :t], masks[i, :, -t:], masks[i, :, :, :t], masks[i, :, :, -t:] = 1, 1, 1, 1
    level = torch.from_numpy(rng.integers(160, 256, n).astype(np.uint8)).view(n, 1, 1, 1)
    return (masks * level).expand(-1, channels, -1, -1).contiguous(), masks


def _halves(n: int, test_fraction: float, rng: np.random.Generator) -> tuple[np.ndarray, ...]:
    """Seeded disjoint index sets (train, test) of n items."""
    perm = rng.permutation(n)
    n_test = max(1, int(round(n * test_fraction)))
    return perm[n_test:], perm[:n_test]


def _check(test_fraction: float) -> None:
    if not 0 < test_fraction < 1:
        raise ConfigError(f"test_fraction must be in (0, 1), got {test_fraction}")


def make_task(source: ImageSet, attribute: str = "digit", seed: int = 0,
              test_fraction: float = 0.2, limit: int | None = None) -> TwoDomain:
    """Split `source` into disjoint pools A and B (half each, seeded), draw `attribute` onto
    every B image (digit donors come from the B pool, never the image itself), then hold
    out `test_fraction` of each domain for testing. `limit` caps the images used."""
    if attribute not in ATTRIBUTES:
        raise ConfigError(f"unknown attribute {attribute!r}; choose one of {', '.join(ATTRIBUTES)}")
    _check(test_fraction)
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(source))[: limit or None]
    if len(order) < 8:
        raise DataError(f"a two-domain task needs at least 8 images, got {len(order)}")
    pool_a, pool_b = order[: len(order) // 2], order[len(order) // 2 :]
    base = source.images[pool_b]
    if attribute == "digit":
        n = len(pool_b)
        donor = (np.arange(n) + rng.integers(1, n, n)) % n  # another image, never itself
        layers, masks = digit_layers(base[donor])
    else:
        layers, masks = frame_layers(len(pool_b), source.channels, source.size[0], rng)
    b_all = replace(source.subset(pool_b), images=compose(base, layers), masks=masks)
    a_all = source.subset(pool_a)
    a_train, a_test = _halves(len(a_all), test_fraction, rng)
    b_train, b_test = _halves(len(b_all), test_fraction, rng)
    return TwoDomain(
        a=a_all.subset(a_train), b=b_all.subset(b_train),
        test_a=a_all.subset(a_test), test_b=b_all.subset(b_test),
        layers=layers[b_test], clean=base[b_test],
        attribute=attribute, name=f"{source.name or 'images'}+{attribute}",
    )


def load_task(spec: str = "digits", attribute: str = "digit", size: int = DEFAULT_SIZE,
              seed: int = 0, test_fraction: float = 0.2, limit: int | None = None,
              channels: int | None = None) -> TwoDomain:
    """`make_task` on a genad source (`genad.data.load` spec: digits, mnist:PATH, ...) read
    at `size` x `size`. Square images are needed (the corner digit is a square)."""
    from genad.data import load

    source = load(spec, size=size, channels=channels)
    return make_task(source, attribute, seed, test_fraction, limit)


def load_folders(dir_a: str, dir_b: str, size: int = 64, seed: int = 0,
                 test_fraction: float = 0.1, channels: int | None = None) -> TwoDomain:
    """Images of folder `dir_a` (without the attribute) and `dir_b` (with it), read with
    genad's folder loader at `size` x `size`; grey and RGB folders together become RGB."""
    from genad.data.folder import load_folder

    _check(test_fraction)
    a, b = load_folder(dir_a, size, channels), load_folder(dir_b, size, channels)
    if a.channels != b.channels:
        a, b = (replace(d, images=convert_channels(d.images, 3)) for d in (a, b))
    for name, d in ((dir_a, a), (dir_b, b)):
        if len(d) < 4:
            raise DataError(f"{name} holds {len(d)} images; each domain needs at least 4")
    rng = np.random.default_rng(seed)
    a_train, a_test = _halves(len(a), test_fraction, rng)
    b_train, b_test = _halves(len(b), test_fraction, rng)
    return TwoDomain(a.subset(a_train), b.subset(b_train), a.subset(a_test), b.subset(b_test),
                     attribute="folder B", name=f"{a.name} / {b.name}")


def load_any(domain_a: str | None, domain_b: str | None, *, spec: str = "digits",
             attribute: str = "frame", size: int = DEFAULT_SIZE, seed: int = 0,
             limit: int | None = None) -> TwoDomain:
    """The task a user names: their two folders (`load_folders`) when given, else `attribute`
    drawn onto source `spec` (`load_task`)."""
    if bool(domain_a) != bool(domain_b):
        raise ConfigError("give both --domain-a and --domain-b, or neither")
    if domain_a:
        return load_folders(domain_a, domain_b, size, seed)
    return load_task(spec, attribute, size, seed, limit=limit)
