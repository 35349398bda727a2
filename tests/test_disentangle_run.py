"""Disentanglement runs end to end: probes, `evaluate`, `run`, `bench` and the CLI commands
(tiny models and the "smoke" metric budget, so each figure is computed but means little)."""

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


@pytest.fixture(scope="module")
def shapes_probe(tmp_path_factory) -> P.Probe:
    """A small shapes probe (3,000 sprites, 16x16, 3 epochs, ~5 s), saved where `probe_for`
    looks, so that runs in this module load it instead of training the full one."""
    cache = tmp_path_factory.mktemp("cache")
    mp = pytest.MonkeyPatch()
    mp.setenv("GENAD_CACHE", str(cache))
    s = shapes.sample(3000, seed=5, size=16)
    pr = P.train_probe(s.images, P.shapes_targets(s.factors), P.SHAPES_HEADS, 16,
                       key="shapes", epochs=3)
    pr.save(P.cache_path("shapes", 16))
    yield pr
    mp.undo()


def test_probe_reads_the_factors_of_unseen_sprites(shapes_probe) -> None:
    """Measured on 1,000 unseen sprites: posX / posY correlation 0.99; shape accuracy 0.445
    (chance 1/3, s.d. 0.015 here): at 16x16 the smallest sprites are 2-3 pixels wide, so the
    shape is barely visible (the cached 20,000-sprite probe reaches 0.49 at 16 px)."""
    held = shapes.sample(1000, seed=77, size=16)
    read = shapes_probe.read(held)
    assert read.shape == (1000, 3 + 1 + 2 + 1 + 1)
    assert np.allclose(read[:, :3].sum(1), 1)
    shape_acc = (read[:, :3].argmax(1) == held.labels.numpy()).mean()
    assert shape_acc >= 0.40, shape_acc
    f = held.factors.numpy()
    for col, k in ((6, 3), (7, 4)):  # posX, posY
        assert np.corrcoef(read[:, col], f[:, k])[0, 1] >= 0.95
    assert shapes_probe.groups == [[0, 1, 2], [3], [4, 5], [6], [7]]
    feats = shapes_probe.features(held.images[:10])
    assert feats.shape == (10, 128) and feats.dtype == np.float64


def test_probe_cache_round_trip(shapes_probe, tmp_path) -> None:
    path = tmp_path / "probe"
    shapes_probe.save(path)
    back = genad.load(path)
    x = shapes.sample(20, seed=3, size=16)
    np.testing.assert_array_equal(back.read(x), shapes_probe.read(x))
    np.testing.assert_array_equal(P.probe_for("shapes", 16).read(x), shapes_probe.read(x))
    # the offline FID: 0 between a set and itself, larger for generated noise than for
    # another set of real sprites
    a, b = shapes.sample(400, seed=1, size=16), shapes.sample(400, seed=2, size=16)
    noise = np.random.default_rng(0).uniform(-1, 1, (400, 1, 16, 16)).astype(np.float32)
    assert P.fid(back, a, a) == pytest.approx(0.0, abs=1e-6)
    assert P.fid(back, a, noise) > 10 * P.fid(back, a, b)
    # any callable extractor plugs in: mean pixel intensity per image, a 1-D feature
    def mean_pixel(x):
        return genad.data.as_images(x).mean(dim=(1, 2, 3), keepdim=False)[:, None].numpy()

    assert P.fid(mean_pixel, a, a) == pytest.approx(0.0, abs=1e-9)
    assert P.fid(mean_pixel, a, noise) > P.fid(mean_pixel, a, b)


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
