"""Training and scoring speed (images per second), end to end through the public API.

Setting of the foundation issue: 32x32, batch 64, bundled digits, leave-one-out (digit 3).
For each model it measures
  fit      the whole `det.fit` call (engine, progress, calibration included), img/s of
           training images processed per second of wall time;
  engine   the engine's own per-epoch img/s (what the progress bar shows);
  floor    the bare `train_step` on pre-sliced batches in a tight loop: the networks'
           forward and backward passes and optimiser steps alone, no engine;
  ref-floor (GANomaly only) the same networks stepped the way the reference code steps them
           (D on the real batch twice, D's weight gradients computed during the G update):
           the "bare network" floor a reference implementation cannot beat;
  score    `decision_function` on the test split.

    python benchmarks/speed.py                 # CPU, all three models
    python benchmarks/speed.py --device cuda --batch-size 256 --epochs 20
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

import genad
from genad.data.base import resize


def reference_style_step(det, x: torch.Tensor) -> None:
    """GANomaly's update as its reference code does it, on genad's networks."""
    g, d, c = det.nets_["g"], det.nets_["d"], det.config
    x_hat, z, z_hat = g(x)
    _, f_real = d(x)
    _, f_fake = d(x_hat)
    loss_g = (
        c.w_adv * (f_real - f_fake).pow(2).mean()
        + c.w_con * (x - x_hat).abs().mean()
        + c.w_enc * (z - z_hat).pow(2).mean()
    )
    det.optimizers_["g"].zero_grad()
    loss_g.backward()
    det.optimizers_["g"].step()
    p_real, _ = d(x)
    p_fake, _ = d(x_hat.detach())
    loss_d = 0.5 * (
        F.binary_cross_entropy_with_logits(p_real, torch.ones_like(p_real))
        + F.binary_cross_entropy_with_logits(p_fake, torch.zeros_like(p_fake))
    )
    det.optimizers_["d"].zero_grad()
    loss_d.backward()
    det.optimizers_["d"].step()


def floor(det, x: torch.Tensor, batch: int, steps: int, fn) -> float:
    for net in det.nets_.values():
        net.train()
    k = len(x) // batch  # cycle over the distinct batches the data holds
    batches = [x[(i % k) * batch : (i % k + 1) * batch].to(det.device_) for i in range(steps)]
    fn(det, batches[0])  # warm-up
    if det.device_.type == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter()
    for b in batches:
        fn(det, b)
    if det.device_.type == "cuda":
        torch.cuda.synchronize()
    return steps * batch / (time.perf_counter() - t)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="ae,ganomaly,skip-ganomaly")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="also write the results here")
    args = ap.parse_args()

    split = genad.data.load("digits", protocol="leave-one-out", cls=3, seed=0)
    rows = []
    for name in args.models.split(","):
        det = genad.create(
            name, epochs=args.epochs, batch_size=args.batch_size, device=args.device, seed=0
        )
        t = time.perf_counter()
        det.fit(split.train)
        fit_s = time.perf_counter() - t
        fit_rate = det.history_[-1]["step"] * args.batch_size / fit_s  # images trained on
        engine = sum(h["img_per_s"] for h in det.history_[1:]) / max(1, len(det.history_) - 1)
        x = resize(split.train.float_images(), det.config.image_size)
        row = {
            "model": name,
            "device": str(det.device_),
            "threads": torch.get_num_threads(),
            "fit_img_per_s": round(fit_rate, 1),
            "engine_img_per_s": round(engine, 1),
            "floor_img_per_s": round(floor(det, x, args.batch_size, 40, type(det).train_step), 1),
        }
        if name == "ganomaly":
            row["ref_floor_img_per_s"] = round(
                floor(det, x, args.batch_size, 40, reference_style_step), 1
            )
        t = time.perf_counter()
        det.decision_function(split.test)
        row["score_img_per_s"] = round(len(split.test) / (time.perf_counter() - t), 1)
        rows.append(row)
        print(json.dumps(row), flush=True)

    cols = list(dict.fromkeys(k for r in rows for k in r))
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for r in rows:
        print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump(rows, f, indent=2)


if __name__ == "__main__":
    main()
