"""Content transfer runs (genad/transfer.py) through the CLI: train, evaluate against the
untrained networks, and apply a model to image files. Training runs use one CPU thread."""

from __future__ import annotations

import json

import pytest

import genad
from genad.cli import main

pytestmark = pytest.mark.usefixtures("one_thread")  # two threads on two shared cores thrash


def test_cli_trains_evaluates_and_applies(tmp_path, capsys) -> None:
    from PIL import Image

    run = tmp_path / "run"
    tiny = ["--image-size", "16", "--epochs", "1", "--param", "width=8", "--quiet"]
    assert main(["transfer", "--attribute", "frame", "--limit", "120", "--out", str(run),
                 "--eval", *tiny]) == 0
    out = capsys.readouterr().out
    assert "untrained" in out and "add_has_attribute=" in out
    metrics = json.loads((run / "result.json").read_text())
    assert {"trained", "untrained"} <= set(metrics)
    assert (run / "grid.png").is_file() and (run / "model.safetensors").is_file()
    pics = tmp_path / "pics"
    pics.mkdir()
    for i, img in enumerate(genad.data.load("digits", size=16).images[:2]):
        Image.fromarray(img[0].numpy()).save(pics / f"d{i}.png")
    assert main(["transfer", "--apply", "add", "--model", str(run), "--images", str(pics),
                 "--donors", str(pics / "d0.png"), "--out", str(tmp_path / "o")]) == 0
    assert sorted(p.name for p in (tmp_path / "o").iterdir()) == ["d0+d0.png", "d1+d0.png"]
    capsys.readouterr()
    assert main(["transfer", "--domain-a", str(tmp_path / "no"), "--domain-b", str(pics),
                 "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("genad: error:") and "\n" not in err
    assert main(["transfer", "--apply", "swap", "--out", str(tmp_path / "y")]) == 2
