"""One run: fit a detector on a split's normal images, score the test set, and write the run
folder (config.json, metrics.jsonl, model files, scores.csv, result.json, report.md + PNGs).

This is the API layer the CLI and the benchmark runner call; it holds no model logic.
"""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

import genad
from genad import io, metrics
from genad.data.base import Split
from genad.errors import ConfigError

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


def is_main_process() -> bool:
    """False on the ranks other than 0 of a torchrun job: they train but write nothing."""
    import torch.distributed as dist

    return not dist.is_initialized() or dist.get_rank() == 0


def prepare_run_dir(out: str | Path | None, overwrite: bool, resume: bool) -> Path | None:
    """Refuse to overwrite a finished run unless asked; a half-run folder can be resumed."""
    if out is None:
        return None
    out = Path(out).expanduser()
    if (out / FINISHED).exists() and not (overwrite or resume):
        raise ConfigError(f"{out} holds a finished run; choose another --out or pass --overwrite")
    if overwrite and not resume:
        for f in out.glob("*"):
            if f.is_file():
                f.unlink()
    return out


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
) -> dict[str, Any]:
    """Fit `model` on split.train, evaluate on split.test, write the run folder `out` (if given).

    select_on_test: also score the test set after every epoch and report the best of those
    AUROCs as `auroc_test_selected` (what the GANomaly reference code reports). That figure
    picks the epoch with the test labels, so it is optimistic; `auroc` is always the final
    model's.
    trained: a folder holding this model trained on the same split.train with the same
    parameters except scoring-only ones (`Detector.SCORING_PARAMS`): it is loaded and
    `rescore`d instead of trained again, which gives the same model. Ignored when its
    parameters differ otherwise."""
    params = dict(params or {})
    params.setdefault("seed", split.seed)
    det = genad.create(model, **params)
    reuse = _reusable(det, trained) if trained is not None and not select_on_test else None
    run_dir = prepare_run_dir(out, overwrite, resume)
    main = is_main_process()
    if run_dir is not None and main:
        run_dir.mkdir(parents=True, exist_ok=True)
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
            "versions": io.versions(),
        }
        if reuse is not None:
            config["rescored_from"] = str(trained)
        io.atomic_write_text(run_dir / "config.json", json.dumps(config, indent=2))

    labels = split.test.labels.numpy()
    per_epoch: list[float] = []

    def test_auroc(epoch: int, d: Any) -> dict[str, float]:
        per_epoch.append(metrics.auroc(labels, d._scores(d._prepare(split.test))))
        return {"test_auroc_for_selection": per_epoch[-1]}

    t0 = time.perf_counter()
    if reuse is not None:
        scoring = {k: getattr(det.config, k) for k in det.SCORING_PARAMS}
        det = reuse.rescore(split.train, **scoring)
    else:
        det.fit(
            split.train,
            run_dir=run_dir,
            resume=resume,
            quiet=quiet,
            on_epoch_end=test_auroc if select_on_test else None,
        )
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
    if run_dir is not None and main:
        _write_outputs(run_dir, det, split, scores, result, select_on_test)
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
    run_dir: Path,
    det: Any,
    split: Split,
    scores: np.ndarray,
    result: dict[str, Any],
    select_on_test: bool,
) -> None:
    from genad import report

    det.save(run_dir)
    for ck in run_dir.glob("checkpoint-*"):
        ck.unlink()  # the finished model supersedes the training checkpoints
    with (run_dir / "scores.csv").open("w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["index", "label", "class", "score"])
        targets = split.test.targets if split.test.targets is not None else split.test.labels
        for i, (lab, cls, s) in enumerate(
            zip(split.test.labels.tolist(), targets.tolist(), scores)
        ):
            w.writerow([i, lab, cls, f"{s:.6g}"])
    # a grid of the most normal and the most anomalous test images, with reconstructions
    order = np.argsort(scores)
    pick = torch.as_tensor(np.concatenate([order[:4], order[-4:]]))
    images = det._prepare(split.test.images[pick])
    recons = det.reconstruction(split.test.images[pick])
    notes = [
        "Scores: higher = more anomalous; threshold = "
        + (
            f"the {1 - det.config.contamination:.3g} quantile"
            if det.config.contamination
            else f"the {det.config.threshold_quantile:.3g} quantile"
        )
        + " of held-out normal training images (no test image is used for it).",
        "Grid: the 4 lowest-scoring then the 4 highest-scoring test images.",
    ]
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
        notes=notes,
    )
    io.atomic_write_text(run_dir / FINISHED, json.dumps(result, indent=2))
