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
    plot_class_bars,
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
