"""Evaluate a generative model's codes against ground-truth factors: the figures of a
disentanglement run, in one dict.

    real-image codes   MIG, DCI (disentanglement, completeness, informativeness), SAP,
                       FactorVAE and BetaVAE scores (these two sample sprites with one factor
                       fixed, so they need `shapes`), the Gaussian total correlation of the
                       codes inferred on real images
    generated images   FID against real images on genad's probe features ("FID (genad
                       probe)", not comparable with Inception FIDs), the attribute-control
                       measure (genad.metrics.control) read by the probe, and both sides of
                       Lemma 1 (genad.metrics.info.lemma1_terms: the codes drawn vs the codes
                       read back from the images made with them), and how far the samples
                       cover each factor (`sample_coverage`: a generator that draws one
                       shape only scores 1/3 on it; one that never turns a sprite, about 0.5
                       on the orientation)
    training           the last epoch's InfoGAN MI lower bound (`mi`), when the model logs one

For GANs the code of a real image is Q's estimate; for VAEs the posterior mean.

Data without factors (MNIST, Fashion-MNIST, the bundled digits: the real, unlabelled-factor
case) gets what needs no factors: FID on a probe of the class labels, the total correlation
of the codes, Lemma 1, the MI bound, and `class_nmi`, the normalised mutual information
between the best categorical code and the class (InfoGAN's MNIST reading; labels are never
used in training).

Sample counts: `budget="full"` uses disentanglement_lib's (MIG 10,000; FactorVAE and BetaVAE
10,000 train / 5,000 eval points; DCI and SAP 10,000 train / 5,000 test); `"quick"` (the
default, for CPU runs) 4,000 images for MIG, 300 / 150 points for FactorVAE and BetaVAE and
1,500 / 750 samples for DCI (random forests instead of gradient boosting) and SAP;
`"smoke"` is smaller still, for tests. Figures of different budgets are not compared.

`run` trains a model on the factor data and writes a run folder: the model files,
metrics.json, samples.png, traversals.png and report.md.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from genad.bench.runner import Cell, run_grid
from genad.data.base import ImageSet
from genad.errors import ConfigError

BUDGETS = {
    "smoke": {"mig": 1000, "votes": (60, 30), "dci": (600, 300), "dci_method": "forest",
              "gen": 1000, "bases": 3, "steps": 5},
    "quick": {"mig": 4000, "votes": (300, 150), "dci": (1500, 750), "dci_method": "forest",
              "gen": 4000, "bases": 8, "steps": 8},
    "full": {"mig": 10000, "votes": (10000, 5000), "dci": (10000, 5000), "dci_method": "gbt",
             "gen": 10000, "bases": 64, "steps": 10},
}
REAL_SEED, GEN_SEED = 10_000, 30_000  # + the run's seed: the real and the generated images
CONT_BINS = 5  # bins per continuous code for Lemma 1: few, so that the plug-in entropies of
# the joint codes stay close to the truth at a few thousand samples (see lemma1_terms)


def factor_images(spec: str, size: int, n: int, seed: int) -> ImageSet:
    """n images of data set `spec`, with their ground-truth factors where it has them:
    "shapes" renders them; any other source (dsprites:PATH, mnist:PATH, digits, ...) is read
    and n images drawn with `seed`."""
    from genad import data
    from genad.data import shapes

    name = spec.split(":", 1)[0]
    if name == "shapes":
        return shapes.sample(n, seed=seed, size=min(size, 64))
    src = data.load(spec, size=size)
    idx = np.random.default_rng(seed).choice(len(src), size=min(n, len(src)), replace=False)
    return src.subset(np.sort(idx))


def factor_labels(factors: Any) -> np.ndarray:
    """(N, K) factor values -> (N, K) int64 labels 0..n_k-1 per factor (the metrics treat every
    factor as discrete, as disentanglement_lib does)."""
    f = np.asarray(factors)
    return np.stack([np.unique(f[:, k], return_inverse=True)[1].reshape(-1)
                     for k in range(f.shape[1])], axis=1)


def _shape_samplers(model: Any, size: int) -> tuple[Any, Any]:
    from genad.data import shapes

    def codes(idx: np.ndarray) -> np.ndarray:
        return model.encode(shapes.render(idx, min(size, 64))[:, None])

    def sample_fn(k: int | None, n: int, rng: np.random.Generator) -> np.ndarray:
        idx = (shapes.sample_factors(n, rng) if k is None
               else shapes.sample_with_fixed_factor(k, n, rng))
        return codes(idx)

    def pairs_fn(k: int, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        a, b = shapes.sample_factors(n, rng), shapes.sample_factors(n, rng)
        b[:, k] = a[:, k]
        return codes(a), codes(b)

    return sample_fn, pairs_fn


def _code_labels(model: Any, latent: np.ndarray, inferred: np.ndarray
                 ) -> tuple[np.ndarray, np.ndarray]:
    """Discrete versions of the drawn codes (from the latent vectors) and of the inferred codes
    (model.encode columns), the same bins for both: category indices; 20 equal-width bins over
    each continuous code's range (inferred values clipped into it)."""
    drawn, read = [], []
    for j, spec in enumerate(model.code_specs()):
        cols = spec["columns"]
        if spec["kind"] == "categorical":
            drawn.append(latent[:, cols].argmax(1))
            read.append(np.rint(inferred[:, j]).astype(np.int64))
        else:
            lo, hi = spec["range"]
            edges = np.linspace(lo, hi, CONT_BINS + 1)[1:-1]
            drawn.append(np.digitize(np.clip(latent[:, cols[0]], lo, hi), edges))
            read.append(np.digitize(np.clip(inferred[:, j], lo, hi), edges))
    return np.stack(drawn, 1), np.stack(read, 1)


def _class_agreement(model: Any, codes: np.ndarray, labels: np.ndarray) -> dict[str, float]:
    """For data without factors but with class labels (MNIST, ...): the normalised mutual
    information between each categorical code (Q's category of real images) and the class,
    the best of them, as InfoGAN's MNIST experiment reads its 10-way code (the labels are
    never used in training)."""
    from sklearn.metrics import normalized_mutual_info_score

    best = None
    for j, spec in enumerate(model.code_specs()):
        if spec["kind"] == "categorical":
            v = float(normalized_mutual_info_score(labels, np.rint(codes[:, j])))
            best = v if best is None else max(best, v)
    return {} if best is None else {"class_nmi": best}


def sample_coverage(probe: Any, images: Any, reference: Any) -> dict[str, float]:
    """How much of each factor's variety generated `images` show, read by a factor `probe`,
    as a share of what `reference` (real) images show: 1 = as varied as the real images, 0 =
    every sample alike. A class head (the shape) gives the ratio of the effective numbers of
    classes, exp(entropy) of the probe's class frequencies (1/3 when every sample is one of
    three equally common shapes); a regressed head (scale, orientation, position) the ratio
    of the readouts' standard deviations (summed over its columns). It reads the spread of the
    samples, not their quality (FID (probe) does that), and only as the probe reads them: a
    disc, which no real sprite is, still gets the shape class the probe finds most alike, so a
    generator of discs in several sizes can score near 1 on the shape."""
    fake, real = probe.read(images), probe.read(reference)
    out = {}
    for name, cols, head in zip(probe.factor_names, probe.groups, probe.heads, strict=True):
        if head.kind == "class":
            out[name] = _effective_classes(fake[:, cols]) / _effective_classes(real[:, cols])
        else:
            spread = np.sqrt(real[:, cols].var(0).sum())
            out[name] = float(np.sqrt(fake[:, cols].var(0).sum()) / max(spread, 1e-12))
    return out


def coverage_of(model: Any, budget: str = "quick", seed: int = 0) -> dict[str, float]:
    """`sample_coverage` of a fitted generative `model` on `shapes`, with the real and generated
    images `evaluate` reads at `budget` and `seed` (the same figure, without the rest)."""
    from genad.probe import probe_for

    b, size = BUDGETS[budget], model.config.image_size
    real = factor_images("shapes", size, b["mig"], seed=REAL_SEED + seed)
    images = model.decode(model.sample_latent(b["gen"], seed=GEN_SEED + seed))
    return sample_coverage(probe_for("shapes", size), images, real)


def _effective_classes(probs: np.ndarray) -> float:
    """exp(entropy) of the frequencies of the most probable class over rows of `probs`."""
    freq = np.bincount(probs.argmax(1), minlength=probs.shape[1]) / len(probs)
    freq = freq[freq > 0]
    return float(np.exp(-(freq * np.log(freq)).sum()))


def control_matrix(model: Any, probe: Any, reference: Any, bases: int, steps: int,
                   seed: int = 0) -> np.ndarray:
    """V (n_codes, n_factors) of genad.metrics.control for `model`, read by `probe`, with the
    readout variances of `reference` images as the normaliser."""
    from genad.metrics.control import traversal_variance

    ref_var = probe.read(reference).var(axis=0)
    base = model.sample_latent(bases, seed=seed)
    rows = []
    for j in range(len(model.code_specs())):
        lat = np.concatenate([model.traverse_latent(b, j, steps) for b in base])
        read = probe.read(model.decode(lat)).reshape(bases, -1, len(ref_var))
        rows.append(traversal_variance(read[None], probe.groups, ref_var)[0])
    return np.stack(rows)


def evaluate(model: Any, spec: str = "shapes", budget: str = "quick", seed: int = 0,
             probe: Any = None, quiet: bool = True) -> dict[str, Any]:
    """Every figure of the module doc for a fitted generative `model` (one of the VAE or
    InfoGAN families) on data set `spec` ("shapes" or "dsprites:PATH"). Deterministic for a
    given seed."""
    from genad.metrics import (
        beta_vae_score,
        dci,
        factor_vae_score,
        gaussian_total_correlation,
        lemma1_terms,
        mig,
        sap,
    )
    from genad.metrics.control import attribute_control
    from genad.probe import fid, probe_for

    if budget not in BUDGETS:
        raise ConfigError(f"budget must be one of {sorted(BUDGETS)}, got {budget!r}")
    if not hasattr(model, "code_specs"):
        raise ConfigError(f"{model.name} is not a generative model with codes; use one of the "
                          "VAE or InfoGAN families")
    b = BUDGETS[budget]
    size = model.config.image_size
    is_shapes = spec.split(":", 1)[0] == "shapes"
    out: dict[str, Any] = {"data": spec, "budget": budget, "seed": seed}

    real = factor_images(spec, size, b["mig"], seed=REAL_SEED + seed)
    codes = model.encode(real)
    out["tc_real"] = gaussian_total_correlation(codes)
    has_factors = real.factors is not None
    if has_factors:
        factors = factor_labels(real.factors.numpy())
        m = mig(codes, factors)
        out["mig"], out["mig_per_factor"] = m["mig"], m["per_factor"].tolist()
        n_tr, n_te = b["dci"]
        pool = factor_images(spec, size, n_tr + n_te, seed=20_000 + seed)
        pc, pf = model.encode(pool), factor_labels(pool.factors.numpy())
        d = dci(pc[:n_tr], pf[:n_tr], pc[n_tr:], pf[n_tr:], method=b["dci_method"], rng=seed)
        out.update({f"dci_{k}": d[k] for k in ("disentanglement", "completeness")})
        out["dci_informativeness"] = d.get("informativeness_test")
        out["sap"] = sap(pc[:n_tr], pf[:n_tr], pc[n_tr:], pf[n_tr:])["sap"]
    elif (real.labels >= 0).all():
        out.update(_class_agreement(model, codes, real.labels.numpy()))
    if is_shapes:
        sample_fn, pairs_fn = _shape_samplers(model, size)
        n_train, n_eval = b["votes"]
        k = factors.shape[1]
        out["factor_vae"] = factor_vae_score(sample_fn, k, seed, n_train=n_train, n_eval=n_eval,
                                             n_variance_estimate=b["mig"])["eval_accuracy"]
        out["beta_vae"] = beta_vae_score(pairs_fn, k, seed, n_train=n_train,
                                         n_eval=n_eval)["eval_accuracy"]

    latent = model.sample_latent(b["gen"], seed=GEN_SEED + seed)
    images = model.decode(latent)
    drawn, read = _code_labels(model, latent, model.encode(images))
    lem = lemma1_terms(drawn, read)
    out.update({f"lemma1_{k}": (v.tolist() if isinstance(v, np.ndarray) else v)
                for k, v in lem.items()})
    history = getattr(model, "history_", None) or [{}]
    out["mi_lower_bound"] = history[-1].get("mi")

    if not is_shapes and not has_factors and (real.labels >= 0).all():
        probe = probe or probe_for(spec, size, quiet=quiet)  # a probe of the class labels
        out["fid_probe"] = fid(probe, images, real)
    if is_shapes:
        probe = probe or probe_for("shapes", size, quiet=quiet)
        out["fid_probe"] = fid(probe, images, real)
        out["coverage"] = sample_coverage(probe, images, real)
        v = control_matrix(model, probe, real, b["bases"], b["steps"], seed=40_000 + seed)
        ctl = attribute_control(v)
        out.update({"control": ctl["control"], "control_coverage": ctl["coverage"],
                    "control_matrix": v.tolist(), "control_factors": probe.factor_names})
    return out


def model_similarity(data_model: Any, encoder: Any, seed: int = 0, n_train: int = 300,
                     n_eval: int = 150, n_variance: int = 2000, batch_size: int = 64) -> float:
    """The FactorVAE score of `encoder`'s codes on images `data_model` generates, with
    data_model's codes as the ground-truth factors (InfoGAN-CR, Lin et al. ICML 2020, Sec. 5,
    the pairwise similarity behind ModelCentrality): each vote fixes one of data_model's codes
    over a batch and asks which of encoder's codes varies least."""
    from genad.metrics import factor_vae_score

    specs = data_model.code_specs()

    def sample_fn(k: int | None, n: int, rng: np.random.Generator) -> np.ndarray:
        lat = data_model.sample_latent(n, seed=int(rng.integers(2**31)))
        if k is not None:
            cols = specs[k]["columns"]
            lat[:, cols] = lat[:1, cols]
        return encoder.encode(data_model.decode(lat))

    return factor_vae_score(sample_fn, len(specs), seed, batch_size=batch_size, n_train=n_train,
                            n_eval=n_eval, n_variance_estimate=n_variance)["eval_accuracy"]


def model_centrality(models: list[Any], seed: int = 0, **kw: int) -> dict[str, Any]:
    """ModelCentrality (Lin et al., ICML 2020, Sec. 5): pick, without labels, the model of a set
    (e.g. seeds of one configuration) that agrees most with the others. s_ij is the mean of
    `model_similarity` both ways; a model's centrality is its mean s_ij over the others; the
    most central is picked. `kw`: model_similarity's sample counts.
    Returns {"similarity": (M, M) list (diagonal 1), "centrality": [M], "picked": index}."""
    m = len(models)
    if m < 2:
        raise ConfigError(f"ModelCentrality compares models: give at least 2, got {m}")
    sim = np.eye(m)
    for i in range(m):
        for j in range(m):
            if i != j:
                sim[i, j] = model_similarity(models[i], models[j], seed=seed, **kw)
    pair = (sim + sim.T) / 2
    central = (pair.sum(1) - 1) / (m - 1)
    return {"similarity": pair.tolist(), "centrality": central.tolist(),
            "picked": int(np.argmax(central))}


def _generative(name: str) -> None:
    from genad import registry
    from genad.models.generative import LatentModel

    if not issubclass(registry.get(name), LatentModel):
        gen = [m for m in registry.names() if issubclass(registry.get(m), LatentModel)]
        raise ConfigError(f"{name} has no latent codes to disentangle; use one of {gen}")


def write_traversals(model: Any, path: str | Path, seed: int = 0, steps: int = 8) -> Path:
    """traversals.png: one row per code, from one prior latent drawn with `seed`."""
    from genad.report import plot_traversal_grid

    base = model.sample_latent(1, seed=seed)[0]
    specs = model.code_specs()
    rows = [model.decode(model.traverse_latent(base, j, steps)) for j in range(len(specs))]
    return plot_traversal_grid(rows, [s["name"] for s in specs], path,
                               title=f"{model.name}: latent traversals (seed {seed})")


def run(model: str, spec: str = "shapes", params: dict[str, Any] | None = None,
        out: str | Path | None = None, seed: int = 0, budget: str = "quick",
        overwrite: bool = False, resume: bool = False, quiet: bool = True,
        reuse: bool = False) -> dict[str, Any]:
    """Train `model` on the factor images of `spec` ("shapes[:N]" or "dsprites:PATH") and
    evaluate it; with `out`, write the run folder (genad.experiment.RunFolder: config.json,
    metrics.jsonl, model files, samples.png, traversals.png, report.md, result.json).
    Returns the figures (see `evaluate`). reuse: as genad.experiment.run's."""
    import time

    import genad
    from genad.experiment import RunFolder
    from genad.report import plot_sample_grid

    _generative(model)
    params = dict(params or {})
    params.setdefault("seed", seed)
    det = genad.create(model, **params)
    folder = (RunFolder(out, overwrite=overwrite, resume=resume, reuse=reuse)
              if out is not None else None)
    train = genad.data.load(spec, seed=seed, size=det.config.image_size)
    if folder is not None:
        done = folder.write_config({"task": "disentangle", "model": model,
                                    "params": det.config_dict(), "data": spec, "seed": seed,
                                    "budget": budget, "train_images": len(train)})
        if done is not None:
            return done
    t0 = time.perf_counter()
    det.fit(train, run_dir=None if folder is None else folder.path, resume=resume, quiet=quiet,
            score_training=False)  # PyOD's training scores: unused here, and costly
    fit_s = time.perf_counter() - t0
    res = {"model": model, "lambda": getattr(det.config, "info_weight", None),
           **evaluate(det, spec, budget=budget, seed=seed, quiet=quiet),
           "fit_seconds": round(fit_s, 1), "train_images": len(train), "params": params}
    if folder is not None and folder.main:
        det.save(folder.path)
        plot_sample_grid(det.generate(64, seed=seed), folder.path / "samples.png",
                         title=f"{model}: samples")
        write_traversals(det, folder.path / "traversals.png", seed=seed)
        folder.write_text("report.md", report_markdown(res))
        folder.finish(res)
    return res


HEADLINE = ("mig", "class_nmi", "factor_vae", "beta_vae", "dci_disentanglement", "sap", "fid_probe",
            "tc_real", "mi_lower_bound", "control", "lemma1_tc_inferred", "lemma1_bound")


def report_markdown(res: dict[str, Any]) -> str:
    """The run's report.md."""
    lines = [f"# {res['model']} on {res['data']} (seed {res['seed']})", "",
             "| figure | value |", "|---|---|"]
    for k in HEADLINE:
        v = res.get(k)
        if v is not None:
            lines.append(f"| {k} | {v:.4g} |")
    lines += ["", f"Budget `{res['budget']}` (see genad.disentangle). FID here is computed on "
              "genad's probe features (a small CNN trained on the sprites), not Inception's: "
              "compare it only with other `fid_probe` figures.", "",
              "![samples](samples.png)", "", "![traversals](traversals.png)", ""]
    if "control_matrix" in res:
        names = res["control_factors"]
        lines += ["## Attribute control: V[code, factor]", "",
                  "| code | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
        for j, row in enumerate(res["control_matrix"]):
            lines.append(f"| {j} | " + " | ".join(f"{v:.3f}" for v in row) + " |")
    return "\n".join(lines) + "\n"


# ---- the benchmark: models x lambdas x seeds ----------------------------------------------------
TABLE = ("mig", "factor_vae", "beta_vae", "dci_disentanglement", "sap", "fid_probe", "tc_real",
         "mi_lower_bound", "lemma1_tc_inferred", "lemma1_bound", "control", "fit_seconds")


def bench(models: list[str | Cell], spec: str = "shapes", seeds: range | list[int] = range(3),
          lambdas: list[float] | dict[str, list[float]] | None = None,
          params: dict[str, dict[str, Any]] | None = None,
          out: str | Path = "runs/bench-shapes", budget: str = "quick",
          quiet: bool = True) -> list[dict[str, Any]]:
    """Every model x seed (and, for the InfoGAN family, x info weight lambda), each cell a
    `run` folder out/<cell>[-lambda<l>]/seed<s> run by genad.bench.run_grid; a finished cell
    is read back, not rerun.

    models: Cells, or labels: a registered name, "name:variant" for the same model with the
    parameters params["name:variant"] (e.g. "ms-infogan:coarse" with {"code_scales": [0, 1]}),
    "name:untrained" for the networks at their random initialisation.
    lambdas: one list for every InfoGAN-family entry, or a dict label -> list.
    params: extra model parameters per label, over those of its model name, over "*" (all).
    Writes results.csv (one row per run), results.md (mean ± std over seeds),
    trade_space.png (FID vs MIG) and lemma1.png under `out`, and with two seeds or more the
    seed ModelCentrality picks for each trained cell without labels (centrality.json,
    centrality.md: its MIG and FactorVAE score beside the mean); returns the rows."""
    from genad.metrics import aggregate, to_markdown, write_csv
    from genad.report import plot_lemma1, plot_trade_space

    out = Path(out)
    params = params or {}
    cells: list[Cell] = []
    for entry in models:
        base = entry if isinstance(entry, Cell) else _parse_entry(entry, params)
        _generative(base.model)
        lams = lambdas.get(base.label) if isinstance(lambdas, dict) else lambdas
        family = base.trained and hasattr(genad_config(base.model), "info_weight")
        for lam in (lams or [None]) if family else [None]:
            if lam is None:
                cells.append(base)
            else:
                variant = "-".join(v for v in (base.variant, f"lambda{lam:g}") if v)
                cells.append(dataclasses.replace(base, variant=variant,
                                                 params={**base.params, "info_weight": lam}))

    def run_one(cell: Cell, _: Any, seed: int, folder: Path) -> dict[str, Any]:
        if not cell.trained:
            return _evaluate_untrained(cell, spec, folder, seed, budget, quiet)
        return run(cell.model, spec, params=dict(cell.params), out=folder, seed=seed,
                   budget=budget, overwrite=True, quiet=quiet, reuse=True)

    rows: list[dict[str, Any]] = []
    for cell, _, seed, res, _ in run_grid(cells, [(None, s) for s in seeds], out, run_one,
                                          quiet=quiet, title="disentangle"):
        lam = cell.params.get("info_weight") if cell.trained else None
        label = cell.label if lam is None else _without_lambda(cell).label
        rows.append({"model": label, "lambda": lam, "seed": seed,
                     **{k: res.get(k) for k in TABLE}})
    write_csv(rows, out / "results.csv")
    agg = aggregate(rows, by=("model", "lambda"), metrics=TABLE)
    table = to_markdown(agg, columns=["model", "lambda"], metrics=list(TABLE), mean_row=False)
    (out / "results.md").write_text(table.replace("| None |", "| – |"))
    trained = [r for r in rows if not str(r["model"]).endswith(":untrained")]
    if trained:  # untrained networks' samples are noise: FIDs in the thousands
        plot_trade_space(trained, out / "trade_space.png")
    family_rows = [r for r in trained if r["lambda"] is not None]
    if family_rows:
        plot_lemma1(family_rows, out / "lemma1.png")
    if len(seeds) > 1:
        _write_centrality([c for c in cells if c.trained], list(seeds), out, budget, rows)
    return rows


def _write_centrality(cells: list[Cell], seeds: list[int], out: Path, budget: str,
                      rows: list[dict[str, Any]]) -> None:
    """ModelCentrality over the seeds of every trained cell: out/centrality.json (the
    similarities, centralities and the picked seed) and centrality.md (the picked seed's MIG
    and FactorVAE score beside the mean over seeds). A cell already there with the same seeds
    is read back."""
    import json

    import genad

    path = out / "centrality.json"
    done = json.loads(path.read_text()) if path.exists() else {}
    n_train, n_eval = BUDGETS[budget]["votes"]
    lines = ["| model | seeds | picked seed | MIG picked | MIG mean | FactorVAE picked | "
             "FactorVAE mean |", "|---|---|---|---|---|---|---|"]
    for cell in cells:
        key = str(cell.folder)
        if done.get(key, {}).get("seeds") != seeds:
            models = [genad.load(str(out / cell.folder / f"seed{s}")) for s in seeds]
            res = model_centrality(models, seed=0, n_train=n_train, n_eval=n_eval,
                                   n_variance=BUDGETS[budget]["mig"])
            done[key] = {"seeds": seeds, **res, "picked_seed": seeds[res["picked"]]}
            path.write_text(json.dumps(done, indent=1))
        mine = {r["seed"]: r for r in rows if r["model"] == _without_lambda(cell).label
                and r["lambda"] == (cell.params.get("info_weight"))}
        pick = mine.get(done[key]["picked_seed"], {})
        figures = [pick.get("mig"), _mean(mine.values(), "mig"), pick.get("factor_vae"),
                   _mean(mine.values(), "factor_vae")]
        lines.append(f"| {key} | {len(seeds)} | {done[key]['picked_seed']} | "
                     + " | ".join("–" if v is None else f"{v:.3f}" for v in figures) + " |")
    (out / "centrality.md").write_text("\n".join(lines) + "\n")


def _mean(rows: Any, key: str) -> float | None:
    vals = [r[key] for r in rows if r.get(key) is not None]
    return float(np.mean(vals)) if vals else None


def _parse_entry(entry: str, params: dict[str, dict[str, Any]]) -> Cell:
    """A bench label -> its Cell, with its parameters: "*", then the model's, then the
    label's own."""
    model, _, variant = entry.partition(":")
    trained = variant != "untrained"
    p = {**params.get("*", {}), **params.get(model, {})}
    if variant and trained:
        p.update(params.get(entry, {}))
    if not trained:
        p.pop("info_weight", None)
    return Cell(model, p, variant=variant if trained and variant else None, trained=trained)


def _without_lambda(cell: Cell) -> Cell:
    """The cell's label before its lambda was added (the table has a lambda column)."""
    variant = "-".join(v for v in (cell.variant or "").split("-") if not v.startswith("lambda"))
    return dataclasses.replace(cell, variant=variant or None)


def untrained(model: str, params: dict[str, Any], seed: int, channels: int = 1) -> Any:
    """`model` with its networks at their seeded random initialisation, not trained: the
    baseline every disentanglement figure should be read against."""
    import genad

    det = genad.create(model, **{**params, "seed": seed})
    det.setup(channels)
    det.input_size_ = (det.config.image_size,) * 2
    return det


def _evaluate_untrained(cell: Cell, spec: str, folder: Path, seed: int, budget: str,
                        quiet: bool) -> dict[str, Any]:
    from genad.experiment import RunFolder

    params = {k: v for k, v in cell.params.items() if k != "info_weight"}
    det = untrained(cell.model, params, seed)
    run_folder = RunFolder(folder, overwrite=True, reuse=True)
    done = run_folder.write_config({"task": "disentangle", "model": cell.model,
                                    "trained": False, "params": det.config_dict(),
                                    "data": spec, "seed": seed, "budget": budget})
    if done is not None:
        return done
    res = {"model": cell.label, "lambda": None,
           **evaluate(det, spec, budget=budget, seed=seed, quiet=quiet), "params": params}
    run_folder.finish(res)
    return res


def genad_config(model: str) -> Any:
    """The default config of a registered model (no networks are built)."""
    from genad import registry

    return registry.get(model).Config()
