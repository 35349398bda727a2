"""Opt-in downloads (`download=True`, CLI `--download`) of MNIST, Fashion-MNIST and CIFAR-10.

Every file is written to a temporary file beside its destination, checked against a sha256
pinned below, and only then renamed into place; on a mismatch the temporary file is deleted
and a DataError raised. For MNIST the check is on the decompressed IDX content (the sha256
of the raw files; the .gz bytes differ between mirrors); for Fashion-MNIST and CIFAR-10 it is
on the published archives themselves.
"""
from __future__ import annotations

import gzip
import hashlib
import os
import tarfile
import tempfile
import urllib.error
import urllib.request
import zlib
from dataclasses import dataclass
from pathlib import Path

from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TransferSpeedColumn

from genad.errors import ConfigError, DataError


@dataclass(frozen=True)
class Remote:
    """One file to fetch: mirrors tried in order, the sha256 expected, and whether it is
    taken of the file as fetched ("file") or of its gunzipped content ("gunzip")."""

    filename: str
    urls: tuple[str, ...]
    sha256: str
    check: str = "file"


_MNIST_MIRRORS = ("https://ossci-datasets.s3.amazonaws.com/mnist/",
                  "http://yann.lecun.com/exdb/mnist/")
_FASHION_MIRRORS = (
    "http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",
    "https://raw.githubusercontent.com/zalandoresearch/fashion-mnist/master/data/fashion/",
)
_CIFAR_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"


def _remotes(mirrors: tuple[str, ...], hashes: dict[str, str], check: str) -> list[Remote]:
    return [Remote(name, tuple(m + name for m in mirrors), digest, check)
            for name, digest in hashes.items()]


SOURCES: dict[str, list[Remote]] = {
    # sha256 of the decompressed IDX files
    "mnist": _remotes(_MNIST_MIRRORS, {
        "train-images-idx3-ubyte.gz":
            "ba891046e6505d7aadcbbe25680a0738ad16aec93bde7f9b65e87a2fc25776db",
        "train-labels-idx1-ubyte.gz":
            "65a50cbbf4e906d70832878ad85ccda5333a97f0f4c3dd2ef09a8a9eef7101c5",
        "t10k-images-idx3-ubyte.gz":
            "0fa7898d509279e482958e8ce81c8e77db3f2f8254e26661ceb7762c4d494ce7",
        "t10k-labels-idx1-ubyte.gz":
            "ff7bcfd416de33731a308c3f266cc351222c34898ecbeaf847f06e48f7ec33f2",
    }, "gunzip"),
    # sha256 of the published .gz files
    "fashion-mnist": _remotes(_FASHION_MIRRORS, {
        "train-images-idx3-ubyte.gz":
            "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84",
        "train-labels-idx1-ubyte.gz":
            "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845",
        "t10k-images-idx3-ubyte.gz":
            "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073",
        "t10k-labels-idx1-ubyte.gz":
            "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5",
    }, "file"),
    "cifar10": [Remote("cifar-10-python.tar.gz", (_CIFAR_URL,),
                       "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce")],
}
_CHUNK = 1 << 20


def sha256_of(path: Path, gunzip: bool = False) -> str:
    """Hex sha256 of a file's bytes (or of its gunzipped content)."""
    digest = hashlib.sha256()
    try:
        with (gzip.open(path, "rb") if gunzip else open(path, "rb")) as f:
            while block := f.read(_CHUNK):
                digest.update(block)
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read {path} to check it: {err}") from err
    return digest.hexdigest()


def _stream(url: str, out: Path, label: str, progress: bool) -> None:
    with urllib.request.urlopen(url, timeout=60) as response, open(out, "wb") as f:
        total = int(response.headers.get("Content-Length") or 0) or None
        columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                   TransferSpeedColumn())
        with Progress(*columns, disable=not progress, transient=True) as bar:
            task = bar.add_task(f"downloading {label}", total=total)
            while block := response.read(_CHUNK):
                f.write(block)
                bar.advance(task, len(block))


def fetch(remote: Remote, folder: Path, progress: bool = True) -> Path:
    """Download `remote` into `folder`: temp file, sha256 check, atomic rename. Tries each
    mirror in turn; DataError when none works or the hash does not match."""
    folder.mkdir(parents=True, exist_ok=True)
    dest = folder / remote.filename
    errors = []
    for url in remote.urls:
        fd, name = tempfile.mkstemp(prefix=f".{remote.filename}.", suffix=".tmp", dir=folder)
        os.close(fd)
        tmp = Path(name)
        try:
            _stream(url, tmp, remote.filename, progress)
            got = sha256_of(tmp, gunzip=remote.check == "gunzip")
            if got != remote.sha256:
                raise DataError(f"{url} does not match its pinned sha256 (expected "
                                f"{remote.sha256}, got {got}); the file was deleted. Try again "
                                f"later or put a good copy of {remote.filename} in {folder}")
            os.replace(tmp, dest)
            return dest
        except (urllib.error.URLError, OSError, ValueError) as err:
            errors.append(f"{url}: {err}")
        finally:
            tmp.unlink(missing_ok=True)
    raise DataError(f"could not download {remote.filename} ({'; '.join(errors)}); check the "
                    f"connection, or download it by hand into {folder}")


def _extract_cifar(archive: Path, folder: Path) -> None:
    """Extract the regular files of cifar-10-batches-py/ (nothing else, no links, no ..)."""
    try:
        with tarfile.open(archive, "r:gz") as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if member.isfile() and len(parts) == 2 and parts[0] == "cifar-10-batches-py":
                    target = folder / parts[0] / parts[1]
                    target.parent.mkdir(exist_ok=True)
                    source = tar.extractfile(member)
                    if source is not None:
                        target.write_bytes(source.read())
    except (tarfile.TarError, OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot extract {archive}: {err}; delete it and download again") \
            from err


def download(name: str, root: str | Path, progress: bool = True) -> Path:
    """Fetch the files of data set `name` ("mnist", "fashion-mnist", "cifar10") that are not
    yet in `root` (CIFAR-10 is extracted to root/cifar-10-batches-py). Returns `root`."""
    if name not in SOURCES:
        raise ConfigError(f"no download for {name!r}; downloadable: {', '.join(SOURCES)}")
    root = Path(root).expanduser()
    for remote in SOURCES[name]:
        path = root / remote.filename
        if not path.is_file():
            path = fetch(remote, root, progress)
        if name == "cifar10":
            _extract_cifar(path, root)
    return root
