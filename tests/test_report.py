"""Figures are real PNGs of sensible size; reports link to files that exist."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from genad.errors import DataError
from genad.metrics import aggregate, read_csv
from genad.report import (
    DPI,
    EXAMPLE_GROUPS,
    RIGHT_COLOR,
    WRONG_COLOR,
    histogram_edges,
    pick_examples,
    plot_class_bars,
    plot_example_grid,
    plot_histograms,
    plot_recon_grid,
    plot_roc,
    plot_sample_grid,
    write_bench_report,
    write_run_report,
)


def png_size(path: Path) -> tuple[int, int]:
    assert path.exists() and path.stat().st_size > 1000
    with Image.open(path) as im:
        assert im.format == "PNG"
        im.load()
        return im.size


def links(md: Path) -> list[str]:
    return re.findall(r"\]\(([^)]+)\)", md.read_text(encoding="utf-8"))


@pytest.fixture
def scored() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    y = (rng.random(200) < 0.3).astype(int)
    return y, rng.normal(size=200) + 1.5 * y


def images(n: int, c: int, size: int = 16, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (n, c, size, size)).astype(np.float32)


def test_plot_roc_and_histograms(tmp_path, scored) -> None:
    y, s = scored
    w, h = png_size(plot_roc(y, s, tmp_path / "roc.png", title="demo"))
    assert (w, h) == (round(4.8 * DPI), round(4.5 * DPI))
    assert png_size(plot_histograms(y, s, tmp_path / "hist.png", threshold=0.7))[0] > 400
    # One class alone still draws (e.g. scores of the normal calibration images).
    png_size(plot_histograms(np.zeros(50), s[:50], tmp_path / "normal.png"))
    with pytest.raises(DataError):
        plot_roc(np.zeros(10), s[:10], tmp_path / "bad.png")


def test_recon_grid_rows_and_columns(tmp_path) -> None:
    x = images(6, 3)
    r = np.clip(x + 0.1, -1, 1)
    w3, h3 = png_size(plot_recon_grid(x, r, tmp_path / "three.png", n=4))
    w2, h2 = png_size(plot_recon_grid(x, None, tmp_path / "two.png", maps=np.abs(x).mean(1), n=4))
    assert w3 == w2 > h3 > h2  # 4 columns; 3 rows (input, recon, residual) vs 2 rows
    assert (h3 - h2) == pytest.approx(1.3 * DPI, abs=2)  # one image row more
    w2_, _ = png_size(plot_recon_grid(x[:2], r[:2], tmp_path / "two_cols.png", n=4))
    assert w3 - w2_ == pytest.approx(2 * 1.25 * DPI, abs=2)  # only 2 images to show
    gray = torch.tensor(images(2, 1))
    png_size(plot_recon_grid(gray, gray * 0.5, tmp_path / "gray.png", maps=gray[:, 0].abs()))


def test_recon_grid_errors(tmp_path) -> None:
    x = images(4, 3)
    with pytest.raises(DataError, match="differ in shape"):
        plot_recon_grid(x, images(4, 1), tmp_path / "a.png")
    with pytest.raises(DataError, match="C = 1 or 3"):
        plot_recon_grid(images(4, 2), images(4, 2), tmp_path / "a.png")
    with pytest.raises(DataError, match="recons, maps"):
        plot_recon_grid(x, None, tmp_path / "a.png")
    with pytest.raises(DataError, match="maps"):
        plot_recon_grid(x, x, tmp_path / "a.png", maps=np.zeros((4, 8, 8)))


def test_sample_grid_shape(tmp_path) -> None:
    wide = png_size(plot_sample_grid(images(8, 3), tmp_path / "wide.png", nrow=8))
    square = png_size(plot_sample_grid(images(16, 1), tmp_path / "square.png", nrow=4))
    assert wide[0] > 4 * wide[1]
    assert square[0] == pytest.approx(square[1], rel=0.1)


def bench_rows() -> list[dict]:
    rows = []
    for model, base in (("ae", 0.8), ("gan", 0.9)):
        for cls in range(3):
            for seed in range(2):
                rows.append(
                    {
                        "model": model,
                        "dataset": "mnist",
                        "protocol": "one-vs-rest",
                        "cls": str(cls),
                        "seed": seed,
                        "auroc": base - 0.05 * cls + 0.01 * seed,
                        "auprc": 0.5,
                        "seconds": 1.0 + seed,
                    }
                )
    return rows


REFERENCE = {("ae", "0"): 0.82, ("gan", "1"): 0.86}


def test_class_bars(tmp_path) -> None:
    agg = aggregate(bench_rows())
    w, h = png_size(plot_class_bars(agg, tmp_path / "bars.png", reference=REFERENCE))
    assert w > h
    two = aggregate([*bench_rows(), *[dict(r, dataset="cifar10") for r in bench_rows()]])
    w2, h2 = png_size(plot_class_bars(two, tmp_path / "bars2.png"))
    assert w2 == w and h2 > h  # one panel per dataset, same classes and models


def test_class_bars_legend_names_the_published_marker_whoever_has_one(tmp_path,
                                                                       monkeypatch) -> None:
    """Issue: the legend lost "published" when the first model had no published figure."""
    from genad import report

    figs = []
    monkeypatch.setattr(report, "_save", lambda fig, path: figs.append(fig) or path)
    plot_class_bars(aggregate(bench_rows()), tmp_path / "b.png", reference={("gan", "1"): 0.9})
    texts = [t.get_text() for legend in figs[0].legends for t in legend.get_texts()]
    assert texts.count("published") == 1


def test_write_run_report(tmp_path, scored) -> None:
    y, s = scored
    x = images(6, 3)
    report = write_run_report(
        tmp_path / "run",
        title="ae on mnist",
        metrics={"auroc": 0.91234, "epochs": 3},
        labels=y,
        scores=s,
        threshold=0.5,
        images=x,
        recons=x * 0.9,
        notes=["a note"],
    )
    text = report.read_text(encoding="utf-8")
    assert report.name == "report.md" and text.startswith("# ae on mnist")
    assert "| auroc | 0.9123 |" in text and "| epochs | 3 |" in text
    assert "| threshold | 0.5000 |" in text and "- a note" in text
    assert sorted(links(report)) == ["hist.png", "recon.png", "roc.png"]
    for name in links(report):
        png_size(report.parent / name)
    bare = write_run_report(tmp_path / "bare", title="t", metrics={}, labels=y, scores=s)
    assert sorted(links(bare)) == ["hist.png", "roc.png"]
    assert not (bare.parent / "recon.png").exists()


def test_write_bench_report(tmp_path) -> None:
    rows = bench_rows()
    report = write_bench_report(
        tmp_path / "bench", rows, title="Bench", reference=REFERENCE, notes=["CPU only"]
    )
    out = report.parent
    assert {p.name for p in out.iterdir()} >= {"results.csv", "results.md", "bars.png", "report.md"}
    assert len(read_csv(out / "results.csv")) == len(rows)
    table = (out / "results.md").read_text(encoding="utf-8")
    assert "| model | dataset | protocol | cls | auroc | auprc | seconds | n |" in table
    assert "| ae | mnist | one-vs-rest | 0 | 0.805 ± 0.007 |" in table
    text = report.read_text(encoding="utf-8")
    assert "ae (paper)" in text and "0.820" in text and "- CPU only" in text
    assert "12 runs" in text
    for name in links(report):
        assert (out / name).exists(), name
    png_size(out / "bars.png")
    with pytest.raises(DataError):
        write_bench_report(tmp_path / "empty", [], title="none")


def test_bench_report_draws_roc_panels_and_histograms_from_scores(tmp_path) -> None:
    rng = np.random.default_rng(0)
    labels = np.r_[np.zeros(40, int), np.ones(20, int)]
    scores = {
        m: [(str(c), labels, labels * shift + rng.normal(size=60)) for c in range(3)]
        for m, shift in (("ae", 2.0), ("gan", 0.0))
    }
    scores["gan"][0] = ("0", labels, np.r_[rng.normal(size=40), np.full(20, 1e9)])  # an outlier
    report = write_bench_report(tmp_path / "b", bench_rows(), title="Bench", scores=scores)
    names = links(report)
    assert "roc.png" in names and "hist.png" in names
    roc, hist = png_size(report.parent / "roc.png"), png_size(report.parent / "hist.png")
    assert roc[0] > roc[1] and hist[0] > hist[1]  # two panels side by side
    bare = write_bench_report(tmp_path / "bare", bench_rows(), title="Bench")
    assert "roc.png" not in links(bare) and not (bare.parent / "roc.png").exists()


def test_bar_colours_do_not_repeat_for_up_to_twenty_models() -> None:
    from genad.report import _model_color

    assert len({str(_model_color(i, 17)) for i in range(17)}) == 17
    assert _model_color(3, 5) == "C3"


def test_a_long_roc_title_wraps_inside_the_figure(tmp_path, scored, monkeypatch) -> None:
    """Issue: a run's ROC title ran off both edges of the figure."""
    from genad import report

    figs = []
    monkeypatch.setattr(report, "_save", lambda fig, path: figs.append(fig) or Path(path))
    y, s = scored
    long = "ROC — ae · leave-one-out · normal: all classes but 3 · seed 0"
    for plot in (lambda: plot_roc(y, s, tmp_path / "r.png", title=long),
                 lambda: plot_histograms(y, s, tmp_path / "h.png", 0.5, title=long * 2)):
        plot()
        fig = figs[-1]
        renderer = fig.canvas.get_renderer()
        fig.draw(renderer)
        box = fig.axes[0].title.get_window_extent(renderer)
        assert 0 <= box.x0 and box.x1 <= fig.bbox.width, "the title is clipped"


def test_pick_examples_takes_extremes_then_the_nearest_to_the_threshold() -> None:
    labels = np.array([1, 1, 1, 0, 0, 0, 0, 1, 0, 0])
    scores = np.array([9.0, 8.0, 1.0, 5.2, 0.1, 0.2, 4.9, 5.0, 3.0, 0.3])
    groups = pick_examples(labels, scores, threshold=5.0, k=2)
    assert [g for g, _ in groups] == list(EXAMPLE_GROUPS)
    got = {g: idx.tolist() for g, idx in groups}
    assert got["highest-scoring anomalies"] == [0, 1]
    assert got["lowest-scoring normals"] == [5, 4]  # 0.2 and 0.1, by falling score
    assert got["around the threshold"] == [7, 6]  # 5.0 and 4.9; 5.2 is the third nearest
    every = np.concatenate([idx for _, idx in groups])
    assert len(set(every.tolist())) == len(every)
    # the extremes are taken first: one image is never shown twice; empty groups go
    few = pick_examples(np.zeros(5, int), np.arange(5.0), threshold=2.0, k=4)
    assert [(g, idx.tolist()) for g, idx in few] == [
        ("around the threshold", [4]), ("lowest-scoring normals", [3, 2, 1, 0])]


def _grid_figure(monkeypatch, tmp_path, **kw) -> object:
    from genad import report

    figs = []
    monkeypatch.setattr(report, "_save", lambda fig, path: figs.append(fig) or Path(path))
    x = images(6, 1)
    defaults = {"scores": np.array([3.0, 2.0, 1.1, 0.9, 0.2, 0.1]),
                "labels": np.array([1, 0, 1, 0, 1, 0]), "groups": [("top", 2), ("rest", 4)]}
    plot_example_grid(x, threshold=1.0, path=tmp_path / "e.png", **{**defaults, **kw})
    return figs[-1]


def _row_labels(fig) -> list[str]:
    first = [ax for ax in fig.subfigs[0].axes if ax.get_ylabel()]
    return [ax.get_ylabel() for ax in first]


def test_example_grid_rows_follow_masks_and_maps(tmp_path, monkeypatch) -> None:
    masks = np.zeros((6, 1, 16, 16), np.uint8)
    masks[::2, :, 4:8, 4:8] = 1
    maps = np.random.default_rng(0).random((6, 16, 16)).astype(np.float32)
    full = _grid_figure(monkeypatch, tmp_path, masks=masks, maps=maps, pixel_threshold=0.5)
    assert _row_labels(full) == ["image", "true mask", "anomaly map", "predicted mask\nmap > 0.5"]
    no_masks = _grid_figure(monkeypatch, tmp_path, maps=maps, pixel_threshold=0.5)
    assert _row_labels(no_masks) == ["image", "anomaly map", "predicted mask\nmap > 0.5"]
    assert _row_labels(_grid_figure(monkeypatch, tmp_path)) == ["image"]
    assert [sub._suptitle.get_text() for sub in full.subfigs[:2]] == ["top", "rest"]
    # the predicted mask is the map above the pixel threshold, the true mask as given
    shown = [ax.images[0].get_array() for ax in full.subfigs[0].axes if ax.images]
    np.testing.assert_array_equal(shown[2], masks[0, 0] > 0)  # column 1, mask row
    np.testing.assert_array_equal(shown[6], maps[0] > 0.5)  # column 1, predicted-mask row


def test_example_grid_colours_right_and_wrong_predictions(tmp_path, monkeypatch) -> None:
    fig = _grid_figure(monkeypatch, tmp_path)
    titles = [ax.title for sub in fig.subfigs for ax in sub.axes if ax.get_title()]
    # predicted = score > 1.0: right, right... against labels 1, 0, 1, 0, 1, 0
    right = [True, False, True, True, False, True]
    assert [t.get_color() for t in titles] == [RIGHT_COLOR if r else WRONG_COLOR for r in right]
    assert titles[1].get_text().splitlines() == ["2", "pred anomalous", "true normal"]
    with pytest.raises(DataError, match="sum to 6"):
        _grid_figure(monkeypatch, tmp_path, groups=[("a", 5)])
    with pytest.raises(DataError, match="masks must be"):
        _grid_figure(monkeypatch, tmp_path, masks=np.zeros((6, 8, 8)))


def test_run_report_embeds_the_example_grid(tmp_path, scored) -> None:
    y, s = scored
    groups = pick_examples(y, s, 0.5)
    pick = np.concatenate([idx for _, idx in groups])
    x = images(len(y), 3)
    examples = {"images": x[pick], "scores": s[pick], "labels": y[pick],
                "groups": [(g, len(idx)) for g, idx in groups]}
    report = write_run_report(tmp_path / "run", title="t", metrics={}, labels=y, scores=s,
                              threshold=0.5, examples=examples)
    assert "examples.png" in links(report)
    w, h = png_size(report.parent / "examples.png")
    assert w > 12 * 1.15 * DPI and h < 3 * DPI  # 12 columns, one row of images
    text = report.read_text(encoding="utf-8")
    assert "green where they agree" in text and "true mask" not in text
    with pytest.raises(DataError, match="threshold"):
        write_run_report(tmp_path / "bad", title="t", metrics={}, labels=y, scores=s,
                         examples=examples)


def test_a_run_on_masked_data_draws_masks_maps_and_predicted_masks(tmp_path, mvtec_widget,
                                                                   monkeypatch) -> None:
    import genad
    from genad import experiment, report

    drawn = []
    real = report.plot_example_grid
    monkeypatch.setattr(report, "plot_example_grid", lambda *a, **kw: drawn.append(kw) or real(
        *a, **kw))
    split = genad.data.load(f"mvtec:{mvtec_widget}", protocol="mvtec")
    params = {"image_size": 16, "width": 8, "latent": 4, "epochs": 1, "batch_size": 8}
    experiment.run("ae", split, params=params, out=tmp_path / "run")
    (kw,) = drawn
    assert kw["masks"].shape == (6, 1, 16, 16) and kw["maps"].shape == (6, 16, 16)
    assert sorted(kw["labels"].tolist()) == [0, 0, 0, 1, 1, 1]  # 3 + 3 test images
    det = genad.load(tmp_path / "run")
    cal, _ = det.calibration_indices(len(split.train))
    normal_maps = det.anomaly_map(split.train.images[cal])
    assert kw["pixel_threshold"] == pytest.approx(np.quantile(normal_maps, 0.99), rel=1e-5)
    text = (tmp_path / "run" / "report.md").read_text(encoding="utf-8")
    assert "examples.png" in text and "*true mask*" in text and "*predicted mask*" in text


def test_histogram_bins_are_not_squashed_by_a_few_extreme_scores() -> None:
    """Deep SVDD on CIFAR-10 scored 99.5% of the images below 0.02 and one at 1.15: bins over
    the whole range put every image in the first bin."""
    s = np.r_[np.linspace(0.001, 0.02, 995), 1.15, 0.9, 0.8, 0.7, 0.6]
    edges, outside = histogram_edges(s, 30)
    assert edges[-1] < 0.03 and outside == 10  # the five tail scores and the five smallest
    edges, _ = histogram_edges(s, 30, threshold=0.05)
    assert edges[-1] == 0.05  # the threshold line stays on the axis
