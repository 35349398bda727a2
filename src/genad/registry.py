"""Name -> trainable class. Classes register themselves with `@register("name", kind=...)`.

Kinds: "detector" (anomaly detectors, what `genad models`, `genad train` and `genad bench`
offer), "transfer" (the content-transfer model) and "auxiliary" (what genad trains for its own
measurements: the attribute classifier, the probes). `genad.load` finds any of them by the
name saved in model.json.
"""
from __future__ import annotations

import difflib
from collections.abc import Callable
from typing import TypeVar

from genad.errors import ConfigError

T = TypeVar("T", bound=type)
KINDS = ("detector", "transfer", "auxiliary")
_CLASSES: dict[str, type] = {}
_KIND: dict[str, str] = {}


def register(name: str, kind: str = "detector") -> Callable[[T], T]:
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")

    def wrap(cls: T) -> T:
        if name in _CLASSES and _CLASSES[name] is not cls:
            raise ValueError(f"model name {name!r} is already registered to {_CLASSES[name]!r}")
        _CLASSES[name], _KIND[name] = cls, kind
        cls.name = name
        return cls

    return wrap


def get(name: str, kind: str | None = "detector") -> type:
    """The class registered under `name`; with `kind` (default "detector"), only of that
    kind. An unknown name raises ConfigError naming the closest known one."""
    known = names(kind)
    if name not in known:
        close = difflib.get_close_matches(name, known, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        what = "model" if kind in (None, "detector") else kind
        raise ConfigError(f"unknown {what} {name!r}.{hint} Known: {', '.join(known)}")
    return _CLASSES[name]


def kind_of(name: str) -> str:
    get(name, None)
    return _KIND[name]


def names(kind: str | None = "detector") -> list[str]:
    """The registered names of `kind` (None: every kind), sorted."""
    _load_builtin()
    return sorted(n for n in _CLASSES if kind is None or _KIND[n] == kind)


def _load_builtin() -> None:
    # importing the packages registers every class
    import genad.models  # noqa: F401
    import genad.probe  # noqa: F401
