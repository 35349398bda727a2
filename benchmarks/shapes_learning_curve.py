"""MIG against training steps: how far a generative model is from its plateau on `shapes`.

    python benchmarks/shapes_learning_curve.py ms-infogan --out runs/curve-ms      # CPU
    python benchmarks/shapes_learning_curve.py beta-vae --param beta=4 --out runs/curve-bvae
    python benchmarks/shapes_learning_curve.py ms-infogan --size 64 --train 0 --epochs 1000 \\
        --final-budget full --device cuda --out runs/curve-ms-gpu   # the published 312k steps

Trains MODEL on --train sprites (genad's rendering of the dSprites grid; --train 0: the whole
grid of 737,280, read in epochs of 20,000 fresh sprites, `epoch_images`) and after every
epoch reads MIG off Q's codes (the GANs) or the posterior means (the VAEs) of --eval held-out
sprites (with --train 0 they are grid sprites the model trains on, as in
disentanglement_lib); writes OUT/curve.json (step, images, seconds, MIG, the MI bound where
logged), OUT/curve.png, OUT/samples.png and OUT/traversals.png (a row per code) of the final
model, saved in OUT/model. MIG here uses --eval sprites, fewer than disentanglement_lib's
10,000: a learning curve. --final-budget full adds every figure at disentanglement_lib's sample
counts (OUT/final.json): the figures to set beside a paper's, with their step count.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
from common import start, training_parser

import genad
from genad.data import shapes
from genad.data.base import as_images, resize
from genad.disentangle import write_traversals
from genad.metrics import mig
from genad.report import plot_sample_grid


def main() -> None:
    p = training_parser(__doc__, train=20_000)
    p.add_argument("--final-budget", choices=["smoke", "quick", "full"],
                   help="after training, every figure of genad.disentangle.evaluate at this "
                   "sample budget (full: disentanglement_lib's), into OUT/final.json")
    p.add_argument("--minutes", type=float, default=None,
                   help="a wall-clock training budget: the epochs are set from the time of a "
                   "few measured steps (overrides --epochs)")
    args = p.parse_args()
    out, params = start(args)
    if args.train:
        train = shapes.sample(args.train, seed=args.seed, size=args.size)
    else:  # the whole grid, read in epochs of 20,000 fresh sprites; calibration is not what a
        # learning curve is for, so 0.5% of the grid (3,686 sprites) is held out for it
        train = shapes.grid_set(args.size)
        params = {"epoch_images": 20_000, "calib_fraction": 0.005, **params}
    if args.minutes:
        params["epochs"], seconds = epochs_for(args.model, params, train, args.minutes)
        print(json.dumps({"minutes": args.minutes, "s_per_step": round(seconds, 4),
                          "epochs": params["epochs"]}), flush=True)
    held = shapes.sample(args.eval, seed=10_000 + args.seed, size=args.size)
    factors = shapes.factor_grid().to_index(held.factors.numpy())
    curve: list[dict] = []
    t0 = time.perf_counter()

    def read_mig(epoch: int, det) -> dict:
        m = mig(det.encode(held), factors)  # ms-infogan: at its current resolution
        step = det.steps_per_epoch_ * epoch
        point = {"epoch": epoch, "step": step, "images": step * args.batch_size,
                 "seconds": round(time.perf_counter() - t0, 1), "mig": m["mig"],
                 "mig_per_factor": np.round(m["per_factor"], 4).tolist()}
        curve.append(point)
        print(json.dumps(point), flush=True)
        (out / "curve.json").write_text(json.dumps({"model": args.model, "params": params,
                                                    "curve": curve}, indent=1))
        return {"mig_eval": m["mig"]}

    det = genad.create(args.model, **params)
    det.fit(train, quiet=True, on_epoch_end=read_mig, score_training=False)
    for point, h in zip(curve, det.history_):
        point["mi"] = h.get("mi")
    (out / "curve.json").write_text(json.dumps({"model": args.model, "params": params,
                                                "curve": curve}, indent=1))
    det.save(out / "model")
    plot_sample_grid(det.generate(64, seed=0), out / "samples.png",
                     title=f"{args.model}: samples after {curve[-1]['step']} steps")
    write_traversals(det, out / "traversals.png", seed=args.seed)
    _plot(curve, out / "curve.png", args.model,
          f"MIG ({args.eval:,} {'held-out ' if args.train else 'grid '}sprites)")
    if args.final_budget:
        from genad.disentangle import evaluate

        res = evaluate(det, "shapes", budget=args.final_budget, seed=args.seed)
        res["steps"] = curve[-1]["step"]
        res["train_seconds"] = curve[-1]["seconds"]
        (out / "final.json").write_text(json.dumps(res, indent=1, default=float))
        print(json.dumps({k: res.get(k) for k in ("mig", "factor_vae", "dci_disentanglement",
                                                   "sap", "fid_probe", "control", "coverage")}))


def epochs_for(model: str, params: dict, train, minutes: float, steps: int = 12) -> tuple[int,
                                                                                     float]:
    """(epochs that fit `minutes` of training, seconds per step): times `steps` training steps
    (after 3 not timed) of a fresh `model` with `params` on the first images of `train`. For
    ms-infogan the timed steps run through its whole growth schedule, as a run does."""
    bs = params.get("batch_size", 64)
    probe = genad.create(model, **{**params, "epochs": 1, "epoch_images": None})
    pick = np.arange(bs * (steps + 3)) % len(train)  # a small set is cycled through
    x = resize(as_images(train.images[pick]), probe.config.image_size)
    probe.setup(int(x.shape[1]))
    probe.steps_per_epoch_ = probe.total_steps_ = steps + 3
    probe.world_size_ = 1
    for net in probe.nets_.values():
        net.train()
    for i in range(steps + 3):
        if i == 3:
            t = time.perf_counter()
        probe.train_step(x[i * bs : (i + 1) * bs].to(probe.device_))
    per_step = (time.perf_counter() - t) / steps
    per_epoch = (params.get("epoch_images") or len(train)) // bs
    return max(1, int(minutes * 60 / (per_step * per_epoch))), per_step


def _plot(curve: list[dict], path: Path, title: str, ylabel: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 3), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    steps = [c["step"] for c in curve]
    ax.plot(steps, [c["mig"] for c in curve], marker="o" if len(curve) <= 60 else None)
    if steps and max(steps) >= 10_000:  # 10k, 20k, ...: long runs' full numbers overlap
        from matplotlib.ticker import FuncFormatter

        ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
    ax.set_xlabel("training steps")
    ax.set_ylabel(ylabel)
    ax.set_title(f"{title}: MIG while training", fontsize=9)
    fig.savefig(path)


if __name__ == "__main__":
    main()
