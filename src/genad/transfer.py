"""Evaluating content transfer (genad.models.content_transfer) in ways that can fail.

1. attribute: a CNN trained by genad on real A vs B images says whether `add(a, b)` has the
   attribute (goal: all do) and whether `remove(b)` has it (goal: none do).
2. content: `remove(add(a))` should give `a` back; where the task was composited by genad,
   `add(a, b_j)` is compared with the ground truth `compose(a, layer_j)` outside (content)
   and inside (attribute) the attribute's region, and `remove(b)` with the clean image.
3. leakage (Press et al. 2019, Sec. 5): a classifier predicting the domain from E1's code;
   balanced accuracy near 0.5 means E1 holds no trace of the attribute.
Plus the grid figure: rows of A images, columns of B donors. Pixel errors are mean absolute
differences on the [0, 1] scale.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from genad.data.base import ImageSet, as_images, resize, resize_masks, to_float
from genad.data.two_domain import TwoDomain, compose
from genad.errors import DataError
from genad.models.attribute_classifier import AttributeClassifier

FIGURES = ("add_has_attribute", "remove_lacks_attribute", "attribute_accuracy",
           "cycle_mae", "add_outside_mae", "leakage_accuracy")


def _mae(x: Any, y: Any, weight: torch.Tensor | None = None) -> float:
    """Mean |x - y| on the [0, 1] scale of [-1, 1] images; `weight` (N, 1, H, W) selects."""
    d = (torch.as_tensor(x) - torch.as_tensor(y)).abs() / 2
    if weight is None:
        return float(d.mean())
    w = weight.float().expand_as(d)
    return float((d * w).sum() / w.sum().clamp(min=1))


def leakage(model: Any, task: TwoDomain, seed: int = 0) -> float:
    """Balanced accuracy of an MLP predicting the domain from E1's code: fit on the training
    codes of A and B, scored on the test codes. 0.5 = no leakage."""
    from sklearn.metrics import balanced_accuracy_score
    from sklearn.neural_network import MLPClassifier
    from sklearn.preprocessing import StandardScaler

    def codes(a: ImageSet, b: ImageSet) -> tuple[np.ndarray, np.ndarray]:
        x = np.concatenate([model.encode(a)[0], model.encode(b)[0]])
        return x, np.r_[np.zeros(len(a)), np.ones(len(b))]

    x, y = codes(task.a, task.b)
    xt, yt = codes(task.test_a, task.test_b)
    scale = StandardScaler().fit(x)
    clf = MLPClassifier((64,), max_iter=300, early_stopping=True, random_state=seed)
    clf.fit(scale.transform(x), y)
    return float(balanced_accuracy_score(yt, clf.predict(scale.transform(xt))))


def evaluate(model: Any, task: TwoDomain, classifier: AttributeClassifier | None = None,
             seed: int = 0, quiet: bool = True) -> dict[str, float]:
    """The three evaluations on the task's test images (see the module doc). Each test A
    image gets one seeded random test B donor. `classifier` defaults to one trained here on
    the task's training images."""
    size = model.config.image_size
    if classifier is None:
        classifier = AttributeClassifier(image_size=size, seed=seed,
                                         device=model.config.device).fit(task.a, task.b, quiet)
    a = resize(task.test_a.float_images(), size)
    b = resize(task.test_b.float_images(), size)
    rng = np.random.default_rng(seed)
    donor = rng.integers(0, len(b), len(a))
    added = model.add(a, b[donor])
    removed = model.remove(b)
    out = {
        "classifier_accuracy": float(np.r_[classifier.predict(a) == 0,
                                           classifier.predict(b) == 1].mean()),
        "add_has_attribute": float(classifier.predict(added).mean()),
        "remove_lacks_attribute": float(1 - classifier.predict(removed).mean()),
    }
    out["attribute_accuracy"] = (out["add_has_attribute"] + out["remove_lacks_attribute"]) / 2
    out["reconstruction_mae"] = _mae(model.reconstruct(a, has_attribute=False), a)
    out["cycle_mae"] = _mae(model.remove(added), a)
    if task.layers is not None and task.clean is not None and task.test_b.masks is not None:
        truth = resize(to_float(compose(task.test_a.images, task.layers[donor])), size)
        region = resize_masks(task.test_b.masks, size)[donor]
        out["add_outside_mae"] = _mae(added, truth, 1 - region)
        out["add_inside_mae"] = _mae(added, truth, region)
        out["remove_mae"] = _mae(removed, resize(to_float(task.clean), size))
    out["leakage_accuracy"] = leakage(model, task, seed)
    return out


def write_grid(model: Any, a: Any, donors: Any, path: str | Path,
               title: str | None = None) -> Path:
    """Rows: A images; columns: B donors (shown on top); cells: add(a, donor). A last column
    shows each A image reconstructed with E2 = 0, for comparison (report.plot_transfer_grid)."""
    from genad.report import plot_transfer_grid

    xa, xd = as_images(a), as_images(donors)
    if len(xa) == 0 or len(xd) == 0:
        raise DataError("the grid needs at least one A image and one donor")
    size = model.config.image_size
    xa, xd = resize(xa, size).numpy(), resize(xd, size).numpy()
    return plot_transfer_grid(xa, xd, model.grid(xa, xd),
                              model.reconstruct(xa, has_attribute=False), path, title)


def run(task: TwoDomain, params: dict[str, Any], out: str | Path | None = None, *,
        evaluate_too: bool = True, quiet: bool = False, baseline: bool = False,
        overwrite: bool = False, resume: bool = False) -> dict[str, Any]:
    """Fit a ContentTransfer on `task` with `params`; with `out`, write the run folder
    (genad.experiment.RunFolder: config.json, metrics.jsonl, model files, grid.png (8 test A
    images x 6 test B donors), result.json). With `evaluate_too`, the result holds the
    evaluation ("trained") and, with `baseline`, that of the same networks untrained
    ("untrained"). Returns the result."""
    from genad.experiment import RunFolder
    from genad.models.content_transfer import ContentTransfer

    model = ContentTransfer(**params)
    folder = RunFolder(out, overwrite=overwrite, resume=resume) if out is not None else None
    sizes = {"train_a": len(task.a), "train_b": len(task.b), "test_a": len(task.test_a),
             "test_b": len(task.test_b)}
    if folder is not None:
        folder.write_config({"task": "transfer", "model": model.name,
                             "params": model.config_dict(), "data": task.name,
                             "seed": model.config.seed, **sizes})
    t0 = time.perf_counter()
    model.fit(task.a, task.b, run_dir=None if folder is None else folder.path, resume=resume,
              quiet=quiet)
    result: dict[str, Any] = {"fit_seconds": time.perf_counter() - t0, "task": task.name,
                              **sizes}
    if evaluate_too:
        seed = model.config.seed
        clf = AttributeClassifier(image_size=model.config.image_size, seed=seed,
                                  device=model.config.device).fit(task.a, task.b, quiet)
        result["trained"] = evaluate(model, task, clf, seed)
        if baseline:
            untrained = ContentTransfer(**dict(params, epochs=0)).fit(task.a, task.b)
            result["untrained"] = evaluate(untrained, task, clf, seed)
        result["eval_seconds"] = time.perf_counter() - t0 - result["fit_seconds"]
    if folder is not None and folder.main:
        model.save(folder.path)
        write_grid(model, task.test_a.images[:8], task.test_b.images[:6],
                   folder.path / "grid.png", title=f"content transfer: {task.name}")
        folder.finish(result)
    return result


OPS = ("add", "remove", "swap", "interpolate")


def apply(model: Any, op: str, images: Any, donors: Any, out: str | Path,
          names: list[str], donor_names: list[str], steps: int = 5) -> list[Path]:
    """Run one operation on images (uint8/float (N, C, H, W)) and write one PNG per result to
    folder `out`: add (every image x every donor), remove, swap (image i with donor i),
    interpolate (each image towards donor 0, `steps` frames side by side)."""


    if op not in OPS:
        raise DataError(f"unknown operation {op!r}; choose one of {', '.join(OPS)}")
    if op != "remove" and (donors is None or len(donors) == 0):
        raise DataError(f"{op} needs donor images with the attribute (--donors)")
    results: list[tuple[str, np.ndarray]] = []
    if op == "add":
        cells = model.grid(images, donors)
        results = [(f"{a}+{d}", cells[i, j]) for i, a in enumerate(names)
                   for j, d in enumerate(donor_names)]
    elif op == "remove":
        results = list(zip([f"{a}-removed" for a in names], model.remove(images)))
    elif op == "swap":
        if len(donors) != len(images):
            raise DataError(f"swap pairs image i with donor i: got {len(images)} images and "
                            f"{len(donors)} donors")
        x, y = model.swap(images, donors)
        results = [(f"{a}_with_{d}", x[i]) for i, (a, d) in enumerate(zip(names, donor_names))]
        results += [(f"{d}_with_{a}", y[i]) for i, (a, d) in enumerate(zip(names, donor_names))]
    else:
        frames = model.interpolate(images, donors[:1], steps=steps, own=False)
        results = [(f"{a}_to_{donor_names[0]}", np.concatenate(list(f), axis=-1))
                   for a, f in zip(names, frames)]
    from genad.report import save_images

    return save_images([img for _, img in results], [name for name, _ in results], out)


def apply_files(model_dir: str | Path, op: str, images: list[str], donors: list[str],
                out: str | Path, steps: int = 5, device: str | None = None) -> list[Path]:
    """`apply` on image files or folders, read at the model's size and channels."""
    import genad
    from genad.data.folder import find_images, read_images
    from genad.models.content_transfer import ContentTransfer

    model = genad.load(model_dir, device)
    if not isinstance(model, ContentTransfer):
        raise DataError(f"{model_dir} holds a {model.name} model, not a content-transfer one")

    def read(items: list[str]) -> tuple[torch.Tensor | None, list[str]]:
        paths = find_images(items, required=False)
        if not paths:
            return None, []
        size = model.config.image_size
        return read_images(paths, (size, size), model.channels_), [p.stem for p in paths]

    x, names = read(images)
    if x is None:
        raise DataError(f"no images found in {', '.join(images)}")
    d, donor_names = read(donors)
    return apply(model, op, x, d, out, names, donor_names, steps)
