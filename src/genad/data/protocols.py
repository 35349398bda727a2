"""Anomaly-detection protocols: turn a labelled source into a train (normal only) / test
(labels 0 normal, 1 anomalous; `targets` keep the original class) Split.

leave-one-out  GANomaly (Akcay et al. 2018): class `cls` is anomalous, the rest normal. The
               official train and test sets are pooled; a seeded 80% of the normal images
               (floor) train, the other 20% plus every anomalous image test.
one-vs-rest    Deep SVDD (Ruff et al. 2018): class `cls` is normal. Train = the official train
               images of `cls`; test = the whole official test set. A source without an
               official split is first split 80/20, seeded and stratified by class.
mvtec          the source's own train/test (pixel masks kept).
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from genad.data.base import ImageSet, Split, concat
from genad.errors import ConfigError, DataError

PROTOCOLS = {
    "leave-one-out": "one class anomalous, the rest normal (GANomaly); needs cls",
    "one-vs-rest": "one class normal, the rest anomalous (Deep SVDD); needs cls",
    "mvtec": "the source's own normal train set and labelled test set, with pixel masks",
}


def _original(data: ImageSet) -> torch.Tensor:
    return data.targets if data.targets is not None else data.labels


def class_index(data: ImageSet, cls: int | str) -> int:
    """The index of class `cls` (an index, a class name, or an index written as text)."""
    if not data.classes:
        raise ConfigError(f"{data.name or 'this data'} has no classes to choose from (a folder "
                          "needs one subfolder per class)")
    if isinstance(cls, str) and cls in data.classes:
        return data.classes.index(cls)
    try:
        index = int(cls)
    except ValueError:
        index = -1
    if not 0 <= index < len(data.classes):
        raise ConfigError(f"unknown class {cls!r} for {data.name or 'this data'}; give an index "
                          f"0..{len(data.classes) - 1} or one of the names {data.classes}")
    return index


def stratified_split(data: ImageSet, fraction: float = 0.8,
                     seed: int = 0) -> tuple[ImageSet, ImageSet]:
    """A seeded split keeping class proportions: int(n * fraction) of each class's n images
    go to the first part, the rest to the second (both in the original order)."""
    rng = np.random.default_rng(seed)
    original = _original(data).numpy()
    first = []
    for c in np.unique(original):
        members = rng.permutation(np.flatnonzero(original == c))
        first.append(members[: int(len(members) * fraction)])
    chosen = np.zeros(len(data), dtype=bool)
    chosen[np.concatenate(first)] = True
    return data.subset(chosen), data.subset(~chosen)


def holdout_split(data: ImageSet, normal: torch.Tensor, seed: int = 0, fraction: float = 0.8,
                  protocol: str = "", normal_name: str = "") -> Split:
    """Train on a seeded int(n * fraction) of the n images where `normal` (bool (N,)) is set;
    test on the other normal images plus every anomalous one."""
    normal = torch.as_tensor(normal, dtype=torch.bool)
    normal_idx = normal.nonzero().flatten().numpy()
    if len(normal_idx) == 0:
        raise DataError(f"no normal images ({normal_name}) in {data.name or 'the data'}")
    if bool(normal.all()):
        raise DataError(f"no anomalous images in {data.name or 'the data'}: every image is "
                        f"normal ({normal_name}); choose another class or data set")
    order = np.random.default_rng(seed).permutation(normal_idx)
    n_train = int(len(order) * fraction)
    if n_train == 0:
        raise DataError(f"too few normal images ({len(order)}) in {data.name} to train on")
    in_train = np.zeros(len(data), dtype=bool)
    in_train[order[:n_train]] = True
    train, test = data.subset(in_train), data.subset(~in_train)
    train = replace(train, labels=torch.zeros(len(train), dtype=torch.long),
                    targets=_original(train).clone())
    test = replace(test, labels=(~normal[torch.from_numpy(~in_train)]).long(),
                   targets=_original(test).clone())
    return Split(train, test, protocol, normal_name, seed)


def leave_one_out(train: ImageSet, test: ImageSet | None, cls: int | str,
                  seed: int = 0) -> Split:
    """GANomaly's protocol: `cls` anomalous, every other class normal (see module doc)."""
    pooled = train if test is None else concat([train, test], name=train.name)
    c = class_index(pooled, cls)
    return holdout_split(pooled, _original(pooled) != c, seed, 0.8, "leave-one-out",
                         f"all classes but {pooled.classes[c]}")


def one_vs_rest(train: ImageSet, test: ImageSet | None, cls: int | str,
                seed: int = 0) -> Split:
    """Deep SVDD's protocol: `cls` normal, every other class anomalous (see module doc)."""
    if test is None:
        train, test = stratified_split(train, 0.8, seed)
    c = class_index(train, cls)
    name = train.classes[c]
    normal_train = train.subset(_original(train) == c)
    if len(normal_train) == 0:
        raise DataError(f"class {name!r} has no training images in {train.name}")
    normal_train = replace(normal_train, labels=torch.zeros(len(normal_train), dtype=torch.long),
                           targets=_original(normal_train).clone())
    test = replace(test, labels=(_original(test) != c).long(), targets=_original(test).clone())
    if bool(test.labels.all()) or not bool(test.labels.any()):
        raise DataError(f"the test set of {test.name} needs images of class {name!r} and of "
                        "other classes")
    return Split(normal_train, test, "one-vs-rest", name, seed)


def mvtec_split(train: ImageSet, test: ImageSet) -> Split:
    """The source's own split: `train` normal only, `test` labelled 0/1 (masks kept)."""
    if len(train) == 0 or bool(train.labels.any()):
        raise DataError(f"{train.name}: the training set must hold normal images only")
    if bool(test.labels.all()) or not bool(test.labels.any()):
        raise DataError(f"{test.name}: the test set needs both normal and anomalous images")
    return Split(train, test, "mvtec", train.classes[0] if train.classes else "good", 0)


def make_split(protocol: str, train: ImageSet, test: ImageSet | None,
               cls: int | str | None = None, seed: int = 0) -> Split:
    """Dispatch to a protocol by name; cls is needed by leave-one-out and one-vs-rest."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; known: {', '.join(PROTOCOLS)}")
    if protocol == "mvtec":
        if test is None:
            raise ConfigError("protocol 'mvtec' needs a source with its own anomaly test set "
                              "(mvtec:PATH or masks:PATH)")
        return mvtec_split(train, test)
    if cls is None:
        raise ConfigError(f"protocol {protocol!r} needs a class: pass cls (one of "
                          f"{train.classes or 'the class indices'})")
    fn = leave_one_out if protocol == "leave-one-out" else one_vs_rest
    return fn(train, test, cls, seed)
