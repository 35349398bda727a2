"""Model parameters as users write them: a YAML file, `KEY=VALUE` items, named flags.

`resolve` merges them in that order (later wins); every mistake is a one-line ConfigError.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import yaml

from genad.errors import ConfigError
from genad.trainable import is_network_size


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """KEY=VALUE items -> {key: YAML value}; dashes in keys become underscores."""
    params: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--param takes key=value, got {item!r}")
        try:
            params[key.strip().replace("-", "_")] = _number(yaml.safe_load(value))
        except yaml.YAMLError as e:
            raise ConfigError(f"--param {item!r}: not a YAML value ({e.problem})") from None
    return params


def _number(value: Any) -> Any:
    """YAML 1.1 reads 1e-3 (no dot) as a string; a string that is a plain decimal number is
    the number a user meant."""
    if isinstance(value, str):
        try:
            return float(value) if value.strip().lower() not in ("nan", "inf", "-inf",
                                                                 "infinity") else value
        except ValueError:
            return value
    return value


def read_params_file(path: str | Path) -> dict[str, Any]:
    """A YAML (or JSON) mapping of parameter: value, or a run's own config.json / model.json
    (genad wrote it: its model parameters, under "params" / "config", are taken)."""
    try:
        loaded = yaml.safe_load(Path(path).expanduser().read_text()) or {}
    except (OSError, yaml.YAMLError) as e:
        raise ConfigError(f"cannot read config {path}: {str(e).splitlines()[0]}") from None
    if not isinstance(loaded, dict):
        raise ConfigError(f"{path} must hold a mapping of parameter: value")
    if isinstance(loaded.get("versions"), dict):  # a run folder's config.json or model.json
        inner = loaded.get("params", loaded.get("config"))
        if not isinstance(inner, dict):
            raise ConfigError(f"{path} is a genad file without model parameters")
        return dict(inner)
    return loaded


def resolve(config_file: str | Path | None = None, items: Sequence[str] = (),
            flags: Mapping[str, Any] | None = None, size: int | None = None) -> dict[str, Any]:
    """Parameters from `config_file`, then `items` (KEY=VALUE), then `flags` (those not None);
    a `size` (the size images are read at) that is a power of two sets image_size when none
    of them does."""
    params = read_params_file(config_file) if config_file else {}
    params.update(parse_params(items))
    params.update({k: v for k, v in (flags or {}).items() if v is not None})
    if "image_size" not in params and size and is_network_size(size):
        params["image_size"] = size  # --size 16 alone: images read and networks run at 16
    return params
