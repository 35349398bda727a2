"""The multiscale claim, measured: where a code enters decides what it controls.

    python benchmarks/code_scales.py --out runs/code-scales            # CPU, 32 px
    python benchmarks/code_scales.py --out OUT --size 64 --epochs 30 --device cuda

Trains ms-infogan three times on the same sprites (genad's rendering of the dSprites grid),
identical but for the style blocks its five continuous codes enter: the coarse blocks only
(4x4 and 8x8), the fine blocks only (the two largest), or all. For each it reads the control
matrix V (codes x factors: how much a traversal of each code moves each factor, read by the
factor probe and normalised by the factor's variance over real sprites; genad.metrics.control)
and MIG on held-out sprites. Writes OUT/results.json, OUT/control_matrices.png (one heat map
per variant) and OUT/<variant>/traversals.png.
"""

from __future__ import annotations

import json
import math
import time

import numpy as np
from common import start, training_parser

import genad
from genad.data import shapes
from genad.disentangle import control_matrix, write_traversals
from genad.metrics import mig
from genad.metrics.control import attribute_control
from genad.probe import probe_for
from genad.report import plot_control_matrices


def variants(size: int) -> dict[str, list[int] | None]:
    n = int(math.log2(size)) - 1  # style blocks: 4x4 (block 0) up to size x size
    return {"coarse": [0, 1], "fine": [n - 2, n - 1], "all": None}


def main() -> None:
    p = training_parser(__doc__, train=20_000, model=False)
    p.add_argument("--only", nargs="*", help="variants to run (default: all three)")
    args = p.parse_args()
    out, params = start(args)
    train = shapes.sample(args.train, seed=args.seed, size=args.size)
    held = shapes.sample(args.eval, seed=10_000 + args.seed, size=args.size)
    factors = shapes.factor_grid().to_index(held.factors.numpy())
    probe = probe_for("shapes", args.size)
    base = {"continuous": 5, "categorical": [], "noise_dim": 5, **params}
    res_path = out / "results.json"
    results = json.loads(res_path.read_text()) if res_path.exists() else {}
    for name, scales in variants(args.size).items():
        if args.only and name not in args.only:
            continue
        t0 = time.perf_counter()
        det = genad.create("ms-infogan", **base, code_scales=scales).fit(train, quiet=True,
                                                                            score_training=False)
        v = control_matrix(det, probe, held, bases=16, steps=8, seed=40_000 + args.seed)
        m = mig(det.encode(held), factors)
        results[name] = {"code_scales": scales, "control_matrix": v.tolist(),
                         "factors": probe.factor_names, "mig": m["mig"],
                         "mig_per_factor": m["per_factor"].tolist(),
                         "control": attribute_control(v)["control"],
                         "steps": det.total_steps_, "seconds": round(time.perf_counter() - t0)}
        write_traversals(det, out / name / "traversals.png", seed=args.seed)
        print(name, json.dumps({k: results[name][k] for k in ("mig", "control", "seconds")}),
              flush=True)
        res_path.write_text(json.dumps({**results}, indent=1))
    names = [k for k in variants(args.size) if k in results]
    plot_control_matrices(
        [np.array(results[k]["control_matrix"]) for k in names],
        [f"codes at {k} scales (MIG {results[k]['mig']:.2f})" for k in names],
        [f"cont{j}" for j in range(5)], results[names[0]]["factors"],
        out / "control_matrices.png",
        title=f"ms-infogan at {args.size} px: what each code moves, by where it enters")


if __name__ == "__main__":
    main()
