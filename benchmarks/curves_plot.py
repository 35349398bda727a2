"""Several MIG learning curves on one pair of axes (curve.json files of
benchmarks/shapes_learning_curve.py), to compare settings at equal steps.

    python benchmarks/curves_plot.py --out OUT.png --title "beta-VAE on the grid" \\
        "reference nets=RUN0/curve.json" "DCGAN nets=RUN1/curve.json"
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("curves", nargs="+", metavar="LABEL=CURVE.json")
    p.add_argument("--out", required=True)
    p.add_argument("--title", default="MIG while training")
    p.add_argument("--max-steps", type=int, default=None, help="cut every curve here")
    args = p.parse_args()
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.ticker import FuncFormatter

    fig = Figure(figsize=(5.5, 3.4), dpi=120, layout="constrained")
    FigureCanvasAgg(fig)
    ax = fig.subplots()
    for spec in args.curves:
        label, sep, path = spec.rpartition("=")  # labels may hold "="
        if not sep or not Path(path).is_file():
            raise SystemExit(f"expected LABEL=CURVE.json of an existing file, got {spec!r}")
        curve = [c for c in json.loads(Path(path).read_text())["curve"]
                 if args.max_steps is None or c["step"] <= args.max_steps]
        ax.plot([c["step"] for c in curve], [c["mig"] for c in curve], label=label)
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v / 1000:g}k"))
    ax.set_xlabel("training steps")
    ax.set_ylabel("MIG (2,000 grid sprites)")
    ax.set_title(args.title, fontsize=9)
    ax.legend(fontsize=7)
    fig.savefig(args.out)
    print(args.out)


if __name__ == "__main__":
    main()
