"""InfoGAN's MNIST experiment: does the 10-way categorical code find the digits?

    python benchmarks/mnist_infogan.py infogan --out runs/mnist-infogan --epochs 5   # CPU
    python benchmarks/mnist_infogan.py ms-infogan --out runs/mnist-ms --epochs 5
    python benchmarks/mnist_infogan.py infogan --out OUT --epochs 50 --device cuda

Trains MODEL with one 10-way categorical code, two continuous codes and 62 noise inputs
(InfoGAN App. C.1) on the 60,000 MNIST training digits, labels unseen, and after every epoch
reads the categorical code Q gives each of the 10,000 test digits. The accuracy is that of
the best one-to-one assignment of code values to digits (Hungarian matching on the confusion
matrix), the reading behind InfoGAN's "5% error" (Chen et al. 2016, Sec. 7.1). Writes
OUT/curve.json (step, seconds, accuracy, NMI, MI bound), OUT/curve.png, OUT/samples.png and
OUT/traversals.png (rows: the digit code's ten values, then each continuous code) of the
final model, saved in OUT/model. --data is the MNIST folder (default $GENAD_DATA/mnist); any
other labelled source (e.g. `digits`) is split 5:1 into training and test images.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
from common import start, training_parser

import genad
from genad import data as gdata
from genad.disentangle import write_traversals
from genad.report import plot_sample_grid


def assignment_accuracy(codes: np.ndarray, labels: np.ndarray, k: int = 10) -> tuple[float,
                                                                                     list[int]]:
    """Accuracy of the best one-to-one map from code values to labels, and that map
    (entry c = the label code value c stands for)."""
    from scipy.optimize import linear_sum_assignment

    confusion = np.zeros((k, k), dtype=np.int64)
    np.add.at(confusion, (codes, labels), 1)
    rows, cols = linear_sum_assignment(-confusion)
    mapping = [int(c) for c in cols[np.argsort(rows)]]
    return float(confusion[rows, cols].sum() / len(codes)), mapping


def main() -> None:
    p = training_parser(__doc__, epochs=5)
    p.add_argument("--data", default="mnist", help="data spec, e.g. mnist:PATH")
    p.add_argument("--limit", type=int, default=None, help="train on the first N digits")
    args = p.parse_args()
    out, params = start(args)
    name, _, path = args.data.partition(":")
    if name in ("mnist", "fashion-mnist"):  # the official train / test parts
        train, test = gdata._official(name, Path(path) if path else None, download=False)
        train, test = gdata.base.fit(train, size=args.size), gdata.base.fit(test, size=args.size)
    else:  # any other labelled source: a seeded 5:1 split
        src = gdata.load(args.data, size=args.size)
        order = np.random.default_rng(args.seed).permutation(len(src))
        cut = len(src) * 5 // 6
        train, test = src.subset(np.sort(order[:cut])), src.subset(np.sort(order[cut:]))
    if args.limit:
        train = train.subset(np.arange(min(args.limit, len(train))))
    labels = test.labels.numpy()
    params = {"categorical": [10], "continuous": 2, "noise_dim": 62, **params}
    curve: list[dict] = []
    t0 = time.perf_counter()

    def read(epoch: int, det) -> dict:
        from sklearn.metrics import normalized_mutual_info_score

        codes = np.rint(det.encode(test)[:, 0]).astype(np.int64)
        acc, mapping = assignment_accuracy(codes, labels)
        step = det.steps_per_epoch_ * epoch
        point = {"epoch": epoch, "step": step, "seconds": round(time.perf_counter() - t0, 1),
                 "accuracy": round(acc, 4),
                 "nmi": round(float(normalized_mutual_info_score(labels, codes)), 4),
                 "code_to_digit": mapping}
        curve.append(point)
        print(json.dumps(point), flush=True)
        _write(out, args, params, curve)
        return {"digit_accuracy": acc}

    det = genad.create(args.model, **params)
    det.fit(train, quiet=True, on_epoch_end=read, score_training=False)
    for point, h in zip(curve, det.history_):
        point["mi"] = h.get("mi")
    _write(out, args, params, curve)
    det.save(out / "model")
    plot_sample_grid(det.generate(64, seed=0), out / "samples.png",
                     title=f"{args.model} on MNIST: samples after {curve[-1]['step']} steps")
    write_traversals(det, out / "traversals.png", seed=args.seed, steps=10)
    _plot(curve, out / "curve.png", args.model)


def _write(out: Path, args: argparse.Namespace, params: dict, curve: list[dict]) -> None:
    tmp = out / "curve.json.tmp"
    tmp.write_text(json.dumps({"model": args.model, "data": args.data, "params": params,
                               "curve": curve}, indent=1))
    tmp.replace(out / "curve.json")


def _plot(curve: list[dict], path: Path, title: str) -> None:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(4.5, 3), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    ax.plot([c["step"] for c in curve], [c["accuracy"] for c in curve], marker="o",
            label="genad")
    ax.axhline(0.95, color="grey", ls="--", lw=1, label="InfoGAN (Chen et al.): 95%")
    ax.set_ylim(0, 1)
    ax.set_xlabel("training steps")
    ax.set_ylabel("digit accuracy of the 10-way code")
    ax.set_title(f"{title} on MNIST (test set, labels unseen)", fontsize=9)
    ax.legend(fontsize=7, loc="lower right")
    fig.savefig(path)


if __name__ == "__main__":
    main()
