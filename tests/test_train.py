"""The training engine: metrics, atomic checkpoints, exact resume, errors, and data-parallel
training on two CPU processes (gloo)."""

from __future__ import annotations

import json
import os
import socket
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

import genad
from genad import train
from genad.errors import ConfigError
from genad.models.base import Detector
from tests.conftest import d_step_resets

MODELS = genad.list_models()


def _weights(det) -> dict[str, torch.Tensor]:
    """Every parameter and buffer of every net, by name."""
    return {
        f"{n}.{k}": v.detach().clone()
        for n, net in det.nets_.items()
        for k, v in net.state_dict().items()
    }


def _assert_equal_weights(a: dict[str, torch.Tensor], b: dict[str, torch.Tensor]) -> None:
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert not different, f"{len(different)} tensors differ, e.g. {different[:3]}"


# ---- metrics and checkpoints ----------------------------------------------------------------
def test_metrics_jsonl_one_line_per_epoch(small_kwargs, digits16, tmp_path: Path) -> None:
    small_kwargs["epochs"] = 3
    det = genad.create("ae", **small_kwargs).fit(digits16, run_dir=tmp_path)
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    records = [json.loads(line) for line in lines]
    assert [r["epoch"] for r in records] == [1, 2, 3]
    steps_per_epoch = (len(digits16) - round(len(digits16) * 0.1)) // small_kwargs["batch_size"]
    assert [r["step"] for r in records] == [steps_per_epoch * e for e in (1, 2, 3)]
    for r in records:
        assert r["img_per_s"] > 0 and r["seconds"] >= 0
        assert np.isfinite(r["rec"]) and r["rec"] > 0
    assert records == det.history_


@pytest.mark.parametrize("name", MODELS)
def test_every_model_logs_finite_losses(name, small_kwargs, digits16) -> None:
    det = genad.create(name, **small_kwargs).fit(digits16)
    (record,) = det.history_
    losses = {k: v for k, v in record.items() if k not in ("epoch", "step", "seconds", "img_per_s")}
    assert losses and all(isinstance(v, float) and np.isfinite(v) for v in losses.values())


def test_on_epoch_end_adds_metrics(small_kwargs, digits16, tmp_path: Path) -> None:
    small_kwargs["epochs"] = 2
    seen = []

    def hook(epoch, det):
        seen.append(epoch)
        return {"extra": epoch * 10}

    det = genad.create("ae", **small_kwargs).fit(digits16, run_dir=tmp_path, on_epoch_end=hook)
    assert seen == [1, 2]
    assert [r["extra"] for r in det.history_] == [10, 20]
    lines = (tmp_path / "metrics.jsonl").read_text().splitlines()
    assert [json.loads(line)["extra"] for line in lines] == [10, 20]


def test_checkpoints_only_the_newest_and_no_tmp_files(
    small_kwargs, digits16, tmp_path: Path
) -> None:
    small_kwargs["epochs"] = 3
    listings = []

    def look(epoch, det):  # called before the epoch's checkpoint is written
        listings.append(sorted(p.name for p in tmp_path.iterdir()))

    det = genad.create("ae", **small_kwargs).fit(digits16, run_dir=tmp_path, on_epoch_end=look)
    assert listings[1] == ["checkpoint-0001.json", "checkpoint-0001.safetensors", "metrics.jsonl"]
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "checkpoint-0003.json",
        "checkpoint-0003.safetensors",
        "metrics.jsonl",
    ]
    assert not list(tmp_path.rglob("*.tmp"))

    meta = json.loads((tmp_path / "checkpoint-0003.json").read_text())
    assert meta["epoch"] == 3 and meta["model"] == "ae" and meta["config"] == det.config_dict()
    tensors = load_file(str(tmp_path / "checkpoint-0003.safetensors"))
    for k, v in det.nets_["ae"].state_dict().items():
        assert torch.equal(tensors[f"net.ae.{k}"], v)
    assert any(k.startswith("opt.ae.") for k in tensors) and "rng.torch" in tensors


def test_latest_checkpoint_ignores_incomplete_ones(tmp_path: Path) -> None:
    """The JSON is written last: a checkpoint without it (a crash mid-save) is not used."""
    save_file({"a": torch.ones(1)}, str(tmp_path / "checkpoint-0001.safetensors"))
    (tmp_path / "checkpoint-0001.json").write_text("{}")
    save_file({"a": torch.ones(1)}, str(tmp_path / "checkpoint-0002.safetensors"))
    (tmp_path / "checkpoint-0003.safetensors.tmp").write_bytes(b"half")
    assert train.latest_checkpoint(tmp_path) == tmp_path / "checkpoint-0001"
    assert train.latest_checkpoint(tmp_path / "nothing-here") is None


class _Mean(Detector):
    """The smallest detector the engine must train: one learnable mean image; losses are
    returned as Python floats, as the Detector docstring allows. Not registered."""

    name = "mean-test"

    def build(self, channels: int) -> dict[str, torch.nn.Module]:
        s = self.config.image_size
        return {
            "m": torch.nn.ParameterDict({"mu": torch.nn.Parameter(torch.zeros(channels, s, s))})
        }

    def optimizers(self) -> dict[str, torch.optim.Optimizer]:
        return {"m": torch.optim.SGD(self.nets_["m"].parameters(), lr=0.25)}

    def train_step(self, x: torch.Tensor) -> dict[str, float]:
        loss = (x - self.nets_["m"]["mu"]).pow(2).flatten(1).sum(1).mean()
        self.optimize(loss, "m")
        return {"sse": loss.item()}

    def score(self, x: torch.Tensor) -> torch.Tensor:
        return (x - self.nets_["m"]["mu"]).pow(2).flatten(1).mean(1)


def test_engine_trains_a_minimal_detector_with_float_losses(digits16, tmp_path: Path) -> None:
    det = _Mean(image_size=16, epochs=4, batch_size=16).fit(digits16, run_dir=tmp_path)
    sse = [r["sse"] for r in det.history_]
    assert all(isinstance(v, float) for v in sse) and sse[-1] < sse[0]
    x = digits16.float() / 127.5 - 1
    # the learned image approaches the mean image of the training digits
    assert (det.nets_["m"]["mu"] - x.mean(0)).abs().mean() < 0.1
    assert len((tmp_path / "metrics.jsonl").read_text().splitlines()) == 4


# ---- resume ---------------------------------------------------------------------------------
class _Interrupt:
    """on_epoch_end hook that stops training like Ctrl-C once `epoch` has trained."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def __call__(self, epoch, det):
        if epoch == self.epoch:
            raise KeyboardInterrupt


@pytest.mark.parametrize("name", MODELS)
def test_resume_gives_exactly_the_uninterrupted_weights(
    name, small_kwargs, digits16, tmp_path: Path
) -> None:
    small_kwargs["epochs"] = 3
    full = genad.create(name, **small_kwargs).fit(digits16, run_dir=tmp_path / "full")
    expected = _weights(full)

    run = tmp_path / "cut"
    with pytest.raises(KeyboardInterrupt):
        genad.create(name, **small_kwargs).fit(digits16, run_dir=run, on_epoch_end=_Interrupt(2))
    assert train.latest_checkpoint(run) == run / "checkpoint-0001"

    torch.manual_seed(999)  # whatever ran in between must not matter
    resumed = genad.create(name, **small_kwargs).fit(digits16, run_dir=run, resume=True)
    _assert_equal_weights(_weights(resumed), expected)
    assert [r["epoch"] for r in resumed.history_] == [2, 3]
    assert resumed.threshold_ == full.threshold_
    np.testing.assert_array_equal(
        resumed.decision_function(digits16), full.decision_function(digits16)
    )
    epochs = [
        json.loads(line)["epoch"] for line in (run / "metrics.jsonl").read_text().splitlines()
    ]
    assert epochs == [1, 2, 3]
    steps = [json.loads(line)["step"] for line in (run / "metrics.jsonl").read_text().splitlines()]
    full_steps = [r["step"] for r in full.history_]
    assert steps == full_steps


def test_resume_of_a_finished_run_trains_no_more(small_kwargs, digits16, tmp_path: Path) -> None:
    small_kwargs["epochs"] = 2
    first = genad.create("ae", **small_kwargs).fit(digits16, run_dir=tmp_path)
    again = genad.create("ae", **small_kwargs).fit(digits16, run_dir=tmp_path, resume=True)
    assert again.history_ == []
    _assert_equal_weights(_weights(again), _weights(first))


def test_resume_without_checkpoint_raises_config_error(
    small_kwargs, digits16, tmp_path: Path
) -> None:
    with pytest.raises(ConfigError, match="resume"):
        genad.create("ae", **small_kwargs).fit(digits16, run_dir=tmp_path, resume=True)
    with pytest.raises(ConfigError, match="resume"):
        genad.create("ae", **small_kwargs).fit(digits16, resume=True)  # no run_dir at all


def test_resume_from_another_models_checkpoint_raises_config_error(
    small_kwargs, digits16, tmp_path: Path
) -> None:
    genad.create("ae", **small_kwargs).fit(digits16, run_dir=tmp_path)
    with pytest.raises(ConfigError, match="ae"):
        genad.create("ganomaly", **small_kwargs).fit(digits16, run_dir=tmp_path, resume=True)


def test_batch_larger_than_data_raises_config_error(small_kwargs, digits16) -> None:
    small_kwargs["batch_size"] = 64  # 64 images - 6 held out for calibration = 58 < 64
    with pytest.raises(ConfigError, match="batch"):
        genad.create("ae", **small_kwargs).fit(digits16)


# ---- data-parallel training (two CPU processes, gloo) ---------------------------------------
DDP_KW = {"image_size": 16, "width": 8, "epochs": 2, "batch_size": 8, "seed": 0}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _ddp_worker(rank: int, port: int, images: torch.Tensor, out: str) -> None:
    import torch.distributed as dist

    torch.set_num_threads(1)
    os.environ.update(
        RANK=str(rank),
        LOCAL_RANK=str(rank),
        WORLD_SIZE="2",
        MASTER_ADDR="127.0.0.1",
        MASTER_PORT=str(port),
    )
    try:
        det = genad.create("ganomaly", **DDP_KW).fit(images, run_dir=Path(out) / "run")
        save_file(_weights(det), str(Path(out) / f"rank{rank}.safetensors"))
        (Path(out) / f"rank{rank}.json").write_text(json.dumps(det.history_))
        # D collapses on rank 0's batch only: the ranks must still decide alike
        reset = d_step_resets(50.0 if rank == 0 else -50.0, -50.0, world=2)
        (Path(out) / f"rank{rank}.reset").write_text(str(reset))
    finally:
        if dist.is_initialized():
            dist.destroy_process_group()


@pytest.mark.slow
def test_ddp_two_cpu_ranks_stay_identical(digits16, tmp_path: Path) -> None:
    import torch.multiprocessing as mp

    ctx = mp.spawn(_ddp_worker, args=(_free_port(), digits16, str(tmp_path)), nprocs=2, join=False)
    deadline = time.monotonic() + 120
    while not ctx.join(timeout=1):
        if time.monotonic() > deadline:
            for p in ctx.processes:
                p.kill()
            pytest.fail("the DDP workers did not finish in 120 s")

    r0 = load_file(str(tmp_path / "rank0.safetensors"))
    r1 = load_file(str(tmp_path / "rank1.safetensors"))
    _assert_equal_weights(r0, r1)  # parameters and BatchNorm buffers alike
    assert any("running_mean" in k for k in r0)

    det = genad.create("ganomaly", **DDP_KW)
    train.seed_everything(0)
    initial = {
        f"{n}.{k}": v for n, net in det.build(1).items() for k, v in net.state_dict().items()
    }
    moved = [
        k for k in initial if initial[k].is_floating_point() and not torch.equal(initial[k], r0[k])
    ]
    assert len(moved) > len(initial) // 2, "training did not change the weights"

    # each rank trained on its own half: (64 - 6 held out) // 2 = 29 images -> 3 steps of 8
    for rank in (0, 1):
        history = json.loads((tmp_path / f"rank{rank}.json").read_text())
        assert [r["step"] for r in history] == [3, 6]
    resets = [(tmp_path / f"rank{r}.reset").read_text() for r in (0, 1)]
    assert resets[0] == resets[1], f"ranks disagree on re-initialising D: {resets}"
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    assert len(lines) == 2, "only rank 0 writes metrics"
    assert sorted(p.name for p in (tmp_path / "run").glob("checkpoint-*")) == [
        "checkpoint-0002.json",
        "checkpoint-0002.safetensors",
    ]


def test_a_torn_metrics_line_does_not_stop_a_resume(tmp_path: Path) -> None:
    path = tmp_path / "metrics.jsonl"
    path.write_text('{"epoch": 1, "loss": 0.5}\n{"epoch": 2, "loss": 0.4}\n{"epoch": 3, "lo')
    train._truncate_metrics(path, epochs_done=2)
    assert [json.loads(ln)["epoch"] for ln in path.read_text().splitlines()] == [1, 2]
    path.write_text('{"epoch": 1}\n{"epoch": 2}\n{"epoch": 3}\n')
    train._truncate_metrics(path, epochs_done=1)  # epochs after the checkpoint go
    assert path.read_text() == '{"epoch": 1}\n'
