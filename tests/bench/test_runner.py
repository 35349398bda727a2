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


def test_run_grid_runs_each_cell_once_and_reads_finished_ones_back(tmp_path) -> None:
    calls = []

    def run_one(cell, cls, seed, folder):
        calls.append((cell.label, cls, seed))
        folder.mkdir(parents=True)
        result = {"value": seed}
        (folder / "result.json").write_text(json.dumps(result))
        return result

    cells = [Cell("ae"), Cell("vae", variant="wide")]
    keys = [(3, 0), (3, 1)]
    first = run_grid(cells, keys, tmp_path, run_one, quiet=True)
    assert [r[3]["value"] for r in first] == [0, 1, 0, 1]
    assert first[2][4] == tmp_path / "vae-wide" / "3" / "seed0"
    again = run_grid(cells, keys, tmp_path, run_one, quiet=True)
    assert len(calls) == 4 and [r[3] for r in again] == [r[3] for r in first]
    run_grid([Cell("ae")], [(None, 5)], tmp_path, run_one, quiet=True)
    assert (tmp_path / "ae" / "seed5" / "result.json").is_file()


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
