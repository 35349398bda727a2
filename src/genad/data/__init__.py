"""Data sources and anomaly protocols behind one call: `load(spec, protocol, cls, ...)`.

spec: `digits` (bundled, no files needed), `mnist:PATH`, `fashion-mnist:PATH`,
`cifar10:PATH`, `folder:PATH`, `mvtec:PATH` (one MVTec AD category), `masks:PATH` (category
folders of images with a mask beside each, e.g. the magnetic-tile set). For mnist,
fashion-mnist and cifar10 the PATH may be left out: `$GENAD_DATA/<name>` (default
`~/.cache/genad/<name>`) is used, which `download=True` fills.
"""
from __future__ import annotations

import contextlib
import difflib
import os
from collections.abc import Iterator
from pathlib import Path

from genad.data.base import (
    DEFAULT_SIZE,
    ImageSet,
    Split,
    as_images,
    concat,
    fit,
    resize,
    to_float,
)
from genad.data.protocols import PROTOCOLS, holdout_split, make_split
from genad.errors import ConfigError, DataError

__all__ = ["ImageSet", "Split", "as_images", "datasets", "load", "resize", "to_float"]

_LABELLED = ["leave-one-out", "one-vs-rest"]
_SOURCES = [
    {"name": "digits", "spec": "digits", "needs": "nothing: 1,797 8x8 digits bundled with "
     "scikit-learn, upsampled to 32x32", "protocols": _LABELLED, "download": False},
    {"name": "mnist", "spec": "mnist:PATH", "needs": "the four MNIST IDX files (raw, .gz or "
     ".gz.part*) or .npz files in PATH", "protocols": _LABELLED, "download": True},
    {"name": "fashion-mnist", "spec": "fashion-mnist:PATH", "needs": "the four Fashion-MNIST "
     "IDX files (raw, .gz or .gz.part*) or .npz files in PATH", "protocols": _LABELLED,
     "download": True},
    {"name": "cifar10", "spec": "cifar10:PATH", "needs": "cifar-10-batches-py/ (python "
     "pickles) or train/<class>/, test/<class>/ image folders in PATH", "protocols": _LABELLED,
     "download": True},
    {"name": "folder", "spec": "folder:PATH", "needs": "images (png/jpg/jpeg/bmp/tif) under "
     "PATH; one subfolder per class for the protocols", "protocols": _LABELLED,
     "download": False},
    {"name": "shapes", "spec": "shapes[:N]", "needs": "nothing: procedural dSprites-style "
     "sprites (3 shapes x 6 scales x 40 orientations x 32x32 positions, 64x64) with exact "
     "factors; N images (default 20,000) drawn under the seed", "protocols": _LABELLED,
     "download": False},
    {"name": "dsprites", "spec": "dsprites:PATH", "needs": "the dSprites .npz (or a subset "
     ".npz with the same keys) at PATH or in folder PATH; the full file needs ~3 GB of memory",
     "protocols": _LABELLED, "download": False},
    {"name": "mvtec", "spec": "mvtec:PATH", "needs": "one MVTec AD category: train/good, "
     "test/<type>, ground_truth/<type>/*_mask.png", "protocols": ["mvtec"], "download": False},
    {"name": "masks", "spec": "masks:PATH", "needs": "category folders of images with a .png "
     "mask beside each (normal category MT_Free unless cls names another)",
     "protocols": ["mvtec", *_LABELLED], "download": False},
]
_NAMES = [s["name"] for s in _SOURCES]
_ALIASES = {"fashion_mnist": "fashion-mnist", "fmnist": "fashion-mnist", "cifar-10": "cifar10",
            "cifar": "cifar10", "mvtec-ad": "mvtec", "mask": "masks", "dsprite": "dsprites",
            "sprites": "shapes"}


def datasets() -> list[dict]:
    """One dict per source: name, spec (how to write it), needs, protocols, download."""
    return [dict(s, protocols=list(s["protocols"])) for s in _SOURCES]


def _parse(spec: str) -> tuple[str, Path | None]:
    head, _, path = spec.partition(":")
    name = _ALIASES.get(head.strip().lower(), head.strip().lower())
    if name not in _NAMES:
        close = difflib.get_close_matches(name, _NAMES, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown data set {spec!r}.{hint} Valid: "
                          f"{', '.join(s['spec'] for s in _SOURCES)}")
    if name == "digits" and path:
        raise ConfigError(f"'digits' is bundled and takes no path (got {spec!r})")
    if name == "shapes":
        if path and not (path.strip().isdigit() and int(path) > 0):
            raise ConfigError(f"shapes:N takes a positive number of images, got {spec!r}")
        return name, None
    if not path:
        if name in ("folder", "mvtec", "masks", "dsprites"):
            raise ConfigError(f"{name!r} needs a folder: write {name}:PATH")
        return name, None
    return name, Path(path).expanduser()


def _default_root(name: str) -> Path:
    return Path(os.environ.get("GENAD_DATA", "~/.cache/genad")).expanduser() / name


_MEMO: dict[tuple, tuple[ImageSet, ImageSet]] | None = None  # on inside `memoised_sources`


@contextlib.contextmanager
def memoised_sources() -> Iterator[None]:
    """Within the block, each official MNIST / Fashion-MNIST / CIFAR-10 source is read from
    disk once and reused (a benchmark loads the same source for every cell)."""
    global _MEMO
    outer = _MEMO
    _MEMO = {} if outer is None else outer
    try:
        yield
    finally:
        _MEMO = outer


def _official(name: str, path: Path | None, download: bool) -> tuple[ImageSet, ImageSet]:
    key = (name, str(path), download)
    if _MEMO is not None and key in _MEMO:
        return _MEMO[key]
    sets = _read_official(name, path, download)
    if _MEMO is not None:
        _MEMO[key] = sets
    return sets


def _read_official(name: str, path: Path | None, download: bool) -> tuple[ImageSet, ImageSet]:
    from genad.data.cifar import load_cifar10
    from genad.data.download import download as fetch_all
    from genad.data.mnist import load_mnist

    root = path or _default_root(name)
    if not root.exists() and not download:
        raise DataError(f"{name} data folder {root} does not exist; pass {name}:PATH or "
                        "download=True (CLI --download) to fetch it there")

    def read() -> tuple[ImageSet, ImageSet]:
        if name == "cifar10":
            return load_cifar10(root)
        return load_mnist(root, fashion=name == "fashion-mnist")

    try:
        return read()
    except DataError:
        if not download:
            raise
    fetch_all(name, root)
    return read()


def load(spec: str, protocol: str | None = None, cls: int | str | None = None, seed: int = 0,
         size: int | None = None, channels: int | None = None,
         download: bool = False) -> ImageSet | Split:
    """Load a source (see the module doc for `spec`) and, given `protocol`
    ("leave-one-out", "one-vs-rest", "mvtec"), make its Split for class `cls` (an index or a
    name; for masks:PATH with "mvtec", the name of the normal category) and `seed`.

    Without protocol: the raw ImageSet, official train and test pooled (mvtec: the train set).
    Images are uint8 (N, C, H, W) at their native size unless `size` is given (digits: 32);
    `channels` (1 or 3) converts them. `download` fetches missing mnist/fashion-mnist/cifar10
    files (sha256-checked)."""
    from genad.data.digits import load_digits
    from genad.data.folder import load_folder, load_mvtec, read_mask_folder

    name, path = _parse(spec)
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 1):
        raise ConfigError(f"size must be a positive number of pixels, got {size!r}")
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**32:
        raise ConfigError(f"seed must be an integer in [0, 2**32), got {seed!r}")
    if protocol is not None and protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if protocol is None and cls is not None:
        raise ConfigError(f"cls={cls!r} needs a protocol ({', '.join(PROTOCOLS)})")
    if download and name not in ("mnist", "fashion-mnist", "cifar10"):
        raise ConfigError(f"{name!r} cannot be downloaded; only mnist, fashion-mnist, cifar10")
    test: ImageSet | None = None
    if name == "digits":
        train = fit(load_digits(size or DEFAULT_SIZE), None, channels)
    elif name in ("mnist", "fashion-mnist", "cifar10"):
        train, test = (fit(s, size, channels) for s in _official(name, path, download))
        if protocol is None:
            return concat([train, test], name=name)
    elif name in ("shapes", "dsprites"):
        # sizes up to 64 shrink the binary sprites by area and threshold (they stay binary)
        small = size if size is not None and size <= 64 else None
        if name == "shapes":
            from genad.data.shapes import sample as sample_shapes

            n = int(spec.partition(":")[2] or 20_000)
            raw = sample_shapes(n, seed, small or 64)
        else:
            from genad.data.dsprites import load_dsprites

            raw = load_dsprites(path, size=small)
        train = fit(raw, None if small else size, channels)
    elif name == "folder":
        train = load_folder(path, size, channels)
    elif name == "mvtec":
        train, test = load_mvtec(path, size, channels)
        if protocol is None:
            return train
    else:
        normal = cls if protocol == "mvtec" and isinstance(cls, str) else "MT_Free"
        train = read_mask_folder(path, normal, size, channels)
        if protocol == "mvtec":
            return holdout_split(train, train.targets == 0, seed, 0.8, "mvtec", normal)
    if protocol is None:
        return train
    if protocol == "mvtec" and name != "mvtec":
        raise ConfigError(f"protocol 'mvtec' needs mvtec:PATH or masks:PATH, not {name!r}")
    if protocol != "mvtec" and name == "mvtec":
        raise ConfigError("mvtec:PATH supports the 'mvtec' protocol only")
    return make_split(protocol, train, test, cls, seed)
