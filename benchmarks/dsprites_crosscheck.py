"""The metrics on genad's rendered sprites against the same metrics on authentic dSprites.

    python benchmarks/dsprites_crosscheck.py MODEL_DIR --dsprites ~/data/dsprites --out OUT

A trained model (a run folder of the VAE or InfoGAN families trained on `shapes`) encodes two
image sets of the same factor combinations: N images of the dSprites file (the official one,
or a subset of the same keys) and genad's renderings of their grid indices. MIG, DCI (gradient
boosting, half the images to fit, half to test) and SAP are computed on both, with the
pixel IoU of the two renderings. When the figures agree, a figure measured on `shapes` stands
for the same figure on dSprites. Writes OUT/crosscheck.json and OUT/crosscheck.md.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch

import genad
from genad.data import shapes
from genad.data.dsprites import load_dsprites
from genad.disentangle import factor_labels
from genad.metrics import dci, mig, sap


def figures(model, images, labels: np.ndarray, seed: int) -> dict:
    codes = model.encode(images)
    half = len(codes) // 2
    m = mig(codes, labels)
    d = dci(codes[:half], labels[:half], codes[half:], labels[half:], method="gbt", rng=seed)
    return {"mig": m["mig"], "mig_per_factor": np.round(m["per_factor"], 4).tolist(),
            "dci_disentanglement": d["disentanglement"], "dci_completeness": d["completeness"],
            "sap": sap(codes[:half], labels[:half], codes[half:], labels[half:])["sap"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("model", help="a run folder of a model trained on shapes")
    p.add_argument("--dsprites", required=True, help="the dSprites .npz or a folder holding it")
    p.add_argument("--n", type=int, default=10_000, help="images drawn from the file")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)

    model = genad.load(args.model)
    size = model.config.image_size
    authentic = load_dsprites(args.dsprites, n=args.n, seed=args.seed, size=size)
    idx = shapes.factor_grid().to_index(authentic.factors.numpy())
    ours = shapes.make_set(idx, size)
    a, b = authentic.images.numpy() > 0, ours.images.numpy() > 0
    iou = float(((a & b).sum((1, 2, 3)) / np.maximum((a | b).sum((1, 2, 3)), 1)).mean())
    labels = factor_labels(ours.factors.numpy())  # the same grid indices for both sets
    res = {"model": args.model, "model_name": model.name, "image_size": size,
           "images": len(idx), "pixel_iou": iou,
           "authentic": figures(model, authentic, labels, args.seed),
           "genad_shapes": figures(model, ours, labels, args.seed)}
    (out / "crosscheck.json").write_text(json.dumps(res, indent=1, default=float))
    keys = ("mig", "dci_disentanglement", "dci_completeness", "sap")
    lines = [f"# {model.name} ({size} px): metrics on authentic dSprites vs genad's rendering",
             "", f"{len(idx):,} images of the same factor combinations; pixel IoU of the two "
             f"renderings {iou:.4f}.", "", "| images | " + " | ".join(keys) + " |",
             "|---" * (len(keys) + 1) + "|"]
    for name in ("authentic", "genad_shapes"):
        lines.append(f"| {name} | " + " | ".join(f"{res[name][k]:.3f}" for k in keys) + " |")
    (out / "crosscheck.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
