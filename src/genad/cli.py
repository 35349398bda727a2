"""The `genad` command. Thin: parse, call the API, print. Errors a user can cause print one
line and exit 2."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NoReturn

from genad.errors import ConfigError, GenadError


def _params(args: argparse.Namespace) -> dict[str, Any]:
    """Model parameters from --config FILE.yaml, then --param k=v, then the named flags
    (genad.params.resolve)."""
    from genad.params import resolve

    flags = {k: getattr(args, k, None) for k in ("epochs", "batch_size", "image_size", "device",
                                                 "lr")}
    return resolve(getattr(args, "config", None), getattr(args, "param", None) or [], flags,
                   getattr(args, "size", None))


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
        "--protocol", choices=["leave-one-out", "one-vs-rest", "mvtec"],
        help="default: mvtec for mvtec: and masks: data, leave-one-out for the others"
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


def _run_folder_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run folder")
    p.add_argument(
        "--resume", action="store_true", help="continue a killed run from its checkpoint"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")


class _OneLineParser(argparse.ArgumentParser):
    """argparse with its errors on one line (no usage block), exit status 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def _count(text: str) -> int:
    """An argparse type: an integer >= 1."""
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {n}")
    return n


def build_parser() -> argparse.ArgumentParser:
    from genad import __version__

    parser = _OneLineParser(
        prog="genad", description="Generative anomaly detection and attribute discovery."
    )
    parser.add_argument("--version", action="version", version=f"genad {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)
    for add in (_add_demo, _add_train, _add_score, _add_bench, _add_disentangle, _add_traverse,
                _add_generate, _add_lists, _add_transfer, _add_serve, _add_export):
        add(sub)
    return parser


def _add_demo(sub: Any) -> None:
    p = sub.add_parser("demo", help="train AE and GANomaly on the bundled digits, print AUROC")
    p.add_argument("--out", default="runs/demo", help="report folder (default runs/demo)")
    p.add_argument("--cls", default="3", help="the anomalous digit (default 3)")
    p.add_argument("--epochs", type=int, default=12, help="epochs per model (default 12)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--quiet", action="store_true")


def _add_train(sub: Any) -> None:
    p = sub.add_parser("train", help="train one model on one protocol split and evaluate it")
    p.add_argument("model", help="model name (see `genad models`)")
    _data_args(p)
    p.add_argument("--cls", help="class (index or name) for the protocol")
    _run_folder_args(p)
    p.add_argument("--log", choices=["tensorboard", "mlflow"],
                   help="also log config, per-epoch metrics and results to TensorBoard "
                   "(OUT/tensorboard) or MLflow ($MLFLOW_TRACKING_URI, default an SQLite store "
                   "in OUT/mlruns); needs pip install 'genad[tensorboard]' / 'genad[mlflow]'")
    _common(p)


def _add_score(sub: Any) -> None:
    p = sub.add_parser("score", help="score images with a trained model -> CSV or JSON")
    p.add_argument("run", help="run folder (or model folder) of a trained model")
    p.add_argument("images", nargs="+", help="image files or folders")
    p.add_argument("--out", help="write scores here (.csv or .json); default: print CSV")
    p.add_argument("--maps", help="folder to write anomaly heat-map PNGs (models that give maps)")
    p.add_argument("--device", help="auto (default), cpu, cuda")


def _add_serve(sub: Any) -> None:
    from genad.serve import DEFAULT_MAX_FILES, DEFAULT_MAX_MB

    p = sub.add_parser("serve", help="serve a trained detector over HTTP: POST /score, "
                       "GET /health, a page at / (needs pip install 'genad[serve]')")
    p.add_argument("run", help="run folder (or model folder) of a trained detector")
    p.add_argument("--host", default="127.0.0.1",
                   help="address to listen on (default 127.0.0.1: this machine only)")
    p.add_argument("--port", type=int, default=8000, help="port (default 8000; 0: a free one)")
    p.add_argument("--max-mb", type=float, default=DEFAULT_MAX_MB,
                   help=f"largest request body in MB (default {DEFAULT_MAX_MB}); larger: 413")
    p.add_argument("--max-files", type=_count, default=DEFAULT_MAX_FILES,
                   help=f"most files in one request (default {DEFAULT_MAX_FILES})")
    p.add_argument("--device", help="auto (default), cpu, cuda")


def _add_export(sub: Any) -> None:
    p = sub.add_parser("export", help="export a trained detector to one ONNX or TorchScript "
                       "graph: uint8 images -> score, calibrated score, label (+ heat map)")
    p.add_argument("run", help="run folder (or model folder) of a trained detector")
    p.add_argument("--format", default="onnx", choices=["onnx", "torchscript"],
                   help="onnx (default; needs pip install 'genad[export]') or torchscript")
    p.add_argument("--out", help="file to write (default RUN/model.onnx or RUN/model.pt)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing --out file")


def _add_bench(sub: Any) -> None:
    p = sub.add_parser("bench", help="models x classes x seeds -> results table and report")
    p.add_argument("models", help="model name(s), comma-separated")
    _data_args(p, many=True)
    p.add_argument("--classes", default="all", help="all (default) or a list like 0,3,7")
    p.add_argument("--seeds", type=_count, default=3,
                   help="number of seeds, 0..N-1 (default 3)")
    p.add_argument("--out", required=True, help="benchmark folder (finished cells are kept)")
    p.add_argument(
        "--train-limit",
        type=_count,
        help="train on a seeded subset of at most N normal images (quick CPU runs)",
    )
    p.add_argument(
        "--test-limit",
        type=_count,
        help="score a seeded subset of at most N test images (quick CPU runs)",
    )
    _common(p)


def _add_disentangle(sub: Any) -> None:
    p = sub.add_parser(
        "disentangle", help="train a generative model on factor data; MIG, FID, control, ..."
    )
    p.add_argument("model", help="a VAE- or InfoGAN-family model (see `genad models`)")
    p.add_argument(
        "--data", default="shapes",
        help="shapes[:N] (default shapes, 20,000), dsprites:PATH, or data without factors "
        "(mnist:PATH, digits, ...: FID, Lemma 1 and the class NMI of categorical codes)",
    )
    _run_folder_args(p)
    p.add_argument(
        "--budget", default="quick", choices=["smoke", "quick", "full"],
        help="metric sample counts: quick (default, CPU) or full (disentanglement_lib's)",
    )
    _common(p)


def _add_traverse(sub: Any) -> None:
    p = sub.add_parser("traverse", help="latent traversal grid of a trained generative model")
    p.add_argument("run", help="run folder (or model folder) of a generative model")
    p.add_argument("--steps", type=int, default=8, help="images per continuous code (default 8)")
    p.add_argument("--seed", type=int, default=0, help="seed of the base latent")
    p.add_argument("--out", help="PNG path (default RUN/traversals-seed<S>.png)")


def _add_generate(sub: Any) -> None:
    p = sub.add_parser("generate", help="sample images from a trained generative model")
    p.add_argument("run", help="run folder (or model folder) of a generative model")
    p.add_argument("-n", type=int, default=64, help="number of images (default 64)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--out", help="a .png mosaic or a .npz of uint8 images (default RUN/generated.png)"
    )


def _add_lists(sub: Any) -> None:
    p = sub.add_parser("models", help="list the models")
    p.add_argument("-v", "--verbose", action="store_true", help="show every parameter")
    sub.add_parser("datasets", help="list the data sources")


def _add_transfer(sub: Any) -> None:
    p = sub.add_parser("transfer", help="content transfer: move an attribute only domain B has "
                       "onto domain A images (train + --eval), or apply a trained model (--apply)")
    p.add_argument("--domain-a", help="folder of images without the attribute")
    p.add_argument("--domain-b", help="folder of images with the attribute")
    p.add_argument("--data", default="digits", help="without folders: the source the attribute "
                   "is drawn onto (digits (default), mnist:PATH, ...)")
    p.add_argument("--attribute", default="frame", choices=["frame", "digit"],
                   help="what genad draws onto domain B: frame (default; a border of random "
                   "thickness and grey) or digit (another digit shrunk into a corner)")
    p.add_argument("--limit", type=_count, help="use at most N source images")
    p.add_argument("--size", type=int, help="read images at SIZE x SIZE (default: --image-size)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--out", required=True, help="run folder (train) or output folder (--apply)")
    p.add_argument(
        "--resume", action="store_true", help="continue a killed run from its checkpoint"
    )
    p.add_argument("--overwrite", action="store_true", help="replace a finished run in --out")
    p.add_argument("--eval", action="store_true", help="evaluate (attribute classifier, content "
                   "errors, leakage; also the untrained networks) into result.json")
    p.add_argument("--apply", choices=["add", "remove", "swap", "interpolate"],
                   help="apply the model in --model to --images (and --donors)")
    p.add_argument("--model", help="folder of a trained content-transfer model")
    p.add_argument("--images", nargs="+", default=[], help="image files or folders")
    p.add_argument("--donors", nargs="+", default=[], help="images with the attribute")
    p.add_argument("--steps", type=int, default=5, help="interpolation steps (default 5)")
    _common(p)


def cmd_demo(args: argparse.Namespace) -> int:
    from rich.console import Console
    from rich.table import Table

    from genad import experiment

    console = Console()
    t0 = time.perf_counter()
    split = experiment.demo_split(args.cls, args.seed)
    console.print(f"[bold]genad demo[/]: bundled digits, leave-one-out (digit {args.cls} "
                  f"anomalous): {len(split.train)} normal training images, {len(split.test)} "
                  f"test images ({int(split.test.labels.sum())} anomalous)")
    rows, rep = experiment.demo(args.out, split, args.epochs, args.seed, args.quiet)
    table = Table(title="Anomaly detection on held-out digits (final model, no test-set tuning)")
    for col in ("model", "AUROC", "AUPRC", "F1 @ threshold", "train s", "train img/s"):
        table.add_column(col, justify="left" if col == "model" else "right")
    for r in rows:
        table.add_row(r["model"], f"{r['auroc']:.3f}", f"{r['auprc']:.3f}", f"{r['f1']:.3f}",
                      f"{r['fit_seconds']:.1f}", f"{r['train_img_per_s']:.0f}")
    console.print(table)
    console.print(f"report: {rep}   ({time.perf_counter() - t0:.0f} s)")
    return 0


def cmd_train(args: argparse.Namespace) -> int:
    from genad import data, experiment, registry
    from genad.bench.runner import default_protocol

    registry.get(args.model)  # an unknown name fails before any data is read
    if args.log:
        from genad.loggers import require

        require(args.log)  # a missing package fails before any data is read
    split = data.load(
        args.data,
        protocol=default_protocol(args.data, args.protocol),
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
        log=args.log,
    )
    if experiment.is_main_process():
        shown = [k for k in experiment.HEADLINE if r.get(k) is not None]
        print(" ".join(f"{k}={r[k]:.4g}" for k in shown))
        print(f"run folder: {args.out} (report.md, scores.csv, model files)")
    return 0


def cmd_score(args: argparse.Namespace) -> int:
    from genad import experiment
    from genad.io import atomic_write_text

    scored = experiment.score_files(args.run, args.images, device=args.device, maps=args.maps)
    for s in scored["skipped"]:
        print(f"genad: warning: skipped {s['why']}", file=sys.stderr)
    if len(scored["skipped"]) > 1:
        print(f"genad: warning: {len(scored['skipped'])} files skipped, "
              f"{len(scored['scores'])} scored", file=sys.stderr)
    text = experiment.scores_text(scored, "json" if (args.out or "").endswith(".json") else "csv")
    if args.out:
        atomic_write_text(Path(args.out), text)
    else:
        sys.stdout.flush()  # file names that are not UTF-8 go out as their own bytes
        sys.stdout.buffer.write(text.encode("utf-8", "surrogateescape"))
        sys.stdout.buffer.flush()
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    from genad import serve

    if not args.max_mb > 0:
        raise ConfigError(f"--max-mb must be positive, got {args.max_mb}")
    serve.require()
    sock = serve.bind(args.host, args.port)
    app = serve.create_app(args.run, max_bytes=int(args.max_mb * 2**20),
                           max_files=args.max_files, device=args.device)
    host, port = sock.getsockname()[:2]
    url = f"http://{f'[{host}]' if ':' in host else host}:{port}/"
    print(f"genad serve: {app.state.scorer.det.name} from {args.run} at {url} "
          "(Ctrl+C stops)", flush=True)
    try:
        serve.server(app).run(sockets=[sock])
    except KeyboardInterrupt:  # uvicorn shuts down cleanly, then usually raises Ctrl+C again;
        pass  # when the signal lands mid-request it returns instead (seen under load)
    print("genad serve: stopped", flush=True)
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from genad import export

    out = args.out or export.default_path(args.run, args.format)
    path = export.export(args.run, out, args.format, overwrite=args.overwrite)
    meta = export.metadata(path, args.format)
    _, c, s, _ = meta["input"]
    print(f"wrote {path} ({args.format}): uint8 images (N, {c}, {s}, {s}) -> "
          f"{', '.join(meta['outputs'])}")
    return 0


def cmd_bench(args: argparse.Namespace) -> int:
    from genad import registry
    from genad.bench import Cell
    from genad.bench.runner import bench_many

    cells = [Cell.parse(m) for m in args.models.split(",") if m.strip()]
    for c in cells:
        registry.get(c.model)
    reports, summary = bench_many(
        cells, args.data or ["digits"], protocol=args.protocol, out=args.out,
        classes=args.classes, seeds=range(args.seeds), params=_params(args), size=args.size,
        download=args.download, select_on_test=args.select_on_test, quiet=args.quiet,
        train_limit=args.train_limit, test_limit=args.test_limit,
    )
    for rep in reports:
        print((Path(rep).parent / "results.md").read_text())
        print(f"report: {rep}")
    if summary is not None:
        print(summary.read_text())
        print(f"summary: {summary}")
    return 0


def cmd_disentangle(args: argparse.Namespace) -> int:
    from genad import disentangle

    params = _params(args)
    r = disentangle.run(args.model, args.data, params=params, out=args.out, seed=args.seed,
                        budget=args.budget, overwrite=args.overwrite, resume=args.resume,
                        quiet=args.quiet)
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
    from genad.report import save_samples

    if args.n < 1:
        raise ConfigError(f"-n must be >= 1, got {args.n}")
    det = _generative_model(args.run)
    out = Path(args.out) if args.out else Path(args.run) / "generated.png"
    if out.suffix not in (".png", ".npz"):
        raise ConfigError(f"--out must end in .png or .npz, got {out.name}")
    images = det.generate(args.n, seed=args.seed)
    print(save_samples(images, out, title=f"{det.name}: {args.n} samples (seed {args.seed})"))
    return 0


def cmd_models(args: argparse.Namespace) -> int:
    import dataclasses

    from genad import registry

    for name in registry.names():
        cls = registry.get(name)
        own = cls.__dict__.get("__doc__")  # the class's own text, else its module's
        print(f"{name:16s} {_first_sentence(own or sys.modules[cls.__module__].__doc__)}")
        if args.verbose:
            for f in dataclasses.fields(cls.Config):
                default = (f.default_factory() if f.default is dataclasses.MISSING
                           and f.default_factory is not dataclasses.MISSING else f.default)
                print(f"    {f.name} = {default!r}")
    return 0


def _first_sentence(doc: str | None) -> str:
    """The first sentence of a docstring's first paragraph, whatever its line breaks."""
    import re

    para = " ".join((doc or "").strip().split("\n\n")[0].split())
    end = re.search(r"(?<!\bal)(?<!\be\.g)(?<!\bi\.e)\.\s+(?=[A-Z])", para)  # not "et al."
    return para if end is None else para[: end.start() + 1]


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
    from genad.data.base import DEFAULT_SIZE

    if args.apply:
        if not args.model or not args.images:
            raise ConfigError("--apply needs --model RUN and --images")
        written = transfer.apply_files(args.model, args.apply, args.images, args.donors,
                                       args.out, args.steps, args.device)
        print(f"wrote {len(written)} images to {args.out}")
        return 0
    params = dict(_params(args), seed=args.seed)
    size = args.size or params.get("image_size", DEFAULT_SIZE)
    task = two_domain.load_any(args.domain_a, args.domain_b, spec=args.data,
                               attribute=args.attribute, size=size, seed=args.seed,
                               limit=args.limit)
    r = transfer.run(task, params, args.out, evaluate_too=args.eval, quiet=args.quiet,
                     baseline=args.eval, overwrite=args.overwrite, resume=args.resume)
    for key in ("trained", "untrained"):
        if key in r:
            print(f"{key:9s} " + " ".join(f"{k}={v:.3f}" for k, v in r[key].items()))
    print(f"fit {r['fit_seconds']:.1f} s; run folder: {args.out} (model, grid.png, result.json)")
    return 0


COMMANDS = {
    "transfer": cmd_transfer,
    "demo": cmd_demo,
    "train": cmd_train,
    "score": cmd_score,
    "serve": cmd_serve,
    "export": cmd_export,
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
    except OSError as e:  # a folder that cannot be written, a full disk: the user's to fix
        where = f" ({e.filename})" if e.filename else ""
        print(f"genad: error: {e.strerror or e}{where}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("genad: interrupted", file=sys.stderr)
        return 130
