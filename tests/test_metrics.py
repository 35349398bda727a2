"""Metrics: known answers, agreement with scikit-learn, error cases; results tables."""

from __future__ import annotations

import ast
import math
from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn import metrics as skm

from genad.errors import ConfigError, DataError
from genad.metrics import (
    aggregate,
    auprc,
    auroc,
    best_f1,
    f1_at,
    pivot_markdown,
    pixel_auroc,
    print_table,
    rates_at,
    read_csv,
    roc_curve,
    summary,
    summary_markdown,
    to_markdown,
    write_csv,
)

# Hand-computed example: ranks (desc) 0.8:+, 0.4:-, 0.35:+, 0.1:-
Y = np.array([0, 0, 1, 1])
S = np.array([0.1, 0.4, 0.35, 0.8])


def random_case(seed: int, n: int = 300, ties: bool = False) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    y = (rng.random(n) < 0.3).astype(int)
    s = rng.normal(size=n) + 1.2 * y
    return y, (np.round(s, 1) if ties else s)


# ---------------------------------------------------------------- known answers


def test_perfect_and_reversed() -> None:
    y = np.array([0, 0, 0, 1, 1])
    s = np.array([0.1, 0.2, 0.3, 0.8, 0.9])
    assert auroc(y, s) == 1.0
    assert auprc(y, s) == 1.0
    assert best_f1(y, s) == (1.0, 0.8)
    assert auroc(y, -s) == 0.0
    assert auroc(1 - y, s) == 0.0


def test_hand_computed_example() -> None:
    assert auroc(Y, S) == pytest.approx(0.75)  # 3 of 4 (anomalous, normal) pairs ordered
    assert auprc(Y, S) == pytest.approx(0.5 * 1 + 0.5 * 2 / 3)
    f1, thr = best_f1(Y, S)
    assert (f1, thr) == (pytest.approx(0.8), 0.35)  # flag {0.8, 0.4, 0.35}: p=2/3, r=1


def test_ties_count_half() -> None:
    assert auroc([0, 1], [1.0, 1.0]) == 0.5
    assert auroc([0, 0, 1, 1], [0.5, 0.5, 0.5, 0.5]) == 0.5
    assert auroc([0, 0, 1], [0.5, 0.2, 0.5]) == pytest.approx(0.75)


def test_inputs_may_be_lists_bools_and_tensors() -> None:
    assert auroc(Y.tolist(), S.tolist()) == pytest.approx(0.75)
    assert auroc(Y.astype(bool), S) == pytest.approx(0.75)
    assert auroc(torch.tensor(Y), torch.tensor(S, requires_grad=True)) == pytest.approx(0.75)


def test_f1_at_and_rates_use_strict_threshold() -> None:
    # score > 0.35 flags 0.4 (normal) and 0.8 (anomalous): tp=1, fp=1, fn=1, tn=1
    r = rates_at(Y, S, 0.35)
    assert r == {"f1": 0.5, "precision": 0.5, "recall": 0.5, "fpr": 0.5}
    assert f1_at(Y, S, 0.35) == 0.5
    assert f1_at(Y, S, 0.8) == 0.0  # nothing flagged
    assert rates_at(Y, S, -1.0) == pytest.approx(
        {"f1": 2 / 3, "precision": 0.5, "recall": 1.0, "fpr": 1.0}
    )


def test_summary() -> None:
    out = summary(Y, S)
    assert set(out) == {"auroc", "auprc", "best_f1", "best_f1_threshold"}
    out = summary(Y, S, threshold=0.35)
    assert out["auroc"] == pytest.approx(0.75)
    assert out["best_f1"] == pytest.approx(0.8)
    assert out["best_f1_threshold"] == 0.35
    assert out["threshold"] == 0.35
    assert (out["f1"], out["precision"], out["recall"], out["fpr"]) == (0.5, 0.5, 0.5, 0.5)
    assert all(isinstance(v, float) for v in out.values())


# ---------------------------------------------------------------- against scikit-learn


@pytest.mark.parametrize("seed", [0, 1, 2])
@pytest.mark.parametrize("ties", [False, True])
def test_agrees_with_sklearn(seed: int, ties: bool) -> None:
    y, s = random_case(seed, ties=ties)
    assert auroc(y, s) == pytest.approx(skm.roc_auc_score(y, s), abs=1e-12)
    assert auprc(y, s) == pytest.approx(skm.average_precision_score(y, s), abs=1e-12)
    for t in (np.median(s), np.quantile(s, 0.9)):
        assert f1_at(y, s, t) == pytest.approx(skm.f1_score(y, s > t))
        r = rates_at(y, s, t)
        assert r["precision"] == pytest.approx(skm.precision_score(y, s > t))
        assert r["recall"] == pytest.approx(skm.recall_score(y, s > t))


def test_roc_curve_points() -> None:
    y, s = random_case(3, ties=True)
    fpr, tpr, thr = roc_curve(y, s)
    assert (fpr[0], tpr[0], fpr[-1], tpr[-1]) == (0.0, 0.0, 1.0, 1.0)
    assert np.isinf(thr[0]) and np.all(np.diff(thr) < 0)
    assert np.all(np.diff(fpr) >= 0) and np.all(np.diff(tpr) >= 0)
    for k in range(1, len(thr)):  # each point is the rule score >= thr[k]
        flagged = s >= thr[k]
        assert tpr[k] == pytest.approx(flagged[y == 1].mean())
        assert fpr[k] == pytest.approx(flagged[y == 0].mean())
    area = np.sum(np.diff(fpr) * (tpr[1:] + tpr[:-1]) / 2)
    assert area == pytest.approx(auroc(y, s))


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("ties", [False, True])
def test_best_f1_matches_brute_force(seed: int, ties: bool) -> None:
    y, s = random_case(seed, n=200, ties=ties)
    brute = {}
    for t in np.unique(s):  # plain loop: F1 of flagging score >= t
        tp, fp = np.sum((s >= t) & (y == 1)), np.sum((s >= t) & (y == 0))
        brute[t] = 2 * tp / (2 * tp + fp + np.sum((s < t) & (y == 1)))
    f1, thr = best_f1(y, s)
    assert f1 == pytest.approx(max(brute.values()), abs=1e-12)
    assert thr in brute and brute[thr] == pytest.approx(f1, abs=1e-12)


def test_pixel_auroc() -> None:
    rng = np.random.default_rng(0)
    masks = (rng.random((4, 1, 8, 8)) < 0.2).astype(np.uint8)
    maps = rng.random((4, 8, 8)) + masks[:, 0]
    expected = skm.roc_auc_score(masks.reshape(-1), maps.reshape(-1))
    assert pixel_auroc(masks, maps) == pytest.approx(expected)
    assert pixel_auroc(masks[:, 0], maps[:, None]) == pytest.approx(expected)
    assert pixel_auroc(masks * 255, maps) == pytest.approx(expected)  # any value > 0 counts
    # Images without a mask (None) are left out.
    listed = [masks[0], None, masks[2], None]
    keep = np.array([0, 2])
    expected = skm.roc_auc_score(masks[keep].reshape(-1), maps[keep].reshape(-1))
    assert pixel_auroc(listed, maps) == pytest.approx(expected)


def test_pixel_auroc_errors() -> None:
    with pytest.raises(DataError, match="shape"):
        pixel_auroc(np.zeros((2, 8, 8)), np.zeros((2, 4, 4)))
    with pytest.raises(DataError, match="no image has a pixel mask"):
        pixel_auroc([None, None], np.zeros((2, 4, 4)))
    with pytest.raises(DataError, match="only normal"):
        pixel_auroc(np.zeros((2, 4, 4)), np.random.default_rng(0).random((2, 4, 4)))


# ---------------------------------------------------------------- errors


@pytest.mark.parametrize("fn", [auroc, auprc, roc_curve, best_f1, summary])
def test_one_class_raises(fn) -> None:
    with pytest.raises(DataError, match="only normal"):
        fn([0, 0, 0], [0.1, 0.2, 0.3])
    with pytest.raises(DataError, match="only anomalous"):
        fn([1, 1], [0.1, 0.2])


@pytest.mark.parametrize(
    ("labels", "scores", "match"),
    [
        ([0, 1, 1], [0.1, 0.2], "differ in length"),
        ([0, 1], [0.1, np.nan], "NaN/inf"),
        ([0, 1], [np.inf, 0.2], "NaN/inf"),
        ([0, 2], [0.1, 0.2], "0 \\(normal\\) or 1"),
        ([0, -1], [0.1, 0.2], "0 \\(normal\\) or 1"),
        ([], [], "empty"),
        ([0, 1], ["a", "b"], "must be numbers"),
    ],
)
def test_bad_input_raises(labels, scores, match: str) -> None:
    for fn in (auroc, auprc, best_f1, summary):
        with pytest.raises(DataError, match=match):
            fn(labels, scores)
    with pytest.raises(DataError, match=match):
        f1_at(labels, scores, 0.5)


def test_f1_at_rejects_nan_threshold() -> None:
    with pytest.raises(DataError, match="threshold"):
        f1_at(Y, S, float("nan"))


LAZY = {  # module -> imports it may only make inside functions (import genad stays fast)
    "genad.metrics.anomaly": ("sklearn", "matplotlib", "rich", "torch"),
    "genad.metrics.tables": ("sklearn", "matplotlib", "rich", "torch"),
    "genad.report": ("sklearn", "matplotlib", "rich", "torch"),
    "genad.metrics.disentangle": ("sklearn", "scipy", "torch"),
    "genad.metrics.fid": ("sklearn", "scipy", "torch"),
    "genad.metrics.info": ("sklearn", "scipy", "torch"),
}


@pytest.mark.parametrize("name", sorted(LAZY))
def test_heavy_imports_stay_lazy(name: str) -> None:
    """metrics never imports genad.models; heavy libraries only inside functions."""
    import importlib

    module = importlib.import_module(name)
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    for heavy in ("genad.models", *LAZY[name]):
        assert not any(x.startswith(heavy) for x in names), (name, heavy)


def test_metrics_never_import_models() -> None:
    import genad.metrics

    for path in Path(genad.metrics.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "from genad.models" not in text and "import genad.models" not in text
        assert "from genad import models" not in text


# ---------------------------------------------------------------- tables

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
