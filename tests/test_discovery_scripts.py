"""The discovery benchmarks run end to end at a tiny size: benchmarks/mnist_infogan.py,
shapes_learning_curve.py, code_scales.py and cr_ablation.py (no figure is asserted: these
runs are far too short to learn; the scripts' own figures are in docs/)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import numpy as np
import pytest

BENCH = Path(__file__).resolve().parents[1] / "benchmarks"


def run_script(monkeypatch, name: str, *argv: object) -> None:
    monkeypatch.syspath_prepend(str(BENCH))  # the scripts import benchmarks/common.py
    spec = importlib.util.spec_from_file_location(f"{name}_script", BENCH / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)  # dataclasses look their module up
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", [f"{name}.py", *map(str, argv)])
    module.main()


def test_mnist_infogan_script(tmp_path, monkeypatch) -> None:
    run_script(monkeypatch, "mnist_infogan", "infogan", "--out", tmp_path, "--data", "digits",
               "--size", 16, "--epochs", 2, "--batch-size", 32, "--param", "width=8")
    curve = json.loads((tmp_path / "curve.json").read_text())["curve"]
    assert [c["epoch"] for c in curve] == [1, 2]
    assert all(0 <= c["accuracy"] <= 1 and sorted(c["code_to_digit"]) == list(range(10))
               for c in curve)
    for f in ("curve.png", "samples.png", "traversals.png", "model/model.json"):
        assert (tmp_path / f).is_file(), f


def test_assignment_accuracy_is_the_best_one_to_one_map(monkeypatch) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    from mnist_infogan import assignment_accuracy

    acc, mapping = assignment_accuracy(np.array([2, 2, 0, 0, 1, 0]),
                                       np.array([0, 0, 1, 1, 2, 2]), k=3)
    assert acc == pytest.approx(5 / 6) and mapping == [1, 2, 0]


def test_shapes_learning_curve_script(tmp_path, monkeypatch, shapes_probe) -> None:
    run_script(monkeypatch, "shapes_learning_curve", "infogan", "--out", tmp_path, "--size",
               16, "--train", 256, "--eval", 200, "--epochs", 2, "--param", "width=8",
               "--param", "categorical=[]", "--param", "continuous=3", "--final-budget",
               "quick")
    curve = json.loads((tmp_path / "curve.json").read_text())["curve"]
    assert [c["step"] for c in curve] == [3, 6]  # 256 sprites, 10% held out, batch 64
    final = json.loads((tmp_path / "final.json").read_text())
    assert final["budget"] == "quick" and final["steps"] == 6 and 0 <= final["mig"] <= 1


def test_code_scales_script(tmp_path, monkeypatch, shapes_probe) -> None:
    run_script(monkeypatch, "code_scales", "--out", tmp_path, "--size", 16, "--train", 256,
               "--eval", 200, "--epochs", 1, "--param", "width=8")
    res = json.loads((tmp_path / "results.json").read_text())
    assert list(res) == ["coarse", "fine", "all"]
    assert res["coarse"]["code_scales"] == [0, 1] and res["fine"]["code_scales"] == [1, 2]
    assert len(res["all"]["control_matrix"]) == 5  # codes x factors
    assert (tmp_path / "control_matrices.png").stat().st_size > 0


def test_cr_ablation_script(tmp_path, monkeypatch) -> None:
    run_script(monkeypatch, "cr_ablation", "--out", tmp_path, "--model", "infogan", "--train",
               256, "--eval", 200, "--epochs", 2, "--seeds", 2, "--param", "width=8")
    res = json.loads((tmp_path / "results.json").read_text())
    assert [r["seed"] for r in res["runs"]] == [0, 1]
    assert res["mean_difference"] == pytest.approx(
        sum(r["cr"] - r["plain"] for r in res["runs"]) / 2)


@pytest.mark.slow
def test_shapes_budget_script(tmp_path, monkeypatch, shapes_probe) -> None:
    """Two seeds of infogan with a few seconds of training each: the runs, the table with the
    published figures, and ModelCentrality's pick."""
    run_script(monkeypatch, "shapes_budget", "--out", tmp_path, "--models", "infogan",
               "--seeds", 2, "--minutes", 0.01, "--size", 16, "--train", 256, "--eval", 200,
               "--final-budget", "smoke", "--param", "width=8")
    res = json.loads((tmp_path / "results.json").read_text())["infogan"]
    assert len(res["runs"]) == 2 and all(r["steps"] >= 3 for r in res["runs"])
    assert res["centrality"]["picked"] in (0, 1)
    md = (tmp_path / "results.md").read_text()
    assert "| infogan |" in md and "InfoGAN (modified): MIG 0.22" in md


MNIST = Path(__file__).resolve().parents[2] / "shared" / "data" / "mnist"


@pytest.mark.skipif(not MNIST.is_dir(), reason="no MNIST at ../shared/data/mnist")
def test_reproduce_script_smoke(tmp_path, monkeypatch, capsys) -> None:
    run_script(monkeypatch, "reproduce", "--mnist", MNIST, "--only", "deep-svdd", "--seeds", 1,
               "--epochs", 1, "--limit", 300, "--out", tmp_path)
    table = (tmp_path / "reproductions.md").read_text()
    assert table.startswith("**A smoke run") and "| deep-svdd | mnist, one-vs-rest | 5 | 0.885" \
        in table
    config = json.loads(next(tmp_path.glob("*/*/5/seed0/config.json")).read_text())
    assert config["params"]["calib_fraction"] == 0 and config["params"]["preprocess"] == "gcn"


@pytest.mark.skipif(not MNIST.is_dir(), reason="no MNIST at ../shared/data/mnist")
def test_reproduce_ablation_says_so(tmp_path, monkeypatch, capsys) -> None:
    """--param changes the model (here to the authors' LeNet) and the summary calls the run
    an ablation."""
    run_script(monkeypatch, "reproduce", "--mnist", MNIST, "--only", "deep-svdd", "--seeds", 1,
               "--epochs", 1, "--limit", 300, "--param", "arch=lenet", "--out", tmp_path)
    table = (tmp_path / "reproductions.md").read_text()
    assert "**An ablation, not the default model: arch=lenet.**" in table
    config = json.loads(next(tmp_path.glob("*/*/5/seed0/config.json")).read_text())
    assert config["params"]["arch"] == "lenet"


def test_reproduce_estimate(monkeypatch, capsys) -> None:
    monkeypatch.syspath_prepend(str(BENCH))
    from reproduce import ROWS, estimate

    (row,) = [r for r in ROWS if r.model == "deep-svdd" and r.data == "mnist"]
    (line,) = estimate((row,), steps=1, size=16)
    assert line["epochs"] == 150 and line["pretrain_epochs"] == 150 and line["hours_per_seed"] > 0


def test_dsprites_crosscheck_script(tmp_path, monkeypatch) -> None:
    """Authentic dSprites against genad's rendering of the same factors, through one model:
    the two sets are near pixel-identical, so their figures nearly agree."""
    import genad
    from genad.data import shapes

    subset = Path(__file__).resolve().parents[2] / "shared" / "data" / "dsprites"
    if not subset.is_dir():
        pytest.skip(f"the authentic dSprites subset is not at {subset}")
    model = genad.create("beta-vae", image_size=16, epochs=1, latent=4, batch_size=32)
    model.fit(shapes.sample(320, seed=0, size=16)).save(tmp_path / "m")
    run_script(monkeypatch, "dsprites_crosscheck", tmp_path / "m", "--dsprites", subset,
               "--n", 300, "--out", tmp_path / "x")
    res = json.loads((tmp_path / "x" / "crosscheck.json").read_text())
    assert res["images"] == 300 and res["pixel_iou"] > 0.95
    assert abs(res["authentic"]["mig"] - res["genad_shapes"]["mig"]) < 0.05
    assert (tmp_path / "x" / "crosscheck.md").is_file()


def test_shapes_budget_splits_ms_infogan_codes_by_scale(monkeypatch) -> None:
    """Two coarse and three fine continuous codes, whatever the size; the model takes them."""
    monkeypatch.syspath_prepend(str(BENCH))
    from shapes_budget import INFOGAN, split_scales

    import genad

    assert split_scales(32) == "cont_scales=[[0,1],[0,1],[2,3],[2,3],[2,3]]"
    assert split_scales(64) == "cont_scales=[[0,1],[0,1],[2,3,4],[2,3,4],[2,3,4]]"
    with pytest.raises(SystemExit, match="16 or more"):
        split_scales(8)
    kv = dict(p.split("=", 1) for p in [*INFOGAN, split_scales(16)])
    params = {k: json.loads(v) for k, v in kv.items()}
    det = genad.create("ms-infogan", image_size=16, **params)
    assert det.config.cont_scales == ((0, 1), (0, 1), (2,), (2,), (2,))


def test_shapes_budget_counts_ms_infogan_growth_in_images(monkeypatch) -> None:
    """The phase length is fixed in images (a longer budget trains longer at the final size);
    a setting the user names is not overridden."""
    monkeypatch.syspath_prepend(str(BENCH))
    from shapes_budget import PHASE_IMAGES, ms_infogan_params, split_scales

    assert ms_infogan_params(32, []) == [split_scales(32), f"phase_images={PHASE_IMAGES}"]
    assert ms_infogan_params(32, ["phase_images=600000"]) == [split_scales(32)]
    assert ms_infogan_params(32, ["cont_scales=[[0],[1]]", "r1=1"]) == [
        f"phase_images={PHASE_IMAGES}"]


def test_curves_plot_script(tmp_path, monkeypatch) -> None:
    for name, migs in (("a", [0.1, 0.2]), ("b", [0.05, 0.3])):
        curve = [{"step": 1000 * (i + 1), "mig": m} for i, m in enumerate(migs)]
        (tmp_path / f"{name}.json").write_text(json.dumps({"curve": curve}))
    out = tmp_path / "both.png"
    run_script(monkeypatch, "curves_plot", "--out", out, f"x=y nets={tmp_path / 'a.json'}",
               f"other={tmp_path / 'b.json'}")
    assert out.stat().st_size > 0
    with pytest.raises(SystemExit, match="LABEL=CURVE.json"):
        run_script(monkeypatch, "curves_plot", "--out", out, f"{tmp_path / 'missing.json'}")


def test_shapes_evaluate_reads_saved_runs_at_another_budget(tmp_path, monkeypatch,
                                                             shapes_probe) -> None:
    run = tmp_path / "run"
    run_script(monkeypatch, "shapes_learning_curve", "infogan", "--out", run, "--size", 16,
               "--train", 256, "--eval", 200, "--epochs", 2, "--param", "width=8", "--param",
               "categorical=[]", "--param", "continuous=3")  # no final.json: steps from curve
    run_script(monkeypatch, "shapes_evaluate", run, "--budget", "smoke")
    got = json.loads((run / "final-smoke.json").read_text())
    assert got["budget"] == "smoke" and got["steps"] == 6 and 0 <= got["mig"] <= 1
    assert got["seed"] == 0 and got["eval_seconds"] >= 0
    run_script(monkeypatch, "shapes_evaluate", run, "--budget", "smoke", "--coverage")
    cov = json.loads((run / "coverage-smoke.json").read_text())
    assert cov == pytest.approx(got["coverage"])  # the figure evaluate gives, alone
    with pytest.raises(SystemExit, match="no saved model"):
        run_script(monkeypatch, "shapes_evaluate", tmp_path / "missing", "--budget", "smoke")


def test_mnist_seeds_summary(tmp_path, monkeypatch, capsys) -> None:
    """The digit accuracy at the chosen epoch of every run, with mean and sample std."""
    monkeypatch.syspath_prepend(str(BENCH))
    import mnist_seeds

    files = []
    for i, accs in enumerate(([0.5, 0.9, 0.7], [0.4, 0.8, 0.95])):
        f = tmp_path / f"c{i}.json"
        f.write_text(json.dumps({"curve": [{"epoch": e + 1, "accuracy": a}
                                           for e, a in enumerate(accs)]}))
        files.append(str(f))
    out = tmp_path / "s.json"
    monkeypatch.setattr("sys.argv", ["mnist_seeds.py", *files, "--epoch", "2", "--out", str(out)])
    mnist_seeds.main()
    s = json.loads(out.read_text())
    assert s["per_run"] == [0.9, 0.8]
    assert s["mean"] == pytest.approx(0.85) and s["std"] == pytest.approx(0.0707107, abs=1e-6)
    assert mnist_seeds.summarise([json.loads(Path(f).read_text()) for f in files])["per_run"] == [
        0.7, 0.95]
    assert "0.850 ± 0.071" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        mnist_seeds.summarise([json.loads(Path(files[0]).read_text())], epoch=9)
