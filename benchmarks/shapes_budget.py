"""The discovery benchmark: each model, a stated wall-clock budget, 3 seeds, the whole dSprites
grid, every figure at disentanglement_lib's sample counts, beside the published ones.

    python benchmarks/shapes_budget.py --out runs/shapes-budget            # CPU: 45 min a run
    python benchmarks/shapes_budget.py --out OUT --minutes 5 --models beta-vae --seeds 1
    python benchmarks/shapes_budget.py --out OUT --size 64 --minutes 600 --device cuda

For every model x seed it runs benchmarks/shapes_learning_curve.py on the whole grid (737,280
sprites at --size, epochs of 20,000 fresh sprites) with --minutes of training (the epochs are
set from measured steps; each run states the steps it reached), a MIG learning curve, and
--final-budget full at the end. The InfoGAN family gets InfoGAN-CR's dSprites latents (5
continuous codes, 5 noise inputs); ms-infogan gives two of its codes the coarse styles (4x4-8x8)
and three the fine ones (16x16 up), the setting that found the positions on the grid, and
counts its growth phases in images (24,960 a phase, the 15-epoch run's) so that a longer
budget trains longer at the final size instead of growing more slowly, which lowered MIG
(docs/curves/README.md; at 64 px growing takes 3,120 steps, more than 45 CPU minutes give:
there pass a smaller --param phase_images); the VAEs 10 latents. A finished run (final.json) is not
rerun. Writes OUT/results.md and results.json: mean ± std over seeds of MIG, FactorVAE score,
DCI, SAP, FID (probe), attribute control, the Gaussian total correlation of the codes, and the
steps reached, beside the published figures with their step counts; and the seed
ModelCentrality picks without labels, with its figures (the GANs).
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
from pathlib import Path

import numpy as np

MODELS = "ms-infogan,infogan,beta-vae,factor-vae,beta-tcvae"
INFOGAN = ["continuous=5", "categorical=[]", "noise_dim=5"]  # InfoGAN-CR's dSprites latents
PARAMS = {"ms-infogan": INFOGAN, "infogan": INFOGAN}
# ms-infogan's growth phases in images: the phase length of its 15-epoch whole-grid runs
# (4,680 steps at batch 64, half of them growing through 6 phases: 390 steps = 24,960 images)
PHASE_IMAGES = 24_960
METRICS = ("mig", "factor_vae", "dci_disentanglement", "sap", "fid_probe", "control", "tc_real",
           "steps", "train_seconds")
# Lin, Thekumparampil, Fanti, Oh, "InfoGAN-CR and ModelCentrality", ICML 2020, Table 1
# (dSprites, disentanglement_lib-style MIG; about 300k steps at batch 64), as quoted in the
# project's discovery issue
PUBLISHED = {
    "beta-vae": "MIG 0.21",
    "factor-vae": "MIG 0.27-0.43, FactorVAE score 0.79-0.83",
    "infogan": "InfoGAN (modified): MIG 0.22, FactorVAE score 0.82",
    "ms-infogan": "InfoGAN-CR: MIG 0.37, FactorVAE score 0.88 (0.45 / 0.92 picked by "
                  "ModelCentrality)",
    "beta-tcvae": "0.45 in that table is Chen et al.'s own MIG estimator, not comparable",
}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", required=True)
    p.add_argument("--models", default=MODELS)
    p.add_argument("--seeds", type=int, default=3)
    p.add_argument("--minutes", type=float, default=45.0)
    p.add_argument("--size", type=int, default=32)
    p.add_argument("--train", type=int, default=0,
                   help="training sprites; 0 (default): the whole grid")
    p.add_argument("--eval", type=int, default=2_000, help="sprites of the learning curve")
    p.add_argument("--device", default="auto")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--final-budget", default="full", choices=["smoke", "quick", "full"])
    p.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                   help="for every model")
    args = p.parse_args()
    out = Path(args.out)
    script = Path(__file__).with_name("shapes_learning_curve.py")
    models = args.models.split(",")
    for model in models:
        for seed in range(args.seeds):
            folder = out / model / f"seed{seed}"
            if (folder / "final.json").exists():
                continue
            cmd = [sys.executable, str(script), model, "--out", str(folder), "--train",
                   str(args.train), "--eval", str(args.eval),
                   "--size", str(args.size), "--minutes", str(args.minutes), "--seed",
                   str(seed), "--device", args.device, "--threads", str(args.threads),
                   "--final-budget", args.final_budget]
            own = ms_infogan_params(args.size, args.param) if model == "ms-infogan" else []
            for kv in PARAMS.get(model, []) + own + args.param:
                cmd += ["--param", kv]
            print(" ".join(cmd[1:]), flush=True)
            subprocess.run(cmd, check=True)
    summary = summarise(out, models, args.seeds, args.final_budget)
    (out / "results.json").write_text(json.dumps(summary, indent=1))
    (out / "results.md").write_text(markdown(summary, args))
    print((out / "results.md").read_text())


def ms_infogan_params(size: int, given: list[str]) -> list[str]:
    """ms-infogan's settings beyond InfoGAN's latents: the split codes and the growth phases
    in images, each unless the user's --param names it."""
    named = {kv.split("=", 1)[0] for kv in given}
    own = {"cont_scales": split_scales(size), "phase_images": f"phase_images={PHASE_IMAGES}"}
    return [kv for k, kv in own.items() if k not in named]


def split_scales(size: int) -> str:
    """ms-infogan's `cont_scales` at `size` px: two continuous codes in the coarse blocks (4x4
    and 8x8), three in every finer block (16x16 up)."""
    fine = list(range(2, int(np.log2(size)) - 1))  # block 0 is 4x4
    if not fine:
        raise SystemExit(f"ms-infogan's split needs --size 16 or more, got {size}")
    return "cont_scales=" + json.dumps([[0, 1]] * 2 + [fine] * 3, separators=(",", ":"))


def summarise(out: Path, models: list[str], seeds: int, budget: str) -> dict:
    from genad.disentangle import BUDGETS, model_centrality

    summary: dict = {}
    for model in models:
        runs = [json.loads((out / model / f"seed{s}" / "final.json").read_text())
                for s in range(seeds)]
        entry = {"runs": [{k: r.get(k) for k in METRICS} for r in runs]}
        for k in METRICS:
            vals = [r[k] for r in runs if r.get(k) is not None]
            entry[k] = ([float(np.mean(vals)), float(np.std(vals, ddof=1)) if len(vals) > 1
                         else None] if vals else None)
        if seeds > 1 and model in PARAMS:  # ModelCentrality: for the GANs, as the paper
            import genad

            nets = [genad.load(str(out / model / f"seed{s}" / "model")) for s in range(seeds)]
            n_train, n_eval = BUDGETS[budget]["votes"]
            cen = model_centrality(nets, n_train=n_train, n_eval=n_eval)
            entry["centrality"] = {**cen, "picked_figures": entry["runs"][cen["picked"]]}
        summary[model] = entry
    return summary


def markdown(summary: dict, args: argparse.Namespace) -> str:
    def fmt(v) -> str:
        if v is None:
            return "–"
        mean, std = v
        return f"{mean:.3f}" + ("" if std is None else f" ± {std:.3f}")

    head = ["model", *METRICS, "picked by ModelCentrality (seed: MIG / FactorVAE)", "published"]
    data = "the whole grid" if not args.train else f"{args.train:,} sprites"
    lines = [f"{args.size} px, {data}, {args.minutes:g} min of training a run, "
             f"{args.seeds} seeds, metric budget {args.final_budget}; mean ± std over seeds",
             "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for model, e in summary.items():
        cen = e.get("centrality")
        pick = (f"{cen['picked']}: {cen['picked_figures']['mig']:.3f} / "
                f"{cen['picked_figures']['factor_vae']:.3f}" if cen else "–")
        lines.append("| " + " | ".join([model, *(fmt(e[k]) for k in METRICS), pick,
                                        PUBLISHED.get(model, "–")]) + " |")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    main()
