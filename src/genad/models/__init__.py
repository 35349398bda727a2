"""Every model family; importing this package registers them all."""

from genad.models import (  # noqa: F401
    ae,
    classic,
    deep_svdd,
    ganomaly,
    gaussian_ad,
    infogan,
    skip_ganomaly,
    vae,
)
from genad.models.base import Detector, DetectorConfig

__all__ = ["Detector", "DetectorConfig"]
