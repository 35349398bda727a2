"""genad.bench.runner: typed cells, the one grid runner, `bench` with a model:score-kind
cell and rescored siblings, and `summarise`."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import pytest

import genad
from genad.bench import Cell, run_grid
from genad.errors import GenadError


def test_cell_labels_and_folders() -> None:
    assert Cell.parse("ms-infogan:code-density") == Cell("ms-infogan", score_kind="code-density")
    cell = Cell("ms-infogan", {"code_scales": [0, 1]}, variant="coarse")
    assert cell.label == "ms-infogan:coarse" and cell.folder == "ms-infogan-coarse"
    assert Cell("infogan", trained=False).label == "infogan:untrained"
    assert Cell("infogan", score_kind="disc-features").model_params({"epochs": 2}) == {
        "epochs": 2, "score_kind": "disc-features"}


def test_run_grid_hands_each_cell_its_folder(tmp_path) -> None:
    calls = []

    def run_one(cell, cls, seed, folder):
        calls.append((cell.label, cls, seed, folder))
        return {"value": seed}

    cells = [Cell("ae"), Cell("vae", variant="wide")]
    first = run_grid(cells, [(3, 0), (3, 1)], tmp_path, run_one, quiet=True)
    assert [r[3]["value"] for r in first] == [0, 1, 0, 1]
    assert first[2][4] == calls[2][3] == tmp_path / "vae-wide" / "3" / "seed0"
    run_grid([Cell("ae")], [(None, 5)], tmp_path, run_one, quiet=True)
    assert calls[-1][3] == tmp_path / "ae" / "seed5"


def test_a_bench_rerun_reuses_finished_cells_and_refuses_other_settings(tmp_path) -> None:
    """Issue: a rerun into the same folder with other --epochs reported the old cells under
    the new settings. Now a finished cell is reused only when it ran with the same settings."""
    from genad.bench import bench

    params = {"image_size": 16, "width": 8, "epochs": 1, "batch_size": 32, "latent": 4}
    kw = dict(protocol="leave-one-out", classes=[3], seeds=[0], size=16, quiet=True)
    bench(["ae"], "digits", out=tmp_path, params=params, **kw)
    cell = tmp_path / "ae" / "3" / "seed0"
    model = cell / "model.safetensors"
    stamp, result = model.stat().st_mtime_ns, (cell / "result.json").read_text()
    bench(["ae"], "digits", out=tmp_path, params=params, **kw)
    assert model.stat().st_mtime_ns == stamp and (cell / "result.json").read_text() == result
    with pytest.raises(GenadError, match=r"other settings \(params.epochs differ\)"):
        bench(["ae"], "digits", out=tmp_path, params={**params, "epochs": 2}, **kw)
    with pytest.raises(GenadError, match="test_images differ"):
        bench(["ae"], "digits", out=tmp_path, params=params, test_limit=50, **kw)
    assert model.stat().st_mtime_ns == stamp and (cell / "result.json").read_text() == result


def test_bench_runs_a_representation_score_as_model_colon_kind(tmp_path) -> None:
    from genad.bench import bench

    params = {"image_size": 16, "width": 8, "epochs": 1, "batch_size": 32, "noise_dim": 4,
              "categorical": [3], "continuous": 2}
    bench(["infogan:code-density"], "digits", protocol="leave-one-out", classes=[3], seeds=[0],
          params=params, out=tmp_path, size=16, quiet=True)
    cell = tmp_path / "infogan-code-density" / "3" / "seed0"
    assert (cell / "result.json").exists()
    assert genad.load(str(cell)).config.score_kind == "code-density"
    assert "infogan:code-density" in (tmp_path / "results.md").read_text()


def test_bench_rescores_a_sibling_cell_instead_of_training_again(tmp_path) -> None:
    from genad.bench import bench

    params = {"image_size": 16, "width": 8, "epochs": 1, "batch_size": 32, "noise_dim": 4,
              "categorical": [3], "continuous": 2}
    kw = dict(protocol="leave-one-out", classes=[3], seeds=[0], params=params, size=16,
              quiet=True)
    bench(["infogan", "infogan:disc-features"], "digits", out=tmp_path / "shared", **kw)
    bench(["infogan:disc-features"], "digits", out=tmp_path / "alone", **kw)
    cell = "infogan-disc-features/3/seed0"
    shared = json.loads((tmp_path / "shared" / cell / "config.json").read_text())
    assert shared["rescored_from"].endswith("infogan/3/seed0")
    alone = json.loads((tmp_path / "alone" / cell / "config.json").read_text())
    assert "rescored_from" not in alone
    a, b = (json.loads((tmp_path / d / cell / "result.json").read_text())
            for d in ("shared", "alone"))
    assert a["auroc"] == b["auroc"] and a["threshold"] == b["threshold"]


def test_summarise_joins_protocol_folders_one_row_per_model(tmp_path: Path) -> None:
    from genad.bench import bench, summarise

    kw = {"epochs": 1, "width": 8, "batch_size": 32}
    for name, protocol in (("loo", "leave-one-out"), ("ovr", "one-vs-rest")):
        bench(["ae"], "digits", protocol=protocol, classes="1,3", seeds=[0], params=kw,
              out=tmp_path / name, size=16, quiet=True)
    lines = summarise(tmp_path).read_text().splitlines()
    assert lines[2] == "| model | digits leave-one-out | digits one-vs-rest | fit_seconds |"
    rows = {r["cls"]: r["auroc"] for r in csv.DictReader((tmp_path / "ovr/results.csv").open())}
    ovr_mean = (float(rows["1"]) + float(rows["3"])) / 2
    assert lines[4].startswith("| ae | ") and f"| {ovr_mean:.3f} |" in lines[4]
    with pytest.raises(GenadError, match="run the benchmark"):
        summarise(tmp_path / "loo")
