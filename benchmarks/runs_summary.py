"""Finished disentanglement runs side by side: the quality / disentanglement trade space
(FID (probe) vs MIG) and Lemma 1's inequality (TC of the codes read back from generated images
against its bound), drawn from runs that trained, not from a fresh grid of short ones.

    python benchmarks/runs_summary.py --out OUT \\
        "ms-infogan=RUN0/final.json,RUN1/final.json,RUN2/final.json" \\
        "beta-vae=RUN3/final.json"

Each argument is LABEL=FILE[,FILE...]: the final evaluations (final.json of
benchmarks/shapes_learning_curve.py --final-budget ...) of one setting's seeds. Writes
OUT/runs_summary.png and OUT/runs_summary.md (mean ± std over each label's files).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from genad.metrics.tables import aggregate, fmt, group_rows
from genad.report import plot_runs_summary

COLUMNS = (("mig", "MIG"), ("factor_vae", "FactorVAE score"), ("fid_probe", "FID (probe)"),
           ("lemma1_tc_inferred", "TC(c_hat)"), ("lemma1_bound", "Lemma 1 bound"),
           ("tc_real", "TC of real images' codes"))


def read_groups(specs: list[str]) -> list[dict]:
    """LABEL=FILE[,FILE...] -> one row per file, its "model" set to LABEL."""
    rows = []
    for spec in specs:
        label, sep, files = spec.partition("=")
        if not sep or not label or not files:
            raise SystemExit(f"expected LABEL=FILE[,FILE...], got {spec!r}")
        for f in files.split(","):
            path = Path(f)
            if not path.is_file():
                raise SystemExit(f"no such file: {path}")
            rows.append({**json.loads(path.read_text()), "model": label})
    return rows


def table(rows: list[dict]) -> str:
    """Markdown: one line per label, mean ± std over its files (sample std; none for one)."""
    keys = [k for k, _ in COLUMNS]
    head = "| setting | runs | budget | steps | " + " | ".join(n for _, n in COLUMNS) + " |"
    lines = [head, "|" + "---|" * (len(COLUMNS) + 4)]
    groups = group_rows(rows, ("model",))
    for agg in aggregate(rows, by=("model",), metrics=keys):
        mine = groups[(agg["model"],)]
        cells = [fmt(agg[f"{k}_mean"], agg[f"{k}_std"], agg["n"]) for k in keys]
        steps = sorted({r.get("steps") for r in mine if r.get("steps")})
        budgets = sorted({str(r.get("budget")) for r in mine})
        lines.append(f"| {agg['model']} | {agg['n']} | {', '.join(budgets)} | "
                     f"{', '.join(f'{s:,}' for s in steps) or '–'} | " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("groups", nargs="+", help="LABEL=FILE[,FILE...]")
    p.add_argument("--out", type=Path, required=True)
    p.add_argument("--title", default=None)
    args = p.parse_args()
    rows = read_groups(args.groups)
    args.out.mkdir(parents=True, exist_ok=True)
    plot_runs_summary(rows, args.out / "runs_summary.png", title=args.title)
    md = table(rows)
    (args.out / "runs_summary.md").write_text(md)
    print(md)
    print(f"plot: {args.out / 'runs_summary.png'}")


if __name__ == "__main__":
    main()
