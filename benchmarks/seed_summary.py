"""Seeds of one setting, summarised: mean ± std of every figure and the seed ModelCentrality
picks without labels.

    python benchmarks/seed_summary.py RUN0 RUN1 RUN2 --out OUT.json
    python benchmarks/seed_summary.py RUN0 RUN1 RUN2 --out OUT.json --final final-full.json

Each RUN is an output folder of benchmarks/shapes_learning_curve.py with --final-budget
(final.json and model/); --final names another figures file in it (benchmarks/shapes_evaluate.py
writes final-full.json). Writes the per-seed figures, mean and sample std over seeds, and
ModelCentrality (Lin et al., ICML 2020, Sec. 5; genad.disentangle.model_centrality, with the
vote counts of the runs' budget): the pairwise similarities, each seed's centrality, and the
figures of the picked seed, the one a user without labels would keep.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import genad
from genad.disentangle import BUDGETS, model_centrality
from genad.metrics.tables import aggregate

METRICS = ("mig", "factor_vae", "beta_vae", "dci_disentanglement", "sap", "fid_probe",
           "control", "tc_real")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("runs", nargs="+", type=Path)
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--final", default="final.json", help="the figures file in each RUN")
    args = p.parse_args()
    finals = [json.loads((r / args.final).read_text()) for r in args.runs]
    budgets = {f.get("budget") for f in finals}
    if len(budgets) != 1:
        raise SystemExit(f"the runs were evaluated at different budgets: {sorted(budgets)}")
    budget = budgets.pop()
    summary: dict = {"runs": [str(r.name) for r in args.runs], "budget": budget,
                     "per_seed": [{k: f.get(k) for k in ("seed", *METRICS)} for f in finals]}
    agg = aggregate(finals, by=(), metrics=METRICS)[0]
    for k in METRICS:
        counted = sum(f.get(k) is not None for f in finals)
        if counted:
            summary[k] = [agg[f"{k}_mean"], agg[f"{k}_std"] if counted > 1 else None]
    if len(args.runs) > 1:
        nets = [genad.load(str(r / "model")) for r in args.runs]
        n_train, n_eval = BUDGETS[budget]["votes"]
        cen = model_centrality(nets, n_train=n_train, n_eval=n_eval)
        summary["centrality"] = {**cen, "picked_run": str(args.runs[cen["picked"]].name),
                                 "picked_figures": summary["per_seed"][cen["picked"]]}
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(summary, indent=1))
    for k in METRICS:
        if k in summary:
            mean, std = summary[k]
            print(f"{k}: {mean:.3f}" + (f" ± {std:.3f}" if std is not None else ""))
    if "centrality" in summary:
        c = summary["centrality"]
        print(f"ModelCentrality picks {c['picked_run']} (centrality "
              f"{', '.join(f'{v:.3f}' for v in c['centrality'])})")


if __name__ == "__main__":
    main()
