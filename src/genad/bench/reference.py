"""Published anomaly-detection figures (AUROC, and AUPRC where that is what a paper reports),
each with its source, for the "(paper)" columns of benchmark tables.

The data live in reference.json beside this file: every figure names the publication it
belongs to (`source`), the document we actually read it from when that is not the paper
itself (`via`), where in the publication it is printed (`where`), and whether it was read
from a table (`exact=True`) or off a plot (`exact=False`, with the reading precision in the
note). Values are fractions in [0, 1]; percentages are converted on loading. Figures we looked
for and could not find are listed in `GAPS` instead of being guessed.

Known traps (details in each entry's note):
- GANomaly's code tests after every epoch and keeps the best *test* AUROC (model selection on
  the test set), and its test() never puts the generator in eval mode, so the published
  figures are optimistic. GANomaly's MNIST/CIFAR-10 results are plots (Fig. 4); the GANomaly
  CIFAR-10 numbers recorded here are those tabulated in the Skip-GANomaly paper.
- Their CIFAR-10 leave-one-out test set is official-test normals + every anomalous image (train
  and test); genad's leave-one-out pools both sets with a seeded 80/20 normal split.
- Deep SVDD and OCGAN use one-vs-rest (one class normal). Deep SVDD preprocesses with global
  contrast normalisation (L1) and min-max scaling with the normal class's training min/max;
  no ZCA whitening in its released scripts.
- EGBAD reports MNIST as AUPRC, not AUROC; never compare the two.
- Rippel et al.'s 95.8 ± 1.2 on MVTec AD is mean ± SEM over categories, not a seed std.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

DATA_FILE = Path(__file__).with_name("reference.json")
#: published disentanglement figures on dSprites (MIG, FactorVAE / BetaVAE scores, DCI, SAP),
#: with what was looked for and not found ("gaps") and verified training defaults ("defaults")
DISENTANGLE_FILE = Path(__file__).with_name("disentangle_reference.json")

#: protocols that make sense for each data set (genad's names)
DATASETS: dict[str, tuple[str, ...]] = {
    "mnist": ("leave-one-out", "one-vs-rest"),
    "cifar10": ("leave-one-out", "one-vs-rest"),
    "mvtec": ("mvtec",),
}
METRICS = ("auroc", "auprc")
MODELS = (
    "ganomaly",
    "skip-ganomaly",
    "deep-svdd",
    "deep-svdd-soft",
    "ocgan",
    "egbad",
    "anogan",
    "f-anogan",
    "ocsvm",
    "kde",
    "isolation-forest",
    "dcae",
    "gaussian-ad",
)
CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)
MVTEC_CATEGORIES = (
    "bottle",
    "cable",
    "capsule",
    "carpet",
    "grid",
    "hazelnut",
    "leather",
    "metal_nut",
    "pill",
    "screw",
    "tile",
    "toothbrush",
    "transistor",
    "wood",
    "zipper",
)
_DATASET_ALIASES = {
    "cifar": "cifar10",
    "cifar-10": "cifar10",
    "mvtec-ad": "mvtec",
    "mvtec_ad": "mvtec",
}


@dataclass(frozen=True)
class Reference:
    """One published figure. `cls`: class index (MNIST digit, CIFAR-10 index in the order
    airplane..truck), MVTec AD category name, or "mean"."""

    model: str
    dataset: str
    protocol: str
    cls: int | str
    metric: str
    value: float
    std: float | None
    source: str  # key of SOURCES: the publication the figure belongs to
    where: str  # table / figure / section in that publication
    exact: bool  # True: read from a table; False: read off a plot (precision in note)
    note: str
    via: str = ""  # key of SOURCES: the document we read it from, when not the paper

    def citation(self) -> str:
        """The full citation of the figure, with where it is printed and how we read it."""
        text = f"{SOURCES[self.source]} {self.where}."
        if self.via:
            text += f" Read via: {SOURCES[self.via]}"
        return text


@dataclass(frozen=True)
class Gap:
    """A figure we looked for and did not record; "*" matches any data set or protocol."""

    model: str
    dataset: str
    protocol: str
    metric: str
    source: str
    note: str


def _dataset(name: str | None) -> str | None:
    if name is None:
        return None
    name = name.lower()
    return _DATASET_ALIASES.get(name, name)


def _cls(dataset: str, c: Any) -> int | str:
    """A class as stored in the JSON (digit, CIFAR-10 name, MVTec category, "mean") as genad
    keys it: an int index for MNIST / CIFAR-10, the category name for MVTec AD."""
    if c == "mean":
        return "mean"
    if dataset == "cifar10" and isinstance(c, str):
        return CIFAR10_CLASSES.index(c)
    if dataset in ("mnist", "cifar10"):
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= 9:
            raise ValueError(f"bad {dataset} class {c!r} in {DATA_FILE.name}")
        return c
    if c not in MVTEC_CATEGORIES:
        raise ValueError(f"unknown MVTec AD category {c!r} in {DATA_FILE.name}")
    return c


def _fraction(v: Any, scale: str) -> float | None:
    if v is None:
        return None
    if scale == "percent":
        return float(v) / 100.0
    if scale == "fraction":
        return float(v)
    raise ValueError(f"unknown scale {scale!r} in {DATA_FILE.name}")


def _expand(table: dict[str, Any], shared: dict[str, str]) -> list[Reference]:
    classes, values = table["classes"], table["values"]
    stds = table.get("stds") or [None] * len(values)
    if not len(classes) == len(values) == len(stds):
        raise ValueError(
            f"{table['model']}/{table['dataset']}: classes, values and stds differ in length"
        )
    note = " ".join([table.get("note", "")] + [shared[k] for k in table.get("shared_notes", [])])
    out = []
    for c, v, s in zip(classes, values, stds):
        out.append(
            Reference(
                model=table["model"],
                dataset=table["dataset"],
                protocol=table["protocol"],
                cls=_cls(table["dataset"], c),
                metric=table["metric"],
                value=_fraction(v, table["scale"]),
                std=_fraction(s, table["scale"]),
                source=table["source"],
                where=table["where"],
                exact=bool(table["exact"]),
                note=note.strip(),
                via=table.get("via", ""),
            )
        )
    return out


def _read(path: Path) -> dict[str, Any]:
    return json.loads(path.read_text(encoding="utf-8"))


@lru_cache(maxsize=1)
def _load() -> tuple[dict[str, str], tuple[Reference, ...], tuple[Gap, ...]]:
    data = _read(DATA_FILE)
    shared = data.get("notes", {})
    refs = tuple(r for t in data["tables"] for r in _expand(t, shared))
    gaps = tuple(Gap(**g) for g in data.get("gaps", []))
    return dict(data["sources"]), refs, gaps


SOURCES, REFERENCES, GAPS = _load()


def references(
    model: str | None = None,
    dataset: str | None = None,
    protocol: str | None = None,
    metric: str | None = "auroc",
    exact_only: bool = False,
) -> list[Reference]:
    """Published figures matching every given filter (None: any). `metric` defaults to AUROC;
    pass "auprc" for AUPRC figures or None for both."""
    dataset = _dataset(dataset)
    return [
        r
        for r in REFERENCES
        if (model is None or r.model == model)
        and (dataset is None or r.dataset == dataset)
        and (protocol is None or r.protocol == protocol)
        and (metric is None or r.metric == metric)
        and (r.exact or not exact_only)
    ]


def reference_dict(
    model: str,
    dataset: str,
    protocol: str,
    metric: str = "auroc",
    exact_only: bool = False,
) -> dict[tuple[str, int | str], float]:
    """{(model, cls): value} for one model, data set and protocol, in the form the table
    functions take (`genad.metrics.tables.pivot_markdown(reference=...)`); empty when no
    figure is known."""
    return {
        (r.model, r.cls): r.value for r in references(model, dataset, protocol, metric, exact_only)
    }


def gaps(model: str | None = None, dataset: str | None = None) -> list[Gap]:
    """Figures we looked for and did not record, with the reason."""
    dataset = _dataset(dataset)
    return [
        g
        for g in GAPS
        if (model is None or g.model == model) and (dataset is None or g.dataset in ("*", dataset))
    ]


@lru_cache(maxsize=1)
def _disentangle() -> tuple[dict[str, Any], ...]:
    return tuple(_read(DISENTANGLE_FILE)["figures"])


def disentangle_figures(metric: str | None = None, model: str | None = None) -> list[dict]:
    """Published disentanglement figures on dSprites matching the given metric ("mig",
    "factorvae", "betavae", "dci-disentanglement", "sap") and model (None: any). Each is a dict
    with model, metric, value (None where the paper only plots it; see note), std,
    hyperparameter, source, location, read_from and note; copies, safe to modify."""
    return [
        dict(f)
        for f in _disentangle()
        if (metric is None or f["metric"] == metric) and (model is None or f["model"] == model)
    ]
