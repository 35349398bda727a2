"""What the training benchmarks share: their command-line options and the set-up they imply.
(Imported by the scripts beside it; Python puts a script's folder on the import path.)"""

from __future__ import annotations

import argparse
from pathlib import Path

import torch

from genad.params import parse_params


def training_parser(doc: str, size: int = 32, epochs: int = 12, train: int | None = None,
                    model: bool = True) -> argparse.ArgumentParser:
    """A parser with MODEL (when `model`), --out and the training options: --size, --epochs,
    --batch-size, --seed, --device, --threads (default 1: CPU figures are one-thread), --param
    KEY=VALUE (repeatable) and, when `train` is given, --train / --eval sprite counts."""
    p = argparse.ArgumentParser(description=doc.splitlines()[0])
    if model:
        p.add_argument("model")
    p.add_argument("--out", required=True)
    if train is not None:
        p.add_argument("--train", type=int, default=train)
        p.add_argument("--eval", type=int, default=2_000)
    p.add_argument("--size", type=int, default=size)
    p.add_argument("--epochs", type=int, default=epochs)
    p.add_argument("--batch-size", type=int, default=64)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE")
    return p


def start(args: argparse.Namespace) -> tuple[Path, dict]:
    """Set the thread count, make --out; returns (out folder, the model parameters the options
    name: image size, epochs, batch size, seed, device, then every --param)."""
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    params = {"image_size": args.size, "epochs": args.epochs, "batch_size": args.batch_size,
              "seed": args.seed, "device": args.device}
    return out, {**params, **parse_params(args.param)}
