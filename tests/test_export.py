"""genad.export and `genad export`: every registered detector either exports to ONNX and
TorchScript graphs that give genad's scores, calibrated scores, labels and heat maps, or is
refused in one line that says why; plus the files, their metadata and the user's errors."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch

import genad
from genad import export as E
from genad.errors import ConfigError, DataError, GenadError, NotFittedError
from genad.models.classic import isolation_score, tree_depth
from genad.registry import get

# (model, parameters) that export; each model's own scoring paths (score kinds, likelihoods,
# preprocessing, networks) once. The InfoGAN family's representation scores and OCGAN without
# scoring noise are exported in test_refused_models_..., after the rescore the refusal advises;
# Gaussian AD on a ResNet in test_gaussian_ad_on_a_resnet_exports.
EXPORTS = [
    ("ae", {}),
    ("alocc", {}),
    ("alocc", {"score_kind": "d_of_r"}),
    ("vae", {}),
    ("vae", {"score_kind": "recon", "likelihood": "gaussian"}),
    ("beta-vae", {}),
    ("beta-tcvae", {}),
    ("factor-vae", {}),
    ("deep-svdd", {"preprocess": "gcn"}),
    ("deep-svdd-soft", {}),
    ("egbad", {}),
    ("f-anogan", {}),
    ("f-anogan", {"arch": "dcgan", "z_reg": "none"}),
    ("ganomaly", {}),
    ("gaussian-ad", {}),
    ("gaussian-ad", {"npca": 0.9}),
    ("iforest-codes", {"n_estimators": 20}),
    ("ocsvm-codes", {}),
    ("skip-ganomaly", {}),
    ("infogan", {"score_kind": "disc-features", "arch": "infogan-cr"}),
]
# (model, words of the refusal, the rescore it advises, or None)
REFUSED = [
    ("anogan", "searching its latent code with gradient steps", None),
    ("infogan", "score_kind='inversion'", {"score_kind": "code-density"}),
    ("ms-infogan", "score_kind='inversion'", {"score_kind": "disc-features"}),
    ("ocgan", "score_noise=True", {"score_noise": False}),
]
SMALL = {"image_size": 16, "width": 8, "epochs": 1, "batch_size": 16, "seed": 0}
# narrower still where a model's other widths dominate its time
NARROW = {"factor-vae": {"d_units": 32},
          "ms-infogan": {"max_width": 16, "w_dim": 16, "mapping_layers": 1, "feature_dim": 16,
                         "q_hidden": 16}}


def test_every_registered_detector_exports_or_is_refused() -> None:
    decided = {name for name, _ in EXPORTS} | {name for name, _, _ in REFUSED}
    assert decided == set(genad.list_models())


@pytest.fixture(scope="module")
def images() -> torch.Tensor:
    """(7, 1, 16, 16) uint8: six digits no detector here trained on, and one of noise (7
    images: the trace sees 2, the export's own check 3)."""
    held = genad.data.load("digits", size=16).images[64:70]
    noise = torch.randint(0, 256, (1, 1, 16, 16), generator=torch.Generator().manual_seed(3),
                          dtype=torch.uint8)
    return torch.cat([held, noise])


def _fit(name: str, digits16: torch.Tensor, **params) -> genad.models.Detector:
    return genad.create(name, **{**SMALL, **NARROW.get(name, {}), **params}).fit(digits16)


def _has_map(det) -> bool:
    try:
        det.anomaly_map(torch.zeros(1, det.channels_, 16, 16, dtype=torch.uint8))
    except ConfigError:
        return False
    return True


def assert_parity(out: dict[str, np.ndarray], det, x: torch.Tensor) -> dict[str, float]:
    """The graph's outputs `out` on images x against genad's own; returns the max abs diffs."""
    s = det.decision_function(x)
    assert out["score"].dtype == np.float32 and out["score"].shape == (len(x),)
    diffs = {"score": float(np.abs(out["score"] - s).max())}
    assert diffs["score"] <= 1e-4
    # a score within 1e-4 of a calibration score or the threshold may fall on either side
    bounds = np.append(det.calibration_scores_, det.threshold_)
    far = np.abs(s[:, None] - bounds[None]).min(1) > 1e-4
    assert out["calibrated"].dtype == np.float32 and out["label"].dtype == np.int64
    np.testing.assert_array_equal(out["calibrated"][far],
                                  det.calibrated_score(x)[far].astype(np.float32))
    np.testing.assert_array_equal(out["label"][far], det.predict(x)[far])
    if _has_map(det):
        heat = det.anomaly_map(x)
        assert out["heat_map"].dtype == np.float32 and out["heat_map"].shape == heat.shape
        diffs["heat_map"] = float(np.abs(out["heat_map"] - heat).max())
        assert diffs["heat_map"] <= 1e-4
    else:
        assert set(out) == {"score", "calibrated", "label"}
    return diffs


def _export_and_compare(det, images: torch.Tensor, folder: Path) -> None:
    for fmt in E.FORMATS:
        path = E.export(det, folder / f"{det.name}{E.SUFFIX[fmt]}", fmt)
        for x in (images, images[:1]):
            assert_parity(E.run_graph(path, x.numpy(), fmt), det, x)


@pytest.mark.parametrize(("name", "params"), EXPORTS,
                         ids=[f"{n}-{'-'.join(map(str, p.values()))}".strip("-")
                              for n, p in EXPORTS])
def test_exported_graphs_give_genads_scores_labels_and_maps(name, params, digits16, images,
                                                            tmp_path: Path) -> None:
    det = _fit(name, digits16, **params)
    _export_and_compare(det, images, tmp_path)


def test_gaussian_ad_on_a_resnet_exports(digits16, images, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    from genad.nn.resnet import ResNet

    weights = tmp_path / "resnet18.safetensors"
    save_file(ResNet("resnet18").state_dict(), str(weights))  # random weights: shapes suffice
    det = _fit("gaussian-ad", digits16, backbone="resnet18", weights=str(weights),
               layers=["layer1", "layer2"])
    _export_and_compare(det, images, tmp_path)


@pytest.mark.parametrize(("name", "words", "advice"), REFUSED, ids=[r[0] for r in REFUSED])
def test_refused_models_say_why_in_one_line_and_the_advice_exports(
        name, words, advice, digits16, images, tmp_path: Path) -> None:
    det = _fit(name, digits16)
    out = tmp_path / "m.onnx"
    with pytest.raises(ConfigError, match="cannot be exported") as err:
        E.export(det, out)
    assert words in str(err.value) and "\n" not in str(err.value)
    assert not out.exists() and not list(tmp_path.iterdir())
    if advice is not None:  # the rescore the message names makes it exportable
        det.rescore(digits16, **advice)
        _export_and_compare(det, images, tmp_path)


def test_graph_files_describe_their_input_and_outputs(digits16, tmp_path: Path) -> None:
    det = _fit("ganomaly", digits16)
    before = det.decision_function(digits16)
    onnx_path = E.export(det, tmp_path / "g.onnx")
    ts_path = E.export(det, tmp_path / "g.pt", "torchscript")
    session = ort.InferenceSession(str(onnx_path), providers=["CPUExecutionProvider"])
    (inp,) = session.get_inputs()
    assert inp.name == "images" and inp.type == "tensor(uint8)"
    assert not isinstance(inp.shape[0], int) and inp.shape[1:] == [1, 16, 16]
    assert [o.name for o in session.get_outputs()] == ["score", "calibrated", "label", "heat_map"]
    for path, fmt in ((onnx_path, "onnx"), (ts_path, "torchscript")):
        meta = E.metadata(path, fmt)
        assert meta["model"] == "ganomaly" and meta["input"] == [None, 1, 16, 16]
        assert meta["outputs"] == ["score", "calibrated", "label", "heat_map"]
        assert meta["threshold"] == det.threshold_ and meta["config"] == det.config_dict()
    np.testing.assert_array_equal(det.decision_function(digits16), before)


def test_graph_files_hold_only_the_networks_that_score(digits16, tmp_path: Path) -> None:
    # EGBAD scores with the moving averages of E, G and D alone: half its weights are unused
    det = _fit("egbad", digits16)
    every = sum(t.numel() * t.element_size() for net in det.nets_.values()
                for t in net.state_dict().values())
    scoring = sum(t.numel() * t.element_size() for k in ("e_ema", "g_ema", "d_ema")
                  for t in det.nets_[k].state_dict().values())
    for fmt in E.FORMATS:
        size = E.export(det, tmp_path / f"egbad{E.SUFFIX[fmt]}", fmt).stat().st_size
        assert scoring < size < scoring + (every - scoring) / 4


def test_exporting_leaves_the_detector_as_it_was(digits16, tmp_path: Path) -> None:
    det = _fit("ae", digits16)
    before = det.decision_function(digits16[:8])
    E.export(det, tmp_path / "ae.onnx")
    assert isinstance(det.nets_["ae"][1], torch.nn.Unflatten)  # the copy's was replaced
    assert all(p.requires_grad for p in det.nets_["ae"].parameters())
    np.testing.assert_array_equal(det.decision_function(digits16[:8]), before)


def test_calibrated_share_is_numpys_searchsorted_left() -> None:
    table = np.array([1.0, 2.0, 2.0, 3.0])
    scores = np.array([0.0, 1.0, 2.0, 2.5, 3.0, 4.0, np.nan])
    got = E.calibrated_share(torch.from_numpy(scores), torch.from_numpy(table)).numpy()
    np.testing.assert_array_equal(got, np.searchsorted(table, scores, side="left") / 4)
    np.testing.assert_array_equal(got[:6], [0, 0, 0.25, 0.75, 0.75, 1])


def test_isolation_score_with_fixed_steps_from_the_tree_depth_on() -> None:
    # two trees as one table: a stump (nodes 0-2, depth 1) and a tree of depth 2 (nodes 3-7)
    roots = torch.tensor([0, 3])
    left = torch.tensor([1, -1, -1, 4, 6, -1, -1, -1])
    right = torch.tensor([2, -1, -1, 5, 7, -1, -1, -1])
    feature = torch.tensor([0, -2, -2, 1, 0, -2, -2, -2])
    threshold = torch.tensor([0.0, -2, -2, 0.5, -0.5, -2, -2, -2], dtype=torch.float64)
    n = torch.tensor([8, 5, 3, 8, 6, 2, 4, 2])
    assert tree_depth(roots, left, right) == 2
    z = torch.randn(50, 2, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    want = isolation_score(z, roots, left, right, feature, threshold, n, 8)
    for steps in (2, 5):
        got = isolation_score(z, roots, left, right, feature, threshold, n, 8, steps=steps)
        torch.testing.assert_close(got, want, rtol=0, atol=0)
    short = isolation_score(z, roots, left, right, feature, threshold, n, 8, steps=1)
    assert not torch.equal(short, want)  # fewer steps than the depth: other scores


# ---- the user's errors ----------------------------------------------------------------------
@pytest.fixture(scope="module")
def fitted_ae(digits16) -> genad.models.Detector:
    return _fit("ae", digits16)


def test_bad_requests_fail_in_one_line(fitted_ae, tmp_path: Path, monkeypatch) -> None:
    with pytest.raises(DataError, match="holds no genad model"):
        E.export(tmp_path / "missing", tmp_path / "m.onnx")
    with pytest.raises(ConfigError, match="format must be one of onnx, torchscript"):
        E.export(fitted_ae, tmp_path / "m.tfl", "tflite")
    with pytest.raises(ConfigError, match="is a folder"):
        E.export(fitted_ae, tmp_path)
    with pytest.raises(NotFittedError):
        E.export(genad.create("ae", **SMALL), tmp_path / "m.onnx")
    classifier = get("attribute-classifier", kind=None)()
    with pytest.raises(ConfigError, match="not an anomaly detector"):
        E.export(classifier, tmp_path / "m.onnx")
    monkeypatch.setitem(sys.modules, "onnxruntime", None)
    with pytest.raises(ConfigError, match=r"pip install 'genad\[export\]'"):
        E.export(fitted_ae, tmp_path / "m.onnx")
    assert not list(tmp_path.iterdir())


def test_an_existing_file_is_kept_unless_overwrite(fitted_ae, tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    out.write_text("mine")
    with pytest.raises(ConfigError, match="exists; choose another --out or pass --overwrite"):
        E.export(fitted_ae, out, "torchscript")
    assert out.read_text() == "mine"
    E.export(fitted_ae, out, "torchscript", overwrite=True)
    assert E.metadata(out, "torchscript")["model"] == "ae"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.pt"]  # no temporary file left


def test_a_graph_that_disagrees_with_genad_is_not_written(fitted_ae, tmp_path: Path,
                                                          monkeypatch) -> None:
    shifted = type(fitted_ae).decision_function
    monkeypatch.setattr(type(fitted_ae), "decision_function",
                        lambda self, x: shifted(self, x) + 1.0)
    out = tmp_path / "m.onnx"
    with pytest.raises(GenadError, match="score differs from genad's by 1: not written"):
        E.export(fitted_ae, out)
    assert not list(tmp_path.iterdir())


# ---- the command ----------------------------------------------------------------------------
def test_cli_exports_a_trained_run_end_to_end(digits16, images, tmp_path: Path, capsys) -> None:
    from genad.cli import main

    run = tmp_path / "run"
    _fit("ganomaly", digits16).save(run)
    assert main(["export", str(run)]) == 0
    line = capsys.readouterr().out.strip()
    assert line == (f"wrote {run / 'model.onnx'} (onnx): uint8 images (N, 1, 16, 16) -> score, "
                    "calibrated, label, heat_map")
    det = genad.load(str(run))
    session = ort.InferenceSession(str(run / "model.onnx"), providers=["CPUExecutionProvider"])
    out = dict(zip(["score", "calibrated", "label", "heat_map"],
                   session.run(None, {"images": images.numpy()})))
    assert_parity(out, det, images)

    ts = tmp_path / "graphs" / "g.pt"
    assert main(["export", str(run / "model.json"), "--format", "torchscript", "--out",
                 str(ts)]) == 0
    capsys.readouterr()
    assert_parity(E.run_graph(ts, images, "torchscript"), det, images)

    for args, words in (
        ([str(run)], "exists; choose another --out or pass --overwrite"),
        ([str(tmp_path / "nowhere")], "holds no genad model"),
    ):
        assert main(["export", *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("genad: error:") and words in err and err.count("\n") == 1
    assert main(["export", str(run), "--overwrite"]) == 0
    with pytest.raises(SystemExit) as exit_:
        main(["export", str(run), "--format", "tflite"])
    assert exit_.value.code == 2 and "invalid choice: 'tflite'" in capsys.readouterr().err
