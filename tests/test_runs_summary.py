"""benchmarks/runs_summary.py: finished runs grouped by setting, their table and plot."""

import importlib.util
import json
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "runs_summary.py"


def _load():
    spec = importlib.util.spec_from_file_location("runs_summary", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def _final(path: Path, mig: float, fid: float, steps: int = 100) -> str:
    path.write_text(json.dumps({"budget": "quick", "steps": steps, "mig": mig, "fid_probe": fid,
                                "factor_vae": 0.6, "lemma1_tc_inferred": 0.5,
                                "lemma1_bound": 2.0 + mig, "tc_real": 0.3}))
    return str(path)


def test_groups_mean_std_and_plot(tmp_path, monkeypatch, capsys) -> None:
    a = [_final(tmp_path / f"a{i}.json", m, 100 + 10 * i) for i, m in enumerate((0.1, 0.3))]
    b = _final(tmp_path / "b.json", 0.05, 200, steps=2500)
    out = tmp_path / "out"
    monkeypatch.setattr(sys, "argv", ["runs_summary", f"gan={','.join(a)}", f"vae={b}",
                                      "--out", str(out)])
    _load().main()
    md = (out / "runs_summary.md").read_text().splitlines()
    gan = next(line for line in md if line.startswith("| gan |"))
    vae = next(line for line in md if line.startswith("| vae |"))
    assert "| 2 | quick | 100 | 0.200 ± 0.141 |" in gan  # sample std of 0.1 and 0.3
    assert "105.000 ± 7.071" in gan
    assert "| 1 | quick | 2,500 | 0.050 |" in vae
    assert (out / "runs_summary.png").stat().st_size > 10_000


@pytest.mark.parametrize("spec", ["no-equals-sign", "=x.json", "label="])
def test_a_malformed_group_is_one_line(tmp_path, monkeypatch, spec) -> None:
    monkeypatch.setattr(sys, "argv", ["runs_summary", spec, "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="LABEL=FILE"):
        _load().main()


def test_a_missing_file_is_named(tmp_path, monkeypatch) -> None:
    monkeypatch.setattr(sys, "argv", ["runs_summary", f"x={tmp_path / 'gone.json'}",
                                      "--out", str(tmp_path)])
    with pytest.raises(SystemExit, match="no such file: .*gone.json"):
        _load().main()
