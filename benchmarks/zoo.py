"""Every detector on MNIST leave-one-out (GANomaly's protocol) and CIFAR-10 one-vs-rest
(Deep SVDD's), all classes, beside the published figures: the anomaly-detection zoo's table;
optionally MVTec-layout folders (image and pixel AUROC).

Each protocol is one `genad.bench` call (resumable: finished cells are kept) writing
results.csv / results.md / report.md (per-class bars with the published figure marked, ROC
curves, score histograms) under --out/<protocol>. The representation-based detectors of the
multiscale InfoGAN run as "ms-infogan" (latent inversion), "ms-infogan:code-density" and
"ms-infogan:disc-features" (model:score_kind), beside GANomaly and the others.

    # the full table (10 classes, 3 seeds, paper epochs): a GPU run
    python benchmarks/zoo.py --mnist ~/data/mnist --cifar10 ~/data/cifar10 --device cuda
    # the reduced CPU run README quotes (3 seeds each)
    python benchmarks/zoo.py --mnist ~/data/mnist --cifar10 ~/data/cifar10 --seeds 3 \\
        --epochs 4 --width 32 --train-limit 1500 --test-limit 1000 --size 16 \\
        --out runs/bench-zoo-cpu --export docs/zoo
    # seeds in parallel processes on one folder: --seed-start 1 --seeds 1, --seed-start 2 ...
    # CIFAR-10 leave-one-out, where GANomaly's, Skip-GANomaly's, EGBAD's and AnoGAN's
    # published CIFAR-10 figures are (Akcay et al. 2019, Table 1)
    python benchmarks/zoo.py --cifar10 ~/data/cifar10 --cifar10-leave-one-out --seeds 3 \\
        --models ae,ganomaly,skip-ganomaly,egbad,anogan,gaussian-ad,ms-infogan:disc-features \\
        --epochs 4 --width 32 --train-limit 1500 --test-limit 1000 --size 16 \\
        --out runs/bench-zoo-cpu-cifar-loo --export docs/zoo-cifar-loo
"""

from __future__ import annotations

import argparse
import shutil
from pathlib import Path

from genad.bench import bench, summarise
from genad.errors import ConfigError
from genad.params import parse_params

DETECTORS = ("ae,vae,ganomaly,skip-ganomaly,anogan,f-anogan,egbad,alocc,ocgan,deep-svdd,"
             "gaussian-ad,ocsvm-codes,iforest-codes,infogan,ms-infogan,ms-infogan:code-density,"
             "ms-infogan:disc-features")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--mnist", help="MNIST folder (IDX .gz or npz); skipped when absent")
    ap.add_argument("--mnist-one-vs-rest", action="store_true",
                    help="also MNIST one-vs-rest (Deep SVDD's and OCGAN's MNIST protocol)")
    ap.add_argument("--cifar10", help="CIFAR-10 folder (pickle batches or class folders)")
    ap.add_argument("--cifar10-leave-one-out", action="store_true",
                    help="CIFAR-10 leave-one-out instead (GANomaly's and Skip-GANomaly's "
                    "CIFAR-10 protocol, where their published figures are)")
    ap.add_argument("--mvtec", help="one MVTec AD category folder (image and pixel AUROC)")
    ap.add_argument("--masks", help="category folders with a .png mask beside each image "
                    "(e.g. magnetic-tile defects; image and pixel AUROC)")
    ap.add_argument("--models", default=DETECTORS)
    ap.add_argument("--seeds", type=int, default=3)
    ap.add_argument("--seed-start", type=int, default=0,
                    help="first seed (run seeds in parallel processes on one --out)")
    ap.add_argument("--classes", default="all")
    ap.add_argument("--epochs", type=int, help="epochs for every model (default: each paper's)")
    ap.add_argument("--train-limit", type=int, help="seeded subset of the normal training images")
    ap.add_argument("--test-limit", type=int, help="seeded subset of the test images")
    ap.add_argument("--size", type=int, default=32, help="image and network size (default 32)")
    ap.add_argument("--width", type=int,
                    help="network width for every model (default: each paper's)")
    ap.add_argument("--param", action="append", default=[], metavar="KEY=VALUE",
                    help="a parameter given to every model (each must take it), e.g. "
                    "preprocess=gcn with --models deep-svdd; repeatable")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--out", default="runs/bench-zoo")
    ap.add_argument("--export", help="copy summary.md and the reports with figures here")
    ap.add_argument("--summary-only", action="store_true",
                    help="only rebuild --out/summary.md from the protocols' results.csv")
    args = ap.parse_args()
    params = {"device": args.device, "image_size": args.size}  # the networks run at --size
    if args.epochs:
        params["epochs"] = args.epochs
    if args.width:
        params["width"] = args.width
    try:
        params.update(parse_params(args.param))
    except ConfigError as e:
        ap.error(str(e))
    jobs = []
    if args.mnist:
        jobs.append(("mnist-leave-one-out", f"mnist:{args.mnist}", "leave-one-out"))
        if args.mnist_one_vs_rest:
            jobs.append(("mnist-one-vs-rest", f"mnist:{args.mnist}", "one-vs-rest"))
    if args.cifar10:
        protocol = "leave-one-out" if args.cifar10_leave_one_out else "one-vs-rest"
        jobs.append((f"cifar10-{protocol}", f"cifar10:{args.cifar10}", protocol))
    if args.mvtec:
        jobs.append(("mvtec", f"mvtec:{args.mvtec}", "mvtec"))
    if args.masks:
        jobs.append(("masks", f"masks:{args.masks}", "mvtec"))
    if not jobs and not args.summary_only:
        ap.error("give at least one of --mnist, --cifar10, --mvtec, --masks")
    for name, spec, protocol in [] if args.summary_only else jobs:
        seeds = range(args.seed_start, args.seed_start + args.seeds)
        report = bench(args.models.split(","), spec, protocol=protocol, classes=args.classes,
                       seeds=seeds, params=params, out=Path(args.out) / name, size=args.size,
                       train_limit=args.train_limit, test_limit=args.test_limit, quiet=True)
        print(f"## {name}\n")
        print((Path(report).parent / "results.md").read_text())
    summary = summarise(args.out)
    print(summary.read_text())
    if args.export:
        export(Path(args.out), Path(args.export))


def export(out: Path, dest: Path) -> None:
    """Copy summary.md and each protocol's report.md with its figures to `dest` (the
    committed copy README links to; the run folders stay where they are)."""
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(out / "summary.md", dest / "summary.md")
    for report in sorted(out.glob("*/report.md")):
        target = dest / report.parent.name
        target.mkdir(exist_ok=True)
        for name in ("report.md", "results.md", "results.csv", "bars.png", "roc.png", "hist.png"):
            if (report.parent / name).is_file():
                shutil.copy(report.parent / name, target / name)


if __name__ == "__main__":
    main()
