"""benchmarks/zoo.py end to end on a tiny MVTec-layout folder: the cells, --param reaching
every model, the exported copy README links to, and --summary-only."""
from __future__ import annotations

import importlib.util
import sys
from pathlib import Path

import pytest

ZOO = Path(__file__).resolve().parents[1] / "benchmarks" / "zoo.py"


def zoo_main(monkeypatch, *argv: object) -> None:
    spec = importlib.util.spec_from_file_location("zoo_script", ZOO)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    monkeypatch.setattr(sys, "argv", ["zoo.py", *map(str, argv)])
    module.main()


def test_zoo_runs_exports_and_rebuilds_the_summary(tmp_path, mvtec_widget, monkeypatch,
                                                   capsys) -> None:
    out, dest = tmp_path / "runs", tmp_path / "docs"
    models = ("deep-svdd", "deep-svdd-soft")  # --param reaches every model: both take it
    zoo_main(monkeypatch, "--mvtec", mvtec_widget, "--models", ",".join(models), "--seeds", "1",
             "--epochs", "1", "--size", "16", "--width", "8", "--param", "batch_size=16",
             "--param", "preprocess=gcn", "--out", out, "--export", dest)
    printed = capsys.readouterr().out
    assert "## mvtec" in printed and "| deep-svdd-soft |" in printed
    for model in models:
        config = (out / "mvtec" / model / "all" / "seed0" / "config.json").read_text()
        for setting in ('"image_size": 16', '"width": 8', '"batch_size": 16',
                        '"preprocess": "gcn"'):
            assert setting in config, (model, setting)
    for name in ("report.md", "results.md", "results.csv", "bars.png", "roc.png", "hist.png"):
        assert (dest / "mvtec" / name).is_file(), name
    summary = (dest / "summary.md").read_text()
    assert "| deep-svdd |" in summary and "| deep-svdd-soft |" in summary
    (out / "summary.md").unlink()
    zoo_main(monkeypatch, "--summary-only", "--out", out)  # from the results.csv files alone
    assert (out / "summary.md").read_text() == summary


def test_zoo_refuses_a_param_without_a_value(tmp_path, mvtec_widget, monkeypatch) -> None:
    with pytest.raises(SystemExit) as stop:
        zoo_main(monkeypatch, "--mvtec", mvtec_widget, "--param", "preprocess", "--out", tmp_path)
    assert stop.value.code == 2
    with pytest.raises(SystemExit):
        zoo_main(monkeypatch, "--out", tmp_path)  # no data at all
