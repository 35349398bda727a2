"""Results tables: aggregate runs over seeds, render markdown / terminal tables, CSV files.

A result row is a plain dict, one per run, e.g.
    {"model": "ganomaly", "dataset": "mnist", "protocol": "one-vs-rest", "cls": "3",
     "seed": 0, "auroc": 0.91, "auprc": 0.55, "f1": 0.6, "seconds": 42.0}
`aggregate` turns runs into rows holding, per metric, `<metric>_mean`, `<metric>_std` and
the number of runs `n`; the rendering functions take those aggregated rows.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from genad.errors import ConfigError

Row = dict[str, Any]
KEYS = ("model", "dataset", "protocol", "cls")
TEXT_COLUMNS = KEYS
DASH = "–"


def _number(v: Any) -> float:
    """A metric value as float; NaN when missing or empty."""
    if v is None or v == "":
        return math.nan
    return float(v)


def _mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample std (ddof=1; 0 for a single value); NaN for no values."""
    n = len(values)
    if n == 0:
        return math.nan, math.nan
    mean = math.fsum(values) / n
    if n == 1:
        return mean, 0.0
    return mean, math.sqrt(math.fsum((v - mean) ** 2 for v in values) / (n - 1))


def group_rows(rows: Iterable[Mapping[str, Any]], keys: Sequence[str]) -> dict[tuple, list[Row]]:
    """Rows grouped by their values at `keys` (None where absent), groups in first-seen order."""
    groups: dict[tuple, list] = {}
    for r in rows:
        groups.setdefault(tuple(r.get(k) for k in keys), []).append(r)
    return groups


def aggregate(
    rows: Iterable[Mapping[str, Any]],
    by: Sequence[str] = KEYS,
    metrics: Sequence[str] = ("auroc",),
) -> list[Row]:
    """Mean and sample std of each metric over the runs (seeds) sharing the `by` keys.

    Returns one dict per group, in first-seen order: the `by` keys, `n` (runs in the group)
    and `<metric>_mean`, `<metric>_std` (ddof=1 when there are 2+ values, else 0) per metric.
    Missing or NaN metric values are left out of that metric's mean.
    """
    out = []
    for key, group in group_rows(rows, by).items():
        row: Row = dict(zip(by, key))
        row["n"] = len(group)
        for m in metrics:
            values = [v for v in (_number(r.get(m)) for r in group) if not math.isnan(v)]
            row[f"{m}_mean"], row[f"{m}_std"] = _mean_std(values)
        out.append(row)
    return out


def metric_names(agg_rows: Sequence[Mapping[str, Any]]) -> list[str]:
    """The metrics present in aggregated rows (keys ending in `_mean`), in order."""
    names: dict[str, None] = {}
    for r in agg_rows:
        names.update((k[: -len("_mean")], None) for k in r if k.endswith("_mean"))
    return list(names)


def fmt(mean: Any, std: Any = None, n: int | None = None, digits: int = 3) -> str:
    """ "0.912 ± 0.012"; just "0.912" when std is None or n == 1; a dash when missing."""
    m = _number(mean)
    if math.isnan(m):
        return DASH
    s = _number(std)
    if std is None or math.isnan(s) or n == 1:
        return f"{m:.{digits}f}"
    return f"{m:.{digits}f} ± {s:.{digits}f}"


def table_cells(
    agg_rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    mean_row: bool = True,
) -> tuple[list[str], list[list[str]]]:
    """Header and cell strings shared by `to_markdown` and `print_table`.

    Rows are grouped per model (all key columns but `cls`); each group with 2+ classes gets a
    closing "mean" row: the mean over classes of the per-class means.
    """
    if columns is None:
        columns = [k for k in KEYS if any(k in r for r in agg_rows)]
    if metrics is None:
        metrics = metric_names(agg_rows)
    header = [*columns, *metrics, "n"]
    body = []
    outer = [c for c in columns if c != "cls"]
    for group in group_rows(agg_rows, outer).values():
        for r in group:
            cells = [str(r.get(c, "")) for c in columns]
            cells += [fmt(r.get(f"{m}_mean"), r.get(f"{m}_std"), r.get("n")) for m in metrics]
            body.append([*cells, str(r.get("n", ""))])
        if mean_row and "cls" in columns and len(group) > 1:
            cells = ["mean" if c == "cls" else str(group[0].get(c, "")) for c in columns]
            for m in metrics:
                values = [_number(r.get(f"{m}_mean")) for r in group]
                ok = not any(math.isnan(v) for v in values)
                cells.append(fmt(math.fsum(values) / len(values)) if ok else DASH)
            body.append([*cells, ""])
    return header, body


def _markdown(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cells) + " |" for cells in body]
    return "\n".join(lines) + "\n"


def to_markdown(
    agg_rows: Sequence[Mapping[str, Any]],
    columns: Sequence[str] | None = None,
    metrics: Sequence[str] | None = None,
    mean_row: bool = True,
) -> str:
    """A markdown table of aggregated rows: key columns, "mean ± std" cells (3 decimals), n.

    columns: key columns to show (default: those of model, dataset, protocol, cls present).
    metrics: metrics to show (default: every `<metric>_mean` present). A single run shows
    just the mean. After each model's classes comes a "mean" row over its classes.
    """
    return _markdown(*table_cells(agg_rows, columns, metrics, mean_row))


def reference_value(
    reference: Mapping[tuple, Any] | None, model: Any, cls: Any, dataset: Any = None
) -> float:
    """Published value keyed (model, dataset, cls) or (model, cls), the class also tried as
    a string; NaN when absent."""
    if not reference:
        return math.nan
    for key in ((model, dataset, cls), (model, cls), (model, dataset, str(cls)), (model, str(cls))):
        if key in reference:
            return _number(reference[key])
    return math.nan


def pivot_markdown(
    agg_rows: Sequence[Mapping[str, Any]],
    row: str = "cls",
    col: str = "model",
    metric: str = "auroc",
    reference: Mapping[tuple, Any] | None = None,
) -> str:
    """A `row` x `col` markdown table (classes x models by default) of "mean ± std" cells.

    reference: published values {(model, cls): value} (or {(model, dataset, cls): value});
    when given, a "<model> (paper)" column follows each model's column. A last "mean" row
    averages each column over rows, shown only where every row has a value.
    Raises `ConfigError` when two aggregated rows fall in the same cell (filter the rows to
    one dataset and protocol first).
    """
    rows_v = list(dict.fromkeys(r.get(row) for r in agg_rows))
    cols_v = list(dict.fromkeys(r.get(col) for r in agg_rows))
    cells: dict[tuple, Mapping[str, Any]] = {}
    for r in agg_rows:
        key = (r.get(row), r.get(col))
        if key in cells:
            raise ConfigError(
                f"two results for {row}={key[0]!r}, {col}={key[1]!r}: filter the rows to one "
                "dataset and protocol before pivoting"
            )
        cells[key] = r
    header = [row]
    for c in cols_v:
        header += [str(c), f"{c} (paper)"] if reference else [str(c)]
    body = []
    means: dict[str, list[float]] = {h: [] for h in header[1:]}
    for rv in rows_v:
        line = [str(rv)]
        for c in cols_v:
            r = cells.get((rv, c), {})
            mean = _number(r.get(f"{metric}_mean"))
            line.append(fmt(mean, r.get(f"{metric}_std"), r.get("n")))
            means[str(c)].append(mean)
            if reference:
                model, cls = (c, rv) if col == "model" else (rv, c)
                ref = reference_value(reference, model, cls, r.get("dataset"))
                line.append(fmt(ref))
                means[f"{c} (paper)"].append(ref)
        body.append(line)
    if len(rows_v) > 1:
        body.append(["mean"] + [_mean_cell(means[h]) for h in header[1:]])
    return _markdown(header, body)


def _mean_cell(values: Sequence[float]) -> str:
    if not values or any(math.isnan(v) for v in values):
        return DASH
    return fmt(math.fsum(values) / len(values))


def summary_markdown(
    rows: Iterable[Mapping[str, Any]],
    metric: str = "auroc",
    reference: Mapping[tuple, Any] | None = None,
    extra: Sequence[str] = ("fit_seconds",),
) -> str:
    """Models x (dataset, protocol): the metric averaged over classes, as papers print it.

    rows: runs (one per model, dataset, protocol, class, seed). Per model, data set and
    seed the metric is averaged over the classes; the cell is the mean ± std of those class
    means over seeds ("0.71 ± 0.02"; the mean alone for one seed), "(k cls)" added when the
    model lacks classes others have. reference: published values keyed (model, dataset,
    protocol, cls); a "paper" column follows a (dataset, protocol) that has any, holding the
    mean over classes where every class has one. extra: metrics averaged over all runs.
    """
    rows = [r for r in rows if not math.isnan(_number(r.get(metric)))]
    if not rows:
        raise ConfigError(f"no runs with {metric} to summarise")
    models = list(dict.fromkeys(r["model"] for r in rows))
    panels = list(dict.fromkeys((r.get("dataset"), r.get("protocol")) for r in rows))
    classes = {p: list(dict.fromkeys(str(r.get("cls")) for r in rows
                                     if (r.get("dataset"), r.get("protocol")) == p))
               for p in panels}
    cells = group_rows(rows, ("model", "dataset", "protocol"))

    def ref(m: str, p: tuple, c: str) -> float:
        hits = [reference[k] for k in ((m, *p, c), (m, *p, int(c) if c.isdigit() else c))
                if reference and k in reference]
        return _number(hits[0]) if hits else math.nan

    with_ref = {p for p in panels
                if any(not math.isnan(ref(m, p, c)) for m in models for c in classes[p])}
    header = ["model"]
    for p in panels:
        header.append(" ".join(str(v) for v in p if v))
        if p in with_ref:
            header.append("paper")
    header += list(extra)
    body = []
    for m in models:
        line = [str(m)]
        for p in panels:
            runs = cells.get((m, *p), [])
            by_seed = group_rows(runs, ("seed",))
            means = [math.fsum(_number(r[metric]) for r in rs) / len(rs) for rs in by_seed.values()]
            mean, std = _mean_std(means)
            got = {str(r.get("cls")) for r in runs}
            cell = fmt(mean, std, len(means))
            if runs and len(got) < len(classes[p]):
                cell += f" ({len(got)} cls)"
            line.append(cell)
            if p in with_ref:
                refs = [ref(m, p, c) for c in classes[p]]
                line.append(_mean_cell(refs))
        for e in extra:
            vals = [_number(r.get(e)) for r in rows if r["model"] == m]
            vals = [v for v in vals if not math.isnan(v)]
            line.append(fmt(math.fsum(vals) / len(vals), digits=1) if vals else DASH)
        body.append(line)
    return _markdown(header, body)


def write_csv(rows: Sequence[Mapping[str, Any]], path: str | Path) -> Path:
    """Write result rows to CSV: columns are the union of the rows' keys, first-seen order.

    None becomes an empty cell; floats keep full precision. Parent folders are created.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    columns = list(dict.fromkeys(k for r in rows for k in r))
    with path.open("w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        for r in rows:
            writer.writerow({k: "" if r.get(k) is None else r.get(k) for k in columns})
    return path


def _parse(value: str) -> Any:
    if value == "":
        return None
    for kind in (int, float):
        try:
            return kind(value)
        except ValueError:
            pass
    return value


def read_csv(path: str | Path, text_columns: Sequence[str] = TEXT_COLUMNS) -> list[Row]:
    """Read rows written by `write_csv`.

    Numbers come back as int or float and empty cells as None, except in `text_columns`
    (model, dataset, protocol, cls), which stay strings so class "0" stays "0".
    """
    with Path(path).open(newline="", encoding="utf-8") as f:
        return [
            {k: (v if k in text_columns else _parse(v)) for k, v in r.items()}
            for r in csv.DictReader(f)
        ]


def print_table(
    agg_rows: Sequence[Mapping[str, Any]],
    title: str | None = None,
    metrics: Sequence[str] | None = None,
    console: Any = None,
) -> None:
    """Print aggregated rows as a rich table on the terminal (same cells as `to_markdown`)."""
    from rich.console import Console
    from rich.table import Table

    header, body = table_cells(agg_rows, metrics=metrics)
    table = Table(title=title)
    for h in header:
        numeric = h not in KEYS
        table.add_column(h, justify="right" if numeric else "left", no_wrap=numeric)
    at = header.index("cls") if "cls" in header else None
    for cells in body:
        table.add_row(*cells, style="bold" if at is not None and cells[at] == "mean" else None)
    (console or Console()).print(table)
