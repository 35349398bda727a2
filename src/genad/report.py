"""Figures (PNG) and markdown reports for single runs and benchmarks.

Figures are drawn on matplotlib's Agg canvas (no display, no pyplot state); matplotlib is
imported inside the functions so that `import genad` stays fast. Images are float arrays
(N, C, H, W) in [-1, 1] with C = 1 or 3 (numpy arrays or torch tensors).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from genad.errors import DataError
from genad.metrics.anomaly import auroc, check_inputs, roc_curve, to_numpy
from genad.metrics.tables import (
    KEYS,
    aggregate,
    group_rows,
    pivot_markdown,
    reference_value,
    to_markdown,
    write_csv,
)

DPI = 120
NORMAL_COLOR, ANOMALY_COLOR = "tab:blue", "tab:red"
LABELS = {"auroc": "AUROC", "auprc": "AUPRC", "f1": "F1", "pixel_auroc": "pixel AUROC"}


def _figure(width: float, height: float) -> Any:
    """A matplotlib Figure on an Agg canvas, constrained layout."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=DPI, layout="constrained")
    FigureCanvasAgg(fig)
    return fig


def _save(fig: Any, path: str | Path) -> Path:
    """Write the figure to `path` atomically (a killed process leaves the old file or the
    new one)."""
    import os

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    fig.savefig(tmp, dpi=DPI, facecolor="white", format=path.suffix.lstrip(".") or "png")
    os.replace(tmp, path)
    return path


def _images(x: Any, what: str = "images") -> np.ndarray:
    """Check (N, C, H, W) with C in {1, 3}; return float32."""
    a = to_numpy(x).astype(np.float32)
    if a.ndim != 4 or a.shape[1] not in (1, 3):
        raise DataError(f"{what} must be (N, C, H, W) with C = 1 or 3, got shape {a.shape}")
    if len(a) == 0:
        raise DataError(f"no {what} to plot")
    return a


def _display(img: np.ndarray) -> np.ndarray:
    """(C, H, W) in [-1, 1] -> (H, W) or (H, W, 3) in [0, 1] for imshow."""
    x = np.clip((img + 1) / 2, 0, 1)
    return x[0] if x.shape[0] == 1 else x.transpose(1, 2, 0)


def plot_roc(labels: Any, scores: Any, path: str | Path, title: str = "ROC curve") -> Path:
    """ROC curve with its AUROC and the chance diagonal; labels (N,) 0/1, scores (N,)."""
    fpr, tpr, _ = roc_curve(labels, scores)
    fig = _figure(4.8, 4.5)
    ax = fig.subplots()
    ax.plot(fpr, tpr, color=ANOMALY_COLOR, lw=2, label=f"AUROC = {auroc(labels, scores):.3f}")
    ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=1, label="chance")
    ax.set(xlim=(0, 1), ylim=(0, 1.02), xlabel="false positive rate",
           ylabel="true positive rate")
    ax.set_title(title, wrap=True)  # a run's long title breaks into lines, never off the edge
    ax.set_aspect("equal")
    ax.grid(alpha=0.3)
    ax.legend(loc="lower right")
    return _save(fig, path)


def histogram_edges(scores: np.ndarray, bins: int, threshold: float | None = None
                    ) -> tuple[np.ndarray, int]:
    """(bin edges over the 0.5th-99.5th percentile of `scores`, widened to the threshold;
    how many scores fall outside them)."""
    lo, hi = (float(v) for v in np.percentile(scores, [0.5, 99.5]))
    if threshold is not None and np.isfinite(threshold):
        lo, hi = min(lo, threshold), max(hi, threshold)
    outside = int(((scores < lo) | (scores > hi)).sum())
    return np.linspace(lo, hi if hi > lo else lo + 1, bins + 1), outside


def plot_histograms(
    labels: Any,
    scores: Any,
    path: str | Path,
    threshold: float | None = None,
    title: str = "Anomaly scores",
    bins: int | None = None,
) -> Path:
    """Normal vs anomalous score histograms on shared bins, densities so sizes may differ.

    labels (N,) 0/1 (one class alone is allowed), scores (N,); `threshold` draws a line.
    The bins span the 0.5th-99.5th percentile of the scores (and the threshold): a few
    extreme scores would squash the rest into one bin; scores outside are counted in the
    edge bins and the axis label says how many.
    """
    y, s = check_inputs(labels, scores, both_classes=False)
    edges, outside = histogram_edges(s, bins or int(np.clip(np.sqrt(len(s)), 10, 50)), threshold)
    fig = _figure(6.0, 3.8)
    ax = fig.subplots()
    for cls, name, color in ((0, "normal", NORMAL_COLOR), (1, "anomalous", ANOMALY_COLOR)):
        part = np.clip(s[y == cls], edges[0], edges[-1])
        if len(part):
            ax.hist(
                part,
                bins=edges,
                density=True,
                alpha=0.55,
                color=color,
                label=f"{name} (n={len(part)})",
            )
    if threshold is not None:
        ax.axvline(threshold, color="black", ls="--", lw=1.5, label=f"threshold = {threshold:.3g}")
    xlabel = "anomaly score (higher = more anomalous)"
    if outside:
        xlabel += f"\n{outside} scores beyond the 0.5th-99.5th percentile, in the edge bins"
    ax.set(xlabel=xlabel, ylabel="density")
    ax.set_title(title, wrap=True)
    ax.grid(alpha=0.3)
    ax.legend()
    return _save(fig, path)


def _panel_grid(n: int, cell: float = 3.0) -> tuple[Any, np.ndarray]:
    """A figure with n square panels, at most 5 a row; returns (fig, flat axes), extras off."""
    cols = min(5, n)
    rows = math.ceil(n / cols)
    # at least 5.5 in wide: one panel must still hold the figure's title and axis label
    fig = _figure(max(cell * cols + 0.4, 5.5), cell * rows + 0.8)
    axes = np.atleast_1d(fig.subplots(rows, cols, squeeze=False).ravel())
    for ax in axes[n:]:
        ax.axis("off")
    return fig, axes


def plot_roc_panels(
    curves: Mapping[str, Sequence[tuple[str, Any, Any]]], path: str | Path, title: str
) -> Path:
    """One panel per model, one ROC curve per (label, labels, scores) in its list (a class)."""
    if not curves:
        raise DataError("no ROC curves to plot")
    fig, axes = _panel_grid(len(curves))
    for ax, (model, runs) in zip(axes, curves.items()):
        for i, (name, labels, scores) in enumerate(runs):
            fpr, tpr, _ = roc_curve(labels, scores)
            ax.plot(fpr, tpr, lw=1.2, color=f"C{i % 10}",
                    label=f"{name}: {auroc(labels, scores):.2f}")
        ax.plot([0, 1], [0, 1], color="gray", ls="--", lw=0.8)
        ax.set(xlim=(0, 1), ylim=(0, 1.02), title=str(model))
        ax.set_aspect("equal")
        ax.tick_params(labelsize=7)
        ax.legend(loc="lower right", fontsize=6, handlelength=1.0, labelspacing=0.2)
    fig.supxlabel("false positive rate")
    fig.supylabel("true positive rate")
    fig.suptitle(title)
    return _save(fig, path)


def plot_histogram_panels(
    groups: Mapping[str, tuple[Any, Any]], path: str | Path, title: str
) -> Path:
    """One panel per model: normal vs anomalous score densities of its (labels, scores)."""
    if not groups:
        raise DataError("no scores to plot")
    fig, axes = _panel_grid(len(groups), cell=2.8)
    for ax, (model, (labels, scores)) in zip(axes, groups.items()):
        y, s = check_inputs(labels, scores, both_classes=False)
        lo, hi = np.percentile(s, [0.5, 99.5])  # a few extreme scores would squash the rest
        edges = np.linspace(lo, hi if hi > lo else lo + 1, 31)
        for cls, name, color in ((0, "normal", NORMAL_COLOR), (1, "anomalous", ANOMALY_COLOR)):
            part = np.clip(s[y == cls], lo, hi)
            if len(part):
                ax.hist(part, bins=edges, density=True, alpha=0.55, color=color,
                        label=name if ax is axes[0] else None)
        ax.set_title(str(model))
        ax.set_yticks([])
        ax.tick_params(labelsize=7)
    axes[0].legend(fontsize=7)
    fig.supxlabel("anomaly score (0.5th-99.5th percentile)")
    fig.suptitle(title)
    return _save(fig, path)


def _hide_ticks(ax: Any) -> None:
    ax.set_xticks([])
    ax.set_yticks([])
    for spine in ax.spines.values():
        spine.set_visible(False)


def plot_recon_grid(
    images: Any,
    recons: Any,
    path: str | Path,
    maps: Any = None,
    n: int = 8,
    title: str | None = None,
) -> Path:
    """A grid of the first `n` images: rows input / reconstruction / residual heat map.

    images, recons: (N, C, H, W) in [-1, 1]; recons may be None when `maps` is given.
    maps: (N, H, W) or (N, 1, H, W) anomaly maps shown instead of |x - x_hat| (the residual
    averaged over channels). The heat maps share one colour scale, shown by a colour bar.
    """
    x = _images(images)[:n]
    rows: list[tuple[str, np.ndarray | None]] = [("input", None)]
    heat = None
    if recons is not None:
        r = _images(recons, "recons")[:n]
        if r.shape != x.shape:
            raise DataError(f"recons {r.shape} and images {x.shape} differ in shape")
        rows.append(("reconstruction", r))
        heat = np.abs(x - r).mean(axis=1)
    if maps is not None:
        m = to_numpy(maps).astype(np.float32)
        m = m[:, 0] if m.ndim == 4 and m.shape[1] == 1 else m
        heat = m[:n]
        if heat.shape != (len(x), *x.shape[2:]):
            raise DataError(f"maps must be (N, H, W) matching the images; got {m.shape}")
    if heat is None:
        raise DataError("plot_recon_grid needs recons, maps or both")
    rows.append(("anomaly map" if maps is not None else "|x − x̂|", heat))
    k = len(x)
    fig = _figure(1.25 * k + 1.4, 1.3 * len(rows) + (0.4 if title else 0.1))
    axes = fig.subplots(len(rows), k, squeeze=False)
    vmax = float(heat.max()) if heat.max() > 0 else 1.0
    im = None
    for i, (name, data) in enumerate(rows):
        for j in range(k):
            ax = axes[i, j]
            _hide_ticks(ax)
            if i == len(rows) - 1:
                im = ax.imshow(heat[j], cmap="inferno", vmin=0, vmax=vmax)
            else:
                img = _display(x[j] if data is None else data[j])
                ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
        axes[i, 0].set_ylabel(name)
    fig.colorbar(im, ax=axes[-1, :].tolist(), shrink=0.9, pad=0.01)
    if title:
        fig.suptitle(title)
    return _save(fig, path)


EXAMPLE_GROUPS = ("highest-scoring anomalies", "around the threshold", "lowest-scoring normals")
RIGHT_COLOR, WRONG_COLOR = "#1a7f37", "#cf222e"  # a prediction that agrees / disagrees


def pick_examples(labels: Any, scores: Any, threshold: float, k: int = 4
                  ) -> list[tuple[str, np.ndarray]]:
    """The test images a run's example grid shows, as [(group, indices)] in EXAMPLE_GROUPS'
    order, each group's indices by falling score: the k highest-scoring anomalies, the k
    lowest-scoring normals, and the k images (either label) scoring closest to `threshold`;
    no image twice (the extremes are picked first), empty groups left out.
    labels (N,) 0/1, scores (N,)."""
    y, s = check_inputs(labels, scores, both_classes=False)
    order = np.argsort(-s, kind="stable")  # most anomalous first
    anomalies = order[y[order] == 1][:k]
    normals = order[y[order] == 0][::-1][:k][::-1]
    taken = set(anomalies.tolist()) | set(normals.tolist())
    near = [i for i in np.argsort(np.abs(s - threshold), kind="stable") if i not in taken][:k]
    border = np.array(sorted(near, key=lambda i: -s[i]), dtype=np.int64)
    groups = zip(EXAMPLE_GROUPS, (anomalies, border, normals))
    return [(name, idx.astype(np.int64)) for name, idx in groups if len(idx)]


def plot_example_grid(
    images: Any,
    scores: Any,
    labels: Any,
    threshold: float,
    path: str | Path,
    *,
    groups: Sequence[tuple[str, int]] | None = None,
    masks: Any = None,
    maps: Any = None,
    pixel_threshold: float | None = None,
    title: str | None = None,
) -> Path:
    """One column per image: the image under its score and its predicted / true label (green
    where they agree, red where not), then, where given, rows of the ground-truth mask, the
    anomaly map (one colour scale, `pixel_threshold` marked on its bar) and the predicted
    mask (map > pixel_threshold).

    images (M, C, H, W) in [-1, 1]; scores, labels (M,); masks (M, H, W) or (M, 1, H, W)
    {0, 1}; maps (M, H, W). Predicted label: score > threshold. groups: [(title, count)]
    cutting the columns, in order, into titled groups (counts summing to M)."""
    x = _images(images)
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    y = np.asarray(labels).astype(np.int64).reshape(-1)
    m = len(x)
    if len(s) != m or len(y) != m:
        raise DataError(f"{m} images need {m} scores and labels, got {len(s)} and {len(y)}")

    def per_pixel(a: Any, what: str) -> np.ndarray:
        a = to_numpy(a).astype(np.float32)
        a = a[:, 0] if a.ndim == 4 and a.shape[1] == 1 else a
        if a.shape != (m, *x.shape[2:]):
            raise DataError(f"{what} must be (M, H, W) matching the images {x.shape}, got "
                            f"{a.shape}")
        return a

    rows = [("image", None)]
    if masks is not None:
        rows.append(("true mask", per_pixel(masks, "masks") > 0.5))
    heat = None if maps is None else per_pixel(maps, "maps")
    if heat is not None:
        rows.append(("anomaly map", heat))
        if pixel_threshold is not None:
            rows.append((f"predicted mask\nmap > {pixel_threshold:.3g}", heat > pixel_threshold))
    groups = list(groups) if groups is not None else [("", m)]
    if sum(n for _, n in groups) != m or any(n < 1 for _, n in groups):
        raise DataError(f"group sizes {[n for _, n in groups]} must be >= 1 and sum to {m}")
    vmax = heat_map_scale(heat) if heat is not None else 1.0
    if pixel_threshold is not None:
        vmax = max(vmax, 1.25 * pixel_threshold)  # the threshold stays on the colour bar

    cell, bar = 1.15, 0.8 if heat is not None else 0.0  # bar: the colour bar's column
    fig = _figure(cell * m + 0.5 + bar, cell * len(rows) + 0.75 + (0.35 if title else 0))
    ratios = [n * cell for _, n in groups] + ([bar] if bar else [])
    subs = np.atleast_1d(fig.subfigures(1, len(ratios), width_ratios=ratios, wspace=0.02))
    first, im = 0, None
    for sub, (name, n) in zip(subs, groups):
        axes = sub.subplots(len(rows), n, squeeze=False)
        for j in range(n):
            i = first + j
            predicted = int(s[i] > threshold)
            color = RIGHT_COLOR if predicted == y[i] else WRONG_COLOR
            for r, (row, data) in enumerate(rows):
                ax = axes[r, j]
                _hide_ticks(ax)
                if data is None:
                    img = _display(x[i])
                    ax.imshow(img, cmap="gray" if img.ndim == 2 else None, vmin=0, vmax=1)
                    for spine in ax.spines.values():
                        spine.set(visible=True, color=color, linewidth=2.5)
                    word = ("normal", "anomalous")
                    ax.set_title(f"{s[i]:.4g}\npred {word[predicted]}\ntrue {word[y[i]]}",
                                 fontsize=7, color=color, linespacing=1.1)
                elif row == "anomaly map":
                    im = ax.imshow(data[i], cmap="inferno", vmin=0, vmax=vmax)
                else:
                    ax.imshow(data[i], cmap="gray", vmin=0, vmax=1, interpolation="nearest")
                if sub is subs[0] and j == 0:
                    ax.set_ylabel(row, fontsize=8)
        if name:
            sub.suptitle(name, fontsize=9, fontweight="bold")
        first += n
    if im is not None:  # in a column of its own, level with the map row
        holders = subs[-1].subplots(len(rows), 1, squeeze=False)[:, 0]
        for ax in holders:
            ax.axis("off")
        where = holders[[r for r, _ in rows].index("anomaly map")]
        colorbar = fig.colorbar(im, cax=where.inset_axes((0.0, 0.0, 0.14, 1.0)))
        colorbar.ax.tick_params(labelsize=6)
        if pixel_threshold is not None:
            colorbar.ax.axhline(pixel_threshold, color="cyan", lw=2)
            colorbar.set_label("cyan: pixel threshold", fontsize=6)
    if title:
        fig.suptitle(title, wrap=True)
    return _save(fig, path)


def plot_sample_grid(
    images: Any, path: str | Path, nrow: int = 8, title: str | None = None, pad: int = 2
) -> Path:
    """All images tiled in one mosaic, `nrow` images per row; images (N, C, H, W) in [-1, 1]."""
    x = _images(images)
    n, _c, h, w = x.shape
    cols = max(1, min(nrow, n))
    lines = math.ceil(n / cols)
    mosaic = np.ones((lines * (h + pad) + pad, cols * (w + pad) + pad, 3), np.float32)
    for i in range(n):
        top, left = pad + (i // cols) * (h + pad), pad + (i % cols) * (w + pad)
        img = _display(x[i])
        mosaic[top : top + h, left : left + w] = img[..., None] if img.ndim == 2 else img
    width = min(12.0, max(3.0, 0.9 * cols))
    height = width * mosaic.shape[0] / mosaic.shape[1] + (0.4 if title else 0.1)
    fig = _figure(width, height)
    ax = fig.subplots()
    ax.imshow(mosaic, interpolation="nearest")
    ax.axis("off")
    if title:
        ax.set_title(title)
    return _save(fig, path)


def plot_class_bars(
    agg_rows: Sequence[Mapping[str, Any]],
    path: str | Path,
    reference: Mapping[tuple, Any] | None = None,
    metric: str = "auroc",
    title: str | None = None,
) -> Path:
    """Per-class bars of `<metric>_mean` with ±std error bars, one bar colour per model.

    agg_rows: output of `metrics.aggregate`. One panel per (dataset, protocol).
    reference: published values {(model, cls): value} (or keyed (model, dataset, cls)),
    marked by a black tick over the matching bar.
    """
    if not agg_rows:
        raise DataError("no aggregated rows to plot")
    panels = group_rows(agg_rows, ("dataset", "protocol"))
    models = list(dict.fromkeys(r.get("model") for r in agg_rows))
    most = max(len({r.get("cls") for r in p}) for p in panels.values())
    width = float(np.clip(1.2 + 0.35 * most * max(1.5, len(models)), 5.0, 16.0))
    fig = _figure(width, 3.2 * len(panels) + 0.8)
    axes = np.atleast_1d(fig.subplots(len(panels), 1, squeeze=False)[:, 0])
    bar_w = 0.8 / len(models)
    upper = 0.0
    published_labelled = False  # the legend entry goes on the first marker drawn, any model's
    for ax, ((dataset, protocol), rows) in zip(axes, panels.items()):
        classes = list(dict.fromkeys(r.get("cls", "all") for r in rows))
        where = {(r.get("model"), r.get("cls", "all")): r for r in rows}
        xs = np.arange(len(classes))
        for i, model in enumerate(models):
            got = [where.get((model, c), {}) for c in classes]
            mean = np.array([float(g.get(f"{metric}_mean", np.nan)) for g in got])
            std = np.nan_to_num(np.array([float(g.get(f"{metric}_std", 0.0)) for g in got]))
            pos = xs + (i - (len(models) - 1) / 2) * bar_w
            ax.bar(
                pos,
                np.nan_to_num(mean),
                bar_w * 0.95,
                yerr=std,
                capsize=2,
                label=str(model) if ax is axes[0] else None,
                color=_model_color(i, len(models)),
            )
            upper = max(upper, float(np.nanmax(mean + std, initial=0.0)))
            ref = np.array([reference_value(reference, model, c, dataset) for c in classes])
            if np.isfinite(ref).any():
                ax.scatter(
                    pos,
                    ref,
                    marker="_",
                    s=(bar_w * 300) ** 1.1 + 60,
                    color="black",
                    linewidths=2.5,
                    zorder=4,
                    label=None if published_labelled else "published",
                )
                published_labelled = True
                upper = max(upper, float(np.nanmax(ref)))
        if metric.endswith("auroc"):
            ax.axhline(0.5, color="gray", ls=":", lw=1, label="chance" if ax is axes[0] else None)
        ax.set_xticks(xs, [str(c) for c in classes], rotation=45 if len(classes) > 10 else 0)
        ax.set_ylabel(LABELS.get(metric, metric))
        ax.grid(axis="y", alpha=0.3)
        name = " · ".join(str(v) for v in (dataset, protocol) if v is not None)
        if name:
            ax.set_title(name)
    for ax in axes:
        ax.set_ylim(0, 1.05 if upper <= 1.0 else upper * 1.1)
        ax.set_xlabel("class")
    fig.legend(loc="outside lower center", ncol=min(6, len(models) + 2), frameon=False)
    fig.suptitle(title or f"{LABELS.get(metric, metric)} per class (mean ± std over seeds)")
    return _save(fig, path)


def _model_color(i: int, n: int) -> Any:
    """Colour of the i-th of n models: matplotlib's cycle up to 10, tab20 beyond (no repeats
    up to 20 models)."""
    if n <= 10:
        return f"C{i}"
    from matplotlib import colormaps

    return colormaps["tab20"](i % 20)


def _cell(v: Any) -> str:
    if isinstance(v, (float, np.floating)):
        return f"{float(v):.4f}" if math.isfinite(v) else str(v)
    return str(v)


def _notes(notes: Sequence[str]) -> list[str]:
    return ["## Notes", "", *[f"- {n}" for n in notes], ""] if notes else []


def write_run_report(
    run_dir: str | Path,
    *,
    title: str,
    metrics: Mapping[str, Any],
    labels: Any,
    scores: Any,
    threshold: float | None = None,
    images: Any = None,
    recons: Any = None,
    maps: Any = None,
    examples: Mapping[str, Any] | None = None,
    notes: Sequence[str] = (),
) -> Path:
    """Write roc.png, hist.png, recon.png (when images and recons or maps are given),
    examples.png (when `examples` is given) and a report.md embedding them (relative links)
    with a metrics table and the notes.

    labels (N,) 0/1, scores (N,); images/recons (M, C, H, W) in [-1, 1]; maps (M, H, W).
    examples: `plot_example_grid`'s arguments but threshold and path (images, scores,
    labels, groups, masks, maps, pixel_threshold), e.g. of the images `pick_examples` picks;
    needs `threshold`. Returns the path of report.md.
    """
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    figures = [
        ("ROC curve", plot_roc(labels, scores, run_dir / "roc.png", title=f"ROC — {title}")),
        (
            "Score histograms",
            plot_histograms(labels, scores, run_dir / "hist.png", threshold, f"Scores — {title}"),
        ),
    ]
    if images is not None and (recons is not None or maps is not None):
        what = "Inputs, reconstructions and residuals" if recons is not None else "Anomaly maps"
        figures.append((what, plot_recon_grid(images, recons, run_dir / "recon.png", maps)))
    explain = {}
    if examples is not None:
        if threshold is None:
            raise DataError("the example grid needs the threshold its predictions are made at")
        path = plot_example_grid(**examples, threshold=threshold, path=run_dir / "examples.png",
                                 title=f"Test images — {title}")
        figures.append(("Test images: score, predicted and true label", path))
        explain[path] = _examples_text(examples, threshold)
    lines = [f"# {title}", "", "## Metrics", "", "| metric | value |", "|---|---|"]
    lines += [f"| {k} | {_cell(v)} |" for k, v in metrics.items()]
    if threshold is not None and "threshold" not in metrics:
        lines.append(f"| threshold | {_cell(float(threshold))} |")
    lines += ["", "## Figures", ""]
    for caption, fig_path in figures:
        lines += [f"![{caption}]({fig_path.name})", ""]
        lines += [explain[fig_path], ""] if fig_path in explain else []
    lines += _notes(notes)
    report = run_dir / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report


def _examples_text(examples: Mapping[str, Any], threshold: float) -> str:
    """What examples.png shows, for report.md."""
    groups = [g for g, _ in examples.get("groups") or []]
    text = ("Each column: a test image, its score, the predicted label (score > threshold "
            f"{threshold:.4g}) and the true one; green where they agree, red where not."
            + (f" Groups: {', '.join(groups)}." if groups else ""))
    if examples.get("masks") is not None:
        text += " *true mask*: the ground truth."
    if examples.get("maps") is not None:
        text += " *anomaly map*: the model's per-pixel map, one colour scale."
    if examples.get("pixel_threshold") is not None:
        text += (f" *predicted mask*: map > {examples['pixel_threshold']:.4g}, the pixel "
                 "threshold (cyan on the colour bar).")
    return text


DEFAULT_METRICS = ("auroc", "auprc", "f1", "pixel_auroc", "seconds")


def write_bench_report(
    out_dir: str | Path,
    rows: Sequence[Mapping[str, Any]],
    *,
    title: str,
    reference: Mapping[tuple, Any] | None = None,
    notes: Sequence[str] = (),
    metrics: Sequence[str] | None = None,
    scores: Mapping[str, Sequence[tuple[str, Any, Any]]] | None = None,
) -> Path:
    """Write results.csv (the runs), results.md (aggregated over seeds), bars.png and
    report.md (aggregated table, per-class pivot beside published values, bar chart, notes).

    rows: one dict per run (model, dataset, protocol, cls, seed, auroc, ...).
    metrics: the columns to aggregate (default: those of auroc, auprc, f1, pixel_auroc,
    seconds that the rows have).
    scores: {model: [(class, labels, scores), ...]} test scores of one seed per class; given,
    the report adds roc.png (a panel per model, a curve per class) and hist.png (normal vs
    anomalous scores of each model's first class). Returns the path of report.md.
    """
    if not rows:
        raise DataError("no result rows to report")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    if metrics is None:
        metrics = [m for m in DEFAULT_METRICS if any(m in r for r in rows)] or ["auroc"]
    by = [k for k in KEYS if any(k in r for r in rows)]
    agg = aggregate(rows, by=by, metrics=metrics)
    write_csv(rows, out_dir / "results.csv")
    table = to_markdown(agg, columns=by, metrics=metrics)
    (out_dir / "results.md").write_text(table, encoding="utf-8")
    main = metrics[0]
    plot_class_bars(agg, out_dir / "bars.png", reference=reference, metric=main)
    models = ", ".join(str(m) for m in dict.fromkeys(r.get("model") for r in rows))
    seeds = ", ".join(sorted({str(r["seed"]) for r in rows if r.get("seed") is not None}))
    runs = f"{len(rows)} runs; models: {models}" + (f"; seeds: {seeds}." if seeds else ".")
    lines = [f"# {title}", "", runs, "", "## Results (mean ± std over seeds)", "", table]
    if "cls" in by and "model" in by:
        lines += [f"## {main} per class" + (" beside published values" if reference else ""), ""]
        for (dataset, protocol), part in group_rows(agg, ("dataset", "protocol")).items():
            name = " · ".join(str(v) for v in (dataset, protocol) if v is not None)
            if name:
                lines += [f"### {name}", ""]
            lines += [pivot_markdown(part, metric=main, reference=reference)]
    lines += [f"![{main} per class](bars.png)", ""]
    if scores:
        plot_roc_panels(scores, out_dir / "roc.png", "ROC curves per class (AUROC in the legend)")
        first = {m: runs[0] for m, runs in scores.items() if runs}
        cls = ", ".join(dict.fromkeys(str(c) for c, _, _ in first.values()))
        plot_histogram_panels({m: (y, s) for m, (_, y, s) in first.items()}, out_dir / "hist.png",
                              f"Test scores, class {cls}")
        lines += ["## ROC curves", "", "![ROC curves](roc.png)", "",
                  "## Score histograms", "", "![score histograms](hist.png)", ""]
    lines += ["Files: [results.csv](results.csv), [results.md](results.md).", ""]
    lines += _notes(notes)
    report = out_dir / "report.md"
    report.write_text("\n".join(lines), encoding="utf-8")
    return report


# ---- disentanglement figures --------------------------------------------------------------------
def plot_traversal_grid(
    rows: Sequence[Any], labels: Sequence[str], path: str | Path, title: str | None = None
) -> Path:
    """One row per code: the images (n_i, C, H, W) in [-1, 1] of a latent traversal, left to
    right; rows may differ in length (a categorical code has one image per category)."""
    if not rows or len(rows) != len(labels):
        raise DataError(f"need one label per traversal row: {len(rows)} rows, {len(labels)} labels")
    strips = [_images(r, "traversal images") for r in rows]
    cols = max(len(s) for s in strips)
    fig = _figure(min(14.0, 1.0 + 0.8 * cols), 0.8 * len(strips) + (0.5 if title else 0.2))
    axes = fig.subplots(len(strips), cols, squeeze=False)
    for i, (strip, label) in enumerate(zip(strips, labels)):
        for j in range(cols):
            ax = axes[i, j]
            _hide_ticks(ax)
            if j < len(strip):
                ax.imshow(_display(strip[j]), cmap="gray", vmin=0, vmax=1,
                          interpolation="nearest")
            else:
                ax.axis("off")
        axes[i, 0].set_ylabel(str(label), rotation=0, ha="right", va="center")
    if title:
        fig.suptitle(title)
    return _save(fig, path)


def _scatter_groups(
    ax: Any, rows: Sequence[Mapping[str, Any]], x: str, y: str, group: str, note: str | None,
    annotate: bool = True,
) -> None:
    """Mean ± std of (x, y) over the rows of each (group, note) pair, one colour per group;
    with `annotate`, each point is labelled note=value."""
    groups = list(dict.fromkeys(str(r.get(group)) for r in rows))
    for i, g in enumerate(groups):
        mine = [r for r in rows if str(r.get(group)) == g]
        keys = list(dict.fromkeys(r.get(note) for r in mine)) if note else [None]
        for k in keys:
            pts = [r for r in mine if note is None or r.get(note) == k]
            xs = np.array([float(r[x]) for r in pts if r.get(x) is not None], dtype=float)
            ys = np.array([float(r[y]) for r in pts if r.get(y) is not None], dtype=float)
            if len(xs) == 0 or len(xs) != len(ys):
                continue
            ax.errorbar(xs.mean(), ys.mean(), xerr=xs.std(), yerr=ys.std(), fmt="o",
                        color=f"C{i % 10}", capsize=3,
                        label=g if k == keys[0] else None)
            if annotate and note is not None and len(keys) > 1:
                ax.annotate(f"{note}={k}", (xs.mean(), ys.mean()), textcoords="offset points",
                            xytext=(4, 4), fontsize=7)


def plot_trade_space(rows: Sequence[Mapping[str, Any]], path: str | Path,
                     x: str = "fid_probe", y: str = "mig", title: str | None = None) -> Path:
    """Quality vs disentanglement: one point per (model, info weight), mean ± std over seeds.
    Lower FID is better quality (left), higher MIG better disentanglement (up)."""
    if not rows:
        raise DataError("no runs to plot")
    fig = _figure(6.0, 4.2)
    ax = fig.subplots()
    _scatter_groups(ax, rows, x, y, "model", "lambda")
    ax.set_xlabel("FID (genad probe features; lower is better)" if x == "fid_probe" else x)
    ax.set_ylabel(y.upper() if y == "mig" else y)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, frameon=False)
    ax.set_title(title or "quality / disentanglement trade space (mean ± std over seeds)")
    return _save(fig, path)


def plot_control_matrices(matrices: Sequence[Any], titles: Sequence[str],
                          rows: Sequence[str], columns: Sequence[str], path: str | Path,
                          title: str = "") -> Path:
    """Control matrices V (codes x factors, genad.metrics.control) side by side, one shared
    colour scale from 0, each cell annotated with its value."""
    if not len(matrices):
        raise DataError("no control matrices to plot")
    mats = [np.asarray(m, dtype=float) for m in matrices]
    top = max(float(m.max()) for m in mats) or 1.0
    fig = _figure(2.2 + 2.6 * len(mats), 0.9 + 0.42 * len(rows))
    axes = np.atleast_1d(fig.subplots(1, len(mats), sharey=True))
    for ax, m, t in zip(axes, mats, titles):
        im = ax.imshow(m, cmap="viridis", vmin=0, vmax=top, aspect="auto")
        for (i, j), v in np.ndenumerate(m):
            ax.text(j, i, f"{v:.2f}", ha="center", va="center", fontsize=6.5,
                    color="white" if v < 0.6 * top else "black")
        ax.set_xticks(range(len(columns)), columns, rotation=40, ha="right", fontsize=7)
        ax.set_yticks(range(len(rows)), rows, fontsize=7)
        ax.set_title(t, fontsize=8)
    fig.colorbar(im, ax=axes.tolist(), shrink=0.8, label="traversal variance / real variance")
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def plot_lemma1(rows: Sequence[Mapping[str, Any]], path: str | Path,
                title: str | None = None) -> Path:
    """Lemma 1 across the info weight lambda, mean ± std over seeds: (1) the MI lower bound,
    (2) the total correlation of the codes read back from generated images and of Q's codes
    of real images, (3) that total correlation against its bound TC(c) + sum_i H(c_hat_i | c_i),
    with the diagonal."""
    if not rows:
        raise DataError("no runs to plot")
    fig = _figure(13.0, 4.0)
    mi_ax, tc_ax, bound_ax = fig.subplots(1, 3)
    _scatter_groups(mi_ax, rows, "lambda", "mi_lower_bound", "model", "lambda", annotate=False)
    mi_ax.set_ylabel("MI lower bound during training, nats")
    _scatter_groups(tc_ax, rows, "lambda", "lemma1_tc_inferred", "model", "lambda",
                    annotate=False)
    real = [{**r, "model": f"{r['model']} (real images)"} for r in rows]
    _scatter_groups(tc_ax, real, "lambda", "tc_real", "model", "lambda", annotate=False)
    for line in tc_ax.get_lines()[len(tc_ax.get_lines()) // 2 :]:
        line.set_alpha(0.5)
    tc_ax.set_ylabel("total correlation, nats")
    tc_ax.legend(fontsize=7, frameon=False)
    for ax in (mi_ax, tc_ax):
        ax.set_xlabel("lambda (info weight)")
        ax.grid(alpha=0.3)
    _lemma1_bound_panel(bound_ax, rows, "lambda")
    fig.suptitle(title or "Lemma 1: attribute control (MI) vs total correlation, per lambda")
    return _save(fig, path)


def _lemma1_bound_panel(ax: Any, rows: Sequence[Mapping[str, Any]], note: str | None) -> None:
    """Lemma 1's inequality: TC of the codes read back from generated images against its bound
    TC(c) + sum_i H(c_hat_i | c_i), mean ± std per group, with the diagonal TC = bound."""
    _scatter_groups(ax, rows, "lemma1_bound", "lemma1_tc_inferred", "model", note)
    hi = max([float(r.get("lemma1_bound") or 0) for r in rows] + [1e-6])
    ax.plot([0, hi], [0, hi], color="gray", ls=":", lw=1, label="TC = bound")
    ax.set_xlabel("bound: TC(c) + sum_i H(c_hat_i | c_i), nats")
    ax.set_ylabel("TC(c_hat) of generated images' codes, nats")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7, frameon=False)


def plot_runs_summary(rows: Sequence[Mapping[str, Any]], path: str | Path,
                      title: str | None = None) -> Path:
    """Finished runs of fixed settings side by side (rows: "model" = the setting's label plus
    the figures of genad.disentangle's evaluation), mean ± std over each label's seeds: quality
    against disentanglement (FID (probe) vs MIG) and Lemma 1's TC(c_hat) against its bound."""
    if not rows:
        raise DataError("no runs to plot")
    fig = _figure(11.0, 4.4)
    trade_ax, bound_ax = fig.subplots(1, 2)
    _scatter_groups(trade_ax, rows, "fid_probe", "mig", "model", None)
    trade_ax.set_xlabel("FID (genad probe features; lower is better)")
    trade_ax.set_ylabel("MIG (higher is better)")
    trade_ax.grid(alpha=0.3)
    trade_ax.legend(fontsize=7, frameon=False)
    trade_ax.set_title("quality / disentanglement", fontsize=9)
    _lemma1_bound_panel(bound_ax, rows, None)
    bound_ax.set_title("Lemma 1: TC(c_hat) <= TC(c) + sum_i H(c_hat_i | c_i)", fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return _save(fig, path)


def plot_transfer_grid(a: Any, donors: Any, cells: Any, reconstructions: Any,
                       path: str | Path, title: str | None = None) -> Path:
    """Content transfer at a glance. a (n, C, S, S): A images (rows); donors (m, C, S, S): B
    images (columns, shown on top); cells (n, m, C, S, S): each A image with each donor's
    attribute; reconstructions (n, C, S, S): each A image with E2 = 0 (a last column)."""
    xa, xd = _images(a, "A images"), _images(donors, "donors")
    cells, rec = np.asarray(cells, dtype=np.float32), np.asarray(reconstructions)
    n, m = cells.shape[:2]
    fig = _figure(0.8 * (m + 2) + 0.3, 0.8 * (n + 1) + (0.45 if title else 0.1))
    axes = fig.subplots(n + 1, m + 2, squeeze=False)
    for ax in axes.flat:
        _hide_ticks(ax)

    def show(ax: Any, img: np.ndarray) -> None:
        d = _display(img)
        ax.imshow(d, cmap="gray" if d.ndim == 2 else None, vmin=0, vmax=1)

    for j in range(m):
        show(axes[0, j + 1], xd[j])
    for i in range(n):
        show(axes[i + 1, 0], xa[i])
        show(axes[i + 1, m + 1], rec[i])
        for j in range(m):
            show(axes[i + 1, j + 1], cells[i, j])
    axes[0, 1].set_title("B donors →", loc="left", fontsize=8)
    axes[1, 0].set_ylabel("A", fontsize=8)
    axes[0, m + 1].set_title("E2 = 0", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def save_images(images: Sequence[np.ndarray], names: Sequence[str], folder: str | Path
                ) -> list[Path]:
    """One PNG per (C, H, W) image in [-1, 1], folder/<name>.png; returns the paths."""
    import torch
    from PIL import Image

    from genad.data.base import to_uint8

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, img in zip(names, images):
        pixels = to_uint8(torch.from_numpy(np.ascontiguousarray(img))).numpy()
        pixels = pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)
        path = folder / f"{name}.png"
        Image.fromarray(pixels).save(path)
        written.append(path)
    return written


def heat_map_scale(maps: np.ndarray) -> float:
    """The value drawn white-hot: the 0.999 quantile of the maps (1 when that is 0)."""
    return float(np.quantile(maps, 0.999)) or 1.0


def save_heat_maps(maps: np.ndarray, names: Sequence[str], folder: str | Path,
                   top: float | None = None,
                   sizes: Sequence[tuple[int, int]] | None = None) -> list[Path]:
    """One inferno PNG per (H, W) map, folder/<name>_map.png, all on one scale (`top` is
    white-hot; default `heat_map_scale(maps)`), each resized to its (height, width) in
    `sizes` when given (the image file's own size); returns the paths."""
    from matplotlib import colormaps
    from PIL import Image

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    top = heat_map_scale(maps) if top is None else top
    written = []
    for k, (m, name) in enumerate(zip(maps, names)):
        rgb = colormaps["inferno"](np.clip(m / top, 0, 1))[..., :3]
        im = Image.fromarray((rgb * 255).astype(np.uint8))
        if sizes is not None and tuple(sizes[k]) != m.shape:
            im = im.resize((sizes[k][1], sizes[k][0]), Image.Resampling.BILINEAR)
        path = folder / f"{name}_map.png"
        im.save(path)
        written.append(path)
    return written


def save_samples(images: np.ndarray, path: str | Path, title: str = "") -> Path:
    """Generated images (N, C, S, S) in [-1, 1] as a .png mosaic or a .npz of uint8 images
    (key "images"), by the suffix of `path`."""
    path = Path(path)
    if path.suffix == ".npz":
        path.parent.mkdir(parents=True, exist_ok=True)
        u8 = np.clip(np.rint((np.asarray(images) + 1) * 127.5), 0, 255).astype(np.uint8)
        np.savez_compressed(path, images=u8)
        return path
    if path.suffix == ".png":
        return plot_sample_grid(images, path, title=title)
    raise DataError(f"samples go to a .png or .npz file, got {path.name}")
