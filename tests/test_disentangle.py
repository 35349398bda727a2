"""Disentanglement runs end to end (genad/disentangle.py): `evaluate`, `run` and `bench`, and
the CLI commands around them (tiny models, the small probe of `shapes_probe` in conftest and
the "smoke" metric budget, so each figure is computed but means little)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

import genad
from genad import probe as P
from genad.cli import main
from genad.data import shapes
from genad.disentangle import bench, evaluate, factor_labels

TINY = {"image_size": 16, "width": 8, "epochs": 1, "batch_size": 32}
GAN = {"categorical": [3], "continuous": 2, "noise_dim": 4}


def test_factor_labels() -> None:
    f = np.array([[1.0, 0.5], [3.0, 0.5], [1.0, 0.9]])
    np.testing.assert_array_equal(factor_labels(f), [[0, 0], [1, 0], [0, 1]])


@pytest.mark.parametrize("name", ["beta-vae", "ms-infogan"])
def test_evaluate_gives_every_figure(name, shapes_probe) -> None:
    kw = {**TINY, **(GAN if "info" in name else {})}
    det = genad.create(name, **kw).fit(shapes.sample(300, seed=0, size=16))
    r = evaluate(det, "shapes", budget="smoke", probe=shapes_probe)
    for k in ("mig", "factor_vae", "beta_vae", "dci_disentanglement", "sap", "tc_real",
              "fid_probe", "control", "control_coverage", "lemma1_tc_inferred", "lemma1_bound"):
        assert np.isfinite(r[k]), k
    assert 0 <= r["mig"] <= 1 and 0 <= r["control"] <= 1
    assert r["lemma1_tc_inferred"] <= r["lemma1_bound"] + 1e-9
    n_codes = len(det.code_specs())
    assert np.asarray(r["control_matrix"]).shape == (n_codes, 5)
    assert set(r["coverage"]) == {"shape", "scale", "orientation", "posX", "posY"}
    assert (r["mi_lower_bound"] is not None) == ("info" in name)
    again = evaluate(det, "shapes", budget="smoke", probe=shapes_probe)
    assert again["mig"] == r["mig"] and again["control"] == r["control"]  # seeded


def test_evaluate_on_data_without_factors(shapes_probe) -> None:
    """The bundled digits: no factor metrics, but FID on a digit-class probe, Lemma 1, the
    codes' total correlation and the class NMI of the categorical code."""
    det = genad.create("infogan", **TINY, noise_dim=4, categorical=[10], continuous=2)
    det.fit(genad.data.load("digits", size=16))
    r = evaluate(det, "digits", budget="smoke")
    assert "mig" not in r and "factor_vae" not in r
    for k in ("class_nmi", "fid_probe", "tc_real", "lemma1_bound", "mi_lower_bound"):
        assert np.isfinite(r[k]), k
    assert 0 <= r["class_nmi"] <= 1
    assert (P.cache_path("digits", 16) / "model.json").exists()


def test_bench_writes_tables_and_plots_and_resumes(shapes_probe, tmp_path) -> None:
    params = {"*": TINY, "infogan": GAN}
    rows = bench(["beta-vae", "infogan"], "shapes:200", seeds=[0], lambdas=[0.0, 1.0],
                 params=params, out=tmp_path, budget="smoke")
    assert [(r["model"], r["lambda"]) for r in rows] == [
        ("beta-vae", None), ("infogan", 0.0), ("infogan", 1.0)]
    for f in ("results.csv", "results.md", "trade_space.png", "lemma1.png"):
        assert (tmp_path / f).stat().st_size > 0
    md = (tmp_path / "results.md").read_text()
    assert "mig" in md and "infogan" in md
    cell = tmp_path / "infogan-lambda1" / "seed0"
    assert json.loads((cell / "result.json").read_text())["lambda"] == 1.0
    # a finished cell is read back, not retrained
    stamp = (cell / "model.safetensors").stat().st_mtime_ns
    again = bench(["infogan"], "shapes:200", seeds=[0], lambdas=[1.0], params=params,
                  out=tmp_path, budget="smoke")
    assert (cell / "model.safetensors").stat().st_mtime_ns == stamp
    assert again[0]["mig"] == rows[2]["mig"]


def test_bench_picks_a_seed_by_model_centrality(shapes_probe, tmp_path) -> None:
    rows = bench(["infogan", "infogan:untrained"], "shapes:200", seeds=[0, 1], lambdas=[1.0],
                 params={"*": TINY, "infogan": GAN}, out=tmp_path, budget="smoke")
    assert len(rows) == 4
    cen = json.loads((tmp_path / "centrality.json").read_text())
    assert list(cen) == ["infogan-lambda1"]  # trained cells only
    entry = cen["infogan-lambda1"]
    assert entry["seeds"] == [0, 1] and entry["picked_seed"] in (0, 1)
    assert np.allclose(entry["similarity"], np.array(entry["similarity"]).T)
    md = (tmp_path / "centrality.md").read_text()
    picked = next(r for r in rows if r["seed"] == entry["picked_seed"] and r["lambda"] == 1.0)
    assert f"| infogan-lambda1 | 2 | {entry['picked_seed']} | {picked['mig']:.3f} |" in md


def test_bench_evaluates_untrained_networks_as_a_baseline(shapes_probe, tmp_path) -> None:
    rows = bench(["infogan:untrained"], "shapes:200", seeds=[0], lambdas=[1.0],
                 params={"*": TINY, "infogan": GAN}, out=tmp_path, budget="smoke")
    assert len(rows) == 1 and rows[0]["model"] == "infogan:untrained"
    assert rows[0]["lambda"] is None and rows[0]["mi_lower_bound"] is None
    assert 0 <= rows[0]["mig"] <= 1 and rows[0]["fit_seconds"] is None
    res = json.loads((tmp_path / "infogan-untrained" / "seed0" / "result.json").read_text())
    assert res["model"] == "infogan:untrained" and "info_weight" not in res["params"]


def test_cli_disentangle_traverse_generate(shapes_probe, tmp_path: Path, capsys) -> None:
    out = tmp_path / "run"
    args = ["disentangle", "infogan", "--data", "shapes:200", "--out", str(out), "--epochs", "1",
            "--image-size", "16", "--batch-size", "32", "--budget", "smoke", "--quiet",
            "--param", "width=8", "--param", "categorical=[3]", "--param", "continuous=2"]
    assert main(args) == 0
    printed = capsys.readouterr().out
    assert "mig=" in printed and "fid_probe=" in printed
    for f in ("report.md", "traversals.png", "samples.png", "model.json", "result.json"):
        assert (out / f).exists(), f
    assert "Attribute control" in (out / "report.md").read_text()
    assert main(args) == 2  # a finished run is not overwritten
    assert main(["traverse", str(out), "--steps", "4", "--seed", "2"]) == 0
    assert (out / "traversals-seed2.png").exists()
    assert main(["generate", str(out), "-n", "5", "--out", str(tmp_path / "g.npz")]) == 0
    images = np.load(tmp_path / "g.npz")["images"]
    assert images.shape == (5, 1, 16, 16) and images.dtype == np.uint8
    capsys.readouterr()
    assert main(["generate", str(out), "--out", str(tmp_path / "g.txt")]) == 2
    assert main(["disentangle", "ae", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "no latent codes" in err and err.count("\n") == 2


class _LinearModel:
    """A stand-in generative model: 3 codes ~ U(-1, 1), 'images' = the codes mixed by `mix`
    (a 1x3 strip), and an encoder that reads the strip back unmixed by `read`."""

    def __init__(self, mix: np.ndarray, read: np.ndarray) -> None:
        self.mix, self.read = mix, read

    def code_specs(self) -> list[dict]:
        return [{"name": f"c{j}", "kind": "continuous", "columns": [j]} for j in range(3)]

    def sample_latent(self, n: int, seed: int = 0) -> np.ndarray:
        return np.random.default_rng(seed).uniform(-1, 1, (n, 3))

    def decode(self, lat: np.ndarray) -> np.ndarray:
        return (lat @ self.mix.T)[:, None, None, :]

    def encode(self, images: np.ndarray) -> np.ndarray:
        return images[:, 0, 0, :] @ self.read.T


def test_model_centrality_picks_the_models_that_agree() -> None:
    """Two models whose codes are the strip's own axes (one permuted) and one whose encoder
    reads each code as the sum of two axes: the aligned ones read each other's codes perfectly
    and are picked."""
    from genad.disentangle import model_centrality, model_similarity

    eye, perm = np.eye(3), np.eye(3)[[2, 0, 1]]
    pairs = np.array([[1.0, 1, 0], [0, 1, 1], [1, 0, 1]])
    a, b, mixed = _LinearModel(eye, eye), _LinearModel(perm, perm), _LinearModel(eye, pairs)
    kw = {"n_train": 60, "n_eval": 40, "n_variance": 500}
    assert model_similarity(a, b, **kw) == 1.0
    assert model_similarity(a, mixed, **kw) < 0.9
    res = model_centrality([mixed, a, b], **kw)
    assert res["picked"] in (1, 2)
    assert res["centrality"][0] < min(res["centrality"][1:])
    with pytest.raises(genad.errors.ConfigError):
        model_centrality([a])


def test_sample_coverage_reads_the_variety_of_samples(shapes_probe) -> None:
    """Real sprites cover every factor (about 1); one sprite repeated covers none (0); sprites
    of one shape only cover a third of the shapes' variety and all of the positions'."""
    from genad.disentangle import sample_coverage

    real = shapes.sample(1500, seed=1, size=16)
    other = shapes.sample(1500, seed=2, size=16)
    same = sample_coverage(shapes_probe, other.images, real.images)
    assert set(same) == {"shape", "scale", "orientation", "posX", "posY"}
    for name, v in same.items():
        assert 0.8 < v < 1.25, (name, v)
    one = sample_coverage(shapes_probe, real.images[:1].repeat(200, 1, 1, 1), real.images)
    assert all(v < 1e-3 for k, v in one.items() if k != "shape") and one["shape"] < 0.4
    read = shapes_probe.read(other.images)[:, :3].argmax(1)
    squares = other.images[read == np.bincount(read).argmax()]
    cov = sample_coverage(shapes_probe, squares, real.images)
    assert cov["shape"] < 0.4 and cov["posX"] > 0.8 and cov["posY"] > 0.8
