"""Every model family; importing this package registers them all."""

from genad.models import (  # noqa: F401
    ae,
    alocc,
    anogan,
    classic,
    deep_svdd,
    egbad,
    ganomaly,
    gaussian_ad,
    infogan,
    ocgan,
    skip_ganomaly,
    vae,
)
from genad.models.base import Detector, DetectorConfig

__all__ = ["Detector", "DetectorConfig"]
