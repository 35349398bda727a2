"""Every model family, one module each; importing this package imports them all, which
registers every model (a new `models/<name>.py` needs no line here)."""

import importlib
import pkgutil

from genad.models.base import Detector, DetectorConfig

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = ["Detector", "DetectorConfig"]
