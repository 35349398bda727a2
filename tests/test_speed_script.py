"""benchmarks/speed.py runs end to end at a tiny size (no timing is asserted)."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

SPEED = Path(__file__).resolve().parents[1] / "benchmarks" / "speed.py"


def test_speed_script_times_every_generative_model(tmp_path, monkeypatch) -> None:
    spec = importlib.util.spec_from_file_location("speed_script", SPEED)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = tmp_path / "speed.json"
    monkeypatch.setattr(sys, "argv", ["speed.py", "--models", "ae", "--epochs", "1",
                                      "--batch-size", "16", "--gen-size", "16",
                                      "--gen-steps", "1", "--json", str(out)])
    module.main()
    got = json.loads(out.read_text())
    assert [r["model"] for r in got["detectors"]] == ["ae"]
    gen = {r["model"]: r for r in got["generative"]}
    assert set(gen) == set(module.GENERATIVE.split(","))
    for r in gen.values():
        assert r["s_per_step"] > 0 and r["gflop_per_step"] > 0 and r["size"] == 16
    assert gen["infogan"]["x_infogan_step"] == 1.0
