"""The embedded default data: scikit-learn's bundled handwritten digits (UCI optdigits).

1,797 real 8x8 grey digits (values 0..16) ship inside scikit-learn, so this source needs no
network and no data folder.
"""
from __future__ import annotations

import numpy as np
import torch

from genad.data.base import DEFAULT_SIZE, ImageSet, resize

CLASSES = [str(d) for d in range(10)]


def load_digits(size: int = DEFAULT_SIZE) -> ImageSet:
    """All 1,797 digits as an ImageSet: images (1797, 1, size, size) uint8 0..255 (bilinear
    upsampling from 8x8), labels (1797,) the digit 0..9, targets = labels."""
    from sklearn.datasets import load_digits as sklearn_digits

    bunch = sklearn_digits()
    grey = np.rint(bunch.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    images = resize(torch.from_numpy(grey).unsqueeze(1), size)
    labels = torch.from_numpy(bunch.target.astype(np.int64))
    return ImageSet(images, labels, CLASSES.copy(), targets=labels.clone(), name="digits")
