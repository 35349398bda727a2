"""Seeds of one MNIST InfoGAN setting, summarised: the digit accuracy of each run's 10-way
code at one epoch, and mean ± sample std over the runs.

    python benchmarks/mnist_seeds.py RUN0/curve.json RUN1/curve.json RUN2/curve.json --epoch 15

Each file is the curve.json of benchmarks/mnist_infogan.py (one entry per epoch); --epoch
picks the epoch read in every run (default: each run's last). Prints a line per run and the
summary; --out also writes them as JSON.
"""

from __future__ import annotations

import argparse
import json
import statistics
from pathlib import Path


def summarise(curves: list[dict], epoch: int | None = None) -> dict:
    """{"per_run": [accuracy at `epoch`], "mean": ..., "std": ... (None for one run)}."""
    per_run = []
    for c in curves:
        rows = c["curve"] if epoch is None else [r for r in c["curve"] if r["epoch"] == epoch]
        if not rows:
            raise SystemExit(f"a run has no epoch {epoch}")
        per_run.append(rows[-1]["accuracy"])
    std = statistics.stdev(per_run) if len(per_run) > 1 else None
    return {"epoch": epoch, "per_run": per_run, "mean": statistics.mean(per_run), "std": std}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("curves", nargs="+", type=Path)
    p.add_argument("--epoch", type=int, default=None)
    p.add_argument("--out", type=Path, default=None)
    args = p.parse_args()
    summary = summarise([json.loads(f.read_text()) for f in args.curves], args.epoch)
    for f, acc in zip(args.curves, summary["per_run"]):
        print(f"{f}: {acc:.3f}")
    std = "" if summary["std"] is None else f" ± {summary['std']:.3f}"
    print(f"digit accuracy: {summary['mean']:.3f}{std} over {len(summary['per_run'])} runs")
    if args.out:
        args.out.write_text(json.dumps(summary, indent=1) + "\n")


if __name__ == "__main__":
    main()
