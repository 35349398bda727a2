"""A damaged or tampered model folder is refused with one line (GenadError; `genad score`
exits 2), never loaded silently and never a traceback: each case edits one thing of a saved
model's model.json or model.safetensors."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from safetensors.torch import load_file, save_file

import genad
from genad.cli import main


@pytest.fixture(scope="module")
def saved(tmp_path_factory: pytest.TempPathFactory) -> Path:
    folder = tmp_path_factory.mktemp("model") / "ok"
    genad.create("ae", image_size=16, epochs=1, latent=4, width=8).fit(
        genad.data.load("digits")).save(folder)
    return folder


def _json(edit):
    def apply(folder: Path) -> None:
        meta = json.loads((folder / "model.json").read_text())
        edit(meta)
        (folder / "model.json").write_text(json.dumps(meta))
    return apply


def _tensors(edit):
    def apply(folder: Path) -> None:
        t = load_file(folder / "model.safetensors")
        edit(t)
        save_file(t, folder / "model.safetensors")
    return apply


def _first_float(t: dict, value: float) -> None:
    key = next(k for k in sorted(t) if t[k].is_floating_point() and k.startswith("ae"))
    t[key] = torch.full_like(t[key], value)


def _wrong_shape(t: dict) -> None:
    key = next(k for k in sorted(t) if k.endswith("weight"))
    t[key] = torch.zeros(3)


CASES = {
    "format from a newer genad": (_json(lambda m: m.update(format=999)), "upgrade genad"),
    "format not a number": (_json(lambda m: m.update(format="1")), "format '1'"),
    "threshold NaN": (_json(lambda m: m["extra"].update(threshold=float("nan"))), "threshold"),
    "threshold a string": (_json(lambda m: m["extra"].update(threshold="abc")), "threshold"),
    "threshold missing": (_json(lambda m: m["extra"].pop("threshold")), "missing 'threshold'"),
    "input size broken": (_json(lambda m: m["extra"].update(input_size=[0])), "input size"),
    "channels 7": (_json(lambda m: m.update(channels=7)), "channel count"),
    "channels a string": (_json(lambda m: m.update(channels="x")), "damaged model"),
    "width 0": (_json(lambda m: m["config"].update(width=0)), "width must be at least 1"),
    "latent negative": (_json(lambda m: m["config"].update(latent=-5)), "latent must be"),
    "huge image size": (_json(lambda m: m["config"].update(image_size=2**20)), "image_size"),
    "eval batch 0": (_json(lambda m: m["config"].update(eval_batch_size=0)), "eval_batch_size"),
    "unknown parameter": (_json(lambda m: m["config"].update(foo=1)), "foo"),
    "unknown model": (_json(lambda m: m.update(model="nope")), "unknown model"),
    "config a list": (_json(lambda m: m.update(config=[1])), "not a genad model"),
    "JSON a list": (lambda f: (f / "model.json").write_text("[1, 2]"), "not a genad model"),
    "JSON garbage": (lambda f: (f / "model.json").write_text("{not json"), "cannot read"),
    "weights NaN": (_tensors(lambda t: _first_float(t, float("nan"))), "NaN or Inf"),
    "weights Inf": (_tensors(lambda t: _first_float(t, float("inf"))), "NaN or Inf"),
    "weights of another shape": (_tensors(_wrong_shape), "do not fit"),
    "calibration missing": (_tensors(lambda t: t.pop("calibration_scores")), "missing"),
    "calibration empty": (_tensors(lambda t: t.update(calibration_scores=torch.zeros(0))),
                          "calibration scores"),
    "weights garbage": (lambda f: (f / "model.safetensors").write_bytes(b"x" * 64),
                        "cannot read"),
    "weights missing": (lambda f: (f / "model.safetensors").unlink(), "holds no genad model"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_damaged_model_folder_is_one_line(case, saved, tmp_path, capsys) -> None:
    damage, words = CASES[case]
    folder = tmp_path / "m"
    shutil.copytree(saved, folder)
    damage(folder)
    with pytest.raises(genad.GenadError) as err:
        genad.load(str(folder))
    assert words in str(err.value) and "\n" not in str(err.value)
    image = tmp_path / "x.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(image)
    assert main(["score", str(folder), str(image)]) == 2
    out = capsys.readouterr().err.strip()
    assert out.startswith("genad: error:") and words in out and "\n" not in out


def test_the_untouched_folder_loads(saved) -> None:
    model = genad.load(str(saved))
    assert model.decision_function(genad.data.load("digits").images[:3]).shape == (3,)
