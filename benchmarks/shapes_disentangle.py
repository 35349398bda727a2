"""Disentanglement on `shapes` (genad's procedural dSprites): the multiscale InfoGAN at several
info weights lambda, InfoGAN, beta-VAE, FactorVAE and beta-TCVAE, 3 seeds each, and each
network untrained (its random initialisation: the baseline to read the figures against).

Writes, under --out: one run folder per cell (report.md, traversals.png, samples.png, model),
results.csv, results.md (MIG, FactorVAE score, BetaVAE score, DCI disentanglement, SAP,
FID on genad's probe features, total correlation of the codes of real images, the MI lower
bound, both sides of Lemma 1, attribute control; mean ± std over seeds), trade_space.png
(FID vs MIG) and lemma1.png. A finished cell is not rerun.

    # the CPU-reduced run README quotes (16x16 sprites, 6,000 training images)
    python benchmarks/shapes_disentangle.py --out runs/bench-shapes-cpu
    # closer to the papers (64x64, 300k steps in disentanglement_lib): a GPU run
    python benchmarks/shapes_disentangle.py --size 64 --train 200000 --epochs 30 \\
        --budget full --device cuda --out runs/bench-shapes-gpu
"""

from __future__ import annotations

import argparse

from genad.disentangle import bench

MODELS = ("ms-infogan,ms-infogan:coarse,ms-infogan:flat,infogan,beta-vae,factor-vae,beta-tcvae,"
          "ms-infogan:untrained,infogan:untrained,beta-vae:untrained,factor-vae:untrained,"
          "beta-tcvae:untrained")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default=MODELS)
    ap.add_argument("--lambdas", default="0,1,3",
                    help="info weights of the ms-infogan sweep (default 0,1,3); the other "
                    "InfoGAN entries use 1")
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed-start", type=int, default=0, help="first seed (default 0)")
    ap.add_argument("--size", type=int, default=16, help="image size (default 16)")
    ap.add_argument("--train", type=int, default=6000, help="training sprites (default 6000)")
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--budget", default="quick", choices=["smoke", "quick", "full"])
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="runs/bench-shapes")
    args = ap.parse_args()
    shared = {"image_size": args.size, "epochs": args.epochs, "batch_size": 64,
              "device": args.device}
    # 5 factors: one 3-way categorical code for the shape and 4 continuous codes (InfoGAN
    # family); 10 latents for the VAEs (disentanglement_lib's setting)
    infogan = {"categorical": [3], "continuous": 4, "noise_dim": 4, "width": 16}
    # "ms-infogan:coarse": the codes enter only the 4x4 and 8x8 styles (the multiscale option);
    # "ms-infogan:flat": no progressive growing (all steps at the final resolution)
    params = {"*": shared, "ms-infogan": {**infogan, "max_width": 64},
              "ms-infogan:coarse": {"code_scales": [0, 1]}, "ms-infogan:flat": {"grow": False},
              "infogan": infogan, "beta-vae": {"width": 16}, "factor-vae": {"width": 16},
              "beta-tcvae": {"width": 16}}
    sweep = [float(v) for v in args.lambdas.split(",")]
    lambdas = {"ms-infogan": sweep, "ms-infogan:coarse": [1.0], "ms-infogan:flat": [1.0],
               "infogan": [1.0]}
    seeds = range(args.seed_start, args.seed_start + args.seeds)
    rows = bench(args.models.split(","), f"shapes:{args.train}", seeds=seeds,
                 lambdas=lambdas, params=params, out=args.out, budget=args.budget, quiet=True)
    print(open(f"{args.out}/results.md").read())
    print(f"{len(rows)} runs; plots: {args.out}/trade_space.png, {args.out}/lemma1.png")


if __name__ == "__main__":
    main()
