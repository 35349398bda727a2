"""Published disentanglement figures (disentangle_reference.json): sourced, in range, unique,
and filtered by disentangle_figures."""

from __future__ import annotations

import json

import pytest

from genad.bench import reference as ref
from genad.bench.reference import DISENTANGLE_FILE, disentangle_figures

METRICS = {"mig", "factorvae", "betavae", "dci-disentanglement", "sap"}
MODELS = {"vae", "beta-vae", "factor-vae", "beta-tcvae", "infogan"}


def problems(figures: list[dict]) -> list[str]:
    """What is wrong with a list of figures (empty when every row is valid)."""
    out, seen = [], set()
    for i, f in enumerate(figures):
        for key in ("source", "location", "read_from"):
            if not str(f.get(key) or "").strip():
                out.append(f"{i}: no {key}")
        if f.get("metric") not in METRICS:
            out.append(f"{i}: unknown metric {f.get('metric')!r}")
        if f.get("model") not in MODELS:
            out.append(f"{i}: unknown model {f.get('model')!r}")
        v = f.get("value")
        if v is None:
            if not str(f.get("note") or "").strip():
                out.append(f"{i}: null value without a note")
        elif isinstance(v, bool) or not isinstance(v, (int, float)) or not 0 <= v <= 1:
            out.append(f"{i}: value {v!r} not in [0, 1]")
        key = (f.get("model"), f.get("metric"), f.get("source"), f.get("hyperparameter", ""))
        if key in seen:
            out.append(f"{i}: duplicate {key}")
        seen.add(key)
    return out


def fig(model: str, metric: str, value: float | None = 0.5, **kw) -> dict:
    row = dict(
        model=model,
        metric=metric,
        value=value,
        std=None,
        hyperparameter="",
        source="A. Author. Title. Venue 2018.",
        location="Table 1",
        read_from="https://example.org/paper",
        note="",
    )
    return row | kw


def test_file_is_valid():
    data = json.loads(DISENTANGLE_FILE.read_text(encoding="utf-8"))
    assert data["note"].strip()
    assert isinstance(data["figures"], list)
    assert problems(data["figures"]) == []
    for g in data.get("gaps", []):
        assert g["source"].strip() and g["looked_in"].strip() and g["note"].strip()
    for d in data.get("defaults", []):
        assert d["model"] in MODELS and d["setting"].strip() and d["read_from"].strip()


def test_file_ships_as_package_data():
    pyproject = DISENTANGLE_FILE.parents[3] / "pyproject.toml"
    if not pyproject.is_file():
        pytest.skip("not a source checkout")
    assert DISENTANGLE_FILE.name in pyproject.read_text(encoding="utf-8")


def test_loader_returns_every_figure():
    data = json.loads(DISENTANGLE_FILE.read_text(encoding="utf-8"))
    assert disentangle_figures() == data["figures"]


@pytest.mark.parametrize(
    ("bad", "why"),
    [
        (fig("vae", "mig", source=""), "no source"),
        (fig("vae", "mig", location=" "), "no location"),
        (fig("vae", "mig", read_from=None), "no read_from"),
        (fig("vae", "mig", 1.5), "not in [0, 1]"),
        (fig("vae", "mig", None), "null value without a note"),
        (fig("vae", "accuracy"), "unknown metric"),
    ],
)
def test_validator_catches(bad: dict, why: str):
    assert any(why in p for p in problems([bad]))


def test_validator_catches_duplicates_but_not_other_hyperparameters():
    a, b = fig("beta-vae", "mig", hyperparameter="beta=4"), fig("beta-vae", "mig", 0.3)
    assert problems([a, b]) == []
    assert any("duplicate" in p for p in problems([a, dict(a, value=0.4)]))
    assert problems([fig("infogan", "mig", None, note="plot only")]) == []


def test_filter(monkeypatch: pytest.MonkeyPatch):
    rows = (
        fig("beta-vae", "factorvae", hyperparameter="beta=4"),
        fig("factor-vae", "factorvae", hyperparameter="gamma=35"),
        fig("factor-vae", "mig", None, note="plot only"),
    )
    monkeypatch.setattr(ref, "_disentangle", lambda: rows)
    assert disentangle_figures() == list(rows)
    assert [f["model"] for f in disentangle_figures(metric="factorvae")] == [
        "beta-vae",
        "factor-vae",
    ]
    assert disentangle_figures(model="factor-vae") == [rows[1], rows[2]]
    assert disentangle_figures(metric="mig", model="factor-vae") == [rows[2]]
    assert disentangle_figures(metric="sap") == []
    disentangle_figures()[0]["value"] = 0.0  # copies: the loaded data stay untouched
    assert rows[0]["value"] == 0.5
