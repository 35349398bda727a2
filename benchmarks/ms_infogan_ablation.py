"""ms-infogan's training settings, one at a time: R1's gamma (10 vs StyleGAN2-ADA's
heuristic) x (G's moving average + the discriminator's minibatch std, on vs off), on `shapes`.

    python benchmarks/ms_infogan_ablation.py --out runs/ms-ablation              # ~10 min a run
    python benchmarks/ms_infogan_ablation.py --size 64 --epochs 30 --device cuda --out ...

Each run trains ms-infogan (3-way categorical + 5 continuous codes, 5 noise inputs) on 20,000
sprites for --epochs, then writes its sample grid (OUT/<run>.png) and a row of OUT/results.md:
steps, fit seconds, the samples' on-pixel fraction and FID / MIG / FactorVAE score at
--budget (genad.disentangle.evaluate; FID on genad's probe). At the CPU defaults (32 px,
width 8, 8 epochs = 2,248 steps, budget smoke) the figures are a smoke-scale reading.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genad
from genad.data import shapes
from genad.disentangle import evaluate
from genad.report import plot_sample_grid

RUNS = {
    "gamma10": {"r1": 10.0, "ema_kimg": 0, "mbstd_group": 0},
    "gamma10+ema+mbstd": {"r1": 10.0},
    "heuristic": {"r1": None, "ema_kimg": 0, "mbstd_group": 0},
    "heuristic+ema+mbstd": {"r1": None},
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", default="runs/ms-ablation")
    p.add_argument("--runs", default=",".join(RUNS))
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--epochs", type=int, default=8)
    p.add_argument("--width", type=int, default=8)
    p.add_argument("--max-width", type=int, default=64)
    p.add_argument("--budget", default="smoke")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    data = shapes.sample(20_000, seed=args.seed, size=args.size)
    rows = []
    for name in args.runs.split(","):
        kw = dict(image_size=args.size, epochs=args.epochs, batch_size=64, width=args.width,
                  max_width=args.max_width, w_dim=64, seed=args.seed, categorical=[3],
                  continuous=5, noise_dim=5, device=args.device, **RUNS[name])
        t0 = time.perf_counter()
        det = genad.create("ms-infogan", **kw).fit(data, quiet=True, score_training=False)
        fit = time.perf_counter() - t0
        samples = det.generate(64, seed=0)
        plot_sample_grid(samples, out / f"{name}.png", title=f"ms-infogan, {name}")
        res = evaluate(det, "shapes", budget=args.budget, seed=args.seed)
        row = {"run": name, "steps": det.history_[-1]["step"], "fit_s": round(fit),
               "on_fraction": round(float((samples > 0).mean()), 4),
               **{k: round(res[k], 4) for k in ("fid_probe", "mig", "factor_vae")}}
        print(json.dumps(row), flush=True)
        rows.append(row)
    cols = list(rows[0])
    lines = ["| " + " | ".join(cols) + " |", "|---" * len(cols) + "|"]
    lines += ["| " + " | ".join(str(r[c]) for c in cols) + " |" for r in rows]
    (out / "results.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
