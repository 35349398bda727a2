"""Run folders, and one detection run.

`RunFolder` makes every run folder genad writes (detection, disentanglement, content
transfer): the same config.json (fully resolved, with versions), metrics.jsonl and
checkpoint-* from the engine while training, the model files, what the run reports, and
result.json last, which marks the run finished. Every file is written atomically; the
checkpoints are removed when the run finishes; `overwrite` and `resume` mean the same
everywhere.

`run` is one detection run: fit a detector on a split's normal images, score the test set,
write the folder (scores.csv, report.md + PNGs besides the above). This is the API layer the
CLI and the benchmark runner call; it holds no model logic.
"""

from __future__ import annotations

import csv
import io as _io
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import genad
from genad import io, metrics
from genad.data.base import Split
from genad.errors import ConfigError, DataError

FINISHED = "result.json"  # present only in a run folder whose run completed
# the figures of a run that tables and the CLI show, in this order
HEADLINE = (
    "auroc",
    "auprc",
    "best_f1",
    "f1",
    "pixel_auroc",
    "auroc_test_selected",
    "fit_seconds",
    "train_img_per_s",
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, another user's
        return True
    return True


def is_main_process() -> bool:
    """False on the ranks other than 0 of a torchrun job: they train but write nothing."""
    import torch.distributed as dist

    return not dist.is_initialized() or dist.get_rank() == 0


# what genad writes into a run folder; --overwrite removes these and nothing else
OWN_FILES = ("config.json", "metrics.jsonl", "model.json", "model.safetensors", "scores.csv",
             FINISHED, "report.md", "roc.png", "hist.png", "recon.png", "examples.png",
             "samples.png", "traversals.png", "grid.png", "checkpoint-*", "*.tmp")
OWN_FOLDERS = ("tensorboard", "mlruns")  # genad.loggers' (--log); moved with OWN_FILES


def _differences(saved: dict[str, Any], config: dict[str, Any]) -> list[str]:
    """The settings two config.json records disagree on ("params.epochs" for a model
    parameter), leaving out the versions and where a model was rescored from."""
    out = []
    for k in sorted(set(saved) | set(config)):
        a, b = saved.get(k), config.get(k)
        if k in ("versions", "rescored_from") or a == b:
            continue
        if k == "params" and isinstance(a, dict) and isinstance(b, dict):
            out += [f"params.{p}" for p in sorted(set(a) | set(b)) if a.get(p) != b.get(p)]
        else:
            out.append(k)
    return out


class RunFolder:
    """The folder of one run. A finished run (result.json present) is refused unless
    `overwrite` or `resume` (which then finds no checkpoint to resume from); a half-run folder
    is resumed with `resume`. A folder that holds files but no genad run is refused either
    way: genad never writes over files it did not write. `overwrite` moves the old run's files
    (genad's own, OWN_FILES and OWN_FOLDERS; other files stay) into PREVIOUS, which `finish`
    removes, so a new run that fails leaves the old one there. A lock file (LOCK, the
    writer's pid) keeps a second process out while one writes; a killed writer's lock is taken
    over. Only the main process of a torchrun job writes (`main`).

    `reuse` (the benchmarks' cells): a finished run is neither refused nor overwritten here;
    `write_config` hands back its result when it ran with the same settings and refuses it
    with one line naming the settings that differ, so a rerun with other settings never
    reports old figures as new ones."""

    PREVIOUS = ".genad-previous"
    LOCK = ".genad-lock"

    def __init__(self, out: str | Path, *, overwrite: bool = False, resume: bool = False,
                 reuse: bool = False) -> None:
        self.path = Path(out).expanduser()
        self.resume = resume
        self.reuse = reuse and self.finished
        if self.path.exists() and not self.path.is_dir():
            raise ConfigError(f"{self.path} is a file, not a run folder: choose another --out")
        names = sorted(p.name for p in self.path.iterdir()
                       if p.name not in (self.LOCK, self.PREVIOUS)) if self.path.is_dir() else []
        if names and not self.holds_run():
            raise ConfigError(f"{self.path} holds files genad did not write ({', '.join(names[:3])}"
                              f"{', ...' if len(names) > 3 else ''}): choose a new or empty --out")
        if self.finished and not (overwrite or resume or reuse):
            raise ConfigError(f"{self.path} holds a finished run; choose another --out or pass "
                              "--overwrite")
        if self.path.is_dir() and self.holds_run() and not (self.finished or overwrite or resume):
            raise ConfigError(f"{self.path} holds an unfinished run: --resume continues it, "
                              "--overwrite starts again")
        self.main = is_main_process()
        if self.reuse:
            return
        if self.main:
            self._lock()
        if overwrite and not resume and self.main and self.path.is_dir():
            previous = self.path / self.PREVIOUS
            shutil.rmtree(previous, ignore_errors=True)
            for pattern in OWN_FILES:
                for f in self.path.glob(pattern):
                    if f.is_file():
                        previous.mkdir(exist_ok=True)
                        f.replace(previous / f.name)
            for name in OWN_FOLDERS:  # an old run's logs would mix with the new run's
                if (self.path / name).is_dir():
                    previous.mkdir(exist_ok=True)
                    (self.path / name).replace(previous / name)
        if self.main:
            self.path.mkdir(parents=True, exist_ok=True)

    def _lock(self) -> None:
        """Claim the folder for this process: a lock file holding its pid, taken over when
        that process is gone (killed), refused while it runs, so two runs never mix."""
        self.path.mkdir(parents=True, exist_ok=True)
        lock = self.path / self.LOCK
        try:
            pid = int(lock.read_text())
        except (OSError, ValueError):
            pid = None
        if pid is not None and pid != os.getpid() and _alive(pid):
            raise ConfigError(f"another genad process (pid {pid}) is writing to {self.path}: "
                              "wait for it, or choose another --out")
        io.atomic_write_text(lock, str(os.getpid()))

    def holds_run(self) -> bool:
        """Whether the folder's config.json is one genad wrote (it records genad's version)."""
        try:
            config = json.loads((self.path / "config.json").read_text())
            return isinstance(config, dict) and "genad" in config.get("versions", {})
        except (OSError, ValueError, TypeError):
            return False

    @property
    def finished(self) -> bool:
        return (self.path / FINISHED).is_file()

    def write_config(self, config: dict[str, Any]) -> dict[str, Any] | None:
        """config.json: `config` plus the versions. On resume the saved one must agree. With
        `reuse` and a finished run, returns its result.json if it ran with these settings
        (and writes nothing); otherwise None."""
        config = json.loads(json.dumps({**config, "versions": io.versions()}, default=float))
        path = self.path / "config.json"
        if (self.resume or self.reuse) and path.is_file():
            changed = _differences(json.loads(path.read_text()), config)
            if changed and self.resume:
                raise ConfigError(f"--resume with other settings than the run in {self.path} "
                                  f"({', '.join(changed)} differ): resume with the same ones")
            if changed:
                raise ConfigError(f"{self.path} holds a finished run with other settings "
                                  f"({', '.join(changed)} differ): choose another --out, or "
                                  "delete that folder to run it again")
            return json.loads((self.path / FINISHED).read_text()) if self.reuse else None
        self.write_text("config.json", json.dumps(config, indent=2, default=float))
        return None

    def write_text(self, name: str, text: str) -> Path:
        path = self.path / name
        if self.main:
            io.atomic_write_text(path, text)
        return path

    def finish(self, result: dict[str, Any]) -> None:
        """Write result.json, the mark of a finished run, then remove the training checkpoints
        (the saved model supersedes them) and the overwritten run's files."""
        if not self.main:
            return
        # result.json first: a kill between the two leaves a finished run with stale
        # checkpoints, never an unfinished run without them
        self.write_text(FINISHED, json.dumps(result, indent=2, default=float))
        for ck in self.path.glob("checkpoint-*"):
            ck.unlink()
        shutil.rmtree(self.path / self.PREVIOUS, ignore_errors=True)  # the new run is whole
        (self.path / self.LOCK).unlink(missing_ok=True)


def run(
    model: str,
    split: Split,
    *,
    params: dict[str, Any] | None = None,
    out: str | Path | None = None,
    data: str = "",
    quiet: bool = True,
    resume: bool = False,
    overwrite: bool = False,
    select_on_test: bool = False,
    trained: str | Path | None = None,
    reuse: bool = False,
    log: str | None = None,
) -> dict[str, Any]:
    """Fit `model` on split.train, evaluate on split.test, write the run folder `out` (if given).

    select_on_test: also score the test set after every epoch and report the best of those
    AUROCs as `auroc_test_selected` (what the GANomaly reference code reports). That figure
    picks the epoch with the test labels, so it is optimistic; `auroc` is always the final
    model's.
    trained: a folder holding this model trained on the same split.train with the same
    parameters except scoring-only ones (`Detector.SCORING_PARAMS`): it is loaded and
    `rescore`d instead of trained again, which gives the same model. Ignored when its
    parameters differ otherwise.
    reuse: a finished run in `out` with these settings is returned as it is (a benchmark's
    cell); one with other settings is refused (see RunFolder).
    log: "tensorboard" or "mlflow": also log the config, each epoch's metrics and the result
    there (genad.loggers; needs `out`). A missing package is a ConfigError before any work."""
    if log is not None:
        from genad import loggers

        loggers.require(log)
        if out is None:
            raise ConfigError(f"logging to {log} needs a run folder (out)")
    params = dict(params or {})
    params.setdefault("seed", split.seed)
    det = genad.create(model, **params).for_data(split.train)  # config.json: the settings run
    sibling = _reusable(det, trained) if trained is not None and not select_on_test else None
    folder = (RunFolder(out, overwrite=overwrite, resume=resume, reuse=reuse)
              if out is not None else None)
    if folder is not None:
        config = {
            "model": model,
            "params": det.config_dict(),
            "data": data,
            "protocol": split.protocol,
            "normal": split.normal,
            "seed": det.config.seed,
            "train_images": len(split.train),
            "test_images": len(split.test),
            "select_on_test": select_on_test,
        }
        if sibling is not None:
            config["rescored_from"] = str(trained)
        done = folder.write_config(config)
        if done is not None:
            return done

    labels = split.test.labels.numpy()
    per_epoch: list[float] = []

    def test_auroc(epoch: int, d: Any) -> dict[str, float]:
        per_epoch.append(metrics.auroc(labels, d.decision_function(split.test)))
        return {"test_auroc_for_selection": per_epoch[-1]}

    hook = test_auroc if select_on_test else None
    logger = None
    if log is not None and folder is not None and folder.main:
        logger = loggers.open_logger(log, folder.path, json.loads(
            (folder.path / "config.json").read_text()), resume=resume)
        hook = logger.hook(hook)
    t0 = time.perf_counter()
    try:
        if sibling is not None:
            scoring = {k: getattr(det.config, k) for k in det.SCORING_PARAMS}
            det = sibling.rescore(split.train, score_training=False, **scoring)
        else:
            det.fit(
                split.train,
                run_dir=folder.path if folder is not None else None,
                resume=resume,
                quiet=quiet,
                on_epoch_end=hook,
                score_training=False,  # a run scores its test images, not its training ones
            )
    except BaseException as e:
        if logger is not None:
            logger.close("KILLED" if isinstance(e, KeyboardInterrupt) else "FAILED")
        raise
    fit_seconds = time.perf_counter() - t0
    t1 = time.perf_counter()
    scores = det.decision_function(split.test)
    score_seconds = time.perf_counter() - t1
    result: dict[str, Any] = {
        "model": model,
        "data": data,
        "protocol": split.protocol,
        "normal": split.normal,
        "seed": det.config.seed,
    }
    result.update(metrics.summary(labels, scores, det.threshold_))
    result["fit_seconds"] = round(fit_seconds, 2)
    history = getattr(det, "history_", None)  # a rescored model was not trained here
    result["train_img_per_s"] = (
        round(float(np.mean([h["img_per_s"] for h in history])), 1) if history else None
    )
    result["score_img_per_s"] = round(len(scores) / score_seconds, 1)
    if split.test.masks is not None and split.test.masks.any():
        try:
            maps = det.anomaly_map(split.test)
            result["pixel_auroc"] = metrics.pixel_auroc(split.test.masks.numpy()[:, 0], maps)
        except ConfigError:
            pass  # this model gives no pixel map
    if per_epoch:
        result["auroc_test_selected"] = max(per_epoch)
        result["best_epoch_test_selected"] = int(np.argmax(per_epoch)) + 1
    if logger is not None:
        logger.log_result(result)
    if folder is not None and folder.main:
        _write_outputs(folder, det, split, scores, result, select_on_test)
    if logger is not None:
        logger.close()
    return result


def _reusable(det: Any, trained: str | Path) -> Any:
    """The detector saved in `trained` when it differs from `det` in scoring-only
    parameters alone (so `rescore` turns it into what fitting `det` would give), else None."""
    if not det.SCORING_PARAMS or not (Path(trained) / "model.json").is_file():
        return None
    saved = genad.load(trained)
    if type(saved) is not type(det):
        return None
    mine, theirs = det.config_dict(), saved.config_dict()
    for k in det.SCORING_PARAMS:
        mine.pop(k), theirs.pop(k)
    return saved if mine == theirs else None


def _write_outputs(
    folder: RunFolder,
    det: Any,
    split: Split,
    scores: np.ndarray,
    result: dict[str, Any],
    select_on_test: bool,
) -> None:
    from genad import report

    run_dir = folder.path
    det.save(run_dir)
    buf = _io.StringIO()
    w = csv.writer(buf)
    paths = split.test.paths  # image folders: the file of each row
    w.writerow(["index", *(["path"] if paths else []), "label", "class", "score"])
    targets = split.test.targets if split.test.targets is not None else split.test.labels
    names = split.test.classes
    for i, (lab, cls, s) in enumerate(zip(split.test.labels.tolist(), targets.tolist(), scores)):
        cls_name = names[cls] if 0 <= cls < len(names) else cls
        w.writerow([i, *([paths[i]] if paths else []), lab, cls_name, f"{s:.6g}"])
    folder.write_text("scores.csv", buf.getvalue())
    # a grid of the most normal and the most anomalous test images, with reconstructions
    order = np.argsort(scores)
    pick = torch.as_tensor(np.concatenate([order[:4], order[-4:]]))
    images = det.prepare(split.test.images[pick])
    recons = det.reconstruction(split.test.images[pick])
    q = 1 - det.config.contamination if det.config.contamination else det.config.threshold_quantile
    notes = [
        f"Scores: higher = more anomalous; threshold = the {q:.3g} quantile"
        " of held-out normal training images (no test image is used for it).",
        "Reconstruction grid: the 4 lowest-scoring then the 4 highest-scoring test images.",
    ]
    examples = _examples(det, split, scores, q)
    if "pixel_threshold" in examples:
        notes.append(f"Predicted masks: anomaly map > the {q:.3g} quantile of all map pixels "
                     "of the held-out normal training images (the image threshold's rule, per "
                     f"pixel: about {100 * (1 - q):.3g}% of normal pixels cross it).")
    if select_on_test:
        notes.append(
            "auroc_test_selected picks the best epoch with the test labels (as the "
            "GANomaly reference code does): optimistic, for comparison only."
        )
    report.write_run_report(
        run_dir,
        title=f"{det.name} · {split.protocol} · normal: {split.normal} · seed {result['seed']}",
        metrics={k: v for k, v in result.items() if isinstance(v, (int, float)) and k != "seed"},
        labels=split.test.labels.numpy(),
        scores=scores,
        threshold=det.threshold_,
        images=images.numpy(),
        recons=recons,
        examples=examples,
        notes=notes,
    )
    folder.finish(result)


EXAMPLES_PER_GROUP = 4
PIXEL_CALIBRATION_IMAGES = 64  # held-out normals whose maps set the pixel threshold, at most:
#   64 x H x W pixels pin a 0.99 quantile down, and a model whose maps need a latent search
#   (AnoGAN) stays quick


def _examples(det: Any, split: Split, scores: np.ndarray, q: float) -> dict[str, Any]:
    """The report's example grid (report.plot_example_grid's arguments): the test images
    `report.pick_examples` picks at their own size, with their masks (data that has them)
    and, for models that give maps, their maps and the pixel threshold: the q quantile of
    the map pixels of (up to PIXEL_CALIBRATION_IMAGES) held-out calibration images, the
    normal training images that also set `threshold_`."""
    from genad import report
    from genad.data.base import float_batch

    labels = split.test.labels.numpy()
    groups = report.pick_examples(labels, scores, det.threshold_, EXAMPLES_PER_GROUP)
    pick = np.concatenate([idx for _, idx in groups])
    chosen = split.test.images[torch.as_tensor(pick)]
    out: dict[str, Any] = {"images": float_batch(chosen).numpy(), "scores": scores[pick],
                           "labels": labels[pick],
                           "groups": [(name, len(idx)) for name, idx in groups]}
    if split.test.masks is not None and split.test.masks.any():
        out["masks"] = split.test.masks[torch.as_tensor(pick)].numpy()
    try:
        out["maps"] = det.anomaly_map(chosen)
    except ConfigError:
        return out  # this model gives no pixel map
    cal, _ = det.calibration_indices(len(split.train))
    normal = det.anomaly_map(split.train.images[cal[:PIXEL_CALIBRATION_IMAGES]])
    out["pixel_threshold"] = float(np.quantile(normal, q))
    return out


# ---- scoring files with a trained model ---------------------------------------------------------
SCORE_CHUNK = 256  # images read, scored and let go at a time by `score_files`


def score_files(model_dir: str | Path, items: list[str], *, device: str | None = None,
                maps: str | Path | None = None, chunk: int = SCORE_CHUNK) -> dict[str, Any]:
    """Score the image files (or folders of them) in `items` with the detector saved in
    `model_dir`, each read at the size the detector was trained on, `chunk` images at a time
    (memory is bounded by the chunk, not the number of files). Returns {"threshold",
    "scores": [{path, score, calibrated, anomalous}], "skipped": [{path, why}]}: files that
    cannot be read are skipped and listed (DataError when none can be read); with `maps`,
    writes a heat-map PNG per image there at the file's own size (models that give maps), all
    on the scale of the first chunk's maps."""
    from genad import report
    from genad.data.folder import find_images, read_readable

    if maps is not None and Path(maps).exists() and not Path(maps).is_dir():
        raise ConfigError(f"--maps {maps} is a file; name a folder for the heat maps")
    det = genad.load(str(model_dir), device=device)
    paths = find_images(items)
    rows: list[dict[str, Any]] = []
    skipped: list[dict[str, str]] = []
    top = None  # the heat maps' white-hot value, from the first chunk, for every chunk
    for start in range(0, len(paths), chunk):
        images, kept, bad, sizes = read_readable(paths[start:start + chunk],
                                                 tuple(det.input_size_), det.channels_)
        skipped += [{"path": str(p), "why": why} for p, why in bad]
        if not kept:
            continue
        scores = det.decision_function(images)
        calibrated = np.searchsorted(det.calibration_scores_, scores, side="left") / len(
            det.calibration_scores_)  # = det.calibrated_score(images), without scoring twice
        if maps is not None:
            heat = det.anomaly_map(images)
            top = report.heat_map_scale(heat) if top is None else top
            report.save_heat_maps(heat, [p.stem for p in kept], maps, top=top, sizes=sizes)
        rows += [{"path": str(p), "score": float(s), "calibrated": float(c),
                  "anomalous": int(s > det.threshold_)}
                 for p, s, c in zip(kept, scores, calibrated)]
    if not rows:
        raise DataError(skipped[0]["why"] if len(skipped) == 1 else
                        f"none of the {len(skipped)} images could be read (first: "
                        f"{skipped[0]['why']})")
    return {"threshold": det.threshold_, "scores": rows, "skipped": skipped}


def scores_text(scored: dict[str, Any], fmt: str = "csv") -> str:
    """`score_files`' result as CSV (one row per image) or JSON."""
    if fmt == "json":
        return json.dumps(scored, indent=2)
    buf = _io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=list(scored["scores"][0]))
    writer.writeheader()
    writer.writerows(scored["scores"])
    return buf.getvalue()


# ---- the demo -----------------------------------------------------------------------------------
DEMO_MODELS = ("ae", "ganomaly")


def demo_split(cls: str = "3", seed: int = 0) -> Split:
    """The demo's data: the bundled digits, leave-one-out with digit `cls` anomalous."""
    return genad.data.load("digits", protocol="leave-one-out", cls=cls, seed=seed)


def demo(out: str | Path, split: Split, epochs: int = 12, seed: int = 0,
         quiet: bool = True) -> tuple[list[dict[str, Any]], Path]:
    """AE and GANomaly on the demo's `split` (`demo_split`): a run folder each under `out`
    and a report. Returns (the runs' results, report.md)."""
    from genad import report

    out = Path(out)
    rows = [run(model, split, params={"epochs": epochs, "seed": seed}, out=out / model,
                data="digits", quiet=quiet, overwrite=True) for model in DEMO_MODELS]
    rep = report.write_bench_report(
        out,
        [dict(r, dataset="digits", cls=str(split.normal)) for r in rows],
        title="genad demo: digits leave-one-out",
        notes=["Threshold = 99th percentile of held-out normal training scores.",
               "Run folders: " + ", ".join(str(out / m) for m in DEMO_MODELS) + "."],
    )
    return rows, rep
