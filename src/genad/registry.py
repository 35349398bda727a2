"""Name -> model class. Models register themselves with `@register("name")`."""
from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TypeVar

from genad.errors import ConfigError

T = TypeVar("T", bound=type)
_MODELS: dict[str, type] = {}


def register(name: str) -> Callable[[T], T]:
    def wrap(cls: T) -> T:
        if name in _MODELS and _MODELS[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered to {_MODELS[name]!r}")
        _MODELS[name] = cls
        cls.name = name
        return cls

    return wrap


def get(name: str) -> type:
    _load_builtin()
    if name not in _MODELS:
        close = difflib.get_close_matches(name, _MODELS, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise ConfigError(f"unknown model {name!r}.{hint} Known models: {', '.join(names())}")
    return _MODELS[name]


def names() -> list[str]:
    _load_builtin()
    return sorted(_MODELS)


def _load_builtin() -> None:
    import genad.models  # noqa: F401  (importing the package registers every model)
