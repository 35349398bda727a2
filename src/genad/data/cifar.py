"""CIFAR-10 from the python pickle batches (read with a restricted unpickler that builds
numpy arrays and nothing else) or from an extracted image tree `train/<class>/*`,
`test/<class>/*`."""
from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genad.data.base import ImageSet
from genad.data.folder import existing_dir, list_images, read_images
from genad.errors import DataError

CIFAR10_CLASSES = [
    "airplane", "automobile", "bird", "cat", "deer",
    "dog", "frog", "horse", "ship", "truck",
]
BATCH_DIR = "cifar-10-batches-py"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"


def _numpy_globals() -> dict[tuple[str, str], Any]:
    try:
        from numpy._core import multiarray, numeric
    except ImportError:  # numpy < 2
        from numpy.core import multiarray, numeric  # type: ignore[no-redef]
    allowed: dict[tuple[str, str], Any] = {("numpy", "ndarray"): np.ndarray,
                                           ("numpy", "dtype"): np.dtype}
    for package in ("numpy.core", "numpy._core"):
        allowed[(f"{package}.multiarray", "_reconstruct")] = multiarray._reconstruct
        # numpy's protocol-5 pickles of arrays rebuild them from a buffer with _frombuffer
        allowed[(f"{package}.numeric", "_frombuffer")] = numeric._frombuffer
    return allowed


class _SafeUnpickler(pickle.Unpickler):
    """Resolves only the numpy names an array needs; any other global is refused."""

    allowed = _numpy_globals()

    def __init__(self, file: Any, source: Path) -> None:
        super().__init__(file, encoding="bytes")
        self.source = source

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) in self.allowed:
            return self.allowed[(module, name)]
        raise DataError(f"refusing to unpickle {self.source}: it asks for {module}.{name}, "
                        "which a CIFAR batch never needs (the file may be malicious)")


def read_pickle(path: Path) -> Any:
    """Unpickle `path` with the restricted unpickler (bytes keys stay bytes)."""
    try:
        with open(path, "rb") as f:
            return _SafeUnpickler(f, path).load()
    except DataError:
        raise
    except (pickle.UnpicklingError, EOFError, ValueError, TypeError, AttributeError,
            IndexError, KeyError, MemoryError) as err:
        raise DataError(f"cannot read {path}: {err}; the file is corrupt, re-download it") \
            from err
    except OSError as err:
        raise DataError(f"cannot open {path}: {err}") from err


def _field(table: dict, *keys: str) -> Any:
    for key in keys:
        for k in (key.encode(), key):
            if k in table:
                return table[k]
    return None


def read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """One pickle batch -> images (N, 3, 32, 32) uint8 and labels (N,) int64."""
    table = read_pickle(path)
    data = _field(table, "data") if isinstance(table, dict) else None
    labels = _field(table, "labels") if isinstance(table, dict) else None
    if not isinstance(data, np.ndarray) or labels is None:
        raise DataError(f"{path} is not a CIFAR-10 batch (no 'data' array and 'labels')")
    try:
        labels = np.asarray(labels)
    except (ValueError, TypeError) as e:  # ragged or odd objects
        raise DataError(f"{path}: its labels are not a list of class numbers ({e})") from None
    if labels.ndim != 1 or labels.dtype.kind not in "iu":
        raise DataError(f"{path}: labels must be a list of whole class numbers, got "
                        f"{labels.dtype} {labels.shape}")
    labels = labels.astype(np.int64)
    if data.dtype != np.uint8 or data.ndim != 2 or data.shape[1] != 3072 \
            or len(labels) != len(data):
        raise DataError(f"{path}: expected uint8 data (N, 3072) and N labels, got {data.dtype} "
                        f"{data.shape} and {len(labels)} labels")
    return data.reshape(-1, 3, 32, 32), labels


def _from_batches(folder: Path) -> tuple[ImageSet, ImageSet]:
    classes = CIFAR10_CLASSES.copy()
    if (folder / "batches.meta").is_file():
        meta = read_pickle(folder / "batches.meta")
        names = _field(meta, "label_names") if isinstance(meta, dict) else None
        if names:
            classes = [n.decode() if isinstance(n, bytes) else str(n) for n in names]
    parts = []
    for part, files in (("train", TRAIN_BATCHES), ("test", [TEST_BATCH])):
        missing = [f for f in files if not (folder / f).is_file()]
        if missing:
            raise DataError(f"{folder} lacks {', '.join(missing)}; re-extract "
                            "cifar-10-python.tar.gz there")
        batches = [read_batch(folder / f) for f in files]
        x = np.concatenate([b[0] for b in batches])
        y = torch.from_numpy(np.concatenate([b[1] for b in batches]))
        if len(y) and (int(y.min()) < 0 or int(y.max()) >= len(classes)):
            raise DataError(f"labels in {folder} fall outside 0..{len(classes) - 1}")
        parts.append(ImageSet(torch.from_numpy(x), y, classes, targets=y.clone(),
                              name=f"cifar10-{part}"))
    return parts[0], parts[1]


def _from_tree(root: Path) -> tuple[ImageSet, ImageSet]:
    names = {p: sorted(d.name for d in (root / p).iterdir() if d.is_dir()
                       and not d.name.startswith(".")) for p in ("train", "test")}
    if names["train"] != names["test"] or not names["train"]:
        raise DataError(f"{root}/train and {root}/test must hold the same class folders; "
                        f"found {names['train']} and {names['test']}")
    classes = CIFAR10_CLASSES.copy() if set(names["train"]) == set(CIFAR10_CLASSES) \
        else names["train"]
    parts = []
    for part in ("train", "test"):
        paths, labels = [], []
        for i, c in enumerate(classes):
            found = list_images(root / part / c)
            if not found:
                raise DataError(f"class folder {root / part / c} holds no images")
            paths += found
            labels += [i] * len(found)
        y = torch.tensor(labels, dtype=torch.long)
        parts.append(ImageSet(read_images(paths, (32, 32), 3), y, classes, targets=y.clone(),
                              name=f"cifar10-{part}"))
    return parts[0], parts[1]


def find_cifar10(root: Path) -> Path | None:
    """The folder holding the pickle batches or the train/test image tree, if any."""
    for folder in (root / BATCH_DIR, root):
        if (folder / TEST_BATCH).is_file() or (folder / TRAIN_BATCHES[0]).is_file():
            return folder
    if (root / "train").is_dir() and (root / "test").is_dir():
        return root
    return None


def load_cifar10(root: str | Path) -> tuple[ImageSet, ImageSet]:
    """The official train (50,000) and test (10,000) parts: images (N, 3, 32, 32) uint8, labels
    (N,) the class index (classes airplane..truck). `root` holds `cifar-10-batches-py/`, the
    batches themselves, or `train/<class>/*.jpg` and `test/<class>/*.jpg`; tree images of
    another size are resized to 32x32."""
    root = existing_dir(root)
    folder = find_cifar10(root)
    if folder is None:
        raise DataError(f"no CIFAR-10 data in {root}: expected {BATCH_DIR}/ (the extracted "
                        "cifar-10-python.tar.gz) or train/<class>/ and test/<class>/ image "
                        "folders; download it there with download=True (CLI --download)")
    if (folder / TEST_BATCH).is_file() or (folder / TRAIN_BATCHES[0]).is_file():
        return _from_batches(folder)
    return _from_tree(folder)
