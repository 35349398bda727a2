"""Content transfer (Press et al., ICLR 2019) at a CPU-reduced setting: one run per attribute
genad draws onto domain B, each evaluated three ways (attribute classifier, content errors
against the known ground truth, E1 leakage) beside the same networks untrained.

    python benchmarks/content_transfer.py --mnist PATH --out runs/content_transfer
    python benchmarks/content_transfer.py --out runs/content_transfer   # bundled digits

Each attribute is a cell of genad's benchmark runner (genad.bench.run_grid): a run folder
OUT/content-transfer-<attribute>/seed<S>/ (model, grid.png, result.json); a finished cell is
read back, not rerun. Writes OUT/results.md and OUT/grid.png (the grid of the first
attribute).
"""

from __future__ import annotations

import argparse
import json
import shutil
import time
from pathlib import Path

import torch

from genad.bench import Cell, run_grid
from genad.data.two_domain import load_task
from genad.transfer import run

SHOWN = ["add_has_attribute", "remove_lacks_attribute", "cycle_mae", "add_outside_mae",
         "add_inside_mae", "remove_mae", "leakage_accuracy"]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mnist", help="folder of MNIST files (default: the bundled digits)")
    p.add_argument("--out", default="runs/content_transfer")
    p.add_argument("--attributes", default="digit,frame")
    p.add_argument("--limit", type=int, default=12_000, help="source images used (MNIST)")
    p.add_argument("--image-size", type=int, default=32)
    p.add_argument("--width", type=int, default=16, help="paper: 32 (CPU: 16)")
    p.add_argument("--epochs", type=int, default=12)
    p.add_argument("--batch-size", type=int, default=64,
                   help="paper: 32; 64 gives the MMD twice the samples per step")
    p.add_argument("--mmd-weight", type=float, default=3.0, help="paper: 0 (no MMD term)")
    p.add_argument("--mmd-bank", type=int, default=1024,
                   help="earlier E1 codes per domain added to the MMD's samples (paper: none)")
    p.add_argument("--linear-weight", type=float, default=1.0,
                   help="weight of the closed-form linear (LDA) adversary (paper: none)")
    p.add_argument("--ridge", type=float, default=0.01, help="its covariance ridge")
    p.add_argument("--standardize", type=int, default=1, help="paper: 0")
    p.add_argument("--disc-weight", type=float, default=0.1, help="paper: 0.001")
    p.add_argument("--norm", default="batch", help="batch or instance (paper: instance)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--quiet", action="store_true")
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    spec = f"mnist:{args.mnist}" if args.mnist else "digits"
    out = Path(args.out)
    params = {"image_size": args.image_size, "width": args.width, "epochs": args.epochs,
              "batch_size": args.batch_size, "mmd_weight": args.mmd_weight,
              "mmd_bank": args.mmd_bank, "linear_weight": args.linear_weight,
              "ridge": args.ridge,
              "standardize": bool(args.standardize), "disc_weight": args.disc_weight,
              "norm": args.norm, "seed": args.seed}
    lines = [f"| {spec.split(':')[0]} + attribute | networks | "
             + " | ".join(SHOWN) + " | fit s |", "|---" * (len(SHOWN) + 3) + "|"]
    cells = [Cell("content-transfer", params, variant=a.strip())
             for a in args.attributes.split(",")]

    def run_one(cell: Cell, _: object, seed: int, folder: Path) -> dict:
        t0 = time.perf_counter()
        task = load_task(spec, cell.variant, args.image_size, seed, limit=args.limit)
        r = run(task, dict(cell.params, seed=seed), folder, quiet=args.quiet, baseline=True,
                overwrite=True)
        print(f"{cell.variant}: {len(task.a)} A / {len(task.b)} B train images, "
              f"{time.perf_counter() - t0:.0f} s in all")
        return r

    grid = run_grid(cells, [(None, args.seed)], out, run_one, quiet=args.quiet,
                    title="content transfer")
    for i, (cell, _, _, r, folder) in enumerate(grid):
        attribute = cell.variant
        for key in ("trained", "untrained"):
            cells = " | ".join(f"{r[key][k]:.3f}" for k in SHOWN)
            secs = f"{r['fit_seconds']:.0f}" if key == "trained" else "-"
            lines.append(f"| {attribute} | {key} | {cells} | {secs} |")
        print(json.dumps({k: r[k] for k in ("trained", "untrained")}, indent=1))
        if i == 0:
            shutil.copy(folder / "grid.png", out / "grid.png")
    table = "\n".join(lines) + "\n"
    (out / "results.md").write_text(table)
    print(table)


if __name__ == "__main__":
    main()
