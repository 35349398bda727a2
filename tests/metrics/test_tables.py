"""Results tables (metrics/tables.py): aggregation, Markdown, CSV and the console table."""

from __future__ import annotations

import math

import numpy as np
import pytest

from genad.errors import ConfigError
from genad.metrics import (
    aggregate,
    pivot_markdown,
    print_table,
    read_csv,
    summary_markdown,
    to_markdown,
    write_csv,
)

ROWS = [
    {"model": "ae", "dataset": "mnist", "protocol": "ovr", "cls": "0", "seed": 0, "auroc": 0.9},
    {"model": "ae", "dataset": "mnist", "protocol": "ovr", "cls": "0", "seed": 1, "auroc": 0.8},
    {"model": "ae", "dataset": "mnist", "protocol": "ovr", "cls": "0", "seed": 2, "auroc": 0.85},
    {"model": "ae", "dataset": "mnist", "protocol": "ovr", "cls": "1", "seed": 0, "auroc": 0.7},
    {"model": "gan", "dataset": "mnist", "protocol": "ovr", "cls": "0", "seed": 0, "auroc": 0.95},
    {"model": "gan", "dataset": "mnist", "protocol": "ovr", "cls": "0", "seed": 1, "auroc": 0.97},
    {"model": "gan", "dataset": "mnist", "protocol": "ovr", "cls": "1", "seed": 0, "auroc": 0.6},
    {"model": "gan", "dataset": "mnist", "protocol": "ovr", "cls": "1", "seed": 1, "auroc": 0.64},
]


def test_aggregate_matches_numpy() -> None:
    rows = [dict(r, auprc=r["auroc"] / 2) for r in ROWS]
    agg = aggregate(rows, metrics=("auroc", "auprc"))
    assert [(r["model"], r["cls"], r["n"]) for r in agg] == [
        ("ae", "0", 3),
        ("ae", "1", 1),
        ("gan", "0", 2),
        ("gan", "1", 2),
    ]
    for r in agg:
        vals = np.array(
            [x["auroc"] for x in rows if (x["model"], x["cls"]) == (r["model"], r["cls"])]
        )
        assert r["auroc_mean"] == pytest.approx(vals.mean())
        assert r["auroc_std"] == pytest.approx(vals.std(ddof=1) if len(vals) > 1 else 0.0)
        assert r["auprc_mean"] == pytest.approx(vals.mean() / 2)
        assert r["dataset"] == "mnist" and r["protocol"] == "ovr"


def test_aggregate_by_and_missing_values() -> None:
    rows = [*ROWS, {"model": "ae", "cls": "1", "seed": 1, "auroc": None}]
    agg = aggregate(rows, by=("model",))
    assert [r["model"] for r in agg] == ["ae", "gan"]
    ae = agg[0]
    assert ae["n"] == 5
    assert ae["auroc_mean"] == pytest.approx(np.mean([0.9, 0.8, 0.85, 0.7]))
    assert math.isnan(aggregate(rows, metrics=("f1",))[0]["f1_mean"])


def test_to_markdown() -> None:
    md = to_markdown(aggregate(ROWS))
    lines = md.strip().splitlines()
    assert lines[0] == "| model | dataset | protocol | cls | auroc | n |"
    assert "| ae | mnist | ovr | 0 | 0.850 ± 0.050 | 3 |" in lines
    assert "| ae | mnist | ovr | 1 | 0.700 | 1 |" in lines  # one run: mean only
    assert "| gan | mnist | ovr | 1 | 0.620 ± 0.028 | 2 |" in lines
    # A mean-over-classes row closes each model's block.
    assert lines[4] == "| ae | mnist | ovr | mean | 0.775 |  |"
    assert lines[-1] == "| gan | mnist | ovr | mean | 0.790 |  |"
    md = to_markdown(aggregate(ROWS), columns=("model", "cls"), mean_row=False)
    assert "mean" not in md and md.splitlines()[0] == "| model | cls | auroc | n |"


def test_pivot_markdown_with_reference() -> None:
    ref = {("ae", "0"): 0.9, ("ae", "1"): 0.75, ("gan", "0"): 0.99}
    md = pivot_markdown(aggregate(ROWS), reference=ref)
    lines = md.strip().splitlines()
    assert lines[0] == "| cls | ae | ae (paper) | gan | gan (paper) |"
    assert lines[2] == "| 0 | 0.850 ± 0.050 | 0.900 | 0.960 ± 0.014 | 0.990 |"
    assert lines[3] == "| 1 | 0.700 | 0.750 | 0.620 ± 0.028 | – |"
    assert lines[4] == "| mean | 0.775 | 0.825 | 0.790 | – |"
    plain = pivot_markdown(aggregate(ROWS)).splitlines()[0]
    assert plain == "| cls | ae | gan |"


def test_summary_markdown_averages_classes_then_seeds() -> None:
    runs = []
    for seed, shift in ((0, 0.0), (1, 0.1)):
        for cls, v in (("0", 0.6), ("1", 0.8)):
            runs.append({"model": "ae", "dataset": "mnist", "protocol": "loo", "cls": cls,
                         "seed": seed, "auroc": v + shift, "fit_seconds": 10.0 + seed})
    runs.append({"model": "gan", "dataset": "mnist", "protocol": "loo", "cls": "1",
                 "seed": 0, "auroc": 0.9, "fit_seconds": 4.0})
    runs.append({"model": "gan", "dataset": "cifar10", "protocol": "ovr", "cls": "0",
                 "seed": 0, "auroc": 0.55})
    ref = {("ae", "mnist", "loo", 0): 0.7, ("ae", "mnist", "loo", 1): 0.9,
           ("gan", "mnist", "loo", "1"): 0.95}
    lines = summary_markdown(runs, reference=ref).strip().splitlines()
    assert lines[0] == "| model | mnist loo | paper | cifar10 ovr | fit_seconds |"
    # class means 0.7 (seed 0) and 0.8 (seed 1): 0.75 ± std(0.7, 0.8)
    assert lines[2] == f"| ae | 0.750 ± {np.std([0.7, 0.8], ddof=1):.3f} | 0.800 | – | 10.5 |"
    # gan has one of the two classes: flagged, and no paper mean over classes it lacks
    assert lines[3] == "| gan | 0.900 (1 cls) | – | 0.550 | 4.0 |"
    with pytest.raises(ConfigError):
        summary_markdown([{"model": "ae", "auroc": None}])


def test_pivot_markdown_refuses_collisions() -> None:
    rows = [*ROWS, dict(ROWS[0], dataset="cifar10")]
    with pytest.raises(ConfigError, match="filter"):
        pivot_markdown(aggregate(rows))


def test_csv_round_trip(tmp_path) -> None:
    rows = [dict(r, seconds=1.5 + i, note=None) for i, r in enumerate(ROWS)]
    rows[0]["extra"] = "x"
    path = write_csv(rows, tmp_path / "sub" / "results.csv")
    back = read_csv(path)
    assert len(back) == len(rows)
    assert [r["cls"] for r in back] == [r["cls"] for r in rows]  # "0" stays a string
    assert back[0]["extra"] == "x" and back[1]["extra"] is None
    for a, b in zip(rows, back):
        assert b["seed"] == a["seed"] and isinstance(b["seed"], int)
        assert b["auroc"] == a["auroc"] and b["seconds"] == a["seconds"]
        assert b["note"] is None
    assert aggregate(back) == aggregate(rows)


def test_print_table() -> None:
    from rich.console import Console

    console = Console(record=True, width=120)
    print_table(aggregate(ROWS), title="demo", console=console)
    text = console.export_text()
    assert "demo" in text and "0.850 ± 0.050" in text and "mean" in text
