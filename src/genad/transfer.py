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

import dataclasses
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
import torch.nn.functional as F

from genad.data.base import ImageSet, as_images, resize, resize_masks, to_float
from genad.data.two_domain import TwoDomain, compose
from genad.errors import DataError
from genad.nn import DCEncoder, init_dcgan_weights

FIGURES = ("add_has_attribute", "remove_lacks_attribute", "attribute_accuracy",
           "cycle_mae", "add_outside_mae", "leakage_accuracy")


@dataclass
class ClassifierConfig:
    image_size: int = 32
    width: int = 16
    epochs: int = 5
    batch_size: int = 64
    lr: float = 1e-3
    seed: int = 0
    device: str = "auto"


class AttributeClassifier:
    """A DCGAN-encoder CNN giving the logit of "has B's attribute", trained by genad's
    engine on real A (label 0) vs real B (label 1) images."""

    name: ClassVar[str] = "attribute-classifier"
    _grad_hook = None

    def __init__(self, **params: Any) -> None:
        self.config = ClassifierConfig(**params)

    def fit(self, a: Any, b: Any, quiet: bool = True) -> AttributeClassifier:
        from genad import train

        c = self.config
        xa, xb = (resize(as_images(d), c.image_size) for d in (a, b))
        gen = torch.Generator().manual_seed(c.seed)
        n = max(len(xa), len(xb))
        pick = [torch.randperm(len(x), generator=gen).repeat(n // len(x) + 1)[:n] for x in (xa, xb)]
        c = self.config = dataclasses.replace(c, batch_size=min(c.batch_size, n))
        train.seed_everything(c.seed)
        self.device_ = train.pick_device(c.device)
        net = DCEncoder(c.image_size, xa.shape[1], 1, c.width)
        net.apply(init_dcgan_weights)
        self.nets_ = {"net": net.to(self.device_)}
        self.optimizers_ = {"net": torch.optim.Adam(net.parameters(), c.lr, betas=(0.5, 0.999))}
        pairs = torch.stack([xa[pick[0]], xb[pick[1]]], 1)  # (N, 2, C, S, S)
        self.history_ = train.fit(self, pairs, quiet=quiet)
        net.eval()
        return self

    def train_step(self, batch: torch.Tensor) -> dict[str, torch.Tensor]:
        x = torch.cat([batch[:, 0], batch[:, 1]])  # (2B, C, S, S): A then B
        y = torch.cat([torch.zeros(len(batch)), torch.ones(len(batch))]).to(x.device)
        loss = F.binary_cross_entropy_with_logits(self.nets_["net"](x).flatten(), y)
        opt = self.optimizers_["net"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return {"bce": loss.detach()}

    @torch.no_grad()
    def predict(self, x: Any) -> np.ndarray:
        """(N,) 0/1: 1 = has the attribute."""
        t = resize(as_images(x), self.config.image_size)
        logits = [self.nets_["net"](t[i : i + 256].to(self.device_)).flatten().cpu()
                  for i in range(0, len(t), 256)]
        return (torch.cat(logits) > 0).numpy().astype(np.int64)

    def config_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self.config)


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


def plot_grid(model: Any, a: Any, donors: Any, path: str | Path,
              title: str | None = None) -> Path:
    """Rows: A images; columns: B donors (shown on top); cells: add(a, donor). A last column
    shows each A image reconstructed with E2 = 0, for comparison."""
    from genad.report import _display, _figure, _hide_ticks, _save

    xa, xd = as_images(a), as_images(donors)
    if len(xa) == 0 or len(xd) == 0:
        raise DataError("the grid needs at least one A image and one donor")
    size = model.config.image_size
    xa, xd = resize(xa, size).numpy(), resize(xd, size).numpy()
    cells = model.grid(xa, xd)  # (n, m, C, S, S)
    rec = model.reconstruct(xa, has_attribute=False)
    n, m = cells.shape[:2]
    fig = _figure(0.8 * (m + 2) + 0.3, 0.8 * (n + 1) + (0.45 if title else 0.1))
    axes = fig.subplots(n + 1, m + 2, squeeze=False)
    for ax in axes.flat:
        _hide_ticks(ax)

    def show(ax: Any, img: np.ndarray) -> None:
        d = _display(img)
        ax.imshow(d, cmap="gray" if d.ndim == 2 else None, vmin=0, vmax=1)

    for j in range(m):
        show(axes[0, j + 1], xd[j])
    for i in range(n):
        show(axes[i + 1, 0], xa[i])
        show(axes[i + 1, m + 1], rec[i])
        for j in range(m):
            show(axes[i + 1, j + 1], cells[i, j])
    axes[0, 1].set_title("B donors →", loc="left", fontsize=8)
    axes[1, 0].set_ylabel("A", fontsize=8)
    axes[0, m + 1].set_title("E2 = 0", fontsize=8)
    if title:
        fig.suptitle(title, fontsize=9)
    return _save(fig, path)


def train_and_evaluate(task: TwoDomain, params: dict[str, Any], out: str | Path, *,
                       evaluate_too: bool = True, quiet: bool = False,
                       baseline: bool = False) -> dict[str, Any]:
    """Fit a ContentTransfer on `task` with `params`, save it to `out`, write out/grid.png
    (8 test A images x 6 test B donors) and, when `evaluate_too`, out/metrics.json with the
    evaluation (and, with `baseline`, that of the same networks untrained)."""
    import json

    from genad.models.content_transfer import ContentTransfer

    out = Path(out)
    t0 = time.perf_counter()
    model = ContentTransfer(**params).fit(task.a, task.b, run_dir=out, quiet=quiet)
    result: dict[str, Any] = {"fit_seconds": time.perf_counter() - t0, "task": task.name,
                              "train_a": len(task.a), "train_b": len(task.b),
                              "test_a": len(task.test_a), "test_b": len(task.test_b)}
    model.save(out)
    plot_grid(model, task.test_a.images[:8], task.test_b.images[:6], out / "grid.png",
              title=f"content transfer: {task.name}")
    if evaluate_too:
        seed = model.config.seed
        clf = AttributeClassifier(image_size=model.config.image_size, seed=seed,
                                  device=model.config.device).fit(task.a, task.b, quiet)
        result["trained"] = evaluate(model, task, clf, seed)
        if baseline:
            untrained = ContentTransfer(**dict(params, epochs=0)).fit(task.a, task.b)
            result["untrained"] = evaluate(untrained, task, clf, seed)
        result["eval_seconds"] = time.perf_counter() - t0 - result["fit_seconds"]
        (out / "metrics.json").write_text(json.dumps(result, indent=2))
    return result


OPS = ("add", "remove", "swap", "interpolate")


def apply(model: Any, op: str, images: Any, donors: Any, out: str | Path,
          names: list[str], donor_names: list[str], steps: int = 5) -> list[Path]:
    """Run one operation on images (uint8/float (N, C, H, W)) and write one PNG per result to
    folder `out`: add (every image x every donor), remove, swap (image i with donor i),
    interpolate (each image towards donor 0, `steps` frames side by side)."""
    from PIL import Image

    from genad.data.base import to_uint8

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
    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for name, img in results:
        pixels = to_uint8(torch.from_numpy(np.ascontiguousarray(img))).numpy()
        pixels = pixels[0] if pixels.shape[0] == 1 else pixels.transpose(1, 2, 0)
        path = folder / f"{name}.png"
        Image.fromarray(pixels).save(path)
        written.append(path)
    return written


def apply_files(model_dir: str | Path, op: str, images: list[str], donors: list[str],
                out: str | Path, steps: int = 5, device: str | None = None) -> list[Path]:
    """`apply` on image files or folders, read at the model's size and channels."""
    from genad.data.folder import existing_dir, list_images, read_images
    from genad.models.content_transfer import ContentTransfer

    model = ContentTransfer.load(model_dir, device)

    def read(items: list[str]) -> tuple[torch.Tensor | None, list[str]]:
        paths: list[Path] = []
        for item in items:
            p = Path(item).expanduser()
            if not p.exists():
                raise DataError(f"{p} does not exist")
            paths += list_images(existing_dir(p)) if p.is_dir() else [p]
        if not paths:
            return None, []
        size = model.config.image_size
        return read_images(paths, (size, size), model.channels_), [p.stem for p in paths]

    x, names = read(images)
    if x is None:
        raise DataError(f"no images found in {', '.join(images)}")
    d, donor_names = read(donors)
    return apply(model, op, x, d, out, names, donor_names, steps)
