"""Fuzzing the readers of what users hand genad: image files, model folders and arrays. Each
either reads what it is given or raises a GenadError (one line at the command line); no other
exception, whatever the bytes or the JSON."""

from __future__ import annotations

import io
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

import genad
from genad.data.base import user_images
from genad.data.folder import read_readable

FUZZ = settings(max_examples=60, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.function_scoped_fixture])


def _png(seed: int = 0, mode: str = "L", size: int = 12) -> bytes:
    rng = np.random.default_rng(seed)
    shape = (size, size) if mode == "L" else (size, size, 3)
    buf = io.BytesIO()
    Image.fromarray(rng.integers(0, 255, shape, dtype=np.uint8), mode).save(buf, "PNG")
    return buf.getvalue()


VALID = _png()


@st.composite
def damaged_png(draw) -> bytes:
    """A valid PNG with some bytes changed, cut short or extended, or random bytes."""
    kind = draw(st.sampled_from(["flip", "cut", "random", "append"]))
    data = bytearray(VALID)
    if kind == "random":
        return draw(st.binary(max_size=200))
    if kind == "cut":
        return bytes(data[: draw(st.integers(0, len(data)))])
    if kind == "append":
        return bytes(data) + draw(st.binary(min_size=1, max_size=50))
    for _ in range(draw(st.integers(1, 8))):
        data[draw(st.integers(0, len(data) - 1))] = draw(st.integers(0, 255))
    return bytes(data)


@FUZZ
@given(blob=damaged_png(), channels=st.sampled_from([1, 3]))
def test_image_reader_reads_or_skips_with_a_reason(tmp_path, blob, channels) -> None:
    path = tmp_path / "x.png"
    path.write_bytes(blob)
    images, kept, skipped, sizes = read_readable([path], (8, 8), channels)
    assert len(sizes) == len(kept)
    assert len(kept) + len(skipped) == 1
    assert images.dtype == torch.uint8 and images.shape == (len(kept), channels, 8, 8)
    assert all(str(path) in why and "\n" not in why for _, why in skipped)


@pytest.fixture(scope="module")
def saved(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("fuzz") / "model"
    genad.create("ae", image_size=8, epochs=1, latent=2, width=4, batch_size=16).fit(
        genad.data.load("digits", size=8)).save(folder)
    return folder


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=3)
                    | st.dictionaries(st.text(max_size=5), inner, max_size=3), max_leaves=6)


@FUZZ
@given(path=st.lists(st.sampled_from(["config", "extra", "channels", "format", "model",
                                      "threshold", "input_size", "width", "latent",
                                      "image_size", "eval_batch_size", "calibration"]),
                     min_size=1, max_size=2),
       value=JSON)
def test_model_folder_reader_loads_or_refuses(saved, tmp_path, path, value) -> None:
    folder = tmp_path / "m"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(saved, folder)
    meta = json.loads((folder / "model.json").read_text())
    node = meta
    for key in path[:-1]:  # walk into a dict where there is one, else set at the top
        node = node.get(key) if isinstance(node.get(key), dict) else node
    node[path[-1]] = value
    (folder / "model.json").write_text(json.dumps(meta))
    try:
        model = genad.load(str(folder))
    except genad.GenadError as e:
        assert "\n" not in str(e)
        return
    scores = model.decision_function(np.zeros((2, 1, 8, 8), np.uint8))
    assert np.isfinite(scores).all() and np.isfinite(model.threshold_)


@FUZZ
@given(shape=st.lists(st.integers(0, 5), min_size=0, max_size=5),
       dtype=st.sampled_from([np.uint8, np.float32, np.float64, np.int64, np.bool_]),
       fill=st.sampled_from([0.0, 0.5, -1.0, 255.0, float("nan"), float("inf")]))
def test_user_arrays_are_taken_or_refused(shape, dtype, fill) -> None:
    with np.errstate(invalid="ignore"):
        x = np.full(shape, fill).astype(dtype)
    try:
        out = user_images(x)
    except genad.GenadError as e:
        assert "\n" not in str(e)
        return
    assert out.ndim == 4 and out.shape[1] in (1, 3) and len(out) and min(out.shape[2:]) >= 1
    if out.is_floating_point():
        assert bool(torch.isfinite(out).all()) and float(out.abs().max()) <= 1.001
    else:
        assert out.dtype == torch.uint8
