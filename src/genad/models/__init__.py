"""Every model family; importing this package registers them all."""

import genad.models.classic  # noqa: F401  (one-class SVM, isolation forest on codes)
import genad.models.deep_svdd  # noqa: F401
import genad.models.gaussian_ad  # noqa: F401
from genad.models import ae, ganomaly, skip_ganomaly, vae  # noqa: F401
from genad.models.base import Detector, DetectorConfig

__all__ = ["Detector", "DetectorConfig"]
