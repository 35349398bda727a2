"""Benchmarks: models x classes x seeds over one data set and protocol.

Each cell is an ordinary run folder (`experiment.run`) under out/<model>/<class>/seed<s>;
a cell whose run finished is read back, not rerun, so an interrupted benchmark resumes
where it stopped. The end product is results.csv, results.md and report.md with the
published figures beside ours where a reference exists.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genad import data as gdata
from genad import experiment, report
from genad.errors import ConfigError, DataError
from genad.metrics import read_csv


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
    models: Sequence[str],
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
    the path of report.md. A model given as "name:kind" runs `name` with score_kind=kind
    (the InfoGAN family's representation-based scores)."""
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    out = Path(out).expanduser()
    out.mkdir(parents=True, exist_ok=True)
    if protocol == "mvtec":
        cls_list: list[int | str] = ["all"]
    else:
        raw = gdata.load(spec, size=size, download=download)
        cls_list = parse_classes(classes, len(raw.classes))
    cells = [(m, c, s) for m in models for c in cls_list for s in seeds]
    rows: list[dict[str, Any]] = []
    curves: dict[str, dict[str, tuple]] = {}  # model -> class -> (labels, scores), first seed
    with Progress(
        TextColumn("[bold]bench"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[cell]}"),
        TimeElapsedColumn(),
        disable=quiet,
    ) as bar:
        task = bar.add_task("bench", total=len(cells), cell="")
        for model, cls, seed in cells:
            bar.update(task, cell=f"{model} class {cls} seed {seed}")
            cell_dir = out / model.replace(":", "-") / str(cls) / f"seed{seed}"
            done = cell_dir / experiment.FINISHED
            if done.exists():
                result = json.loads(done.read_text())
            else:
                split = gdata.load(
                    spec,
                    protocol=protocol,
                    cls=None if cls == "all" else cls,
                    seed=seed,
                    size=size,
                    download=download,
                )
                split.train = _seeded_subset(split.train, train_limit, seed)
                split.test = _seeded_subset(split.test, test_limit, seed)
                name, _, kind = model.partition(":")  # "infogan:code-density": a score kind
                extra = {"score_kind": kind} if kind else {}
                result = experiment.run(
                    name,
                    split,
                    params=dict(params or {}, **extra, seed=seed),
                    out=cell_dir,
                    data=spec,
                    overwrite=True,
                    select_on_test=select_on_test,
                    trained=_trained_sibling(out, models, model, cls, seed),
                )
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
            scores_csv = cell_dir / "scores.csv"
            if scores_csv.is_file() and str(cls) not in curves.setdefault(model, {}):
                run = read_csv(scores_csv, text_columns=())
                curves[model][str(cls)] = (np.array([r["label"] for r in run], dtype=np.int64),
                                           np.array([r["score"] for r in run], dtype=np.float64))
            bar.advance(task)
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
        title=f"{', '.join(models)} on {spec} ({protocol})",
        reference=_reference(models, spec, protocol),
        notes=notes,
        metrics=metrics,
        scores={m: [(c, *ys) for c, ys in by_cls.items()] for m, by_cls in curves.items()},
    )


def _trained_sibling(out: Path, models: Sequence[str], model: str, cls: Any, seed: int) -> Any:
    """A finished cell of the same network under another score kind ("ms-infogan" for
    "ms-infogan:code-density"), same class and seed: experiment.run rescores its model
    instead of training the same networks again. None when there is none."""
    name = model.partition(":")[0]
    for other in models:
        cell = out / other.replace(":", "-") / str(cls) / f"seed{seed}"
        if other != model and other.partition(":")[0] == name and (
            cell / experiment.FINISHED
        ).exists():
            return cell
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

