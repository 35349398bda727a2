"""The `genad` command. Thin: parse, call the API, print. Errors a user can cause print one
line and exit 2."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from genad.errors import ConfigError, GenadError


def _params(args: argparse.Namespace) -> dict[str, Any]:
    """Model parameters from --config FILE.yaml, then --param k=v, then the named flags; a
    --size that is a power of two sets image_size when none of them does."""
    params: dict[str, Any] = {}
    if getattr(args, "config", None):
        try:
            loaded = yaml.safe_load(Path(args.config).expanduser().read_text()) or {}
        except (OSError, yaml.YAMLError) as e:
            raise ConfigError(f"cannot read config {args.config}: {e}") from None
        if not isinstance(loaded, dict):
            raise ConfigError(f"{args.config} must hold a mapping of parameter: value")
        params.update(loaded)
    params.update(parse_params(getattr(args, "param", None) or []))
    for key in ("epochs", "batch_size", "image_size", "device", "lr"):
        if getattr(args, key, None) is not None:
            params[key] = getattr(args, key)
    from genad.models.base import is_network_size

    size = getattr(args, "size", None)
    if "image_size" not in params and size and is_network_size(size):
        params["image_size"] = size  # --size 16 alone: images read and networks run at 16
    return params


def parse_params(items: Sequence[str]) -> dict[str, Any]:
    """--param KEY=VALUE items -> {key: YAML value}; dashes in keys become underscores."""
    params: dict[str, Any] = {}
    for item in items:
        key, eq, value = item.partition("=")
        if not eq:
            raise ConfigError(f"--param takes key=value, got {item!r}")
        params[key.strip().replace("-", "_")] = yaml.safe_load(value)
    return params


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--epochs", type=int, help="training epochs (default: the model's)")
    p.add_argument("--batch-size", type=int, help="batch size (default: the model's)")
    p.add_argument("--image-size", type=int, help="network input size, a power of two")
    p.add_argument("--lr", type=float, help="learning rate (default: the paper's)")
    p.add_argument("--device", help="auto (default), cpu, cuda, cuda:N")
    p.add_argument(
        "--param",
        action="append",
        metavar="KEY=VALUE",
        help="any model parameter (see `genad models -v`); repeatable",
    )
    p.add_argument("--config", help="YAML file of model parameters")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _data_args(p: argparse.ArgumentParser, many: bool = False) -> None:
    p.add_argument(
        "--data",
        action="append" if many else "store",
        default=None if many else "digits",
        help="digits (default), mnist:PATH, fashion-mnist:PATH, cifar10:PATH, "
        "folder:PATH, mvtec:PATH, masks:PATH (see `genad datasets`)"
        + ("; repeat for several data sets (each in OUT/<data>-<protocol>/, plus "
           "OUT/summary.md; mvtec: and masks: data always use the mvtec protocol)"
           if many else ""),
    )
    p.add_argument(
        "--protocol", default="leave-one-out", choices=["leave-one-out", "one-vs-rest", "mvtec"]
    )
    p.add_argument("--size", type=int, help="resize images to SIZE x SIZE when loading; a "
                   "power of two also sets the network size unless --image-size is given")
    p.add_argument(
        "--download",
        action="store_true",
        help="fetch mnist / fashion-mnist / cifar10 if missing (sha256-checked)",
    )
    p.add_argument(
        "--select-on-test",
        action="store_true",
        help="also report the best test AUROC over epochs (test-set selection, as "
        "the GANomaly reference code does; optimistic, labelled as such)",
    )


def build_parser() -> argparse.ArgumentParser:
    from genad import __version__

    parser = argparse.ArgumentParser(
        prog="genad", description="Generative anomaly detection and attribute discovery."
    )
    parser.add_argument("--version", action="version", version=f"genad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("demo", help="train AE and GANomaly on the bundled digits, print AUROC")
    p.add_argument("--out", default="runs/demo", help="report folder (default runs/demo)")
    p.add_argument("--cls", default="3", help="the anomalous digit (default 3)")
    p.add_argument("--epochs", type=int, default=12, help="epochs per model (default 12)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")

    p = sub.add_parser("train", help="train one model on one protocol split and evaluate it")
    p.add_argument("model", help="model name (see `genad models`)")
    _data_args(p)
    p.add_argument("--cls", help="class (index or name) for the protocol")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument(
        "--resume", action="store_true", help="continue a killed run from its checkpoint"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    _common(p)

    p = sub.add_parser("score", help="score images with a trained model -> CSV or JSON")
    p.add_argument("run", help="run folder (or model folder) of a trained model")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", help="write scores here (.csv or .json); default: print CSV")
    p.add_argument("--maps", help="folder to write anomaly heat-map PNGs (models that give maps)")
    p.add_argument("--device", help="auto (default), cpu, cuda")

    p = sub.add_parser("bench", help="models x classes x seeds -> results table and report")
    p.add_argument("models", help="model name(s), comma-separated")
    _data_args(p, many=True)
    p.add_argument("--classes", default="all", help="all (default) or a list like 0,3,7")
    p.add_argument("--seeds", type=int, default=3, help="number of seeds, 0..N-1 (default 3)")
    p.add_argument("--out", required=True, help="benchmark folder (finished cells are kept)")
    p.add_argument(
        "--train-limit",
        type=int,
        help="train on a seeded subset of at most N normal images (quick CPU runs)",
    )
    p.add_argument(
        "--test-limit",
        type=int,
        help="score a seeded subset of at most N test images (quick CPU runs)",
    )
    _common(p)

    p = sub.add_parser(
        "disentangle", help="train a generative model on factor data; MIG, FID, control, ..."
    )
    p.add_argument("model", help="a VAE- or InfoGAN-family model (see `genad models`)")
    p.add_argument(
        "--data", default="shapes",
        help="shapes[:N] (default shapes, 20,000), dsprites:PATH, or data without factors "
        "(mnist:PATH, digits, ...: FID, Lemma 1 and the class NMI of categorical codes)",
    )
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument(
        "--budget", default="quick", choices=["smoke", "quick", "full"],
        help="metric sample counts: quick (default, CPU) or full (disentanglement_lib's)",
    )
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    _common(p)

    p = sub.add_parser("traverse", help="latent traversal grid of a trained generative model")
    p.add_argument("run", help="run folder (or model folder) of a generative model")
    p.add_argument("--steps", type=int, default=8, help="images per continuous code (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the base latent")
    p.add_argument("--out", help="PNG path (default RUN/traversals-seed<S>.png)")

    p = sub.add_parser("generate", help="sample images from a trained generative model")
    p.add_argument("run", help="run folder (or model folder) of a generative model")
    p.add_argument("-n", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", help="a .png mosaic or a .npz of uint8 images (default RUN/generated.png)"
    )

    p = sub.add_parser("models", help="list the models")
    p.add_argument("-v", "--verbose", action="store_true", help="show every parameter")
    sub.add_parser("datasets", help="list the data sources")

    p = sub.add_parser("transfer", help="content transfer: move an attribute only domain B has "
                       "onto domain A images (train + --eval), or apply a trained model (--apply)")
    p.add_argument("--domain-a", help="folder of images without the attribute")
    p.add_argument("--domain-b", help="folder of images with the attribute")
    p.add_argument("--data", default="digits", help="without folders: the source the attribute "
                   "is drawn onto (digits (default), mnist:PATH, ...)")
    p.add_argument("--attribute", default="frame", choices=["frame", "digit"],
                   help="what genad draws onto domain B: frame (default; a border of random "
                   "thickness and grey) or digit (another digit shrunk into a corner)")
    p.add_argument("--limit", type=int, help="use at most N source images")
    p.add_argument("--size", type=int, help="read images at SIZE x SIZE (default: --image-size)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run folder (train) or output folder (--apply)")
    p.add_argument("--eval", action="store_true", help="evaluate (attribute classifier, content "
                   "errors, leakage; also the untrained networks) and write metrics.json")
    p.add_argument("--apply", choices=["add", "remove", "swap", "interpolate"],
                   help="apply the model in --model to --images (and --donors)")
    p.add_argument("--model", help="folder of a trained content-transfer model")
    p.add_argument("--images", nargs="+", default=[], help="image files or folders")
    p.add_argument("--donors", nargs="+", default=[], help="images with the attribute")
    p.add_argument("--steps", type=int, default=5, help="interpolation steps (default 5)")
    _common(p)
    return parser


def cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from genad import data, experiment, report

    console = Console()
    t0 = time.perf_counter()
    split = data.load("digits", protocol="leave-one-out", cls=args.cls, seed=args.seed)
    console.print(
        f"[bold]genad demo[/]: bundled digits, leave-one-out (digit {args.cls} "
        f"anomalous): {len(split.train)} normal training images, {len(split.test)} "
        f"test images ({int(split.test.labels.sum())} anomalous)"
    )
    out = Path(args.out)
    rows = []
    for model in ("ae", "ganomaly"):
        r = experiment.run(
            model,
            split,
            params={"epochs": args.epochs, "seed": args.seed},
            out=out / model,
            data="digits",
            quiet=args.quiet,
            overwrite=True,
        )
        rows.append(r)
    table = Table(title="Anomaly detection on held-out digits (final model, no test-set tuning)")
    for col in ("model", "AUROC", "AUPRC", "F1 @ threshold", "train s", "train img/s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        table.add_row(
            r["model"],
            f"{r['auroc']:.3f}",
            f"{r['auprc']:.3f}",
            f"{r['f1']:.3f}",
            f"{r['fit_seconds']:.1f}",
            f"{r['train_img_per_s']:.0f}",
        )
    console.print(table)
    rep = report.write_bench_report(
        out,
        [dict(r, dataset="digits", cls=str(split.normal), f1=r["f1"]) for r in rows],
        title="genad demo: digits leave-one-out",
        notes=[
            "Threshold = 99th percentile of held-out normal training scores.",
            f"Run folders: {out / 'ae'}, {out / 'ganomaly'}.",
        ],
    )
    console.print(f"report: {rep}   ({time.perf_counter() - t0:.0f} s)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from genad import data, experiment, registry

    registry.get(args.model)  # an unknown name fails before any data is read
    split = data.load(
        args.data,
        protocol=args.protocol,
        cls=args.cls,
        seed=args.seed,
        size=args.size,
        download=args.download,
    )
    params = dict(_params(args), seed=args.seed)
    r = experiment.run(
        args.model,
        split,
        params=params,
        out=args.out,
        data=args.data,
        quiet=args.quiet,
        resume=args.resume,
        overwrite=args.overwrite,
        select_on_test=args.select_on_test,
    )
    if experiment.is_main_process():
        shown = [k for k in experiment.HEADLINE if r.get(k) is not None]
        print(" ".join(f"{k}={r[k]:.4g}" for k in shown))
        print(f"run folder: {args.out} (report.md, scores.csv, model files)")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    import csv
    import io as _io

    import genad
    from genad.data.folder import existing_dir, list_images, read_images
    from genad.errors import DataError

    det = genad.load(args.run, device=args.device)
    paths: list[Path] = []
    for item in args.images:
        p = Path(item).expanduser()
        if p.is_dir():
            paths += list_images(existing_dir(p))
        elif p.is_file():
            paths.append(p)
        else:
            raise DataError(f"{p} does not exist")
    if not paths:
        raise DataError(f"no images found in {', '.join(args.images)}")
    h, w = det.input_size_
    images = read_images(paths, (h, w), det.channels_)
    scores = det.decision_function(images)
    calibrated = det.calibrated_score(images)
    labels = (scores > det.threshold_).astype(int)
    rows = [
        {"path": str(p), "score": float(s), "calibrated": float(c), "anomalous": int(lab)}
        for p, s, c, lab in zip(paths, scores, calibrated, labels)
    ]
    if args.maps:
        _write_maps(det, images, paths, Path(args.maps))
    if args.out and args.out.endswith(".json"):
        Path(args.out).write_text(
            json.dumps({"threshold": det.threshold_, "scores": rows}, indent=2)
        )
    else:
        buf = _io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        if args.out:
            Path(args.out).write_text(buf.getvalue())
        else:
            sys.stdout.write(buf.getvalue())
    return 0


def _write_maps(det: Any, images: Any, paths: list[Path], folder: Path) -> None:
    import numpy as np
    from matplotlib import colormaps
    from PIL import Image

    maps = det.anomaly_map(images)
    folder.mkdir(parents=True, exist_ok=True)
    top = float(np.quantile(maps, 0.999)) or 1.0
    for m, p in zip(maps, paths):
        rgb = colormaps["inferno"](np.clip(m / top, 0, 1))[..., :3]
        Image.fromarray((rgb * 255).astype(np.uint8)).save(folder / f"{p.stem}_map.png")


def cmd_bench(args: argparse.Namespace) -> int:
    from genad import registry
    from genad.bench import bench, summarise

    models = [m.strip() for m in args.models.split(",") if m.strip()]
    for m in models:
        registry.get(m.partition(":")[0])
    specs = args.data or ["digits"]
    several = len(specs) > 1
    jobs = []
    for spec in specs:
        dataset = spec.partition(":")[0].lower()
        protocol = "mvtec" if several and dataset in ("mvtec", "masks") else args.protocol
        if (dataset, protocol) in [j[1:] for j in jobs]:
            raise ConfigError(f"two --data are {dataset} under {protocol}: their results would "
                              "mix in one table; benchmark them separately (own --out)")
        jobs.append((spec, dataset, protocol))
    for spec, dataset, protocol in jobs:
        rep = bench(
            models,
            spec,
            protocol=protocol,
            classes=args.classes,
            seeds=range(args.seeds),
            params=_params(args),
            out=Path(args.out) / f"{dataset}-{protocol}" if several else args.out,
            size=args.size,
            download=args.download,
            select_on_test=args.select_on_test,
            quiet=args.quiet,
            train_limit=args.train_limit,
            test_limit=args.test_limit,
        )
        print((Path(rep).parent / "results.md").read_text())
        print(f"report: {rep}")
    if several:
        summary = summarise(args.out)
        print(summary.read_text())
        print(f"summary: {summary}")
    return 0


def cmd_disentangle(args: argparse.Namespace) -> int:
    from genad import disentangle

    params = _params(args)
    r = disentangle.run(args.model, args.data, params=params, out=args.out, seed=args.seed,
                        budget=args.budget, overwrite=args.overwrite, quiet=args.quiet)
    shown = [k for k in disentangle.HEADLINE if r.get(k) is not None]
    print(" ".join(f"{k}={r[k]:.4g}" for k in shown))
    print(f"run folder: {args.out} (report.md, traversals.png, samples.png, model files)")
    return 0


def _generative_model(path: str) -> Any:
    import genad
    from genad.models.generative import LatentModel

    det = genad.load(path)
    if not isinstance(det, LatentModel):
        raise ConfigError(f"{path} holds a {det.name} model, which has no latent codes")
    return det


def cmd_traverse(args: argparse.Namespace) -> int:
    from genad.disentangle import write_traversals

    if args.steps < 2:
        raise ConfigError(f"--steps must be >= 2, got {args.steps}")
    det = _generative_model(args.run)
    out = Path(args.out) if args.out else Path(args.run) / f"traversals-seed{args.seed}.png"
    print(write_traversals(det, out, seed=args.seed, steps=args.steps))
    return 0


def cmd_generate(args: argparse.Namespace) -> int:
    import numpy as np

    from genad.report import plot_sample_grid

    if args.n < 1:
        raise ConfigError(f"-n must be >= 1, got {args.n}")
    det = _generative_model(args.run)
    images = det.generate(args.n, seed=args.seed)
    out = Path(args.out) if args.out else Path(args.run) / "generated.png"
    if out.suffix == ".npz":
        out.parent.mkdir(parents=True, exist_ok=True)
        u8 = np.clip(np.rint((images + 1) * 127.5), 0, 255).astype(np.uint8)
        np.savez_compressed(out, images=u8)
    elif out.suffix == ".png":
        plot_sample_grid(images, out, title=f"{det.name}: {args.n} samples (seed {args.seed})")
    else:
        raise ConfigError(f"--out must end in .png or .npz, got {out.name}")
    print(out)
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    import dataclasses

    from genad import registry

    for name in registry.names():
        cls = registry.get(name)
        own = cls.__dict__.get("__doc__")  # the class's own line, else its module's
        doc = (own or sys.modules[cls.__module__].__doc__ or "").strip().splitlines()[0]
        print(f"{name:16s} {doc}")
        if args.verbose:
            for f in dataclasses.fields(cls.Config):
                print(f"    {f.name} = {f.default!r}")
    return 0


def cmd_datasets(args: argparse.Namespace) -> int:
    from genad import data

    for d in data.datasets():
        extra = " [--download]" if d["download"] else ""
        print(
            f"{d['spec']:20s} {d['needs']}{extra}\n{'':20s} protocols: {', '.join(d['protocols'])}"
        )
    return 0


def cmd_transfer(args: argparse.Namespace) -> int:
    from genad import transfer
    from genad.data import two_domain

    if args.apply:
        if not args.model or not args.images:
            raise ConfigError("--apply needs --model RUN and --images")
        written = transfer.apply_files(args.model, args.apply, args.images, args.donors,
                                       args.out, args.steps, args.device)
        print(f"wrote {len(written)} images to {args.out}")
        return 0
    params = dict(_params(args), seed=args.seed)
    size = args.size or params.get("image_size", 32)
    if bool(args.domain_a) != bool(args.domain_b):
        raise ConfigError("give both --domain-a and --domain-b, or neither")
    if args.domain_a:
        task = two_domain.load_folders(args.domain_a, args.domain_b, size, args.seed)
    else:
        task = two_domain.load_task(args.data, args.attribute, size, args.seed, limit=args.limit)
    r = transfer.train_and_evaluate(task, params, args.out, evaluate_too=args.eval,
                                    quiet=args.quiet, baseline=args.eval)
    for key in ("trained", "untrained"):
        if key in r:
            print(f"{key:9s} " + " ".join(f"{k}={v:.3f}" for k, v in r[key].items()))
    print(f"fit {r['fit_seconds']:.1f} s; run folder: {args.out} (model, grid.png"
          + (", metrics.json)" if args.eval else ")"))
    return 0


COMMANDS = {
    "transfer": cmd_transfer,
    "demo": cmd_demo,
    "train": cmd_train,
    "score": cmd_score,
    "bench": cmd_bench,
    "disentangle": cmd_disentangle,
    "traverse": cmd_traverse,
    "generate": cmd_generate,
    "models": cmd_models,
    "datasets": cmd_datasets,
}


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except GenadError as e:
        print(f"genad: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genad: interrupted", file=sys.stderr)
        return 130
