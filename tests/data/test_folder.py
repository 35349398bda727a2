"""Image folders (data/folder.py): plain folders with classes, MVTec, images with masks (the
real magnetic tiles where present), and unreadable files named in the error."""
from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genad.data import load
from genad.data.folder import load_folder, load_mvtec, read_mask_folder
from genad.errors import DataError
from tests.data.conftest import SHARED, need, save

TILES = SHARED / "magnetic_tile"


def test_plain_folder_with_classes_sizes_and_channels(tmp_path: Path) -> None:
    save(tmp_path / "cats" / "a.png", np.full((20, 30), 200, np.uint8))
    save(tmp_path / "cats" / "sub" / "b.jpg", np.full((40, 40, 3), 50, np.uint8))
    save(tmp_path / "dogs" / "c.bmp", np.full((16, 16), 10, np.uint8))
    with pytest.raises(DataError, match="size"):
        load_folder(tmp_path)
    d = load_folder(tmp_path, size=24)
    assert d.images.shape == (3, 3, 24, 24)  # one RGB image -> all RGB
    assert d.classes == ["cats", "dogs"] and d.labels.tolist() == [0, 0, 1]
    grey = load(f"folder:{tmp_path}", size=8, channels=1)
    assert grey.images.shape == (3, 1, 8, 8) and abs(int(grey.images[0].float().mean()) - 200) < 2


def _mvtec(root: Path) -> None:
    rng = np.random.default_rng(0)
    for i in range(4):
        save(root / "train" / "good" / f"{i:03d}.png", rng.integers(0, 256, (64, 64, 3),
                                                                  dtype=np.uint8))
    save(root / "test" / "good" / "000.png", rng.integers(0, 256, (48, 48), dtype=np.uint8))
    for kind, (h, w), rgb in (("crack", (64, 64), True), ("scratch", (96, 80), False)):
        for i in range(2):
            image = np.zeros((h, w, 3) if rgb else (h, w), np.uint8)
            mask = np.zeros((h, w), np.uint8)
            mask[h // 4: h // 2, w // 2: 3 * w // 4] = 255
            image[mask > 0] = 255
            save(root / "test" / kind / f"{i:03d}.png", image)
            save(root / "ground_truth" / kind / f"{i:03d}_mask.png", mask)


def test_mvtec_layout_mixed_sizes_grey_rgb_masks_aligned(tmp_path: Path) -> None:
    _mvtec(tmp_path / "widget")
    with pytest.raises(DataError, match="size"):
        load_mvtec(tmp_path / "widget")
    with pytest.raises(DataError, match="widget"):  # the data set root names its categories
        load_mvtec(tmp_path)
    train, test = load_mvtec(tmp_path / "widget", size=32)
    assert train.images.shape == (4, 3, 32, 32) and bool((train.labels == 0).all())
    assert test.classes == ["good", "crack", "scratch"]
    assert test.labels.tolist() == [0, 1, 1, 1, 1] and test.targets.tolist() == [0, 1, 1, 2, 2]
    assert test.masks.shape == (5, 1, 32, 32) and int(test.masks[0].sum()) == 0
    for i in range(1, 5):
        bright = test.images[i].float().mean(0) > 127
        assert torch.equal(bright, test.masks[i, 0].bool())  # mask on the defect pixels
        assert int(test.masks[i].sum()) == 8 * 8
    assert load(f"mvtec:{tmp_path / 'widget'}", size=32).images.shape == (4, 3, 32, 32)


def test_mvtec_without_masks_is_read_without_pixel_labels(tmp_path: Path) -> None:
    """A good/bad tree whose defect images lack masks (often so with a user's own images) is
    read, with a warning naming one, and no masks; image labels as with masks."""
    _mvtec(tmp_path)
    _, with_masks = load_mvtec(tmp_path, size=32)
    (tmp_path / "ground_truth" / "crack" / "001_mask.png").unlink()
    with pytest.warns(UserWarning, match="001"):
        train, test = load_mvtec(tmp_path, size=32)
    assert test.masks is None and test.labels.tolist() == with_masks.labels.tolist()
    import shutil

    shutil.rmtree(tmp_path / "ground_truth")
    with pytest.warns(UserWarning, match="no mask"):
        assert load_mvtec(tmp_path, size=32)[1].masks is None


def test_mask_folder_generic_layout(tmp_path: Path) -> None:
    for cat, n in (("ok", 5), ("dent", 2)):
        for i in range(n):
            image = np.full((30, 20), 100, np.uint8)
            mask = np.zeros((30, 20), np.uint8)
            if cat == "dent":
                mask[:15] = 255
            save(tmp_path / "set" / cat / "Imgs" / f"{i}.jpg", image)
            save(tmp_path / "set" / cat / "Imgs" / f"{i}.png", mask)
    d = read_mask_folder(tmp_path, normal="ok")
    assert d.images.shape == (7, 1, 30, 20) and d.classes == ["ok", "dent"]
    assert d.masks[:5].sum() == 0 and d.masks[5:, :, :15].all() and d.masks[5:, :, 15:].sum() == 0
    with pytest.raises(DataError, match="MT_Free"):
        read_mask_folder(tmp_path)


def test_magnetic_tiles_at_64_match_manifest() -> None:
    need(TILES / "manifest.csv")
    d = read_mask_folder(TILES, size=64)
    assert d.images.shape[1:] == (1, 64, 64) and d.masks.shape[1:] == (1, 64, 64)
    with open(TILES / "manifest.csv") as f:
        rows = list(csv.DictReader(f))
    for name in ("Free", "Blowhole", "Break", "Fray", "Uneven"):
        mine = [r for r in rows if r["category"] == name]
        sel = d.targets == d.classes.index(f"MT_{name}")
        assert int(sel.sum()) == len(mine)
        share = np.mean([int(r["defect_pixels"]) / (int(r["width"]) * int(r["height"]))
                         for r in mine])
        got = float(d.masks[sel].float().mean())
        assert got == pytest.approx(share, rel=0.25, abs=1e-9)
        assert bool(d.labels[sel].eq(0).all()) == (name == "Free")


def test_corrupt_png_names_the_file(tmp_path: Path) -> None:
    save(tmp_path / "good.png", np.zeros((8, 8), np.uint8))
    (tmp_path / "x.png").write_bytes(np.random.default_rng(0).bytes(300))
    with pytest.raises(DataError, match="x.png"):
        load_folder(tmp_path)


def test_truncated_png_names_the_file(tmp_path: Path) -> None:
    save(tmp_path / "a.png", np.random.default_rng(0).integers(0, 256, (64, 64), np.uint8))
    data = (tmp_path / "a.png").read_bytes()
    (tmp_path / "a.png").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError, match="a.png"):
        load_folder(tmp_path)


def test_16_bit_grey_images_are_scaled_not_clipped(tmp_path: Path, monkeypatch) -> None:
    """A 16-bit PNG ramp keeps its whole range in 8 bits (PIL's own conversion clipped every
    value above 255, so the ramp became two grey levels)."""
    from genad.data import folder

    ramp = (np.arange(64 * 64).reshape(64, 64) * 16).astype(np.uint16)  # 0 .. 65,520
    Image.fromarray(ramp).save(tmp_path / "ramp.png")
    for channels in (1, 3):
        x = folder.read_images([tmp_path / "ramp.png"], (64, 64), channels)
        assert x.shape == (1, channels, 64, 64)
        assert int(x.min()) == 0 and int(x.max()) == 255 and len(x.unique()) == 256
        np.testing.assert_allclose(x[0, 0].numpy(), ramp / 257, atol=0.51)
    Image.fromarray(np.full((8, 8), 0.5, np.float32), "F").save(tmp_path / "f.tif")
    assert int(folder.read_images([tmp_path / "f.tif"], (8, 8), 1).max()) == 128
    monkeypatch.setattr(folder, "MAX_PIXELS", 64 * 64 - 1)
    with pytest.raises(DataError, match="more than genad reads"):
        folder.read_images([tmp_path / "ramp.png"], (8, 8), 1)
