"""Detection metrics on plain arrays.

Conventions: `labels` are 1 for anomalous and 0 for normal; `scores` are raw anomaly scores,
higher = more anomalous. Arrays may be numpy arrays, lists or CPU/GPU torch tensors.
Bad input (one class only, lengths that differ, NaN/inf scores) raises `DataError`.

scikit-learn is imported inside the functions so that `import genad` stays fast.
"""

from __future__ import annotations

from types import ModuleType
from typing import Any

import numpy as np

from genad.errors import DataError


def to_numpy(x: Any) -> np.ndarray:
    """Any array-like (numpy, list, torch tensor on any device) as a numpy array."""
    if hasattr(x, "detach"):
        x = x.detach().cpu().numpy()
    return np.asarray(x)


def _skm() -> ModuleType:
    import sklearn.metrics

    return sklearn.metrics


def check_inputs(
    labels: Any, scores: Any, *, both_classes: bool = True
) -> tuple[np.ndarray, np.ndarray]:
    """Validate and flatten `labels` (N,) in {0, 1} and `scores` (N,) finite floats.

    Returns (labels as int64 (N,), scores as float64 (N,)). Raises `DataError` when the
    lengths differ, the input is empty, labels are not 0/1, scores are not finite, or (with
    `both_classes`) only one class is present.
    """
    y = to_numpy(labels).reshape(-1)
    s = to_numpy(scores).reshape(-1)
    if y.size != s.size:
        raise DataError(f"labels and scores differ in length: {y.size} labels, {s.size} scores")
    if y.size == 0:
        raise DataError("no labels and scores given (empty arrays)")
    try:
        s = s.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"scores must be numbers: {err}") from None
    bad = ~np.isfinite(s)
    if bad.any():
        raise DataError(
            f"scores contain {int(bad.sum())} NaN/inf value(s) (first at index "
            f"{int(np.flatnonzero(bad)[0])}); the model diverged or the input is broken"
        )
    if y.dtype == bool:
        y = y.astype(np.int64)
    values = set(np.unique(y).tolist())
    if not values <= {0, 1}:
        raise DataError(f"labels must be 0 (normal) or 1 (anomalous); found {sorted(values)[:5]}")
    if both_classes and len(values) < 2:
        only = "normal (0)" if values == {0} else "anomalous (1)"
        raise DataError(
            f"labels contain only {only} samples; these metrics need both normal and "
            "anomalous samples in the test set"
        )
    return y.astype(np.int64), s


def auroc(labels: Any, scores: Any) -> float:
    """Area under the ROC curve; labels (N,), scores (N,). Ties count half (Mann-Whitney)."""
    y, s = check_inputs(labels, scores)
    return float(_skm().roc_auc_score(y, s))


def auprc(labels: Any, scores: Any) -> float:
    """Average precision with the anomalous class as positive; labels (N,), scores (N,)."""
    y, s = check_inputs(labels, scores)
    return float(_skm().average_precision_score(y, s))


def roc_curve(labels: Any, scores: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """ROC curve points; labels (N,), scores (N,).

    Returns (fpr (K,), tpr (K,), thresholds (K,)), thresholds decreasing; point k flags
    `score >= thresholds[k]`. The first threshold is +inf (nothing flagged, the (0, 0) point).
    """
    y, s = check_inputs(labels, scores)
    fpr, tpr, thr = _skm().roc_curve(y, s, drop_intermediate=False)
    return fpr, tpr, thr


def best_f1(labels: Any, scores: Any) -> tuple[float, float]:
    """The best F1 over all thresholds; labels (N,), scores (N,).

    Returns (f1, threshold) where flagging `score >= threshold` reaches that F1. Among
    thresholds with equal F1 the highest (fewest flags) is returned.
    """
    y, s = check_inputs(labels, scores)
    precision, recall, thr = _skm().precision_recall_curve(y, s)
    # The last (precision, recall) pair is the (1, 0) end point with no threshold.
    p, r = precision[:-1], recall[:-1]
    denom = p + r
    f1 = np.divide(2 * p * r, denom, out=np.zeros_like(denom), where=denom > 0)
    best = np.flatnonzero(f1 == f1.max())[-1]
    return float(f1[best]), float(thr[best])


def _confusion(y: np.ndarray, flagged: np.ndarray) -> tuple[int, int, int, int]:
    tp = int(np.sum(flagged & (y == 1)))
    fp = int(np.sum(flagged & (y == 0)))
    fn = int(np.sum(~flagged & (y == 1)))
    tn = int(np.sum(~flagged & (y == 0)))
    return tp, fp, fn, tn


def rates_at(labels: Any, scores: Any, threshold: float) -> dict[str, float]:
    """F1, precision, recall and false positive rate when `score > threshold` is flagged.

    labels (N,), scores (N,). This is the rule a fitted detector's `predict` uses.
    Precision (and so F1) is 0 when nothing is flagged.
    """
    y, s = check_inputs(labels, scores)
    if not np.isfinite(threshold):
        raise DataError(f"threshold must be a finite number, got {threshold}")
    tp, fp, fn, tn = _confusion(y, s > threshold)
    precision = tp / (tp + fp) if tp + fp else 0.0
    recall = tp / (tp + fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return {"f1": f1, "precision": precision, "recall": recall, "fpr": fp / (fp + tn)}


def f1_at(labels: Any, scores: Any, threshold: float) -> float:
    """F1 when `score > threshold` is flagged (a detector's stored threshold); (N,) inputs."""
    return rates_at(labels, scores, threshold)["f1"]


def pixel_auroc(masks: Any, maps: Any) -> float:
    """Pixel-level AUROC over all images that have a mask.

    masks: (N, H, W) or (N, 1, H, W) with 1 = anomalous pixel (any value > 0 counts), or a
    sequence of N (H, W) masks where None marks an image without a mask (skipped).
    maps: (N, H, W) or (N, 1, H, W) per-pixel anomaly scores, same size as the masks.
    """
    if isinstance(masks, (list, tuple)):
        keep = [i for i, m in enumerate(masks) if m is not None]
        if not keep:
            raise DataError("no image has a pixel mask; pixel AUROC needs ground-truth masks")
        if len(masks) != len(maps):
            raise DataError(f"{len(masks)} masks for {len(maps)} anomaly maps")
        m = np.stack([_as_hw(masks[i]) for i in keep])
        a = np.stack([_as_hw(maps[i]) for i in keep])
    else:
        m, a = _as_nhw(masks), _as_nhw(maps)
    if m.shape != a.shape:
        raise DataError(f"masks {m.shape} and anomaly maps {a.shape} differ in shape")
    return auroc((m > 0).reshape(-1), a.reshape(-1))


def _as_nhw(x: Any) -> np.ndarray:
    """(N, 1, H, W) -> (N, H, W); anything else unchanged."""
    x = to_numpy(x)
    return x[:, 0] if x.ndim == 4 and x.shape[1] == 1 else x


def _as_hw(x: Any) -> np.ndarray:
    """(1, H, W) -> (H, W); anything else unchanged."""
    x = to_numpy(x)
    return x[0] if x.ndim == 3 and x.shape[0] == 1 else x


def summary(labels: Any, scores: Any, threshold: float | None = None) -> dict[str, float]:
    """All image-level metrics in one dict of floats; labels (N,), scores (N,).

    Keys: auroc, auprc, best_f1, best_f1_threshold; with `threshold` also threshold, f1,
    precision, recall and fpr for `score > threshold`.
    """
    y, s = check_inputs(labels, scores)
    f1, thr = best_f1(y, s)
    out = {"auroc": auroc(y, s), "auprc": auprc(y, s), "best_f1": f1, "best_f1_threshold": thr}
    if threshold is not None:
        out["threshold"] = float(threshold)
        out.update(rates_at(y, s, threshold))
    return out
