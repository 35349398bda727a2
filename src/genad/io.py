"""Model files and checkpoints: safetensors for tensors, JSON for everything else.

Never pickle: loading a model file cannot run code. Every write goes to a temporary file
first and is moved into place with os.replace, so a killed process leaves either the old
file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import platform
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_file, save_file

from genad.errors import DataError

FORMAT = 1


def versions() -> dict[str, str]:
    from genad import __version__

    return {"genad": __version__, "torch": torch.__version__, "python": platform.python_version()}


def atomic_write_text(path: Path, text: str) -> None:
    """UTF-8 text written to a temporary file, then renamed over `path`. A file name that is
    not valid UTF-8 (held by Python as surrogate escapes) is written as its own bytes."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8", errors="surrogateescape")
    os.replace(tmp, path)


def atomic_save_tensors(tensors: dict[str, torch.Tensor], path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    save_file({k: v.detach().cpu().contiguous() for k, v in tensors.items()}, str(tmp))
    os.replace(tmp, path)


# ---- nested state (optimizer state dicts) <-> flat tensors + JSON skeleton -------------------
def flatten_state(obj: Any, prefix: str, out: dict[str, torch.Tensor]) -> Any:
    """Move every tensor of a nested dict/list into `out` under a path key; return the JSON-able
    skeleton that refers to them."""
    if isinstance(obj, torch.Tensor):
        out[prefix] = obj
        return {"__tensor__": prefix}
    if isinstance(obj, dict):
        return {"__dict__": [[k, flatten_state(v, f"{prefix}.{k}", out)] for k, v in obj.items()]}
    if isinstance(obj, (list, tuple)):
        return [flatten_state(v, f"{prefix}.{i}", out) for i, v in enumerate(obj)]
    return obj


def unflatten_state(skel: Any, tensors: dict[str, torch.Tensor]) -> Any:
    if isinstance(skel, dict) and "__tensor__" in skel:
        return tensors[skel["__tensor__"]]
    if isinstance(skel, dict) and "__dict__" in skel:
        return {k: unflatten_state(v, tensors) for k, v in skel["__dict__"]}
    if isinstance(skel, list):
        return [unflatten_state(v, tensors) for v in skel]
    return skel


# ---- model folders ----------------------------------------------------------------------------
def save_model(folder: Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """folder/model.safetensors (`tensors`) and folder/model.json (`meta` + format and
    versions), each written atomically; the JSON last, so that it marks a complete model."""
    folder.mkdir(parents=True, exist_ok=True)
    atomic_save_tensors(tensors, folder / "model.safetensors")
    meta = {"format": FORMAT, **meta, "versions": versions()}
    atomic_write_text(folder / "model.json", json.dumps(meta, indent=2))
    return folder


# config keys renamed since a format was written: old -> new
_RENAMED = {"score_batch_size": "eval_batch_size"}


def read_model(path: str | Path) -> tuple[dict[str, Any], dict[str, torch.Tensor], Path]:
    """(model.json as a dict, the tensors of model.safetensors, the folder) of a model folder
    written by `save_model`; `path` is the folder or its model.json."""
    folder = Path(path).expanduser()
    if folder.name == "model.json":
        folder = folder.parent
    meta_path, weights_path = folder / "model.json", folder / "model.safetensors"
    if not meta_path.is_file() or not weights_path.is_file():
        raise DataError(f"{folder} holds no genad model (model.json + model.safetensors expected)")
    try:
        meta = json.loads(meta_path.read_text())
        tensors = load_file(str(weights_path))
    except Exception as e:  # a corrupt file of any kind
        raise DataError(f"cannot read the model in {folder}: {e}") from None
    if not isinstance(meta, dict) or not isinstance(meta.get("config"), dict):
        raise DataError(f"{meta_path} is not a genad model description")
    fmt = meta.get("format")
    if not isinstance(fmt, int) or isinstance(fmt, bool) or not 1 <= fmt <= FORMAT:
        newer = isinstance(fmt, int) and not isinstance(fmt, bool) and fmt > FORMAT
        raise DataError(f"{meta_path} has format {fmt!r}; this genad reads formats 1 to "
                        f"{FORMAT}" + (" (a newer genad wrote it: upgrade genad)" if newer
                                       else " (the file is damaged)"))
    bad = sorted(k for k, t in tensors.items()
                 if t.is_floating_point() and not bool(torch.isfinite(t).all()))
    if bad:
        raise DataError(f"{weights_path} holds NaN or Inf values ({', '.join(bad[:3])}"
                        f"{', ...' if len(bad) > 3 else ''}): the model is damaged")
    meta["config"] = {_RENAMED.get(k, k): v for k, v in meta["config"].items()}
    if "threshold" in meta:  # detectors written before the fitted values moved into "extra"
        meta["extra"] = {"threshold": meta.pop("threshold"),
                         "input_size": meta.pop("input_size", None), **(meta.get("extra") or {})}
    return meta, tensors, folder
