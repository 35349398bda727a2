"""Images from folders: a plain (class-)folder tree, the MVTec AD layout, and the
"images with a mask beside each" layout (e.g. the magnetic-tile defect set).

Images may differ in size and be grey or RGB: they are resized to `size` (PIL bilinear,
antialiased when shrinking) and converted to `channels`. 16-bit grey images (PNG, TIFF) are
scaled to 8 bits (value / 257), not clipped; an image of more than MAX_PIXELS pixels is
refused before it is decoded (a decompression bomb, or a scan far larger than any network
input). Files are decoded and resized in a thread pool (PIL releases the GIL while doing
both).
"""
from __future__ import annotations

import os
import re
import warnings
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TypeVar

import numpy as np
import torch
from PIL import Image

from genad.data.base import ImageSet, Split
from genad.data.protocols import holdout_split
from genad.errors import DataError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff")
_GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16B", "I;16L", "I;16N", "F"}
_READ_ERRORS = (OSError, SyntaxError, ValueError, Image.DecompressionBombError)
MAX_PIXELS = 64_000_000  # 8000 x 8000; larger files are refused unread
_WIDE_MODES = {"I", "I;16", "I;16B", "I;16L", "I;16N", "F"}  # more than 8 bits a pixel
T = TypeVar("T")
R = TypeVar("R")


def _map(fn: Callable[[T], R], items: list[T]) -> list[R]:
    """[fn(x) for x in items], run in threads over contiguous chunks (few tasks, little
    overhead for many small files)."""
    workers = min(8, os.cpu_count() or 1)
    if workers == 1 or len(items) < 32:
        return [fn(x) for x in items]
    k = workers * 4
    chunks = [items[j * len(items) // k:(j + 1) * len(items) // k] for j in range(k)]
    with ThreadPoolExecutor(workers) as pool:
        return [r for part in pool.map(lambda c: [fn(x) for x in c], chunks) for r in part]


def _natural(path: Path) -> list[object]:
    return [int(t) if t.isdigit() else t.lower() for t in re.split(r"(\d+)", str(path))]


def existing_dir(root: str | Path) -> Path:
    """`root` with ~ expanded; DataError when it is not a folder."""
    path = Path(root).expanduser()
    if not path.is_dir():
        raise DataError(f"data folder {path} does not exist (or is not a folder); check the path")
    return path


def list_images(root: Path) -> list[Path]:
    """Image files under `root` (recursive, hidden entries skipped), in natural order."""
    found = [p for p in root.rglob("*") if p.suffix.lower() in IMAGE_EXTS and p.is_file()
             and not any(part.startswith(".") for part in p.relative_to(root).parts)]
    return sorted(found, key=_natural)


def _header(path: Path) -> tuple[int, int, bool]:
    try:
        with Image.open(path) as im:
            _check_pixels(path, im)
            return im.height, im.width, im.mode not in _GREY_MODES
    except _READ_ERRORS as err:
        raise DataError(f"cannot read image {path}: {err}; remove or replace the file") from err


def _check_pixels(path: Path, im: Image.Image) -> None:
    if im.width * im.height > MAX_PIXELS:
        raise DataError(f"{path} is {im.width}x{im.height} pixels, more than genad reads "
                        f"({MAX_PIXELS:,}); shrink it first")


def _to_8bit(im: Image.Image) -> Image.Image:
    """A grey image of more than 8 bits a pixel as 8-bit grey, scaled, not clipped: 16-bit
    (and 32-bit integer) values / 257; float images in [0, 1] x 255, others / 257."""
    a = np.asarray(im, dtype=np.float64)
    scale = 255.0 if im.mode == "F" and a.size and a.max() <= 1.0 else 1 / 257
    return Image.fromarray(np.clip(np.rint(a * scale), 0, 255).astype(np.uint8), "L")


def _plan(paths: list[Path], root: Path, size: int | None,
          channels: int | None) -> tuple[tuple[int, int], int, list[tuple[int, int, bool]]]:
    """Read the headers; choose the output (H, W) and channel count."""
    if not paths:
        raise DataError(f"no images ({', '.join(IMAGE_EXTS)}) found in {root}")
    heads = _map(_header, paths)
    if channels is None:
        channels = 3 if any(colour for _, _, colour in heads) else 1
    if channels not in (1, 3):
        raise DataError(f"channels must be 1 or 3, got {channels}")
    if size is not None:
        if size < 1:
            raise DataError(f"size must be a positive number of pixels, got {size}")
        return (size, size), channels, heads
    sizes = {(h, w) for h, w, _ in heads}
    if len(sizes) > 1:
        a, b = sorted(sizes)[:2]
        raise DataError(f"images in {root} have different sizes (e.g. {a[0]}x{a[1]} and "
                        f"{b[0]}x{b[1]}); pass size=N (CLI --size N) to resize them all")
    return sizes.pop(), channels, heads


def _decode(path: Path, mode: str, hw: tuple[int, int]) -> tuple[torch.Tensor, tuple[int, int]]:
    """Decode one file as `mode` ("L" or "RGB") resized to `hw` (PIL bilinear, antialiased
    when shrinking) -> (1, C, H, W) uint8 and the file's own (height, width)."""
    try:
        with Image.open(path) as im:
            _check_pixels(path, im)
            native = (im.height, im.width)
            if im.mode in _WIDE_MODES:
                im = _to_8bit(im)
            im = im.convert(mode) if im.mode != mode else im
            if native != hw:
                im = im.resize((hw[1], hw[0]), Image.Resampling.BILINEAR)
            pixels = np.array(im, dtype=np.uint8)
    except _READ_ERRORS as err:
        raise DataError(f"cannot read image {path}: {err}; remove or replace the file") from err
    pixels = pixels[None] if pixels.ndim == 2 else pixels.transpose(2, 0, 1)
    return torch.from_numpy(np.ascontiguousarray(pixels)).unsqueeze(0), native


def find_images(items: list[str] | list[Path], required: bool = True) -> list[Path]:
    """The image files that command-line `items` name: a file itself, every image under a
    folder (`list_images`). DataError for a path that does not exist, and (when `required`)
    when nothing is found."""
    paths: list[Path] = []
    for item in items:
        p = Path(item).expanduser()
        if p.is_dir():
            paths += list_images(existing_dir(p))
        elif p.is_file():
            paths.append(p)
        else:
            raise DataError(f"{p} does not exist")
    if required and not paths:
        raise DataError(f"no images found in {', '.join(map(str, items))}")
    return paths


def read_images(paths: list[Path], hw: tuple[int, int], channels: int) -> torch.Tensor:
    """Decode, convert and resize `paths` -> uint8 (N, channels, H, W)."""
    out = torch.empty((len(paths), channels, *hw), dtype=torch.uint8)
    mode = "RGB" if channels == 3 else "L"

    def put(i: int) -> None:
        out[i] = _decode(paths[i], mode, hw)[0][0]

    _map(put, list(range(len(paths))))
    return out


def read_readable(paths: list[Path], hw: tuple[int, int], channels: int
                  ) -> tuple[torch.Tensor, list[Path], list[tuple[Path, str]],
                             list[tuple[int, int]]]:
    """`read_images` that skips what it cannot read: (uint8 (N, channels, H, W) of the
    readable files, their paths, [(path, why)] of the others, the readable files' own
    (height, width))."""
    mode = "RGB" if channels == 3 else "L"

    def one(path: Path) -> tuple[torch.Tensor, tuple[int, int]] | str:
        try:
            image, native = _decode(path, mode, hw)
            return image[0], native
        except DataError as e:
            return str(e)

    got = _map(one, paths)
    kept = [(p, g) for p, g in zip(paths, got) if not isinstance(g, str)]
    skipped = [(p, g) for p, g in zip(paths, got) if isinstance(g, str)]
    images = (torch.stack([g[0] for _, g in kept]) if kept
              else torch.empty((0, channels, *hw), dtype=torch.uint8))
    return images, [p for p, _ in kept], skipped, [g[1] for _, g in kept]


def read_masks(masks: list[Path | None], images: list[Path],
               heads: list[tuple[int, int, bool]], hw: tuple[int, int]) -> torch.Tensor:
    """Masks (white = anomalous) resized, then binarised at > 127 -> uint8 {0, 1}
    (N, 1, H, W); None gives an all-zero mask. A mask must have the size of its image."""
    out = torch.zeros((len(masks), 1, *hw), dtype=torch.uint8)

    def put(i: int) -> None:
        path = masks[i]
        if path is None:
            return
        mask, native = _decode(path, "L", hw)
        if native != heads[i][:2]:
            raise DataError(f"mask {path} is {native[0]}x{native[1]} but its image "
                            f"{images[i]} is {heads[i][0]}x{heads[i][1]}; fix or remove the pair")
        out[i] = (mask[0] > 127).to(torch.uint8)

    _map(put, list(range(len(masks))))
    return out


def load_folder(root: str | Path, size: int | None = None,
                channels: int | None = None) -> ImageSet:
    """Every image under `root` (recursive). When all images sit in subfolders, the top-level
    subfolder is the class (labels index the sorted names); otherwise labels are -1.
    Returns images (N, C, H, W) uint8."""
    root = existing_dir(root)
    paths = list_images(root)
    hw, channels, _ = _plan(paths, root, size, channels)
    tops = [p.relative_to(root).parts for p in paths]
    classes = sorted({t[0] for t in tops}) if all(len(t) > 1 for t in tops) else []
    index = {c: i for i, c in enumerate(classes)}
    labels = torch.tensor([index[t[0]] if classes else -1 for t in tops], dtype=torch.long)
    return ImageSet(read_images(paths, hw, channels), labels, classes,
                    targets=labels.clone(), name=root.name, paths=[str(p) for p in paths])


def load_mvtec(root: str | Path, size: int | None = None,
               channels: int | None = None) -> tuple[ImageSet, ImageSet]:
    """One MVTec AD category: `train/good/*`, `test/good/*`, `test/<defect>/*` and
    `ground_truth/<defect>/<name>_mask.png`. Returns (train, test): train holds the normal
    images (labels 0, no masks); test has labels 0 good / 1 defect, targets indexing
    classes ["good", *defect types], masks (N, 1, H, W) {0, 1} (zero for good images). A
    good/bad tree without `ground_truth` (or with a defect image lacking its mask) is read
    all the same, without masks (no pixel-level figures; a warning says which image)."""
    root = existing_dir(root)
    test_dir = root / "test"
    if not (root / "train" / "good").is_dir() or not test_dir.is_dir():
        cats = sorted(d.name for d in root.iterdir() if (d / "train" / "good").is_dir())
        hint = f" It holds the categories {cats}: pass one, e.g. {root / cats[0]}." if cats else ""
        raise DataError(f"{root} is not an MVTec AD category folder (it needs train/good and "
                        f"test/<type> subfolders).{hint}")
    train_paths = list_images(root / "train" / "good")
    if not train_paths:
        raise DataError(f"no training images in {root / 'train' / 'good'}")
    defects = sorted(d.name for d in test_dir.iterdir()
                     if d.is_dir() and d.name != "good" and not d.name.startswith("."))
    classes = ["good", *defects]
    test_paths: list[Path] = []
    targets: list[int] = []
    mask_paths: list[Path | None] = []
    unmasked: list[Path] = []
    for t, kind in enumerate(classes):
        for p in list_images(test_dir / kind) if (test_dir / kind).is_dir() else []:
            mask = None if t == 0 else root / "ground_truth" / kind / f"{p.stem}_mask.png"
            if mask is not None and not mask.is_file():
                unmasked.append(p)
            test_paths.append(p)
            targets.append(t)
            mask_paths.append(mask)
    if not test_paths:
        raise DataError(f"no test images in {test_dir}")
    hw, channels, heads = _plan(train_paths + test_paths, root, size, channels)
    zeros = torch.zeros(len(train_paths), dtype=torch.long)
    train = ImageSet(read_images(train_paths, hw, channels), zeros, ["good"],
                     targets=zeros.clone(), name=f"{root.name}-train",
                     paths=[str(p) for p in train_paths])
    target = torch.tensor(targets, dtype=torch.long)
    masks = None
    if unmasked:
        warnings.warn(f"{len(unmasked)} defect image(s) in {test_dir} have no mask under "
                      f"{root / 'ground_truth'} (e.g. {unmasked[0].name}): no pixel-level "
                      "figures for this data", stacklevel=2)
    else:
        masks = read_masks(mask_paths, test_paths, heads[len(train_paths):], hw)
    test = ImageSet(read_images(test_paths, hw, channels), (target > 0).long(), classes,
                    targets=target, masks=masks, name=f"{root.name}-test",
                    paths=[str(p) for p in test_paths])
    return train, test


def _category_root(root: Path, normal: str) -> Path:
    for base in [root, *sorted(d for d in root.iterdir() if d.is_dir())]:
        if (base / normal).is_dir():
            return base
    found = sorted(d.name for d in root.iterdir() if d.is_dir())
    raise DataError(f"no normal category folder {normal!r} in {root} (or one level below); "
                    f"its folders are {found}: pass the normal one as normal=/cls=")


def _pair_up(paths: list[Path]) -> list[tuple[Path, Path | None]]:
    """Split files into (image, mask beside it): the mask of `x.jpg` is `x.png`, that of
    `x.png` is `x_mask.png`."""
    files = set(paths)
    non_png = {p.with_suffix("") for p in paths if p.suffix.lower() != ".png"}
    pairs = []
    for p in paths:
        if p.suffix.lower() == ".png" and (p.with_suffix("") in non_png
                                           or p.stem.endswith("_mask")):
            continue  # a mask
        mask = p.with_suffix(".png") if p.suffix.lower() != ".png" else (
            p.with_name(f"{p.stem}_mask.png"))
        pairs.append((p, mask if mask in files else None))
    return pairs


def read_mask_folder(root: str | Path, normal: str = "MT_Free", size: int | None = None,
                     channels: int | None = None) -> ImageSet:
    """Every image of the layout `<category>/**/<name>.<ext>` with its mask `<name>.png`
    (or `<name>_mask.png`) beside it, white = defect. `root` or one of its subfolders holds
    the category folders, `normal` among them. Returns images (N, C, H, W), labels = targets
    = category index (0 = `normal`, the others sorted), masks (N, 1, H, W) {0, 1}."""
    root = existing_dir(root)
    base = _category_root(root, normal)
    others = sorted(d.name for d in base.iterdir()
                    if d.is_dir() and d.name != normal and not d.name.startswith("."))
    classes, paths, masks, labels = [normal], [], [], []
    for cat in [normal, *others]:
        pairs = _pair_up(list_images(base / cat))
        if cat != normal and not pairs:
            continue
        if cat != normal:
            classes.append(cat)
        for image, mask in pairs:
            if mask is None and cat != normal:
                raise DataError(f"defect image {image} has no mask beside it "
                                f"({image.with_suffix('.png').name}); add it or remove the image")
            paths.append(image)
            masks.append(mask)
            labels.append(len(classes) - 1)
    if not paths:
        raise DataError(f"no images found in the category folders of {base}")
    hw, channels, heads = _plan(paths, base, size, channels)
    label = torch.tensor(labels, dtype=torch.long)
    return ImageSet(read_images(paths, hw, channels), label, classes, targets=label.clone(),
                    masks=read_masks(masks, paths, heads, hw), name=root.name,
                    paths=[str(p) for p in paths])


def load_mask_folder(root: str | Path, normal: str = "MT_Free", size: int | None = None,
                     channels: int | None = None, seed: int = 0,
                     train_fraction: float = 0.8) -> Split:
    """An MVTec-style Split of `read_mask_folder`: a seeded `train_fraction` of the normal
    images for train, the rest plus every defect image for test (labels 0/1, targets the
    category, masks kept)."""
    data = read_mask_folder(root, normal, size, channels)
    return holdout_split(data, data.targets == 0, seed, train_fraction, "mvtec", normal)
