"""genad.bench.runner: typed cells and the one grid runner."""

from __future__ import annotations

import json

from genad.bench import Cell, run_grid


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
