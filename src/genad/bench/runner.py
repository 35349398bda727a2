"""The one benchmark runner: typed cells x classes x seeds, each an ordinary run folder.

A `Cell` names what one column of a benchmark runs: a model, its parameters, a score kind
(the InfoGAN family's representation scores), a variant label (parameters of a named
variant, a lambda) and whether it is trained at all. `run_grid` runs every (cell, class,
seed) whose folder out/<cell>/[<class>/]seed<s> has not finished, reads back those that
have, so an interrupted benchmark resumes where it stopped, and shows one progress bar.
Detection (`bench`, here), disentanglement (`genad.disentangle.bench`) and content transfer
(benchmarks/content_transfer.py) all run through it.

`bench`'s end product is results.csv, results.md and report.md with the published figures
beside ours where a reference exists.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genad import data as gdata
from genad import experiment, report
from genad.errors import ConfigError, DataError
from genad.metrics import read_csv


@dataclass(frozen=True)
class Cell:
    """What one benchmark column runs."""

    model: str  # a registered name
    params: dict[str, Any] = field(default_factory=dict, hash=False)  # over the shared ones
    score_kind: str | None = None  # the InfoGAN family's score (rescored, not retrained)
    variant: str | None = None  # a label for `params` ("coarse", "lambda1")
    trained: bool = True  # False: the networks at their seeded initialisation (a baseline)

    @property
    def label(self) -> str:
        """The name in tables: model[:variant][:score kind][:untrained]."""
        parts = [self.model, self.variant, self.score_kind, None if self.trained else "untrained"]
        return ":".join(p for p in parts if p)

    @property
    def folder(self) -> str:
        return self.label.replace(":", "-")

    @classmethod
    def parse(cls, text: str) -> Cell:
        """A command-line column: "ganomaly", "ms-infogan:code-density" (a score kind)."""
        model, _, kind = text.strip().partition(":")
        return cls(model, score_kind=kind or None)

    def model_params(self, shared: dict[str, Any] | None = None) -> dict[str, Any]:
        """The parameters this cell's model is created with."""
        p = {**(shared or {}), **self.params}
        if self.score_kind:
            p["score_kind"] = self.score_kind
        return p


def run_grid(
    cells: Sequence[Cell],
    keys: Sequence[tuple[Any, int]],
    out: Path,
    run_one: Callable[[Cell, Any, int, Path], dict[str, Any]],
    *,
    quiet: bool = False,
    title: str = "bench",
) -> list[tuple[Cell, Any, int, dict[str, Any], Path]]:
    """Run `run_one(cell, cls, seed, folder)` for every cell x (cls, seed) in `keys`, folder
    out/<cell>/<cls>/seed<s> (out/<cell>/seed<s> when cls is None). run_one hands back the
    result of a folder's finished run with the same settings and refuses one with others
    (RunFolder's `reuse`). Returns (cell, cls, seed, result, folder) in order."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    done: list[tuple[Cell, Any, int, dict[str, Any], Path]] = []
    jobs = [(c, k, s) for c in cells for k, s in keys]
    with Progress(TextColumn(f"[bold]{title}"), BarColumn(), MofNCompleteColumn(),
                  TextColumn("{task.fields[cell]}"), TimeElapsedColumn(), disable=quiet) as bar:
        task = bar.add_task(title, total=len(jobs), cell="")
        for cell, cls, seed in jobs:
            bar.update(task, cell=f"{cell.label}" + ("" if cls is None else f" class {cls}")
                       + f" seed {seed}")
            folder = out / cell.folder / ("" if cls is None else str(cls)) / f"seed{seed}"
            result = run_one(cell, cls, seed, folder)
            done.append((cell, cls, seed, result, folder))
            bar.advance(task)
    return done


def parse_classes(classes: str | Sequence[int | str], n_classes: int | None) -> list[int | str]:
    """ "all" -> every class index; "0,3,5" -> [0, 3, 5]; names are kept as names."""
    if isinstance(classes, str):
        if classes == "all":
            if not n_classes:
                raise ConfigError("--classes all needs a labelled data set")
            return list(range(n_classes))
        classes = [c.strip() for c in classes.split(",") if c.strip()]
    return [int(c) if str(c).lstrip("-").isdigit() else c for c in classes]


def _reference(models: Sequence[str], spec: str, protocol: str) -> dict[tuple, float] | None:
    """Published AUROCs {(model, cls): value} for this data set and protocol, where known."""
    try:
        from genad.bench.reference import reference_dict
    except ImportError:
        return None
    dataset = spec.partition(":")[0].lower()
    ref: dict[tuple, float] = {}
    for m in models:
        # rows key classes as text ("3"), the reference as numbers
        ref.update({(k[0], str(k[1])): v for k, v in reference_dict(m, dataset, protocol).items()})
    return ref or None


def _seeded_subset(images: Any, limit: int | None, seed: int) -> Any:
    """At most `limit` images of an ImageSet, drawn with `seed` (all of them when None)."""
    if limit is None or len(images) <= limit:
        return images
    keep = torch.randperm(len(images), generator=torch.Generator().manual_seed(seed))
    return images.subset(keep[:limit].sort().values)


def _memoised_sources(fn: Any) -> Any:
    """Run `fn` with each official data source read from disk once (genad.data)."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with gdata.memoised_sources():
            return fn(*args, **kwargs)

    return wrapper


@_memoised_sources
def bench(
    models: Sequence[str | Cell],
    spec: str,
    *,
    protocol: str,
    classes: str | Sequence[int | str] = "all",
    seeds: Sequence[int] = (0, 1, 2),
    params: dict[str, Any] | None = None,
    out: str | Path,
    size: int | None = None,
    download: bool = False,
    select_on_test: bool = False,
    quiet: bool = False,
    train_limit: int | None = None,  # train on a seeded subset of at most this many images
    test_limit: int | None = None,  # score a seeded subset of at most this many test images
) -> Path:
    """Run every (model, class, seed) cell not yet finished and write the report; returns
    the path of report.md. `models` are Cells, or names parsed by `Cell.parse` ("name:kind"
    runs `name` with score_kind=kind, the InfoGAN family's representation-based scores)."""
    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    cells = [m if isinstance(m, Cell) else Cell.parse(m) for m in models]
    if protocol == "mvtec":
        cls_list: list[int | str] = ["all"]
    else:
        raw = gdata.load(spec, size=size, download=download)
        cls_list = parse_classes(classes, len(raw.classes))

    def run_one(cell: Cell, cls: Any, seed: int, folder: Path) -> dict[str, Any]:
        split = gdata.load(spec, protocol=protocol, cls=None if cls == "all" else cls,
                           seed=seed, size=size, download=download)
        split.train = _seeded_subset(split.train, train_limit, seed)
        split.test = _seeded_subset(split.test, test_limit, seed)
        return experiment.run(cell.model, split, params=dict(cell.model_params(params),
                                                             seed=seed),
                              out=folder, data=spec, overwrite=True, reuse=True,
                              select_on_test=select_on_test,
                              trained=_trained_sibling(out, cells, cell, cls, seed))

    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, tuple]] = {}  # model -> class -> (labels, scores), first seed
    keys = [(c, s) for c in cls_list for s in seeds]
    for cell, cls, seed, result, folder in run_grid(cells, keys, out, run_one, quiet=quiet):
        model = cell.label
        rows.append(
            {
                "model": model,
                "dataset": spec.partition(":")[0],
                "protocol": protocol,
                "cls": str(cls),
                "seed": seed,
                **{k: result[k] for k in experiment.HEADLINE if k in result},
            }
        )
        scores_csv = folder / "scores.csv"
        if scores_csv.is_file() and str(cls) not in curves.setdefault(model, {}):
            run = read_csv(scores_csv, text_columns=())
            curves[model][str(cls)] = (np.array([r["label"] for r in run], dtype=np.int64),
                                       np.array([r["score"] for r in run], dtype=np.float64))
    labels = [c.label for c in cells]
    metrics = [
        m
        for m in ("auroc", "auroc_test_selected", "auprc", "best_f1", "pixel_auroc", "fit_seconds")
        if any(m in r for r in rows)
    ]
    notes = [
        f"Protocol {protocol}; data {spec}; seeds {', '.join(map(str, seeds))}; "
        f"parameters {json.dumps(params or {})}"
        + (f"; training images limited to {train_limit} a run" if train_limit else "")
        + (f"; test images limited to a seeded {test_limit} a run" if test_limit else "")
        + ".",
        "auroc is the final model's. Published values come from bench/reference.py with "
        "their sources; compare like with like (same protocol).",
    ]
    if select_on_test:
        notes.append(
            "auroc_test_selected = best test AUROC over epochs (test-set model "
            "selection, as the GANomaly reference code reports): optimistic."
        )
    return report.write_bench_report(
        out,
        rows,
        title=f"{', '.join(labels)} on {spec} ({protocol})",
        reference=_reference(labels, spec, protocol),
        notes=notes,
        metrics=metrics,
        scores={m: [(c, *ys) for c, ys in by_cls.items()] for m, by_cls in curves.items()},
    )


def default_protocol(spec: str, protocol: str | None = None) -> str:
    """The protocol a data set runs under: the one given, else "mvtec" for mvtec: and masks:
    data (their layout has labelled test images), else "leave-one-out"."""
    if protocol:
        return protocol
    return "mvtec" if spec.partition(":")[0].lower() in ("mvtec", "masks") else "leave-one-out"


def bench_many(models: Sequence[str | Cell], specs: Sequence[str], *, protocol: str | None,
               out: str | Path, **kwargs: Any) -> tuple[list[Path], Path | None]:
    """`bench` over several data sets: one folder out/<dataset>-<protocol> each (mvtec: and
    masks: data use the mvtec protocol) and out/summary.md across them; one data set runs in
    `out` itself. `protocol` None: each data set's `default_protocol`. Returns (the report.md
    paths, summary.md or None)."""
    several = len(specs) > 1
    jobs: list[tuple[str, str, str]] = []
    for spec in specs:
        dataset = spec.partition(":")[0].lower()
        proto = ("mvtec" if several and dataset in ("mvtec", "masks")
                 else default_protocol(spec, protocol))
        if (dataset, proto) in [j[1:] for j in jobs]:
            raise ConfigError(f"two --data are {dataset} under {proto}: their results would "
                              "mix in one table; benchmark them separately (own --out)")
        jobs.append((spec, dataset, proto))
    reports = [bench(models, spec, protocol=proto,
                     out=Path(out) / f"{dataset}-{proto}" if several else out, **kwargs)
               for spec, dataset, proto in jobs]
    return reports, summarise(out) if several else None


def _trained_sibling(out: Path, cells: Sequence[Cell], cell: Cell, cls: Any, seed: int) -> Any:
    """A finished cell of the same networks under another score kind ("ms-infogan" for
    "ms-infogan:code-density"), same class and seed: experiment.run rescores its model
    instead of training the same networks again. None when there is none."""
    same = dataclasses.replace(cell, score_kind=None)
    for other in cells:
        folder = out / other.folder / str(cls) / f"seed{seed}"
        if (other != cell and dataclasses.replace(other, score_kind=None) == same
                and other.params == cell.params and (folder / experiment.FINISHED).exists()):
            return folder
    return None


def summarise(out: str | Path) -> Path:
    """Write out/summary.md from every out/<protocol>/results.csv (benchmarks run with one
    `out` per protocol): one row per detector, AUROC averaged over classes (mean ± std over
    seeds), the published mean beside it where every class has one; pixel AUROC too where
    runs have it. Returns the path of summary.md."""
    from genad.bench.reference import reference_dict
    from genad.metrics import summary_markdown

    out = Path(out).expanduser()
    rows = [r for f in sorted(out.glob("*/results.csv")) for r in read_csv(f)]
    if not rows:
        raise DataError(f"no <protocol>/results.csv under {out}: run the benchmark first")
    reference = {}
    for model, dataset, protocol in {(r["model"], r["dataset"], r["protocol"]) for r in rows}:
        for (m, cls), v in reference_dict(model, dataset, protocol).items():
            reference[(m, dataset, protocol, cls)] = v
    parts = ["## AUROC, mean over classes", "", summary_markdown(rows, reference=reference)]
    pixel = [r for r in rows if r.get("pixel_auroc") is not None]
    if pixel:
        parts += ["## pixel AUROC", "", summary_markdown(pixel, metric="pixel_auroc", extra=())]
    path = out / "summary.md"
    path.write_text("\n".join(parts), encoding="utf-8")
    return path

