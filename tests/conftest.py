"""Shared test fixtures, and helpers that several test modules import from here
(`from tests.conftest import ...`)."""
from __future__ import annotations

import pickle
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType, SimpleNamespace
from typing import TYPE_CHECKING

import numpy as np
import pytest
import torch

if TYPE_CHECKING:
    from genad import probe as P

# One intra-op thread: the learning tests' figures were measured so, and GAN training at a
# test's budget can end in a different place when float sums are split over more threads
# (EGBAD on digit 4 measured 0.94 AUROC with one thread, 0.30 with two).
torch.set_num_threads(1)


@pytest.fixture
def make_cifar_batches() -> Callable[..., dict[str, tuple[np.ndarray, list[int]]]]:
    """Returns make(folder, n=6, protocol=4): writes tiny fake CIFAR-10 pickle batches
    (data_batch_1..5, test_batch, batches.meta) into folder; returns name -> (data, labels)."""

    def make(folder: Path, n: int = 6, protocol: int = 4) -> dict[str, tuple[np.ndarray, list]]:
        folder.mkdir(parents=True, exist_ok=True)
        rng = np.random.default_rng(0)
        written = {}
        for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
            data = rng.integers(0, 256, (n, 3072), dtype=np.uint8)
            labels = [int(v) for v in rng.integers(0, 10, n)]
            table = {b"batch_label": name.encode(), b"labels": labels, b"data": data,
                     b"filenames": [f"img_{i}.png".encode() for i in range(n)]}
            (folder / name).write_bytes(pickle.dumps(table, protocol=protocol))
            written[name] = (data, labels)
        names = [b"airplane", b"automobile", b"bird", b"cat", b"deer", b"dog", b"frog",
                 b"horse", b"ship", b"truck"]
        meta = {b"label_names": names, b"num_vis": 3072, b"num_cases_per_batch": n}
        (folder / "batches.meta").write_bytes(pickle.dumps(meta, protocol=protocol))
        return written

    return make


# ---- models and the training engine ---------------------------------------------------------
SMALL = {"image_size": 16, "width": 8, "epochs": 1, "batch_size": 16, "seed": 0}


@pytest.fixture(scope="session")
def small_settings() -> MappingProxyType:
    """Settings every registered detector accepts and that train in a fraction of a second:
    16x16 networks of width 8, one epoch, batches of 16, seed 0 (read-only)."""
    return MappingProxyType(SMALL)


@pytest.fixture
def small_kwargs(small_settings) -> dict:
    """`small_settings` as a fresh dict a test may change."""
    return dict(small_settings)


@pytest.fixture
def mvtec_widget(tmp_path: Path) -> Path:
    """A tiny MVTec-layout category of random 16x16 grey images: 40 train/good, 3 test/good,
    3 test/hole with a square mask each; returns its folder."""
    from PIL import Image

    rng = np.random.default_rng(0)
    widget = tmp_path / "widget"
    files = [f"train/good/{i}.png" for i in range(40)] + [f"test/good/{i}.png" for i in range(3)]
    for sub in files + [f"test/hole/{i}.png" for i in range(3)]:
        (widget / sub).parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(rng.integers(0, 256, (16, 16), dtype=np.uint8)).save(widget / sub)
    (widget / "ground_truth" / "hole").mkdir(parents=True)
    mask = np.zeros((16, 16), np.uint8)
    mask[4:8, 4:8] = 255
    for i in range(3):
        Image.fromarray(mask).save(widget / "ground_truth" / "hole" / f"{i}_mask.png")
    return widget


@pytest.fixture(scope="session")
def digits16():
    """(64, 1, 16, 16) uint8 torch tensor: the first 64 bundled digits at 16x16."""
    import genad

    return genad.data.load("digits", size=16).images[:64].clone()


# ---- threads ------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def one_thread():
    """One torch thread while a module runs; a module asks for it with
    `pytestmark = pytest.mark.usefixtures("one_thread")` (see models/test_vae.py)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


# ---- disentanglement: test_probe.py, test_disentangle.py -----------------------------------
@pytest.fixture(scope="module")
def shapes_probe(tmp_path_factory) -> P.Probe:
    """A small shapes probe (3,000 sprites, 16x16, 3 epochs, ~5 s), saved where `probe_for`
    looks, so that runs in this module load it instead of training the full one."""
    from genad import probe as P
    from genad.data import shapes

    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("GENAD_CACHE", str(cache))
    s = shapes.sample(3000, seed=5, size=16)
    pr = P.train_probe(s.images, P.shapes_targets(s.factors), P.SHAPES_HEADS, 16,
                       key="shapes", epochs=3)
    pr.save(P.cache_path("shapes", 16))
    yield pr
    mp.undo()


# ---- GANs' discriminator step: models/test_gan_common.py, test_train.py (DDP) -------------
class StubDiscriminator(torch.nn.Module):
    """Gives fixed fake logits; its conv weights are 5 until something re-initialises it."""

    def __init__(self, fake_logit: float) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(1, 1, 1)
        torch.nn.init.constant_(self.conv.weight, 5.0)
        self.fake_logit = fake_logit

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, None]:
        return torch.full((len(x),), self.fake_logit), None

    @property
    def was_reset(self) -> bool:
        return not bool(torch.all(self.conv.weight == 5.0))


def d_step_resets(real_logit: float, fake_logit: float, world: int = 1) -> bool:
    """Run GANomaly's discriminator update on fixed logits; did it re-initialise D? With
    `world` > 1, the loss is averaged over the ranks as the engine does under DDP."""
    from genad import train
    from genad.models.gan_common import discriminator_step

    stub = StubDiscriminator(fake_logit)
    mean = (lambda t: train._world_mean(t, world)) if world > 1 else (lambda t: t)
    det = SimpleNamespace(nets_={"d": stub}, optimize=lambda loss, opt: None, world_mean=mean)
    discriminator_step(det, torch.full((4,), real_logit), torch.zeros(4, 1, 8, 8))
    return stub.was_reset
