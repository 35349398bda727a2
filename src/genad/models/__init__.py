"""Every model family; importing this package registers them all."""

from genad.models import ae, ganomaly, skip_ganomaly, vae  # noqa: F401
from genad.models.base import Detector, DetectorConfig

__all__ = ["Detector", "DetectorConfig"]
