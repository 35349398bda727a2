"""Every disentanglement figure of saved shapes runs again, at another metric budget.

    python benchmarks/shapes_evaluate.py RUN ... --budget full      # disentanglement_lib's counts

Each RUN is an output folder of benchmarks/shapes_learning_curve.py (RUN/model, and
RUN/final.json or RUN/curve.json for the step count). The training runs read their figures at
the quick budget to keep a CPU run short; the figures set beside a paper's are read at the
`full` budget (MIG on 10,000 sprites, FactorVAE / BetaVAE votes 10,000 / 5,000, DCI with
gradient boosting on 10,000 / 5,000): genad.disentangle.evaluate on the loaded model, with the
run's seed. Writes RUN/final-BUDGET.json (the run's steps and training seconds carried over)
and prints one line per run; benchmarks/seed_summary.py --final final-full.json summarises
seeds from them. `--coverage` reads only how much of each factor's variety the samples show
(genad.disentangle.sample_coverage, seconds a run; written to RUN/coverage-BUDGET.json), for
runs saved before evaluate gave that figure.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import torch

import genad
from genad.disentangle import BUDGETS, coverage_of, evaluate

SHOWN = ("mig", "factor_vae", "beta_vae", "dci_disentanglement", "sap", "fid_probe", "control",
         "coverage")


def run_facts(run: Path) -> dict:
    """The seed, steps and training seconds of a finished run (final.json, else curve.json)."""
    final = run / "final.json"
    if final.is_file():
        f = json.loads(final.read_text())
        return {k: f.get(k) for k in ("seed", "steps", "train_seconds")}
    curve = json.loads((run / "curve.json").read_text())
    last = curve["curve"][-1] if curve["curve"] else {}
    return {"seed": curve["params"].get("seed", 0), "steps": last.get("step"),
            "train_seconds": last.get("seconds")}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--budget", choices=sorted(BUDGETS), default="full")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--coverage", action="store_true",
                   help="only the samples' coverage of each factor (as evaluate reads it)")
    args = p.parse_args()
    missing = [str(r) for r in args.runs if not (r / "model").is_dir()]
    if missing:
        raise SystemExit(f"no saved model (RUN/model) in: {', '.join(missing)}")
    torch.set_num_threads(args.threads)
    for run in args.runs:
        facts = run_facts(run)
        det = genad.load(str(run / "model"))
        t0 = time.perf_counter()
        if args.coverage:
            cov = coverage_of(det, args.budget, int(facts["seed"] or 0))
            (run / f"coverage-{args.budget}.json").write_text(json.dumps(cov, indent=1))
            print(json.dumps({"run": str(run), **{k: round(v, 3) for k, v in cov.items()}}),
                  flush=True)
            continue
        res = evaluate(det, "shapes", budget=args.budget, seed=int(facts["seed"] or 0))
        res.update(steps=facts["steps"], train_seconds=facts["train_seconds"],
                   eval_seconds=round(time.perf_counter() - t0, 1))
        (run / f"final-{args.budget}.json").write_text(json.dumps(res, indent=1, default=float))
        print(json.dumps({"run": str(run), **{k: res.get(k) for k in (*SHOWN, "eval_seconds")}}),
              flush=True)


if __name__ == "__main__":
    main()
