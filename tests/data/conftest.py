"""The real data sets' folder (../shared/data) and helpers shared by the data tests."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

SHARED = Path(__file__).resolve().parents[3] / "shared" / "data"
SUBSET = SHARED / "dsprites" / "dsprites_union_64834.npz"


def need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"real data not present at {path} (see ../shared/data/README.md)")
    return path


def save(path: Path, array: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.fromarray(array).save(path)


# ---- the real dSprites subset: test_shapes.py, test_dsprites.py ----------------------------
@pytest.fixture(scope="module")
def real() -> dict:
    if not SUBSET.is_file():
        pytest.skip(f"real dSprites subset not present at {SUBSET} (see ../shared/data/README.md)")
    with np.load(SUBSET) as d:
        return {k: d[k] for k in ("imgs", "latents_classes", "latents_values",
                                  "original_dataset_indices")}
