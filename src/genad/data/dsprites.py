"""The original dSprites images (Matthey, Higgins, Hassabis, Lerchner 2017, Apache-2.0).

Reads the official file `dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz` (imgs (737280, 64,
64) uint8 {0, 1}; latents_values and latents_classes (N, 6), the constant colour factor
first) and files of the same keys holding a subset with the colour column already dropped
(latents (N, 5), optionally latents_names and original_dataset_indices), such as
`dsprites_union_64834.npz`.

Memory: an .npz is a zip archive of compressed arrays and cannot be memory-mapped. The images
are therefore streamed out of the archive in chunks and only the selected ones are kept: `n`
images take n x 4 KiB (plus a chunk of 16 MiB), the whole official set 3 GB. Reading decompresses
the archive up to the last selected image whatever `n` is (seconds for the full file).
"""
from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import torch

from genad.data.base import ImageSet
from genad.data.shapes import CANVAS, FACTOR_NAMES, SHAPES, downsample
from genad.errors import ConfigError, DataError

__all__ = ["DSPRITES_FILE", "find_dsprites", "load_dsprites"]

DSPRITES_FILE = "dsprites_ndarray_co1sh3sc6or40x32y32_64x64.npz"
_REQUIRED = ("imgs", "latents_classes", "latents_values")
_CHUNK_BYTES = 16 << 20


def find_dsprites(path: str | Path) -> Path:
    """The dSprites .npz file at `path`: the file itself, or in a folder the official file,
    else the only .npz there."""
    p = Path(path).expanduser()
    if p.is_file():
        return p
    if p.is_dir():
        if (p / DSPRITES_FILE).is_file():
            return p / DSPRITES_FILE
        found = sorted(p.glob("*.npz"))
        if len(found) == 1:
            return found[0]
        if found:
            raise DataError(f"{p} holds several .npz files ({', '.join(f.name for f in found)})"
                            f"; pass the dSprites file itself")
        raise DataError(f"no dSprites .npz file in {p}: expected {DSPRITES_FILE} (from "
                        "https://github.com/google-deepmind/dsprites-dataset)")
    raise DataError(f"dSprites file {p} does not exist: pass the path of {DSPRITES_FILE} "
                    "(from https://github.com/google-deepmind/dsprites-dataset) or of a folder "
                    "holding it")


def _header(f) -> tuple[tuple[int, ...], bool, np.dtype]:
    version = np.lib.format.read_magic(f)
    if version == (1, 0):
        return np.lib.format.read_array_header_1_0(f)
    return np.lib.format.read_array_header_2_0(f)


def _read_exact(f, view: memoryview) -> None:
    got = 0
    while got < len(view):
        k = f.readinto(view[got:])
        if not k:
            raise DataError("the dSprites file ends early: imgs holds fewer images than its "
                            "header says (a truncated download?)")
        got += k


def _stream_images(zf: zipfile.ZipFile, member: str, rows: np.ndarray | None,
                   total: int) -> np.ndarray:
    """uint8 (len(rows), H, W) {0, 1} of the images at the sorted `rows` (None: all),
    decompressed chunk by chunk."""
    with zf.open(member) as f:
        shape, fortran, dtype = _header(f)
        if fortran or dtype.hasobject:
            raise DataError(f"imgs in the dSprites file has an unexpected layout ({dtype}, "
                            f"fortran_order={fortran})")
        if len(shape) != 3 or shape[0] != total:
            raise DataError(f"imgs has shape {shape}; expected ({total}, 64, 64) to match the "
                            "latents")
        per_image = int(np.prod(shape[1:]))
        nbytes = per_image * dtype.itemsize
        count = total if rows is None else len(rows)
        out = np.empty((count, *shape[1:]), dtype=np.uint8)
        step = max(1, _CHUNK_BYTES // nbytes)
        last = total if rows is None else (int(rows[-1]) + 1 if count else 0)
        buf = np.empty(step * per_image, dtype=dtype)
        done = 0
        for start in range(0, last, step):
            k = min(step, last - start)
            _read_exact(f, memoryview(buf[:k * per_image]).cast("B"))
            chunk = buf[:k * per_image].reshape(k, *shape[1:])
            if rows is None:
                sel = chunk
            else:
                lo, hi = np.searchsorted(rows, [start, start + k])
                sel = chunk[rows[lo:hi] - start]
            out[done:done + len(sel)] = sel != 0
            done += len(sel)
    return out


def load_dsprites(path: str | Path, n: int | None = None, seed: int = 0,
                  size: int | None = None) -> ImageSet:
    """dSprites images as an ImageSet: images (N, 1, 64, 64) uint8 0/255, labels and targets
    the shape index (0 square, 1 ellipse, 2 heart; `classes` names them), factors the float32
    (N, 5) latents_values without the constant colour factor (shape 1..3, scale, orientation,
    posX, posY: the values genad.data.shapes uses), factor_names.

    path: the .npz file or a folder holding it (see `find_dsprites`). n: keep a uniform random
    subset of n images drawn under `seed`, in file order (None: all; the official file then
    needs about 3 GB of memory). size: shrink the images to size x size by area, a pixel on
    where at least half of its area is (as genad.data.shapes does)."""
    file = find_dsprites(path)
    if size is not None and (isinstance(size, bool) or not 1 <= int(size) <= CANVAS):
        raise ConfigError(f"size must be in 1..{CANVAS} (dSprites images are 64x64); got "
                          f"{size!r}")
    try:
        zf = zipfile.ZipFile(file)
    except (zipfile.BadZipFile, OSError) as e:
        raise DataError(f"{file} is not a readable .npz archive ({e})") from e
    with zf:
        members = {m.removesuffix(".npy"): m for m in zf.namelist()}
        missing = [k for k in _REQUIRED if k not in members]
        if missing:
            raise DataError(f"{file} is not a dSprites file: it lacks {', '.join(missing)} "
                            f"(it holds {', '.join(sorted(members)) or 'nothing'})")

        def small(key: str) -> np.ndarray:
            with zf.open(members[key]) as f:
                try:
                    return np.lib.format.read_array(f, allow_pickle=False)
                except ValueError as e:
                    raise DataError(f"{key} in {file} cannot be read ({e})") from e

        classes, values = small("latents_classes"), small("latents_values")
        names = [str(s) for s in small("latents_names")] if "latents_names" in members else []
        if classes.shape != values.shape or classes.ndim != 2 or classes.shape[1] not in (5, 6):
            raise DataError(f"latents_classes {classes.shape} and latents_values {values.shape}"
                            f" in {file} must both be (N, 6) (colour first) or (N, 5)")
        if classes.shape[1] == 6:
            if np.unique(values[:, 0]).size > 1:
                raise DataError(f"the first latent of {file} varies; expected dSprites' "
                                "constant colour")
            classes, values = classes[:, 1:], values[:, 1:]
            names = names[1:] if len(names) == 6 else names
        if len(names) != 5:
            names = list(FACTOR_NAMES)
        total = len(classes)
        rows = None
        if n is not None:
            if isinstance(n, bool) or not 0 <= int(n) <= total:
                raise ConfigError(f"n must be in 0..{total} (the images in {file.name}); got "
                                  f"{n!r}")
            rng = np.random.default_rng(seed)
            rows = np.sort(rng.choice(total, int(n), replace=False))
            classes, values = classes[rows], values[rows]
        imgs = _stream_images(zf, members["imgs"], rows, total)
    imgs *= np.uint8(255)
    if size is not None and int(size) != imgs.shape[-1]:
        imgs = downsample(imgs, int(size))
    shape_idx = classes[:, 0].astype(np.int64)
    if shape_idx.size and (shape_idx.min() < 0 or shape_idx.max() >= len(SHAPES)):
        raise DataError(f"shape classes in {file} must be 0..2, got {shape_idx.max()}")
    labels = torch.from_numpy(shape_idx)
    return ImageSet(torch.from_numpy(imgs).unsqueeze(1), labels, list(SHAPES),
                    targets=labels.clone(), factors=torch.from_numpy(values.astype(np.float32)),
                    name="dsprites", factor_names=names)
