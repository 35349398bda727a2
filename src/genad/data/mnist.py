"""MNIST and Fashion-MNIST from a local folder: IDX files (raw, .gz, or a .gz split into
`.gz.part*` pieces) or .npz files (Keras' single file, or chunks of `x`, `y`, `start`)."""
from __future__ import annotations

import gzip
import re
import zlib
from pathlib import Path

import numpy as np
import torch

from genad.data.base import ImageSet
from genad.errors import DataError

MNIST_CLASSES = [str(d) for d in range(10)]
FASHION_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]
IDX_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
_IDX_DTYPES = {0x08: ">u1", 0x09: ">i1", 0x0B: ">i2", 0x0C: ">i4", 0x0D: ">f4", 0x0E: ">f8"}


def parse_idx(data: bytes, source: str = "<bytes>") -> np.ndarray:
    """Decode one IDX file (magic 0x00 0x00 <dtype> <ndim>, big-endian int32 dims, then the
    values). Returns an array of shape dims (e.g. (60000, 28, 28) uint8 for MNIST images)."""
    if len(data) < 4 or data[0] != 0 or data[1] != 0 or data[2] not in _IDX_DTYPES:
        raise DataError(f"{source} is not an IDX file (bad magic number); re-download it")
    ndim = data[3]
    head = 4 + 4 * ndim
    if len(data) < head:
        raise DataError(f"{source} is truncated (header cut short); re-download it")
    dims = tuple(int(d) for d in np.frombuffer(data, ">i4", ndim, offset=4))
    dtype = np.dtype(_IDX_DTYPES[data[2]])
    expected = head + int(np.prod(dims)) * dtype.itemsize
    if len(data) != expected:
        raise DataError(
            f"{source} holds {len(data)} bytes but its header {dims} needs {expected}: "
            "the file is truncated or corrupt; re-download it"
        )
    values = np.frombuffer(data, dtype, offset=head).reshape(dims)
    return values.astype(dtype.newbyteorder("="))  # native order, writable


def read_file_bytes(folder: Path, name: str) -> bytes | None:
    """The decompressed bytes of `name` in `folder`, found as `name`, `name.gz` or the parts
    `name.gz.part*` (concatenated in numeric order); None when none of them exist."""
    raw, gz = folder / name, folder / f"{name}.gz"
    if raw.is_file():
        return raw.read_bytes()
    if gz.is_file():
        packed, where = gz.read_bytes(), str(gz)
    else:
        parts = sorted(folder.glob(f"{name}.gz.part*"), key=_part_number)
        if not parts:
            return None
        packed, where = b"".join(p.read_bytes() for p in parts), f"{gz}.part*"
    try:
        return gzip.decompress(packed)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot decompress {where}: {err}; re-download it") from err


def _part_number(path: Path) -> int:
    match = re.search(r"\.part(\d+)$", path.name)
    return int(match.group(1)) if match else -1


def load_mnist(root: str | Path, fashion: bool = False) -> tuple[ImageSet, ImageSet]:
    """The official train (60,000) and test (10,000) parts, images (N, 1, 28, 28) uint8 and
    labels (N,) int64. `root`, or one of its direct subfolders, holds the IDX or .npz files."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DataError(f"data folder {root} does not exist; pass the folder holding the files")
    name = "fashion-mnist" if fashion else "mnist"
    for folder in [root, *sorted(p for p in root.iterdir() if p.is_dir())]:
        arrays = _from_idx(folder) or _from_npz(folder)
        if arrays:
            classes = FASHION_CLASSES if fashion else MNIST_CLASSES
            (x_train, y_train), (x_test, y_test) = arrays
            return (_imageset(x_train, y_train, classes, f"{name}-train", folder),
                    _imageset(x_test, y_test, classes, f"{name}-test", folder))
    raise DataError(
        f"no {name} files in {root}: expected train-images-idx3-ubyte(.gz) and the three other "
        "IDX files, or .npz files; download them there (download=True, CLI --download)"
    )


def _from_idx(folder: Path) -> list[tuple[np.ndarray, np.ndarray]] | None:
    out = []
    for images_name, labels_name in IDX_FILES.values():
        images = read_file_bytes(folder, images_name)
        if images is None:
            return None
        labels = read_file_bytes(folder, labels_name)
        if labels is None:
            raise DataError(f"{folder} has {images_name} but no {labels_name}(.gz)")
        out.append((parse_idx(images, str(folder / images_name)),
                    parse_idx(labels, str(folder / labels_name))))
    return out


def _from_npz(folder: Path) -> list[tuple[np.ndarray, np.ndarray]] | None:
    files = sorted(folder.glob("*.npz"))
    if not files:
        return None
    tables = {f: _read_npz(f) for f in files}
    for t in tables.values():
        if {"x_train", "y_train", "x_test", "y_test"} <= t.keys():
            return [(t["x_train"], t["y_train"]), (t["x_test"], t["y_test"])]
    out = []
    for part in ("train", "test"):
        chunks = [t for f, t in tables.items()
                  if {"x", "y", "start"} <= t.keys() and part in re.split(r"[^a-z0-9]", f.stem)]
        if not chunks:
            return None
        chunks.sort(key=lambda t: int(t["start"]))
        expect = 0
        for t in chunks:
            if int(t["start"]) != expect:
                raise DataError(f"{part} chunks in {folder} jump from image {expect} to "
                                f"{int(t['start'])}: a chunk is missing or duplicated")
            expect += len(t["x"])
        out.append((np.concatenate([t["x"] for t in chunks]),
                    np.concatenate([t["y"] for t in chunks])))
    return out


def _read_npz(path: Path) -> dict[str, np.ndarray]:
    try:
        with np.load(path, allow_pickle=False) as npz:
            return {k: npz[k] for k in npz.files}
    except (OSError, ValueError, EOFError) as err:
        raise DataError(f"cannot read {path}: {err}; replace the file") from err


def _imageset(x: np.ndarray, y: np.ndarray, classes: list[str], name: str,
              folder: Path) -> ImageSet:
    if x.ndim != 3 or x.dtype != np.uint8 or y.ndim != 1 or len(x) != len(y):
        raise DataError(f"{name} in {folder}: expected uint8 images (N, H, W) and labels (N,), "
                        f"got {x.dtype} {x.shape} and {y.shape}")
    if len(y) and (y.min() < 0 or y.max() >= len(classes)):
        raise DataError(f"{name} in {folder}: labels outside 0..{len(classes) - 1}")
    labels = torch.from_numpy(y.astype(np.int64))
    images = torch.from_numpy(np.require(x, requirements=["C", "W"])).unsqueeze(1)
    return ImageSet(images, labels, list(classes), targets=labels.clone(), name=name)
