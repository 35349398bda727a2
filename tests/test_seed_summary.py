"""benchmarks/seed_summary.py: the mean ± std over seeds and the ModelCentrality pick."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

import genad

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "seed_summary.py"
SMALL = {"image_size": 16, "width": 8, "max_width": 16, "epochs": 1, "batch_size": 16,
         "noise_dim": 2, "categorical": (), "continuous": 2}


def _load():
    spec = importlib.util.spec_from_file_location("seed_summary", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _run(folder: Path, digits16, seed: int, mig: float, budget: str = "smoke") -> Path:
    det = genad.create("ms-infogan", **SMALL, seed=seed).fit(digits16, score_training=False)
    det.save(folder / "model")
    (folder / "final.json").write_text(json.dumps({"budget": budget, "seed": seed, "mig": mig,
                                                   "factor_vae": 0.5 + seed / 10}))
    return folder


def test_mean_std_and_the_picked_seed(tmp_path, digits16, monkeypatch, capsys) -> None:
    runs = [_run(tmp_path / f"seed{s}", digits16, s, m) for s, m in enumerate((0.1, 0.3))]
    out = tmp_path / "summary.json"
    monkeypatch.setattr(sys, "argv", ["seed_summary", *map(str, runs), "--out", str(out)])
    _load().main()
    got = json.loads(out.read_text())
    assert got["mig"][0] == pytest.approx(0.2)
    assert got["mig"][1] == pytest.approx(0.1414, abs=1e-3)  # sample std of 0.1 and 0.3
    assert got["factor_vae"][0] == pytest.approx(0.55)
    cen = got["centrality"]
    assert len(cen["centrality"]) == 2 and cen["picked"] in (0, 1)
    assert cen["picked_figures"]["seed"] == cen["picked"]
    assert "ModelCentrality picks" in capsys.readouterr().out


def test_runs_at_different_budgets_are_refused(tmp_path, digits16, monkeypatch) -> None:
    runs = [_run(tmp_path / "a", digits16, 0, 0.1), _run(tmp_path / "b", digits16, 1, 0.2,
                                                            budget="quick")]
    monkeypatch.setattr(sys, "argv", ["seed_summary", *map(str, runs), "--out",
                                      str(tmp_path / "s.json")])
    with pytest.raises(SystemExit, match="different budgets"):
        _load().main()


def test_another_figures_file_is_read(tmp_path, digits16, monkeypatch) -> None:
    runs = [_run(tmp_path / f"seed{s}", digits16, s, 0.1) for s in (0, 1)]
    for r, m in zip(runs, (0.4, 0.6)):  # what shapes_evaluate.py --budget full writes
        (r / "final-full.json").write_text(json.dumps({"budget": "full", "seed": 0, "mig": m}))
    out = tmp_path / "summary.json"
    monkeypatch.setattr(sys, "argv", ["seed_summary", *map(str, runs), "--out", str(out),
                                      "--final", "final-full.json"])
    _load().main()
    got = json.loads(out.read_text())
    assert got["budget"] == "full" and got["mig"][0] == pytest.approx(0.5)
