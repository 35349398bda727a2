"""Procedural dSprites: binary 64x64 sprites with exact ground-truth factors, made by genad.

The factor grid is that of dSprites (Matthey, Higgins, Hassabis, Lerchner 2017), colour left
out (it is constant there):

    shape        3   square, ellipse, heart; values 1.0, 2.0, 3.0 as in dSprites
    scale        6   linspace(0.5, 1, 6)
    orientation 40   linspace(0, 2 pi, 40), both endpoints included as in dSprites, so
                     indices 0 and 39 give the same image (and the square repeats every
                     quarter turn, the ellipse every half turn, as in the original)
    posX        32   linspace(0, 1, 32)
    posY        32   linspace(0, 1, 32)

737,280 combinations, indexed in the dSprites order (shape slowest, posY fastest), so that
`flat_index` here is the index of the same combination in the original file.

Rendering follows what is known of the original: a vector shape on the canvas, rasterised
with a pixel on when its centre lies inside. The sprite centre sits at (16 + 32 posX,
16 + 32 posY) pixels (x to the right, y down; positions step 32/31 px), the shape is scaled
by `scale` and rotated by the orientation counter-clockwise as seen on screen. At scale 1 and
orientation 0 (sizes in pixels of the 64-pixel canvas):

    square   side 19.2 (0.3 of the canvas)
    ellipse  semi-axes 12.76 (along x) and 7.215 (along y), measured on the original ellipses
    heart    a mirror-symmetric star-shaped polygon of 180 edges (radii every 2 degrees from
             the sprite centre), its outline measured on the original hearts; lobes up,
             point down

Measured against 64,834 original dSprites images (tests/test_shapes.py), the mean
intersection-over-union per image is about 0.9997 for squares, 0.9995 for ellipses and
0.9987 for hearts (the heart on images not used to measure its outline); 96% of the squares,
92% of the ellipses and 84% of the hearts are pixel-identical, the rest differ by a pixel or
two on the edge.
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F

from genad.data.base import ImageSet
from genad.errors import ConfigError, DataError

__all__ = [
    "FACTOR_NAMES",
    "FACTOR_SIZES",
    "SHAPES",
    "FactorGrid",
    "all_factors",
    "downsample",
    "factor_grid",
    "iter_grid",
    "make_set",
    "render",
    "sample",
    "sample_factors",
    "sample_fixed",
    "sample_with_fixed_factor",
]

SHAPES = ("square", "ellipse", "heart")
FACTOR_NAMES = ("shape", "scale", "orientation", "posX", "posY")
FACTOR_SIZES = (3, 6, 40, 32, 32)
CANVAS = 64

# Geometry at scale 1, in pixels of the 64-pixel canvas.
_HALF_SIDE = 9.6  # square: side 19.2
_ELLIPSE_AX = 12.76  # ellipse semi-axis along x at orientation 0
_ELLIPSE_AY = 7.215  # ellipse semi-axis along y at orientation 0
_HEART_STEP_DEG = 2.0
# Heart outline: distance from the sprite centre at angles -90, -88, ..., 90 degrees from the
# +x axis in image coordinates (y down, so -90 is straight up into the notch between the
# lobes, +90 straight down to the point); the left half is the mirror image.
_HEART_RADII = (
    5.026, 5.718, 6.356, 6.912, 7.41, 7.882, 8.306, 8.702, 9.054, 9.38, 9.68, 9.93, 10.178,
    10.366, 10.55, 10.722, 10.852, 10.968, 11.054, 11.122, 11.186, 11.23, 11.246, 11.252,
    11.242, 11.224, 11.178, 11.128, 11.056, 10.982, 10.894, 10.764, 10.636, 10.506, 10.352,
    10.168, 9.992, 9.804, 9.606, 9.398, 9.186, 8.978, 8.752, 8.534, 8.328, 8.124, 7.942,
    7.742, 7.568, 7.392, 7.234, 7.092, 6.952, 6.816, 6.69, 6.588, 6.478, 6.39, 6.3, 6.228,
    6.164, 6.106, 6.054, 6.004, 5.966, 5.944, 5.922, 5.912, 5.902, 5.904, 5.916, 5.93, 5.952,
    5.99, 6.034, 6.088, 6.152, 6.212, 6.304, 6.4, 6.502, 6.636, 6.776, 6.948, 7.136, 7.354,
    7.608, 7.908, 8.3, 8.808, 9.638,
)

_WINDOW = 32  # every sprite fits in the 32x32 pixels around its centre
_CHUNK = 4096  # images rendered per vectorised step (bounds the temporary memory)


def _readonly(a: np.ndarray) -> np.ndarray:
    a.setflags(write=False)
    return a


@dataclass(frozen=True)
class FactorGrid:
    """The factor grid: `names`, `sizes` and `values` (one read-only float64 array per
    factor, the dSprites values). Index arrays are int (N, 5), one column per factor."""

    names: tuple[str, ...]
    sizes: tuple[int, ...]
    values: tuple[np.ndarray, ...]

    def __len__(self) -> int:
        return int(np.prod(self.sizes))

    @property
    def strides(self) -> tuple[int, ...]:
        """Step in the flat (dSprites) index of one step of each factor."""
        return tuple(int(np.prod(self.sizes[k + 1:])) for k in range(len(self.sizes)))

    def factor(self, k: int | str) -> int:
        """The column of factor `k` (its position or its name)."""
        if isinstance(k, str):
            if k not in self.names:
                raise ConfigError(f"unknown factor {k!r}; factors: {', '.join(self.names)}")
            return self.names.index(k)
        if not 0 <= int(k) < len(self.names):
            raise ConfigError(f"factor index {k} out of range 0..{len(self.names) - 1}")
        return int(k)

    def check(self, factors_idx: np.ndarray) -> np.ndarray:
        """`factors_idx` as an int64 (N, 5) array; DataError when it is not a grid index."""
        idx = np.asarray(factors_idx)
        if idx.ndim == 1 and idx.shape[0] == len(self.sizes):
            idx = idx[None]
        if idx.ndim != 2 or idx.shape[1] != len(self.sizes):
            raise DataError(f"factor indices must have shape (N, {len(self.sizes)}); got "
                            f"{idx.shape}")
        if idx.size and not np.issubdtype(idx.dtype, np.integer):
            raise DataError(f"factor indices must be integers, got {idx.dtype}")
        idx = idx.astype(np.int64, copy=False)
        bad = (idx < 0) | (idx >= np.asarray(self.sizes))
        if bad.any():
            k = int(np.nonzero(bad.any(0))[0][0])
            raise DataError(f"factor {self.names[k]!r} index out of range 0..{self.sizes[k] - 1}"
                            f": got {idx[bad[:, k], k][0]}")
        return idx

    def to_values(self, factors_idx: np.ndarray) -> np.ndarray:
        """float32 (N, 5) factor values of grid indices."""
        idx = self.check(factors_idx)
        cols = [self.values[k][idx[:, k]] for k in range(len(self.sizes))]
        return np.stack(cols, axis=1).astype(np.float32)

    def to_index(self, values: np.ndarray) -> np.ndarray:
        """int64 (N, 5) grid indices of factor values (each to the nearest grid value)."""
        vals = np.asarray(values, dtype=np.float64)
        if vals.ndim != 2 or vals.shape[1] != len(self.sizes):
            raise DataError(f"factor values must have shape (N, {len(self.sizes)}); got "
                            f"{vals.shape}")
        cols = [np.abs(vals[:, k, None] - self.values[k][None]).argmin(1)
                for k in range(len(self.sizes))]
        return np.stack(cols, axis=1).astype(np.int64)

    def flat_index(self, factors_idx: np.ndarray) -> np.ndarray:
        """int64 (N,) position of each combination in the dSprites order."""
        return self.check(factors_idx) @ np.asarray(self.strides, dtype=np.int64)

    def unflatten(self, flat: np.ndarray) -> np.ndarray:
        """int64 (N, 5) grid indices of flat (dSprites-order) positions."""
        flat = np.asarray(flat, dtype=np.int64).reshape(-1)
        if flat.size and (flat.min() < 0 or flat.max() >= len(self)):
            raise DataError(f"flat index out of range 0..{len(self) - 1}")
        return np.stack(np.unravel_index(flat, self.sizes), axis=1).astype(np.int64)


_GRID = FactorGrid(
    names=FACTOR_NAMES,
    sizes=FACTOR_SIZES,
    values=(
        _readonly(np.array([1.0, 2.0, 3.0])),
        _readonly(np.linspace(0.5, 1.0, 6)),
        # = linspace(0, 2 pi, 40) and linspace(0, 1, 32), written as dSprites computed them
        # (bit for bit; linspace differs in the last bit of a few values)
        _readonly(np.arange(40) * 2 * np.pi / 39),
        _readonly(np.arange(32) / 31),
        _readonly(np.arange(32) / 31),
    ),
)


def factor_grid() -> FactorGrid:
    """The dSprites factor grid (names, sizes, values); see the module doc."""
    return _GRID


def _heart_edges() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each heart edge k (between the radii k and k+1) as a half-plane a x + b y <= c
    (x = |u|), with c > 0 so that the centre is inside."""
    r = np.asarray(_HEART_RADII)
    phi = np.deg2rad(-90.0 + _HEART_STEP_DEG * np.arange(len(r)))
    x, y = r * np.cos(phi), r * np.sin(phi)
    a, b = y[1:] - y[:-1], x[:-1] - x[1:]
    c = a * x[:-1] + b * y[:-1]
    s = np.sign(c)
    return a * s, b * s, c * s


_HEART_A, _HEART_B, _HEART_C = _heart_edges()


def _inside(shape: int, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Whether the canonical points (u, v) (pixels at scale 1, orientation 0) are inside."""
    if shape == 0:
        return np.maximum(np.abs(u), np.abs(v)) <= _HALF_SIDE
    if shape == 1:
        return (u * (1 / _ELLIPSE_AX)) ** 2 + (v * (1 / _ELLIPSE_AY)) ** 2 <= 1.0
    x = np.abs(u)
    step = np.deg2rad(_HEART_STEP_DEG)
    k = ((np.arctan2(v, x) + np.pi / 2) * (1 / step)).astype(np.int64)
    np.clip(k, 0, len(_HEART_A) - 1, out=k)
    return _HEART_A[k] * x + _HEART_B[k] * v <= _HEART_C[k]


def _render_chunk(idx: np.ndarray, out: np.ndarray) -> None:
    """Draw the sprites of `idx` (n, 5) into the zeroed `out` (n, 64, 64) as 0/255."""
    n = len(idx)
    g = _GRID
    inv = 1.0 / g.values[1][idx[:, 1]]
    theta = g.values[2][idx[:, 2]]
    cx = CANVAS / 4 + CANVAS / 2 * g.values[3][idx[:, 3]]
    cy = CANVAS / 4 + CANVAS / 2 * g.values[4][idx[:, 4]]
    half = _WINDOW // 2
    c0 = np.clip(np.floor(cx).astype(np.int64) - half, 0, CANVAS - _WINDOW)
    r0 = np.clip(np.floor(cy).astype(np.int64) - half, 0, CANVAS - _WINDOW)
    centres = np.arange(_WINDOW) + 0.5
    x = (c0[:, None] + centres) - cx[:, None]  # (n, W) pixel-centre offsets from the centre
    y = (r0[:, None] + centres) - cy[:, None]
    cos, sin = (np.cos(theta) * inv)[:, None], (np.sin(theta) * inv)[:, None]
    # canonical coordinates: (u, v) = R(theta) (x, y) / scale, (n, W rows, W cols)
    u = (x * cos)[:, None, :] - (y * sin)[:, :, None]
    v = (x * sin)[:, None, :] + (y * cos)[:, :, None]
    win = np.zeros((n, _WINDOW, _WINDOW), dtype=bool)
    for s in range(len(SHAPES)):
        rows = np.nonzero(idx[:, 0] == s)[0]
        if len(rows):
            win[rows] = _inside(s, u[rows], v[rows])
    span = np.arange(_WINDOW)
    out[np.arange(n)[:, None, None], (r0[:, None] + span)[:, :, None],
        (c0[:, None] + span)[:, None, :]] = win.view(np.uint8) * np.uint8(255)


def _check_size(size: int) -> int:
    if isinstance(size, bool) or not isinstance(size, (int, np.integer)) or not (
            1 <= size <= CANVAS):
        raise ConfigError(f"size must be a whole number of pixels in 1..{CANVAS} (sprites are "
                          f"drawn at {CANVAS}x{CANVAS} and shrunk by area); got {size!r}")
    return int(size)


def downsample(images: np.ndarray, size: int) -> np.ndarray:
    """Binary uint8 images (N, H, W) or (N, C, H, W), nonzero = on -> (..., size, size) 0/255:
    each new pixel covers an area of the old ones and is on where at least half of that area
    is (exact block counts when `size` divides the sides, adaptive average pooling else)."""
    a = np.asarray(images)
    size = int(size)
    if a.ndim not in (3, 4):
        raise DataError(f"images must be (N, H, W) or (N, C, H, W); got {a.shape}")
    if not 1 <= size <= min(a.shape[-2:]):
        raise ConfigError(f"downsample shrinks: size must be in 1..{min(a.shape[-2:])}, got "
                          f"{size}")
    x = a[:, None] if a.ndim == 3 else a
    n, c, h, w = x.shape
    out = np.empty((n, c, size, size), dtype=np.uint8)
    for s in range(0, n, _CHUNK):
        part = x[s:s + _CHUNK] > 0
        if h == size and w == size:
            on = part
        elif h % size == 0 and w % size == 0:  # whole blocks: count the on pixels in each
            fh, fw = h // size, w // size
            part = part.view(np.uint8)
            rows = np.zeros((len(part), c, size, w), dtype=np.uint16)
            for i in range(fh):
                rows += part[:, :, i::fh]
            count = np.zeros((len(part), c, size, size), dtype=np.uint16)
            for j in range(fw):
                count += rows[..., j::fw]
            on = 2 * count.astype(np.int32) >= fh * fw
        else:
            mean = F.adaptive_avg_pool2d(torch.from_numpy(part).float(), size)
            on = (mean >= 0.5).numpy()
        out[s:s + _CHUNK] = on.view(np.uint8) * np.uint8(255)
    return out[:, 0] if a.ndim == 3 else out


def render(factors_idx: np.ndarray, size: int = CANVAS) -> np.ndarray:
    """uint8 (N, size, size) images, 0 background and 255 sprite, of the grid indices
    `factors_idx` (int (N, 5), columns as FACTOR_NAMES). Drawn at 64x64; a smaller `size`
    shrinks them by `downsample`."""
    idx = _GRID.check(factors_idx)
    size = _check_size(size)
    out = np.zeros((len(idx), CANVAS, CANVAS), dtype=np.uint8)
    for s in range(0, len(idx), _CHUNK):
        _render_chunk(idx[s:s + _CHUNK], out[s:s + _CHUNK])
    return out if size == CANVAS else downsample(out, size)


def _rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _count(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, (int, np.integer)) or n < 0:
        raise ConfigError(f"n must be a whole number >= 0, got {n!r}")
    return int(n)


def sample_factors(n: int, rng: np.random.Generator | int | None = None) -> np.ndarray:
    """int64 (n, 5) grid indices, each factor uniform and independent. `rng`: a numpy
    Generator or a seed."""
    n, g = _count(n), _rng(rng)
    return np.stack([g.integers(0, s, n) for s in FACTOR_SIZES], axis=1).astype(np.int64)


def sample_with_fixed_factor(k: int | str, n: int,
                             rng: np.random.Generator | int | None = None) -> np.ndarray:
    """int64 (n, 5) grid indices where factor `k` (column or name) takes one value, drawn
    uniformly, for the whole batch, and the other factors are uniform: the batches that
    disentanglement metrics such as the beta-VAE and FactorVAE scores need. The fixed index is
    `result[0, k]`."""
    col = _GRID.factor(k)
    g = _rng(rng)
    idx = sample_factors(n, g)
    idx[:, col] = g.integers(0, FACTOR_SIZES[col])
    return idx


sample_fixed = sample_with_fixed_factor


def all_factors() -> np.ndarray:
    """int64 (737280, 5): every grid index, in the dSprites order (row i is flat index i).
    Render it in batches (`iter_grid`), not at once: the images would take 3 GB."""
    return _GRID.unflatten(np.arange(len(_GRID)))


def iter_grid(batch_size: int = 10_000, size: int = CANVAS) -> Iterator[tuple[np.ndarray,
                                                                         np.ndarray]]:
    """Yields (factors_idx (b, 5), images (b, size, size) uint8 0/255) over the whole grid in
    the dSprites order, `batch_size` at a time."""
    if _count(batch_size) < 1:
        raise ConfigError(f"batch_size must be >= 1, got {batch_size}")
    size = _check_size(size)
    for s in range(0, len(_GRID), batch_size):
        idx = _GRID.unflatten(np.arange(s, min(s + batch_size, len(_GRID))))
        yield idx, render(idx, size)


def make_set(factors_idx: np.ndarray, size: int = CANVAS, name: str = "shapes") -> ImageSet:
    """The ImageSet of the grid indices: images (N, 1, size, size) uint8 0/255, labels and
    targets the shape index (0 square, 1 ellipse, 2 heart; `classes` names them), factors the
    float32 (N, 5) factor values, factor_names FACTOR_NAMES."""
    idx = _GRID.check(factors_idx)
    images = torch.from_numpy(render(idx, size)).unsqueeze(1)
    labels = torch.from_numpy(idx[:, 0].copy())
    return ImageSet(images, labels, list(SHAPES), targets=labels.clone(),
                    factors=torch.from_numpy(_GRID.to_values(idx)), name=name,
                    factor_names=list(FACTOR_NAMES))


def grid_set(size: int = 32) -> ImageSet:
    """The whole grid, 737,280 sprites in the dSprites order, as an ImageSet (see `make_set`),
    rendered in batches so that only the result is held: 755 MB of uint8 at 32 px, 3 GB at
    64 px."""
    size = _check_size(size)
    images = np.empty((len(_GRID), 1, size, size), dtype=np.uint8)
    start = 0
    for _, batch in iter_grid(20_000, size):
        images[start : start + len(batch), 0] = batch
        start += len(batch)
    idx = all_factors()
    labels = torch.from_numpy(idx[:, 0].copy())
    return ImageSet(torch.from_numpy(images), labels, list(SHAPES), targets=labels.clone(),
                    factors=torch.from_numpy(_GRID.to_values(idx)), name="shapes-grid",
                    factor_names=list(FACTOR_NAMES))


def position_set(n: int, seed: int = 0, size: int = CANVAS) -> ImageSet:
    """`n` squares at the largest scale and orientation 0 whose posX and posY are drawn
    uniformly under `seed`: sprites whose only factors are the two positions (the learning
    tests' and the InfoGAN-CR ablation's data)."""
    idx = np.zeros((_count(n), 5), dtype=np.int64)
    idx[:, 1] = 5
    idx[:, 3:] = np.random.default_rng(seed).integers(0, 32, (len(idx), 2))
    return make_set(idx, size)


def sample(n: int, seed: int = 0, size: int = CANVAS) -> ImageSet:
    """`n` sprites with factors drawn uniformly from the grid under `seed` (the same seed
    gives the same set), as an ImageSet (see `make_set`)."""
    return make_set(sample_factors(n, np.random.default_rng(seed)), size)
