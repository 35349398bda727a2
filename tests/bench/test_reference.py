"""The published reference figures: every entry sourced, in range and consistent."""

from __future__ import annotations

import json
import math
import statistics

import pytest

from genad.bench import reference as ref
from genad.bench.reference import (
    DATASETS,
    GAPS,
    METRICS,
    MODELS,
    MVTEC_CATEGORIES,
    REFERENCES,
    SOURCES,
    Reference,
    gaps,
    reference_dict,
    references,
)


def one(model: str, dataset: str, protocol: str, cls, metric: str = "auroc") -> Reference:
    found = [r for r in references(model, dataset, protocol, metric) if r.cls == cls]
    assert len(found) == 1, (model, dataset, protocol, cls, metric)
    return found[0]


def test_there_are_references():
    assert len(REFERENCES) > 50


@pytest.mark.parametrize("r", REFERENCES, ids=lambda r: f"{r.model}-{r.dataset}-{r.cls}")
def test_entry_is_sourced_and_consistent(r: Reference):
    assert r.source in SOURCES and SOURCES[r.source].strip()
    assert r.via == "" or r.via in SOURCES
    assert r.where.strip()
    assert r.metric in METRICS
    assert r.model in MODELS
    assert r.dataset in DATASETS and r.protocol in DATASETS[r.dataset]
    assert isinstance(r.value, float) and 0.0 <= r.value <= 1.0
    assert r.std is None or 0.0 <= r.std <= 1.0
    assert isinstance(r.exact, bool)
    if not r.exact:  # a plot reading must say how precise it is
        assert "precision" in r.note.lower() or "±" in r.note
    if r.dataset in ("mnist", "cifar10"):
        assert r.cls == "mean" or (isinstance(r.cls, int) and 0 <= r.cls <= 9)
    else:
        assert r.cls == "mean" or r.cls in MVTEC_CATEGORIES


def test_no_duplicate_keys():
    keys = [(r.model, r.dataset, r.protocol, r.cls, r.metric) for r in REFERENCES]
    assert len(keys) == len(set(keys))


def test_egbad_mnist_figures_are_auprc_only():
    # EGBAD's own MNIST results are AUPRC: none may sneak in as AUROC
    assert not references("egbad", "mnist", metric="auroc")


def test_gaps_are_sourced_and_well_formed():
    for g in GAPS:
        assert g.source in SOURCES
        assert g.metric in METRICS and g.note.strip()
        assert g.dataset == "*" or g.dataset in DATASETS
        assert g.protocol == "*" or any(g.protocol in p for p in DATASETS.values())
    assert any(g.model == "ganomaly" and g.dataset == "mnist" for g in gaps("ganomaly"))
    assert gaps(dataset="cifar") == gaps(dataset="cifar10")


def test_json_tables_are_rectangular():
    data = json.loads(ref.DATA_FILE.read_text(encoding="utf-8"))
    for t in data["tables"]:
        assert len(t["classes"]) == len(t["values"])
        assert set(t.get("shared_notes", [])) <= set(data["notes"])
        assert t["scale"] in ("percent", "fraction")


def test_cifar10_class_order_matches_the_loader():
    from genad.data.cifar import CIFAR10_CLASSES

    assert tuple(CIFAR10_CLASSES) == ref.CIFAR10_CLASSES


# --- spot checks against the sources -------------------------------------------------------


def test_skip_ganomaly_cifar10_table():
    # Skip-GANomaly CIFAR-10 table, columns bird, car, cat, ..., plane, ship, truck
    assert one("skip-ganomaly", "cifar10", "leave-one-out", 1).value == pytest.approx(0.953)
    assert one("skip-ganomaly", "cifar10", "leave-one-out", 2).value == pytest.approx(0.448)
    assert one("skip-ganomaly", "cifar10", "leave-one-out", 0).value == pytest.approx(0.797)
    # GANomaly bird 0.510, also quoted in samet-akcay/ganomaly issue #47
    g = one("ganomaly", "cifar10", "leave-one-out", 2)
    assert g.value == pytest.approx(0.510) and g.source == "akcay2019"
    assert "test set" in g.note  # the best-epoch-on-test trap is recorded


def test_deep_svdd_table1_means():
    r = one("deep-svdd", "mnist", "one-vs-rest", 0)
    assert r.value == pytest.approx(0.980) and r.std is None  # std not available to us
    assert "L1" in r.note and "ZCA" in r.note
    assert one("deep-svdd", "cifar10", "one-vs-rest", 0).value == pytest.approx(0.617)
    m = [r.value for r in references("deep-svdd", "mnist", "one-vs-rest")]
    c = [r.value for r in references("deep-svdd", "cifar10", "one-vs-rest")]
    assert statistics.mean(m) == pytest.approx(0.948, abs=5e-4)
    assert statistics.mean(c) == pytest.approx(0.648, abs=5e-4)


def test_ocgan_means_agree_with_classes():
    for ds, mean in (("mnist", 0.975), ("cifar10", 0.656)):
        rs = references("ocgan", ds, "one-vs-rest")
        per_class = [r.value for r in rs if r.cls != "mean"]
        assert len(per_class) == 10
        assert one("ocgan", ds, "one-vs-rest", "mean").value == pytest.approx(mean)
        assert statistics.mean(per_class) == pytest.approx(mean, abs=1e-3)


def test_gaussian_ad_mvtec():
    r = one("gaussian-ad", "mvtec", "mvtec", "mean")
    assert r.value == pytest.approx(0.958) and r.std is None and "SEM" in r.note
    per = [r.value for r in references("gaussian-ad", "mvtec") if r.cls != "mean"]
    assert len(per) == 15
    # the per-category values reproduce the abstract's 95.8 ± 1.2 (mean ± SEM)
    assert statistics.mean(per) == pytest.approx(0.958, abs=5e-4)
    assert statistics.stdev(per) / math.sqrt(15) == pytest.approx(0.012, abs=5e-4)


def test_reference_dict_feeds_the_table_functions():
    from genad.metrics.tables import reference_value

    d = reference_dict("skip-ganomaly", "cifar10", "leave-one-out")
    assert len(d) == 10 and all(k[0] == "skip-ganomaly" for k in d)
    assert reference_value(d, "skip-ganomaly", 1) == pytest.approx(0.953)
    assert reference_dict("skip-ganomaly", "cifar", "leave-one-out") == d  # data set alias
    assert reference_dict("ganomaly", "mnist", "leave-one-out") == {}
    assert reference_dict("egbad", "mnist", "leave-one-out", metric="auprc") == {}


def test_citation_names_paper_and_intermediary():
    r = one("ocgan", "mnist", "one-vs-rest", 3)
    text = r.citation()
    assert "OCGAN" in text and "CVPR 2019" in text and "AGAD" in text
