"""Does InfoGAN-CR's contrastive regulariser help? Paired runs with and without it.

    python benchmarks/cr_ablation.py --out runs/cr-ablation                 # CPU, minutes
    python benchmarks/cr_ablation.py --out OUT --model infogan --seeds 10

Sprites whose only factors are posX and posY (16 px, 2,000 for training, 3,000 held out: the
setting of the ms-infogan learning test), two continuous codes and one noise input. Each seed
trains MODEL twice, identical until the regulariser starts (the CR network has its own seed)
and then with `cr_weight` from `cr_start`; MIG against posX / posY on the held-out sprites.
Writes OUT/results.json and prints a line per seed and the paired mean difference.
"""

from __future__ import annotations

import json

import numpy as np
from common import start, training_parser

import genad
from genad.data.shapes import factor_grid, position_set
from genad.metrics import mig

SETTINGS = {  # the learning test's settings (tests/models/test_infogan.py)
    "ms-infogan": {"width": 16, "max_width": 64, "code_scales": [0, 1], "mbstd_group": 0},
    "infogan": {"width": 16},
}


def main() -> None:
    p = training_parser(__doc__, size=16, epochs=10, train=2_000, model=False)
    p.add_argument("--model", default="ms-infogan", choices=sorted(SETTINGS))
    p.add_argument("--seeds", type=int, default=3, help="seeds 0..N-1")
    p.add_argument("--cr-weight", type=float, default=2.0)
    p.add_argument("--cr-start", type=float, default=0.5)
    args = p.parse_args()
    out, params = start(args)
    train = position_set(args.train, 0, args.size)
    held = position_set(args.eval, 1, args.size)
    factors = factor_grid().to_index(held.factors.numpy())[:, 3:]
    base = {**SETTINGS[args.model], "categorical": [], "continuous": 2, "noise_dim": 1,
            **params}
    rows = []
    for seed in range(args.seeds):
        row = {"seed": seed}
        for name, extra in (("plain", {}), ("cr", {"cr_weight": args.cr_weight,
                                                   "cr_start": args.cr_start})):
            det = genad.create(args.model, **{**base, "seed": seed, **extra})
            det.fit(train, score_training=False)
            row[name] = mig(det.encode(held), factors)["mig"]
        rows.append(row)
        print(json.dumps(row), flush=True)
    diff = [r["cr"] - r["plain"] for r in rows]
    summary = {"model": args.model, "params": base, "cr_weight": args.cr_weight,
               "cr_start": args.cr_start, "runs": rows,
               "mean_plain": float(np.mean([r["plain"] for r in rows])),
               "mean_cr": float(np.mean([r["cr"] for r in rows])),
               "mean_difference": float(np.mean(diff)),
               "std_difference": float(np.std(diff, ddof=1)) if len(diff) > 1 else None}
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "runs"}))


if __name__ == "__main__":
    main()
