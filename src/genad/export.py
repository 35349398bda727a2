"""Export a fitted detector to one ONNX or TorchScript graph, for serving without genad.

The graph takes uint8 images (N, C, S, S) at the network size (`det.config.image_size`, C =
`det.channels_`, N free) and returns, per image,
    score       (N,) float32    the raw anomaly score (`decision_function`; higher = more
                                anomalous)
    calibrated  (N,) float32    the share of the saved calibration scores strictly below the
                                score (`calibrated_score`)
    label       (N,) int64      1 where the score exceeds `threshold_` (`predict`)
    heat_map    (N, S, S) float32, only for models with a pixel map (`anomaly_map`)
in that order (ONNX: outputs of those names; TorchScript: a tuple). Pixels become floats as
genad's own `to_float` makes them, and the networks are genad's, traced in eval mode.

A score that is a search rather than a function (AnoGAN's latent search, the InfoGAN family's
latent inversion) or that hashes each image's bytes (OCGAN's seeded scoring noise) has no graph:
`export` refuses such a model with a ConfigError that says why and what exports instead.
Before it replaces the output file, `export` runs the written graph on a few images and checks
that it gives genad's scores.
"""

from __future__ import annotations

import contextlib
import copy
import inspect
import json
import os
import warnings
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from genad.data.base import to_float
from genad.errors import ConfigError, GenadError
from genad.models.base import Detector

FORMATS = ("onnx", "torchscript")
SUFFIX = {"onnx": ".onnx", "torchscript": ".pt"}
OUTPUTS = ("score", "calibrated", "label", "heat_map")
OPSET = 17


def calibrated_share(score: torch.Tensor, table: torch.Tensor) -> torch.Tensor:
    """(N,) float64 share of `table` (sorted calibration scores, (K,) float64) strictly below
    each score: np.searchsorted(table, score, side="left") / K, a NaN score counting as above
    them all (numpy sorts NaN last)."""
    s = score.double()
    below = (table < s[:, None]).sum(1)
    below = torch.where(torch.isnan(s), torch.full_like(below, table.shape[0]), below)
    return below.double() / table.shape[0]


class ExportedDetector(nn.Module):
    """A fitted detector as one module: forward(images (N, C, S, S) uint8) -> (score (N,),
    calibrated (N,), label (N,) int64[, heat map (N, S, S)]) (see the module doc). Holds a
    CPU copy of the detector's networks, in eval mode; the detector itself is not changed."""

    def __init__(self, det: Detector) -> None:
        super().__init__()
        refuse_unexportable(det)
        self.det = _cpu_copy(det)
        self.nets = nn.ModuleDict(self.det.nets_)  # the networks, as submodules of the graph
        self.register_buffer("calibration", torch.as_tensor(
            np.asarray(det.calibration_scores_), dtype=torch.float64).clone())
        self.register_buffer("threshold", torch.tensor(float(det.threshold_), dtype=torch.float64))
        self._score = _graph_score(self.det)
        with torch.no_grad():
            self.has_map = self.det.pixel_map(to_float(example_images(self.det, 1))) is not None
        self.eval()

    @property
    def outputs(self) -> tuple[str, ...]:
        return OUTPUTS if self.has_map else OUTPUTS[:3]

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, ...]:
        x = to_float(images)  # genad's uint8 -> [-1, 1]
        score = self._score(x).float()  # float32, as decision_function's values
        calibrated = calibrated_share(score, self.calibration).float()
        label = (score.double() > self.threshold).long()
        if not self.has_map:
            return score, calibrated, label
        return score, calibrated, label, self.det.pixel_map(x).float()


def refuse_unexportable(det: Any) -> None:
    """A ConfigError naming why, for a model whose scoring is no graph; nothing otherwise."""
    from genad.models.anogan import AnoGAN
    from genad.models.infogan import InfoGAN, MSInfoGAN
    from genad.models.ocgan import OCGAN

    if not isinstance(det, Detector):
        raise ConfigError(f"a {getattr(det, 'name', type(det).__name__)} model is not an "
                          "anomaly detector: only detectors export")
    det.check_fitted()
    c = det.config
    if isinstance(det, AnoGAN):
        raise ConfigError("anogan cannot be exported: it scores each image by searching its "
                          "latent code with gradient steps, which no graph holds (f-anogan, "
                          "which encodes instead, exports)")
    if isinstance(det, (InfoGAN, MSInfoGAN)) and c.score_kind == "inversion":
        raise ConfigError(f"{det.name} with score_kind='inversion' cannot be exported: it "
                          "inverts each image with gradient steps, which no graph holds; "
                          "rescore it with score_kind='code-density' or 'disc-features', "
                          "which export")
    if isinstance(det, OCGAN) and c.score_noise and c.noise_std:
        raise ConfigError("ocgan with score_noise=True cannot be exported: its scoring noise "
                          "is seeded by a hash of each image's bytes, which no graph computes; "
                          "rescore it with score_noise=False (the paper's plain reconstruction "
                          "error), which exports")


def _graph_score(det: Detector) -> Callable[[torch.Tensor], torch.Tensor]:
    """det.score, or the same scores by a path without data-dependent Python control flow."""
    from genad.models.classic import IForestCodes, isolation_score, tree_depth

    if isinstance(det, IForestCodes):  # descend the trees a fixed number of times
        h = det.nets_["head"]
        names = ("roots", "left", "right", "feature", "threshold", "n_node_samples")
        steps = tree_depth(h["roots"], h["left"], h["right"])
        return lambda x: isolation_score(det.features(x)[0], *(h[n] for n in names),
                                         int(h["max_samples"]), steps=steps)
    return det.score


def _cpu_copy(det: Detector) -> Detector:
    """A shallow copy of `det` with its own networks on the CPU, in eval mode, frozen and
    `_graph_ready`."""
    out = copy.copy(det)
    nets = copy.deepcopy(det.nets_)
    for net in nets.values():
        _graph_ready(net.cpu().eval().requires_grad_(False))
    out.nets_, out.device_ = nets, torch.device("cpu")
    return out


class _Unflatten(nn.Module):
    """nn.Unflatten as a reshape to sizes read from the input, which the ONNX exporter keeps
    free (on nn.Unflatten's output it fixed the batch size of the example)."""

    def __init__(self, dim: int, sizes: tuple[int, ...]) -> None:
        super().__init__()
        self.dim, self.sizes = dim, tuple(sizes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        d = self.dim % x.dim()
        return x.reshape(*x.shape[:d], *self.sizes, *x.shape[d + 1:])


def _graph_ready(net: nn.Module) -> None:
    """In place, the same function by ops the ONNX exporter keeps general: nn.Unflatten as
    `_Unflatten`."""
    for module in list(net.modules()):
        for name, child in list(module.named_children()):
            if isinstance(child, nn.Unflatten):
                setattr(module, name, _Unflatten(child.dim, child.unflattened_size))


def example_images(det: Detector, n: int, seed: int = 0) -> torch.Tensor:
    """(n, C, S, S) seeded random uint8 images at `det`'s network size."""
    s = det.config.image_size
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, det.channels_, s, s), generator=g, dtype=torch.uint8)


def default_path(run: str | Path, format: str) -> Path:
    """Where `genad export RUN` writes: model.onnx or model.pt in the model's folder."""
    _check_format(format)
    folder = Path(run).expanduser()
    folder = folder.parent if folder.name == "model.json" else folder
    return folder / f"model{SUFFIX[format]}"


def _check_format(format: str) -> None:
    if format not in FORMATS:
        raise ConfigError(f"format must be one of {', '.join(FORMATS)}, got {format!r}")


def export(model: Detector | str | Path, path: str | Path, format: str = "onnx", *,
           overwrite: bool = False, check: bool = True) -> Path:
    """Write fitted detector `model` (a Detector, or a model / run folder that `genad.load`
    reads) to `path` as one graph, `format` "onnx" or "torchscript" (see the module doc for
    what it takes and returns). Refuses an existing file unless `overwrite`, and a model whose
    scoring is no graph (ConfigError). With `check`, the written graph is run on a few random
    images before it replaces `path` and must give genad's scores. Returns `path`."""
    import genad

    _check_format(format)
    path = Path(path).expanduser()
    if path.is_dir():
        raise ConfigError(f"{path} is a folder; name the file to write with --out")
    if path.exists() and not overwrite:
        raise ConfigError(f"{path} exists; choose another --out or pass --overwrite")
    if format == "onnx":
        _onnx_modules()  # a missing package fails before any work
    det = genad.load(str(model), device="cpu") if isinstance(model, (str, Path)) else model
    wrapper = ExportedDetector(det)
    meta = {"genad_version": genad.__version__, "model": det.name,
            "input": [None, det.channels_, det.config.image_size, det.config.image_size],
            "input_dtype": "uint8", "outputs": list(wrapper.outputs),
            "threshold": float(det.threshold_), "config": det.config_dict()}
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    try:
        with torch.no_grad(), _quiet():
            (_write_onnx if format == "onnx" else _write_torchscript)(wrapper, tmp, meta)
            if check:
                _check_graph(wrapper, tmp, format)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)
    return path


@contextlib.contextmanager
def _quiet() -> Iterator[None]:
    """No tracer or exporter warnings: a value that the trace fixes (a fitted constant read as
    a Python number) is fixed on purpose, and `_check_graph` catches one that is not."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield


def _write_torchscript(wrapper: ExportedDetector, tmp: Path, meta: dict) -> None:
    traced = torch.jit.trace(wrapper, example_images(wrapper.det, 2), check_trace=False)
    # frozen: the weights become constants and networks that scoring does not use are dropped
    frozen = torch.jit.freeze(traced, optimize_numerics=False)
    torch.jit.save(frozen, str(tmp), _extra_files={"genad.json": json.dumps(meta)})


def _onnx_modules() -> tuple[Any, Any]:
    try:
        import onnx
        import onnxruntime
    except ImportError as e:
        raise ConfigError(f"ONNX export needs onnx and onnxruntime ({e.name} is missing): "
                          "pip install 'genad[export]'") from None
    return onnx, onnxruntime


def _write_onnx(wrapper: ExportedDetector, tmp: Path, meta: dict) -> None:
    import io

    import torch.onnx

    onnx, _ = _onnx_modules()
    names = list(wrapper.outputs)
    buf = io.BytesIO()
    # the TorchScript-based exporter: it needs no package beyond onnx (torch.export's needs
    # onnxscript); `dynamo` exists from torch 2.5 and became the default in 2.9
    legacy = {"dynamo": False} if "dynamo" in inspect.signature(torch.onnx.export).parameters \
        else {}
    with _symbolics():
        torch.onnx.export(
            wrapper, (example_images(wrapper.det, 2),), buf, input_names=["images"],
            output_names=names, dynamic_axes={k: {0: "n"} for k in ["images", *names]},
            opset_version=OPSET, do_constant_folding=True, **legacy,
        )
    graph = onnx.load_from_string(buf.getvalue())
    onnx.helper.set_model_props(graph, {"genad": json.dumps(meta)})
    onnx.checker.check_model(graph)
    onnx.save(graph, str(tmp))


@contextlib.contextmanager
def _symbolics() -> Iterator[None]:
    """While the export runs, ONNX forms of two ops its exporter lacks: aten::xlogy (the VAEs'
    image entropy) as where(x == 0, 0, x * log(y)), and aten::vdot of real vectors (spectral
    norm's sigma) as sum(a * b)."""
    from torch.onnx import register_custom_op_symbolic, unregister_custom_op_symbolic

    def xlogy(g: Any, x: Any, y: Any) -> Any:
        zero = g.op("CastLike", g.op("Constant", value_t=torch.tensor(0.0)), x)
        return g.op("Where", g.op("Equal", x, zero), zero, g.op("Mul", x, g.op("Log", y)))

    def vdot(g: Any, a: Any, b: Any) -> Any:
        return g.op("ReduceSum", g.op("Mul", a, b), keepdims_i=0)

    ops = {"aten::xlogy": xlogy, "aten::vdot": vdot}
    for name, fn in ops.items():
        register_custom_op_symbolic(name, fn, 9)
    try:
        yield
    finally:
        for name in ops:
            unregister_custom_op_symbolic(name, 9)


def run_graph(path: str | Path, images: np.ndarray | torch.Tensor, format: str = "onnx"
              ) -> dict[str, np.ndarray]:
    """{output name: array} of the graph at `path` (written by `export`) on uint8 `images`
    (N, C, S, S): onnxruntime on the CPU for "onnx", torch.jit for "torchscript"."""
    _check_format(format)
    x = np.ascontiguousarray(np.asarray(images))
    if format == "onnx":
        _, ort = _onnx_modules()
        options = ort.SessionOptions()  # threads that wait, not spin, between runs
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        return dict(zip(names, session.run(None, {"images": x})))
    module, meta = _load_torchscript(path)
    with torch.no_grad():
        out = module(torch.from_numpy(x))
    return {k: v.numpy() for k, v in zip(meta["outputs"], out)}


def _load_torchscript(path: str | Path) -> tuple[Any, dict[str, Any]]:
    """(the module, its genad.json) of a TorchScript file `export` wrote."""
    extra = {"genad.json": ""}
    with _quiet():  # torch.jit's deprecation notice: TorchScript is what was asked for
        module = torch.jit.load(str(path), map_location="cpu", _extra_files=extra)
    return module, json.loads(extra["genad.json"] or "{}")


def metadata(path: str | Path, format: str = "onnx") -> dict[str, Any]:
    """What `export` recorded in the graph file at `path`: genad_version, model, input
    [None, C, S, S], input_dtype, outputs (their names, in order), threshold, config. (ONNX
    keeps it as JSON under the model property "genad", TorchScript as the extra file
    "genad.json".)"""
    _check_format(format)
    if format == "onnx":
        onnx, _ = _onnx_modules()
        props = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
        return json.loads(props["genad"])
    return _load_torchscript(path)[1]


def _check_graph(wrapper: ExportedDetector, tmp: Path, format: str) -> None:
    """The written graph, on 3 random images (the trace saw 2), must give the scores and maps
    of genad's own scoring (a relative 1e-3: kernels round differently, a trace that fixed
    something it should not have is off by far more)."""
    det = wrapper.det
    x = example_images(det, 3, seed=1)
    got = run_graph(tmp, x, format)
    want = {"score": det.decision_function(x)}
    if wrapper.has_map:
        want["heat_map"] = det.anomaly_map(x)
    for name, ref in want.items():
        diff = float(np.abs(got[name].astype(np.float64) - ref).max())
        if not diff <= 1e-3 * max(1.0, float(np.abs(ref).max())):
            raise GenadError(f"the exported {det.name} graph's {name} differs from genad's by "
                             f"{diff:.3g}: not written (please report this)")
