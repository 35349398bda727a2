"""Model files and checkpoints: safetensors + JSON, atomic writes, no pickle."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import genad
from genad import io
from genad.errors import DataError


@pytest.fixture(scope="module")
def fitted_ae(digits16):
    return genad.create("ae", image_size=16, width=8, epochs=1, batch_size=16).fit(digits16)


def _adam_after_steps(steps: int = 2) -> tuple[torch.nn.Module, torch.optim.Adam]:
    torch.manual_seed(0)
    net = torch.nn.Sequential(torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 1))
    opt = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.5, 0.999))
    for _ in range(steps):
        opt.zero_grad()
        net(torch.randn(8, 4)).pow(2).mean().backward()
        opt.step()
    return net, opt


def _assert_same(a, b) -> None:
    """Nested equality where tensors must match exactly (dtype and values)."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype and torch.equal(a, b)
    elif isinstance(a, dict):
        assert isinstance(b, dict) and list(a) == list(b)  # same keys (ints stay ints), same order
        for k in a:
            _assert_same(a[k], b[k])
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b)
        for u, v in zip(a, b):
            _assert_same(u, v)
    else:
        assert a == b


def test_flatten_unflatten_round_trip_of_adam_state(tmp_path: Path) -> None:
    net, opt = _adam_after_steps()
    state = opt.state_dict()
    assert state["state"], "Adam keeps per-parameter state after a step"

    tensors: dict[str, torch.Tensor] = {}
    skeleton = io.flatten_state(state, "opt.g", tensors)
    assert tensors and all(k.startswith("opt.g.") for k in tensors)
    # Through the real storage: JSON for the skeleton, safetensors for the tensors.
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(tmp_path / "s.safetensors"))
    back = io.unflatten_state(
        json.loads(json.dumps(skeleton)), load_file(str(tmp_path / "s.safetensors"))
    )
    _assert_same(state["state"], back["state"])
    assert [g["params"] for g in back["param_groups"]] == [
        g["params"] for g in state["param_groups"]
    ]

    # The restored state must drive a fresh optimizer exactly as the original continues.
    net2 = torch.nn.Sequential(
        torch.nn.Linear(4, 3), torch.nn.BatchNorm1d(3), torch.nn.Linear(3, 1)
    )
    net2.load_state_dict(net.state_dict())
    opt2 = torch.optim.Adam(net2.parameters(), lr=0.5, betas=(0.9, 0.9))  # overwritten by the load
    opt2.load_state_dict(back)
    x = torch.randn(8, 4)
    for n, o in ((net, opt), (net2, opt2)):
        o.zero_grad()
        n(x).pow(2).mean().backward()
        o.step()
    for p, q in zip(net.parameters(), net2.parameters()):
        assert torch.equal(p, q)


def test_flatten_state_keeps_non_tensors_and_nesting() -> None:
    obj = {"a": [1, 2.5, None, "x", True], 3: {"t": torch.arange(3)}, "tup": (torch.ones(2), 4)}
    tensors: dict[str, torch.Tensor] = {}
    skeleton = io.flatten_state(obj, "p", tensors)
    assert set(tensors) == {"p.3.t", "p.tup.0"}
    json.dumps(skeleton)  # the skeleton is JSON-able
    back = io.unflatten_state(json.loads(json.dumps(skeleton)), tensors)
    assert back["a"] == [1, 2.5, None, "x", True]
    assert 3 in back and torch.equal(back[3]["t"], torch.arange(3))
    assert torch.equal(back["tup"][0], torch.ones(2)) and back["tup"][1] == 4


def test_model_json_holds_versions_and_config(fitted_ae, tmp_path: Path) -> None:
    folder = fitted_ae.save(tmp_path / "m")
    meta = json.loads((folder / "model.json").read_text())
    assert meta["model"] == "ae"
    assert meta["versions"]["genad"] == genad.__version__
    assert meta["versions"]["torch"] == torch.__version__
    assert meta["config"] == fitted_ae.config_dict()
    assert meta["config"]["image_size"] == 16 and meta["config"]["width"] == 8
    assert meta["channels"] == 1 and meta["extra"]["input_size"] == [16, 16]
    assert meta["extra"]["threshold"] == fitted_ae.threshold_
    assert sorted(p.name for p in folder.iterdir()) == ["model.json", "model.safetensors"]


def test_load_accepts_the_model_json_path(fitted_ae, tmp_path: Path, digits16) -> None:
    folder = fitted_ae.save(tmp_path / "m")
    det = genad.load(str(folder / "model.json"))
    np.testing.assert_array_equal(
        det.decision_function(digits16[:8]), fitted_ae.decision_function(digits16[:8])
    )


def test_corrupt_weights_raise_data_error(fitted_ae, tmp_path: Path) -> None:
    folder = fitted_ae.save(tmp_path / "m")
    (folder / "model.safetensors").write_bytes(b"\x00\x01 not a safetensors file " * 10)
    with pytest.raises(DataError):
        genad.load(str(folder))


def test_truncated_weights_raise_data_error(fitted_ae, tmp_path: Path) -> None:
    folder = fitted_ae.save(tmp_path / "m")
    data = (folder / "model.safetensors").read_bytes()
    (folder / "model.safetensors").write_bytes(data[: len(data) // 2])
    with pytest.raises(DataError):
        genad.load(str(folder))


def test_corrupt_json_raises_data_error(fitted_ae, tmp_path: Path) -> None:
    folder = fitted_ae.save(tmp_path / "m")
    (folder / "model.json").write_text("{not json")
    with pytest.raises(DataError):
        genad.load(str(folder))


def test_folder_without_model_raises_data_error(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="no genad model"):
        genad.load(str(tmp_path / "empty"))
    with pytest.raises(DataError):
        genad.load(str(tmp_path / "does-not-exist"))


def test_weights_without_json_raise_data_error(fitted_ae, tmp_path: Path) -> None:
    folder = fitted_ae.save(tmp_path / "m")
    (folder / "model.json").unlink()
    with pytest.raises(DataError):
        genad.load(str(folder))


def test_atomic_save_tensors_never_leaves_half_a_file(tmp_path: Path, monkeypatch) -> None:
    path = tmp_path / "w.safetensors"
    io.atomic_save_tensors({"a": torch.ones(3)}, path)
    assert torch.equal(load_file(str(path))["a"], torch.ones(3))

    def crash(tensors, filename):  # a writer killed half-way through
        Path(filename).write_bytes(b"half")
        raise OSError("disk full")

    monkeypatch.setattr(io, "save_file", crash)
    with pytest.raises(OSError):
        io.atomic_save_tensors({"a": torch.zeros(3)}, path)
    assert torch.equal(load_file(str(path))["a"], torch.ones(3))  # the old file is intact


def test_atomic_write_text_replaces_and_leaves_no_tmp(tmp_path: Path) -> None:
    path = tmp_path / "m.json"
    io.atomic_write_text(path, "one")
    io.atomic_write_text(path, "two")
    assert path.read_text() == "two"
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]
