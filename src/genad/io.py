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

import numpy as np
import torch
from safetensors.torch import load_file, save_file

from genad.errors import DataError

FORMAT = 1


def versions() -> dict[str, str]:
    from genad import __version__

    return {"genad": __version__, "torch": torch.__version__, "python": platform.python_version()}


def atomic_write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text)
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


# ---- detectors --------------------------------------------------------------------------------
def save_detector(det: Any, folder: Path) -> Path:
    """folder/model.safetensors (weights + calibration scores) and folder/model.json."""
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"{name}.{k}": v for name, net in det.nets_.items() for k, v in net.state_dict().items()
    }
    tensors["calibration_scores"] = torch.from_numpy(np.asarray(det.calibration_scores_))
    atomic_save_tensors(tensors, folder / "model.safetensors")
    meta = {
        "format": FORMAT,
        "model": det.name,
        "config": det.config_dict(),
        "channels": det.channels_,
        "input_size": list(det.input_size_),
        "threshold": det.threshold_,
        "extra": det.extra_state(),
        "versions": versions(),
    }
    atomic_write_text(folder / "model.json", json.dumps(meta, indent=2))
    return folder


def load_detector(path: str | Path, device: str | None = None) -> Any:
    """Load a detector saved by `save`. `path` is the folder (or its model.json)."""
    from genad import registry, train

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
    if meta.get("model") == "content-transfer":  # not a detector; its own loader
        from genad.models.content_transfer import ContentTransfer

        return ContentTransfer.load(folder, device=device)
    cls = registry.get(meta["model"])
    config = dict(meta["config"])
    if device is not None:
        config["device"] = device
    det = cls(**config)
    det.channels_ = int(meta["channels"])
    det.input_size_ = tuple(meta["input_size"])
    det.device_ = train.pick_device(det.config.device)
    nets = det.build(det.channels_)
    for name, net in nets.items():
        state = {k[len(name) + 1 :]: v for k, v in tensors.items() if k.startswith(name + ".")}
        net.load_state_dict(state)
        net.to(det.device_).eval()
    det.nets_ = nets
    det.calibration_scores_ = tensors["calibration_scores"].numpy().astype(np.float64)
    det.threshold_ = float(meta["threshold"])
    det.load_extra_state(meta.get("extra", {}))
    return det
