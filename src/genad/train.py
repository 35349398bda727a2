"""The one training engine, shared by every model.

It knows nothing about a model beyond the `Trainable` hooks (genad.trainable): `nets_`,
`optimizers_`, `name`, `config` and `train_step(batch) -> losses`. It owns seeding, devices,
bf16 autocast on CUDA, data-parallel training under torchrun (gradients averaged over ranks,
rank 0 logs and saves), the rich progress bar, JSON-lines metrics, atomic safetensors
checkpoints and resume.
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import random
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.distributed as dist

from genad import io
from genad.data.base import float_batch
from genad.errors import ConfigError, TrainingError


def seed_everything(seed: int) -> None:
    """One seed for python, numpy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def pick_device(device: str = "auto") -> torch.device:
    if device == "auto":
        if torch.cuda.is_available():
            rank = int(os.environ.get("LOCAL_RANK", 0))
            return torch.device("cuda", rank % torch.cuda.device_count())
        return torch.device("cpu")
    try:
        d = torch.device(device)
    except RuntimeError:
        raise ConfigError(f"unknown device {device!r}: use auto, cpu, cuda or cuda:N") from None
    if d.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(
            "device cuda was asked for but no CUDA GPU is available: use --device cpu"
        )
    return d


@dataclass
class World:
    rank: int = 0
    size: int = 1

    @property
    def main(self) -> bool:
        return self.rank == 0


def world(device: torch.device) -> World:
    """Join the process group when started by torchrun (WORLD_SIZE > 1); else a world of one."""
    size = int(os.environ.get("WORLD_SIZE", 1))
    if size <= 1:
        return World()
    if not dist.is_initialized():
        dist.init_process_group("nccl" if device.type == "cuda" else "gloo")
    return World(dist.get_rank(), dist.get_world_size())


def _average_grads(params: list[torch.Tensor], size: int) -> None:
    """All-reduce the gradients of `params` as one flat buffer and divide by the world size."""
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return
    flat = torch.cat([g.reshape(-1) for g in grads])
    dist.all_reduce(flat)
    flat /= size
    offset = 0
    for g in grads:
        g.copy_(flat[offset : offset + g.numel()].view_as(g))
        offset += g.numel()


def _world_mean(t: torch.Tensor, size: int) -> torch.Tensor:
    """The mean of `t` over every rank (a copy; `t` is left as it is)."""
    t = t.detach().clone()
    dist.all_reduce(t)
    return t / size


def _sync_from_rank0(model: Any) -> None:
    """Parameters and buffers (BatchNorm statistics) of every net <- rank 0's."""
    for net in model.nets_.values():
        for t in list(net.parameters()) + list(net.buffers()):
            dist.broadcast(t.data, 0)


# ---- checkpoints ------------------------------------------------------------------------------
def _checkpoint_state(model: Any, epoch: int, step: int) -> tuple[dict[str, torch.Tensor], dict]:
    tensors: dict[str, torch.Tensor] = {}
    for name, net in model.nets_.items():
        for k, v in net.state_dict().items():
            tensors[f"net.{name}.{k}"] = v
    opt = {
        n: io.flatten_state(o.state_dict(), f"opt.{n}", tensors)
        for n, o in model.optimizers_.items()
    }
    tensors["rng.torch"] = torch.get_rng_state()
    meta = {
        "epoch": epoch,
        "step": step,
        "optimizers": opt,
        "model": model.name,
        "config": model.config_dict(),
    }
    return tensors, meta


def save_checkpoint(run_dir: Path, model: Any, epoch: int, step: int) -> Path:
    """checkpoint-EEEE.safetensors then its .json (the JSON is written last: it marks the
    checkpoint complete). Older checkpoints are removed."""
    tensors, meta = _checkpoint_state(model, epoch, step)
    stem = run_dir / f"checkpoint-{epoch:04d}"
    io.atomic_save_tensors(tensors, stem.with_suffix(".safetensors"))
    io.atomic_write_text(stem.with_suffix(".json"), json.dumps(meta))
    for old in run_dir.glob("checkpoint-*.json"):
        if old.stem != stem.name:
            old.unlink()
            old.with_suffix(".safetensors").unlink(missing_ok=True)
    return stem


def latest_checkpoint(run_dir: Path) -> Path | None:
    done = sorted(run_dir.glob("checkpoint-*.json"))
    return done[-1].with_suffix("") if done else None


def load_checkpoint(stem: Path, model: Any) -> tuple[int, int]:
    """Restore nets, optimizers and the RNG from a checkpoint; return (epoch, step) done."""
    from safetensors.torch import load_file

    meta = json.loads(stem.with_suffix(".json").read_text())
    tensors = load_file(str(stem.with_suffix(".safetensors")))
    if meta["model"] != model.name:
        raise ConfigError(f"checkpoint {stem} is of model {meta['model']}, not {model.name}")
    for name, net in model.nets_.items():
        p = f"net.{name}."
        net.load_state_dict({k[len(p) :]: v for k, v in tensors.items() if k.startswith(p)})
    for n, o in model.optimizers_.items():
        o.load_state_dict(io.unflatten_state(meta["optimizers"][n], tensors))
    torch.set_rng_state(tensors["rng.torch"])
    return meta["epoch"], meta["step"]


def _truncate_metrics(path: Path, epochs_done: int) -> None:
    """Drop metric lines of epochs after the checkpoint (a run killed between writing its
    metrics line and its checkpoint would otherwise log that epoch twice), and a line a kill
    or power loss tore in half."""
    if not path.exists():
        return
    keep = []
    for ln in path.read_text().splitlines():
        try:
            row = json.loads(ln)
        except ValueError:
            continue  # torn: the epoch it described is logged again when it reruns
        if isinstance(row, dict) and row.get("epoch", 0) <= epochs_done:
            keep.append(ln)
    io.atomic_write_text(path, "".join(ln + "\n" for ln in keep))


# ---- progress -----------------------------------------------------------------------------------
class Progress:
    """A rich progress bar (steps, losses, img/s, ETA), or nothing when quiet."""

    def __init__(self, total: int, title: str, quiet: bool) -> None:
        self.bar = None
        if quiet:
            return
        from rich.progress import (
            BarColumn,
            MofNCompleteColumn,
            Progress,
            TextColumn,
            TimeRemainingColumn,
        )

        self.bar = Progress(
            TextColumn("[bold]{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TextColumn("{task.fields[info]}"),
            TimeRemainingColumn(),
            transient=False,
        )
        self.task = self.bar.add_task(title, total=total, info="")
        self.bar.start()

    def update(self, done: int, info: str) -> None:
        if self.bar is not None:
            self.bar.update(self.task, completed=done, info=info)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.stop()


_Progress = Progress


# ---- the loop ---------------------------------------------------------------------------------
def _take(data: torch.Tensor | tuple[torch.Tensor, ...], idx: torch.Tensor) -> Any:
    """The rows idx of the data; uint8 images become float in [-1, 1] here, batch by batch,
    so a large set is held as uint8."""
    if torch.is_tensor(data):
        return float_batch(data[idx])
    return tuple(float_batch(d[idx]) for d in data)


def fit(
    model: Any,
    data: torch.Tensor | tuple[torch.Tensor, ...],
    *,
    run_dir: str | Path | None = None,  # where metrics.jsonl and checkpoints go (None: nowhere)
    resume: bool = False,  # continue from the newest checkpoint in run_dir
    quiet: bool = True,  # no progress bar
    on_epoch_end: Callable[[int, Any], dict | None] | None = None,  # extra metrics per epoch;
    #   called as on_epoch_end(epoch, model) with that epoch's record (losses, seconds) already
    #   model.history_[-1], so a hook can log it; what it returns is added to the record
    log_every: int = 20,  # steps between loss read-outs (a read-out syncs the GPU)
) -> list[dict]:
    """Train `model` on `data` for `model.config.epochs`: images (N, C, S, S), uint8 or float
    in [-1, 1] (each batch is handed to `train_step` as float), or a tuple of tensors of N
    rows each (images and targets), cut into batches together.

    Data stay in memory (on the GPU when training there): each epoch draws a seeded
    permutation, identical on every rank, and each rank takes its own stride of it. Returns
    the per-epoch metrics (also written to run_dir/metrics.jsonl)."""
    cfg = model.config
    device = model.device_
    w = world(device)
    if w.size > 1:
        _sync_from_rank0(model)
        model._grad_hook = lambda params: _average_grads(params, w.size)
        model._mean_hook = lambda t: _world_mean(t, w.size)
    run = Path(run_dir) if run_dir is not None else None
    if run is not None and w.main:
        run.mkdir(parents=True, exist_ok=True)

    start_epoch, step = 0, 0
    if resume:
        stem = latest_checkpoint(run) if run is not None else None
        if stem is None:
            raise ConfigError(f"nothing to resume: no checkpoint in {run}")
        start_epoch, step = load_checkpoint(stem, model)
        if w.size > 1:
            _sync_from_rank0(model)
        if w.main:
            _truncate_metrics(run / "metrics.jsonl", start_epoch)

    if torch.is_tensor(data):
        data = data.to(device, non_blocking=True)
    else:
        data = tuple(d.to(device, non_blocking=True) for d in data)
    n = len(data) if torch.is_tensor(data) else len(data[0])
    per_rank = (min(n, cfg.epoch_images) if cfg.epoch_images else n) // w.size
    steps_per_epoch = per_rank // cfg.batch_size
    if steps_per_epoch == 0:
        raise ConfigError(
            f"batch_size {cfg.batch_size} is larger than the {per_rank} training images per "
            "process: lower --batch-size"
        )
    model.steps_per_epoch_ = steps_per_epoch
    model.total_steps_ = cfg.epochs * steps_per_epoch
    model.world_size_ = w.size
    autocast = (
        torch.autocast("cuda", dtype=torch.bfloat16)
        if device.type == "cuda"
        else contextlib.nullcontext()
    )
    history: list[dict] = []
    model.history_ = history  # filled as epochs end: hooks read the latest record from it
    progress = _Progress(cfg.epochs * steps_per_epoch, model.name, quiet or not w.main)
    progress.update(start_epoch * steps_per_epoch, "")
    metrics_file = run / "metrics.jsonl" if run is not None and w.main else None
    try:
        for epoch in range(start_epoch, cfg.epochs):
            for net in model.nets_.values():
                net.train()
            gen = torch.Generator().manual_seed(cfg.seed * 100_003 + epoch)
            # this epoch's images: a fresh draw when an epoch is shorter than the data
            order = torch.randperm(n, generator=gen)[w.rank :: w.size][:per_rank].to(device)
            sums: dict[str, torch.Tensor] = {}
            t0, seen, info = time.perf_counter(), 0, ""
            for i in range(steps_per_epoch):
                batch = _take(data, order[i * cfg.batch_size : (i + 1) * cfg.batch_size])
                with autocast:
                    losses = model.train_step(batch)
                for k, v in losses.items():
                    v = v.detach().float() if torch.is_tensor(v) else torch.tensor(float(v))
                    sums[k] = sums.get(k, 0.0) + v
                step += 1
                seen += cfg.batch_size
                if (i + 1) % log_every == 0 or i + 1 == steps_per_epoch:
                    means = {k: float(v) / (i + 1) for k, v in sums.items()}
                    bad = [k for k, v in means.items() if not math.isfinite(v)]
                    if bad:
                        raise TrainingError(
                            f"{model.name}: loss {bad[0]} became NaN/inf in epoch {epoch + 1}; "
                            "lower the learning rate or check the input images"
                        )
                    rate = seen * w.size / (time.perf_counter() - t0)
                    info = (f"epoch {epoch + 1}/{cfg.epochs} | "
                            + " ".join(f"{k} {v:.3g}" for k, v in means.items())
                            + f" | {rate:.0f} img/s")
                    progress.update(epoch * steps_per_epoch + i + 1, info)
            if w.size > 1:  # keep BatchNorm statistics identical on every rank
                for net in model.nets_.values():
                    for b in net.buffers():
                        dist.broadcast(b.data, 0)
            seconds = time.perf_counter() - t0
            record = {
                "epoch": epoch + 1,
                "step": step,
                "seconds": round(seconds, 3),
                "img_per_s": round(seen * w.size / seconds, 1),
                **{k: float(v) / steps_per_epoch for k, v in sums.items()},
            }
            history.append(record)
            if on_epoch_end is not None:
                record.update(on_epoch_end(epoch + 1, model) or {})
            if metrics_file is not None:
                with metrics_file.open("a") as f:
                    f.write(json.dumps(record) + "\n")
                save_checkpoint(run, model, epoch + 1, step)
    finally:
        progress.close()
        model._grad_hook = model._mean_hook = None
    return history
