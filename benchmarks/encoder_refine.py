"""Does fitting the encoder to the final generator (`refine_encoder`) raise MIG? Paired reads.

    python benchmarks/encoder_refine.py --out runs/encoder-refine              # CPU, minutes
    python benchmarks/encoder_refine.py --out OUT --model infogan --seeds 10
    python benchmarks/encoder_refine.py --out OUT --saved RUN/model ...        # saved shapes models

Without --saved: sprites whose only factors are posX and posY (16 px, 2,000 for training,
--eval 2,000 held out: the ms-infogan learning test's setting, as benchmarks/cr_ablation.py), two
continuous codes and one noise input. Each seed trains MODEL once and reads MIG against
posX / posY on the held-out sprites with Q as trained, then after `refine_encoder(steps)` for
each of --steps (every refinement starts from the trained D and Q, so the reads are paired).
With --saved: each saved model trained on `shapes` (any of its factors) is read the same way
on --eval sprites of the whole grid (seed 10,000, as benchmarks/shapes_learning_curve.py
draws its held-out sprites); a model trained with `q_refine_steps` is also read with the
encoder it was saved with (`--steps` with no values: only that and Q as trained).
Writes OUT/results.json and prints a line per model.
"""

from __future__ import annotations

import json

import numpy as np
from common import start, training_parser

import genad
from genad.data import shapes
from genad.metrics import mig

SETTINGS = {  # the learning test's settings (tests/models/test_infogan.py)
    "ms-infogan": {"width": 16, "max_width": 64, "code_scales": [0, 1], "mbstd_group": 0},
    "infogan": {"width": 16},
}


def reads(det, held, factors, steps: list[int]) -> dict:
    """MIG with Q as trained, then after refining for each of `steps` (a model saved refined:
    first the encoder it was saved with, as `refined_saved`)."""
    row = {}
    if "enc" in det.nets_ and int(det.nets_["enc"].steps_done):
        m = mig(det.encode(held), factors)
        row[f"refined_saved_{int(det.nets_['enc'].steps_done)}"] = m["mig"]
        row["refined_saved_per_factor"] = np.round(m["per_factor"], 4).tolist()
        det.nets_["enc"].steps_done.zero_()  # Q as trained reads next
    q = mig(det.encode(held), factors)
    row.update({"q": q["mig"], "q_per_factor": np.round(q["per_factor"], 4).tolist()})
    for n in steps:
        m = mig(det.refine_encoder(n).encode(held), factors)
        row[f"refined_{n}"] = m["mig"]
        row[f"refined_{n}_per_factor"] = np.round(m["per_factor"], 4).tolist()
    return row


def main() -> None:
    p = training_parser(__doc__, size=16, epochs=10, train=2_000, model=False)
    p.add_argument("--model", default="ms-infogan", choices=sorted(SETTINGS))
    p.add_argument("--seeds", type=int, default=5, help="seeds 0..N-1")
    p.add_argument("--steps", type=int, nargs="*", default=[1_000, 3_000],
                   help="refinement steps to read after (none: only what a model was saved with)")
    p.add_argument("--saved", nargs="+", default=None, metavar="MODEL_DIR",
                   help="read saved shapes models instead of training")
    args = p.parse_args()
    out, params = start(args)
    rows = []
    if args.saved:
        for path in args.saved:
            det = genad.load(path)
            held = shapes.sample(args.eval, seed=10_000, size=det.config.image_size)
            factors = shapes.factor_grid().to_index(held.factors.numpy())
            rows.append({"saved": str(path), **reads(det, held, factors, args.steps)})
            print(json.dumps(rows[-1]), flush=True)
        base = None
    else:
        train = shapes.position_set(args.train, 0, args.size)
        held = shapes.position_set(args.eval, 1, args.size)
        factors = shapes.factor_grid().to_index(held.factors.numpy())[:, 3:]
        base = {**SETTINGS[args.model], "categorical": [], "continuous": 2, "noise_dim": 1,
                **params}
        for seed in range(args.seeds):
            det = genad.create(args.model, **{**base, "seed": seed})
            det.fit(train, score_training=False)
            rows.append({"seed": seed, **reads(det, held, factors, args.steps)})
            print(json.dumps(rows[-1]), flush=True)
    summary = {"model": args.model if base else "saved", "params": base, "steps": args.steps,
               "runs": rows, "mean_q": float(np.mean([r["q"] for r in rows]))}
    for n in args.steps:
        diff = [r[f"refined_{n}"] - r["q"] for r in rows]
        summary[f"mean_refined_{n}"] = float(np.mean([r[f"refined_{n}"] for r in rows]))
        summary[f"mean_difference_{n}"] = float(np.mean(diff))
        summary[f"std_difference_{n}"] = float(np.std(diff, ddof=1)) if len(diff) > 1 else None
    saved = [next((v for k, v in r.items() if k.startswith("refined_saved_") and
                   not k.endswith("per_factor")), None) for r in rows]
    if all(v is not None for v in saved):
        summary["mean_refined_saved"] = float(np.mean(saved))
        q = [r["q"] for r in rows]
        summary["mean_difference_saved"] = float(np.mean(np.subtract(saved, q)))
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k not in ("runs", "params")}))


if __name__ == "__main__":
    main()
