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

The generative models (`--generative`, default every one) are timed per training step at
`--gen-size` (64) on sprites, at their final resolution (ms-infogan without growing), beside
the step's FLOP count (torch.utils.flop_counter: forward, backward and R1 where it falls) and
the ratio of each step's time to infogan's DCGAN step:

    python benchmarks/speed.py --models "" --gen-size 64     # generative models only
"""

from __future__ import annotations

import argparse
import json
import time

import torch
import torch.nn.functional as F

import genad
from genad.data.base import resize
from genad.params import parse_params


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


def generative_speed(names: list[str], size: int, batch: int, steps: int, device: str,
                     ms_params: dict | None = None) -> list[dict]:
    """Seconds and FLOPs of one training step of each generative model at `size` px."""
    from torch.utils.flop_counter import FlopCounterMode

    from genad.data import shapes
    from genad.data.base import to_float

    x = to_float(shapes.sample(batch, seed=0, size=min(size, 64)).images)
    x = resize(x, size)
    rows = []
    for name in names:
        extra = {"grow": False, **(ms_params or {})} if name == "ms-infogan" else {}
        det = genad.create(name, image_size=size, batch_size=batch, device=device, seed=0,
                           **extra)
        det.setup(1)
        det.n_train_, det.world_size_, det.total_steps_ = batch, 1, steps  # as the engine sets
        for net in det.nets_.values():
            net.train()
        b = x.to(det.device_)
        det.train_step(b)  # warm-up
        with FlopCounterMode(display=False) as counter:
            det.train_step(b)
        flops = counter.get_total_flops()
        if det.device_.type == "cuda":
            torch.cuda.synchronize()
        t = time.perf_counter()
        for _ in range(steps):
            det.train_step(b)
        if det.device_.type == "cuda":
            torch.cuda.synchronize()
        sec = (time.perf_counter() - t) / steps
        rows.append({"model": name, "size": size, "batch": batch, "s_per_step": round(sec, 3),
                     "gflop_per_step": round(flops / 1e9, 1),
                     "gflop_per_s": round(flops / 1e9 / sec, 1)})
    base = next((r["s_per_step"] for r in rows if r["model"] == "infogan"), None)
    for r in rows:
        r["x_infogan_step"] = round(r["s_per_step"] / base, 2) if base else None
    return rows


GENERATIVE = "infogan,ms-infogan,vae,beta-vae,factor-vae,beta-tcvae"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="ae,ganomaly,skip-ganomaly")
    ap.add_argument("--epochs", type=int, default=5)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--json", help="also write the results here")
    ap.add_argument("--generative", default=GENERATIVE, help="generative models to time per "
                    "step (empty: none)")
    ap.add_argument("--gen-size", type=int, default=64)
    ap.add_argument("--gen-steps", type=int, default=3)
    ap.add_argument("--ms-param", action="append", default=[], metavar="KEY=VALUE",
                    help="an ms-infogan parameter for its step, e.g. width=32 (repeatable)")
    args = ap.parse_args()

    split = genad.data.load("digits", protocol="leave-one-out", cls=3, seed=0)
    rows = []
    for name in [m for m in args.models.split(",") if m]:
        det = genad.create(
            name, epochs=args.epochs, batch_size=args.batch_size, device=args.device, seed=0
        )
        t = time.perf_counter()
        det.fit(split.train, score_training=False)  # as measured before PyOD's scores
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

    gen = [m for m in args.generative.split(",") if m]
    gen_rows = generative_speed(gen, args.gen_size, args.batch_size, args.gen_steps,
                                args.device, parse_params(args.ms_param)) if gen else []
    for table in (rows, gen_rows):
        if not table:
            continue
        cols = list(dict.fromkeys(k for r in table for k in r))
        print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
        for r in table:
            print("| " + " | ".join(str(r.get(c, "")) for c in cols) + " |")
    if args.json:
        with open(args.json, "w") as f:
            json.dump({"detectors": rows, "generative": gen_rows}, f, indent=2)


if __name__ == "__main__":
    main()
