"""Supervised disentanglement metrics on plain arrays: MIG, FactorVAE, BetaVAE, DCI and SAP.

Conventions (samples first, unlike disentanglement_lib, which stores codes as (d, N)):

* `codes` is (N, d): one learnt representation (usually the posterior mean) per sample.
* `factors` is (N, k) (or (N,) for one factor): the ground-truth generative factors. They are
  discrete labels unless a metric says otherwise; any values work (they are label-encoded).
* Mutual information and entropies are in nats.
* Every random step takes an explicit `np.random.Generator` (an int seed is accepted too and
  turned into one with `np.random.default_rng`).

The FactorVAE and BetaVAE scores need batches in which one factor is held fixed, so they take
a sampler callable instead of arrays; see their docstrings for the contract.

Reference settings are those of disentanglement_lib (Locatello et al., "Challenging Common
Assumptions in the Unsupervised Learning of Disentangled Representations", ICML 2019), whose
`unsupervised_study_v1` metric configs are the de facto standard. Every difference from that
library is stated in the docstring of the metric concerned.

scikit-learn is imported inside the functions so that `import genad` stays fast.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from genad.errors import ConfigError, DataError
from genad.metrics.anomaly import to_numpy

SampleFn = Callable[[int | None, int, np.random.Generator], Any]
PairSampleFn = Callable[[int, int, np.random.Generator], tuple[Any, Any]]

DCI_METHODS = ("gbt", "forest", "lasso")


# ---- input checks ------------------------------------------------------------------------------
def _as_2d(values: Any, name: str, columns: str) -> np.ndarray:
    """(N, k) array with its dtype kept; a 1-D input is one column. Raises DataError when it
    is not 2-D, is empty, or holds NaN/inf floats."""
    x = to_numpy(values)
    if x.ndim == 1:
        x = x[:, None]
    if x.ndim != 2:
        raise DataError(f"{name} must be a 2-D array (samples, {columns}); got shape {x.shape}")
    if x.shape[0] == 0 or x.shape[1] == 0:
        raise DataError(f"{name} is empty (shape {x.shape})")
    if np.issubdtype(x.dtype, np.floating) and not np.isfinite(x).all():
        raise DataError(f"{name} contain NaN/inf values; the model diverged or the input is broken")
    return x


def _codes_2d(codes: Any, name: str = "codes") -> np.ndarray:
    """(N, d) float64 codes."""
    x = _as_2d(codes, name, "dims")
    try:
        x = x.astype(np.float64)
    except (TypeError, ValueError) as err:
        raise DataError(f"{name} must be numbers: {err}") from None
    if not np.isfinite(x).all():  # integer input cast to float stays finite; objects may not
        raise DataError(f"{name} contain NaN/inf values; the model diverged or the input is broken")
    return x


def _factors_2d(factors: Any, name: str = "factors") -> np.ndarray:
    """(N, k) factor array with its dtype kept."""
    return _as_2d(factors, name, "factors")


def _same_length(a: np.ndarray, b: np.ndarray, what: str) -> None:
    if a.shape[0] != b.shape[0]:
        raise DataError(f"{what}: different numbers of samples ({a.shape[0]} vs {b.shape[0]})")


def _encode(column: np.ndarray) -> np.ndarray:
    """Labels 0..m-1 (int64) for the distinct values of a 1-D array."""
    return np.unique(column, return_inverse=True)[1].reshape(-1).astype(np.int64)


def _encode_all(factors: np.ndarray) -> np.ndarray:
    return np.stack([_encode(factors[:, j]) for j in range(factors.shape[1])], axis=1)


def _generator(rng: np.random.Generator | int) -> np.random.Generator:
    if isinstance(rng, bool) or not isinstance(rng, np.random.Generator | int | np.integer):
        raise ConfigError(f"rng must be a numpy Generator (or an int seed); got {type(rng)}")
    return np.random.default_rng(rng)


def _positive_int(value: int, name: str, minimum: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < minimum:
        raise ConfigError(f"{name} must be an integer >= {minimum}; got {value!r}")
    return int(value)


def _top_two_gap(matrix: np.ndarray) -> np.ndarray:
    """Per column: largest minus second-largest entry (matrix is (d, k), d >= 2)."""
    ordered = np.sort(matrix, axis=0)
    return ordered[-1] - ordered[-2]


# ---- helpers -----------------------------------------------------------------------------------
def discretize(codes: Any, n_bins: int = 20) -> np.ndarray:
    """Histogram discretisation of each code dimension into `n_bins` equal-width bins.

    codes (N, d) (or (N,), treated as one dimension) -> (N, d) int64 bin indices in
    [0, n_bins - 1]. The bins of dimension j span [min, max] of that dimension (numpy's
    `np.histogram` edges); the minimum falls in bin 0 and the maximum in the last bin. A constant
    dimension lands in a single bin.

    Same bins as disentanglement_lib's `_histogram_discretize`; that function returns the labels
    1..n_bins in the input's float dtype, here they are 0..n_bins-1 as int64 (only the labels
    differ, so every mutual information is identical).
    """
    x = _codes_2d(codes)
    n_bins = _positive_int(n_bins, "n_bins")
    out = np.empty(x.shape, dtype=np.int64)
    for j in range(x.shape[1]):
        edges = np.histogram(x[:, j], bins=n_bins)[1]
        out[:, j] = np.digitize(x[:, j], edges[:-1]) - 1
    return out


def mutual_info_matrix(codes_discrete: Any, factors: Any) -> np.ndarray:
    """Mutual information (nats) between every discrete code and every discrete factor.

    codes_discrete (N, d) labels (e.g. from `discretize`), factors (N, k) labels -> (d, k)
    matrix with entry [i, j] = I(code_i; factor_j), the plug-in estimate from the contingency
    table (`sklearn.metrics.mutual_info_score`).
    """
    from sklearn.metrics import mutual_info_score

    c = _factors_2d(codes_discrete, "codes_discrete")
    y = _factors_2d(factors)
    _same_length(c, y, "codes_discrete and factors")
    m = np.zeros((c.shape[1], y.shape[1]), dtype=np.float64)
    for i in range(c.shape[1]):
        for j in range(y.shape[1]):
            m[i, j] = mutual_info_score(y[:, j], c[:, i])
    return m


def entropy(factors: Any) -> float | np.ndarray:
    """Plug-in (empirical) entropy in nats of discrete labels.

    factors (N,) -> float; factors (N, k) -> (k,) array, the entropy of each column. Equal to
    disentanglement_lib's `discrete_entropy` (which computes `mutual_info_score(y, y)`).
    """
    y = to_numpy(factors)
    one = y.ndim == 1
    y = _factors_2d(y)
    h = np.empty(y.shape[1], dtype=np.float64)
    for j in range(y.shape[1]):
        counts = np.unique(y[:, j], return_counts=True)[1].astype(np.float64)
        p = counts / counts.sum()
        h[j] = float(-(p * np.log(p)).sum())
    h = np.maximum(h, 0.0)
    return float(h[0]) if one else h


# ---- MIG ---------------------------------------------------------------------------------------
def mig(
    codes: Any,
    factors: Any,
    n_bins: int = 20,
    discrete_factors: bool | Sequence[bool] | None = None,
) -> dict[str, Any]:
    """Mutual Information Gap (Chen et al., "Isolating Sources of Disentanglement in VAEs",
    NeurIPS 2018).

    Definition: for each factor v_k, with the codes sorted by their mutual information with
    v_k, MIG_k = (I(z_(1); v_k) - I(z_(2); v_k)) / H(v_k); MIG is the mean of MIG_k over factors.
    A value near 1 means every factor is captured by exactly one code dimension.

    Settings (disentanglement_lib, `unsupervised_study_v1/metric_configs/mig.gin`): each code
    dimension is discretised into `n_bins=20` equal-width histogram bins over its range
    (`discretize`); I(z_i; v_k) and H(v_k) are plug-in estimates
    (`sklearn.metrics.mutual_info_score`); disentanglement_lib uses 10,000 samples.

    Args:
        codes: (N, d) representations, d >= 2.
        factors: (N, k) ground-truth factors.
        n_bins: histogram bins per code dimension.
        discrete_factors: None or True: every factor is a discrete label (disentanglement_lib's
            only case). False, or a per-factor sequence of booleans: the factors flagged False
            are continuous and are discretised with the same `n_bins` histogram first (an
            addition; disentanglement_lib has no continuous factors).

    Returns:
        {"mig": float, "per_factor": (k,) normalised gaps, "mutual_info": (d, k) matrix in nats,
        "factor_entropy": (k,) in nats}.

    Differences from disentanglement_lib: none in the score. Inputs are samples-first; a
    constant factor (zero entropy, where disentanglement_lib would divide by zero) raises
    `DataError`, as do fewer than two code dimensions.
    """
    c = _codes_2d(codes)
    y = _factors_2d(factors)
    _same_length(c, y, "codes and factors")
    if c.shape[1] < 2:
        raise DataError("MIG needs at least 2 code dimensions (it is a gap between the top two)")
    k = y.shape[1]
    if discrete_factors is None or isinstance(discrete_factors, bool | np.bool_):
        flags = [discrete_factors is None or bool(discrete_factors)] * k
    else:
        flags = [bool(f) for f in discrete_factors]
        if len(flags) != k:
            raise ConfigError(f"discrete_factors has {len(flags)} entries for {k} factors")
    columns = []
    for j, discrete in enumerate(flags):
        if discrete:
            columns.append(_encode(y[:, j]))
        else:
            columns.append(discretize(_codes_2d(y[:, j], "continuous factor"), n_bins)[:, 0])
    y_labels = np.stack(columns, axis=1)
    h = np.asarray(entropy(y_labels), dtype=np.float64)
    if (h <= 0).any():
        bad = np.flatnonzero(h <= 0).tolist()
        raise DataError(f"factor(s) {bad} take a single value (zero entropy); MIG is undefined")
    m = mutual_info_matrix(discretize(c, n_bins), y_labels)
    gaps = _top_two_gap(m) / h
    return {"mig": float(gaps.mean()), "per_factor": gaps, "mutual_info": m, "factor_entropy": h}


# ---- FactorVAE ---------------------------------------------------------------------------------
def _sample_codes(
    sample_fn: SampleFn, factor: int | None, n: int, rng: np.random.Generator, dim: int | None
) -> np.ndarray:
    out = _codes_2d(sample_fn(factor, n, rng), "sample_fn output")
    if out.shape[0] != n:
        raise DataError(f"sample_fn returned {out.shape[0]} codes; {n} were asked for")
    if dim is not None and out.shape[1] != dim:
        raise DataError(f"sample_fn returned codes of dimension {out.shape[1]}, earlier {dim}")
    return out


def factor_vae_score(
    sample_fn: SampleFn,
    n_factors: int,
    rng: np.random.Generator | int,
    batch_size: int = 64,
    n_train: int = 10000,
    n_eval: int = 5000,
    n_variance_estimate: int = 10000,
    prune_threshold: float = 0.05,
) -> dict[str, Any]:
    """FactorVAE disentanglement score (Kim & Mnih, "Disentangling by Factorising", ICML 2018).

    Definition: each code dimension is divided by its standard deviation over the whole data.
    A vote is made from a batch of `batch_size` samples that share the value of one randomly
    chosen factor k: the normalised dimension with the smallest variance in the batch, d*, is
    paired with k. A majority-vote classifier maps each dimension to the factor it was most
    often paired with; the score is its accuracy on `n_eval` fresh votes (1 = every factor owns
    a dimension; chance = 1/n_factors).

    Sampler contract: `sample_fn(fixed_factor_index, n, rng) -> (n, d) codes` of n samples
    whose factor `fixed_factor_index` has one common value drawn at random (all other factors
    random); with `fixed_factor_index=None` every factor is random. Draw all randomness from the
    given `rng`.

    Settings (disentanglement_lib, `factor_vae_metric.gin`): batch_size=64, n_train=10000,
    n_eval=5000, n_variance_estimate=10000, variances with ddof=1, and pruning of collapsed
    dimensions with `prune_dims.threshold = 0.05`. disentanglement_lib's rule compares the
    global standard deviation (not the variance) with the threshold and keeps a dimension when
    sqrt(var) >= threshold, so dimensions with global variance below 0.0025 are pruned. Use
    smaller counts for quick checks.

    Returns:
        {"train_accuracy", "eval_accuracy": float, "num_active_dims": int, "votes": (n_factors,
        d) int64 training votes (rows factors, columns code dimensions)}.

    Differences from disentanglement_lib: (1) it records the vote under the argmin's index
    among the active dimensions but reports `num_active_dims` as the length of the boolean mask
    (always d); here votes use the original dimension index and `num_active_dims` is the true
    count. The accuracies are identical. (2) Dimensions with zero global variance are never
    active, even with `prune_threshold=0` (disentanglement_lib would divide by zero). If no
    dimension is active both accuracies are 0, as there.
    """
    rng = _generator(rng)
    n_factors = _positive_int(n_factors, "n_factors")
    batch_size = _positive_int(batch_size, "batch_size", 2)
    n_train = _positive_int(n_train, "n_train")
    n_eval = _positive_int(n_eval, "n_eval")
    n_variance_estimate = _positive_int(n_variance_estimate, "n_variance_estimate", 2)
    if not prune_threshold >= 0:
        raise ConfigError(f"prune_threshold must be >= 0; got {prune_threshold!r}")

    global_codes = _sample_codes(sample_fn, None, n_variance_estimate, rng, None)
    dim = global_codes.shape[1]
    global_var = global_codes.var(axis=0, ddof=1)
    active = np.flatnonzero(np.sqrt(global_var) >= prune_threshold)
    active = active[global_var[active] > 0]
    if active.size == 0:
        return {
            "train_accuracy": 0.0,
            "eval_accuracy": 0.0,
            "num_active_dims": 0,
            "votes": np.zeros((n_factors, dim), dtype=np.int64),
        }

    def votes(n: int) -> np.ndarray:
        table = np.zeros((n_factors, dim), dtype=np.int64)
        for _ in range(n):
            factor = int(rng.integers(n_factors))
            local = _sample_codes(sample_fn, factor, batch_size, rng, dim)
            ratio = local[:, active].var(axis=0, ddof=1) / global_var[active]
            table[factor, active[int(np.argmin(ratio))]] += 1
        return table

    train_votes = votes(n_train)
    classifier = np.argmax(train_votes, axis=0)
    columns = np.arange(dim)
    train_acc = train_votes[classifier, columns].sum() / train_votes.sum()
    eval_votes = votes(n_eval)
    eval_acc = eval_votes[classifier, columns].sum() / eval_votes.sum()
    return {
        "train_accuracy": float(train_acc),
        "eval_accuracy": float(eval_acc),
        "num_active_dims": int(active.size),
        "votes": train_votes,
    }


# ---- BetaVAE -----------------------------------------------------------------------------------
def beta_vae_score(
    sample_pairs_fn: PairSampleFn,
    n_factors: int,
    rng: np.random.Generator | int,
    batch_size: int = 64,
    n_train: int = 10000,
    n_eval: int = 5000,
) -> dict[str, float]:
    """BetaVAE disentanglement score (Higgins et al., "beta-VAE: Learning Basic Visual Concepts
    with a Constrained Variational Framework", ICLR 2017).

    Definition: one training point is made from `batch_size` pairs of samples; within each pair
    one randomly chosen factor k has the same value and all others are drawn independently.
    The feature is the mean over the batch of |z_a - z_b| (one value per code dimension), the
    label is k. A linear classifier predicts k from the feature; the score is its accuracy
    (chance = 1/n_factors). In a disentangled code the dimension of the fixed factor is ~0.

    Sampler contract: `sample_pairs_fn(factor_index, n, rng) -> (codes_a, codes_b)`, both
    (n, d), row i of each being a pair that shares the value of factor `factor_index`.

    Settings (disentanglement_lib, `beta_vae_sklearn.gin`): batch_size=64, n_train=10000,
    n_eval=5000, scikit-learn `LogisticRegression` with its default settings (L2, C=1, lbfgs).

    Returns:
        {"train_accuracy": float, "eval_accuracy": float}.

    Differences from disentanglement_lib: the logistic regression gets `max_iter=1000` instead
    of scikit-learn's default 100, so it converges instead of warning; where the default already
    converges the model is the same. The original paper used a linear classifier trained with
    Adagrad; disentanglement_lib's scikit-learn variant is followed here.
    """
    from sklearn.linear_model import LogisticRegression

    rng = _generator(rng)
    n_factors = _positive_int(n_factors, "n_factors", 2)
    batch_size = _positive_int(batch_size, "batch_size")
    n_train = _positive_int(n_train, "n_train", 2)
    n_eval = _positive_int(n_eval, "n_eval")
    dim: list[int] = []

    def points(n: int) -> tuple[np.ndarray, np.ndarray]:
        labels = np.empty(n, dtype=np.int64)
        feats = []
        for i in range(n):
            factor = int(rng.integers(n_factors))
            a, b = sample_pairs_fn(factor, batch_size, rng)
            a = _codes_2d(a, "sample_pairs_fn output")
            b = _codes_2d(b, "sample_pairs_fn output")
            if a.shape != b.shape or a.shape[0] != batch_size:
                raise DataError(
                    f"sample_pairs_fn returned shapes {a.shape} and {b.shape}; "
                    f"expected two ({batch_size}, d) arrays"
                )
            if dim and a.shape[1] != dim[0]:
                raise DataError(
                    f"sample_pairs_fn returned dimension {a.shape[1]}, earlier {dim[0]}"
                )
            dim[:] = [a.shape[1]]
            labels[i] = factor
            feats.append(np.abs(a - b).mean(axis=0))
        return np.stack(feats), labels

    x_train, y_train = points(n_train)
    if np.unique(y_train).size < 2:
        raise DataError("the training votes cover a single factor; increase n_train")
    model = LogisticRegression(max_iter=1000)
    model.fit(x_train, y_train)
    train_acc = float(np.mean(model.predict(x_train) == y_train))
    x_eval, y_eval = points(n_eval)
    eval_acc = float(np.mean(model.predict(x_eval) == y_eval))
    return {"train_accuracy": train_acc, "eval_accuracy": eval_acc}


# ---- DCI ---------------------------------------------------------------------------------------
def _weighted_one_minus_entropy(p: np.ndarray) -> float:
    """sum_r w_r (1 - H_base(p_r / sum p_r)) with w_r = sum p_r / sum p, base = p.shape[1].

    Rows with zero mass get weight 0. With a single column the entropy is 0 (score 1)."""
    mass = p.sum(axis=1)
    total = mass.sum()
    if total <= 0:
        return 0.0
    n = p.shape[1]
    if n == 1:
        return 1.0
    per_row = np.zeros(p.shape[0])
    nz = mass > 0
    q = p[nz] / mass[nz, None]
    with np.errstate(divide="ignore", invalid="ignore"):
        plogp = np.where(q > 0, q * np.log(q), 0.0)
    per_row[nz] = 1.0 + plogp.sum(axis=1) / np.log(n)
    return float(np.sum(per_row * mass / total))


def dci_disentanglement(importance: Any) -> float:
    """Disentanglement D from a (d, k) importance matrix R (codes x factors).

    D = sum_i rho_i (1 - H_k(P_i.)), P_ij = R_ij / sum_j R_ij, rho_i = sum_j R_ij / sum R,
    H_k the entropy with log base k (number of factors)."""
    r = np.abs(_codes_2d(importance, "importance"))
    return _weighted_one_minus_entropy(r)


def dci_completeness(importance: Any) -> float:
    """Completeness C from a (d, k) importance matrix R (codes x factors).

    C = sum_j rho_j (1 - H_d(P~_.j)), P~_ij = R_ij / sum_i R_ij, rho_j = sum_i R_ij / sum R,
    H_d the entropy with log base d (number of code dimensions)."""
    r = np.abs(_codes_2d(importance, "importance"))
    return _weighted_one_minus_entropy(r.T)


def _importance(
    method: str, x_tr: np.ndarray, y_tr: np.ndarray, x_te: np.ndarray, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Fit one predictor of a label-encoded factor; returns importances (d,), train and test
    predictions."""
    if method == "gbt":
        from sklearn.ensemble import GradientBoostingClassifier

        model = GradientBoostingClassifier(random_state=seed).fit(x_tr, y_tr)
        return np.abs(model.feature_importances_), model.predict(x_tr), model.predict(x_te)
    if method == "forest":
        from sklearn.ensemble import RandomForestClassifier

        model = RandomForestClassifier(
            n_estimators=100, max_depth=10, random_state=seed, n_jobs=1
        ).fit(x_tr, y_tr)
        return np.abs(model.feature_importances_), model.predict(x_tr), model.predict(x_te)
    from sklearn.linear_model import Lasso

    mean, std = x_tr.mean(axis=0), x_tr.std(axis=0)
    std = np.where(std > 0, std, 1.0)
    onehot = np.eye(int(y_tr.max()) + 1)[y_tr]
    model = Lasso(alpha=0.01, max_iter=5000).fit((x_tr - mean) / std, onehot)
    coef = np.atleast_2d(model.coef_)  # (classes, d)
    pred_tr = np.argmax(model.predict((x_tr - mean) / std).reshape(len(x_tr), -1), axis=1)
    pred_te = np.argmax(model.predict((x_te - mean) / std).reshape(len(x_te), -1), axis=1)
    return np.abs(coef).sum(axis=0), pred_tr, pred_te


def dci(
    codes_train: Any,
    factors_train: Any,
    codes_test: Any,
    factors_test: Any,
    method: str = "gbt",
    rng: np.random.Generator | int | None = None,
) -> dict[str, Any]:
    """Disentanglement, Completeness and Informativeness (Eastwood & Williams, "A Framework for
    the Quantitative Evaluation of Disentangled Representations", ICLR 2018).

    Definition: one predictor per factor j is trained on the codes; its feature importances
    give column j of the importance matrix R (d codes x k factors). With P_ij = R_ij / sum_j R_ij
    and entropies in log base k (resp. d):

    * disentanglement D = sum_i rho_i (1 - H_k(P_i.)), rho_i = sum_j R_ij / sum R: each code
      dimension should matter for one factor only;
    * completeness C = sum_j rho_j (1 - H_d(P~_.j)), P~_ij = R_ij / sum_i R_ij, rho_j =
      sum_i R_ij / sum R: each factor should be captured by one code dimension;
    * informativeness: mean prediction accuracy over factors, on the train and test sets.

    Settings (disentanglement_lib, `dci.gin`): `method="gbt"`: scikit-learn
    `GradientBoostingClassifier()` with default settings (100 trees of depth 3, learning rate
    0.1), importances = `feature_importances_`; disentanglement_lib draws 10,000 train and
    5,000 test samples. Faster options (not in disentanglement_lib): `"forest"`
    (RandomForestClassifier, 100 trees, max_depth 10) and `"lasso"` (scikit-learn `Lasso`,
    alpha 0.01, on standardised codes regressing the one-hot factor; importance = sum over
    classes of |coefficient|; prediction = argmax). GBT is slow on many classes and samples.

    `rng` only seeds the estimator (feature-order tie breaking for GBT, bootstrap for the
    forest); None uses seed 0 so that results are reproducible.

    Returns:
        {"disentanglement", "completeness", "informativeness_train", "informativeness_test":
        float, "importance_matrix": (d, k)}.

    Differences from disentanglement_lib: it adds 1e-11 to the importances before taking
    entropies; here 0 log 0 = 0 is used exactly (differences of order 1e-9). A factor with a
    single value in the training set raises `DataError` (disentanglement_lib fails inside
    scikit-learn). With one factor (or one code dimension) D (or C) is defined as 1 instead of
    NaN. The names `informativeness_*` hold accuracies, as in disentanglement_lib.
    """
    if method not in DCI_METHODS:
        raise ConfigError(f"unknown DCI method {method!r}; choose one of {list(DCI_METHODS)}")
    x_tr, x_te = _codes_2d(codes_train, "codes_train"), _codes_2d(codes_test, "codes_test")
    y_tr = _factors_2d(factors_train, "factors_train")
    y_te = _factors_2d(factors_test, "factors_test")
    _same_length(x_tr, y_tr, "codes_train and factors_train")
    _same_length(x_te, y_te, "codes_test and factors_test")
    if x_tr.shape[1] != x_te.shape[1] or y_tr.shape[1] != y_te.shape[1]:
        raise DataError(
            f"train and test shapes differ: codes {x_tr.shape[1]} vs "
            f"{x_te.shape[1]} dims, factors {y_tr.shape[1]} vs {y_te.shape[1]}"
        )
    seed = 0 if rng is None else int(_generator(rng).integers(2**31 - 1))
    d, k = x_tr.shape[1], y_tr.shape[1]
    importance = np.zeros((d, k), dtype=np.float64)
    acc_tr, acc_te = [], []
    for j in range(k):
        values, labels_tr = np.unique(y_tr[:, j], return_inverse=True)
        labels_tr = labels_tr.reshape(-1)
        if values.size < 2:
            raise DataError(f"factor {j} takes a single value in the training set")
        imp, pred_tr, pred_te = _importance(method, x_tr, labels_tr, x_te, seed)
        importance[:, j] = imp
        acc_tr.append(np.mean(values[pred_tr] == y_tr[:, j]))
        acc_te.append(np.mean(values[pred_te] == y_te[:, j]))
    return {
        "disentanglement": dci_disentanglement(importance),
        "completeness": dci_completeness(importance),
        "informativeness_train": float(np.mean(acc_tr)),
        "informativeness_test": float(np.mean(acc_te)),
        "importance_matrix": importance,
    }


# ---- SAP ---------------------------------------------------------------------------------------
def sap(
    codes_train: Any,
    factors_train: Any,
    codes_test: Any,
    factors_test: Any,
    continuous_factors: bool = False,
) -> dict[str, Any]:
    """Separated Attribute Predictability (Kumar et al., "Variational Inference of Disentangled
    Latent Concepts from Unlabeled Observations", ICLR 2018, Section 3).

    Definition: a score matrix S (d codes x k factors) measures how well each single code
    dimension predicts each factor; SAP is the mean over factors of the gap between the two
    largest entries of that factor's column. High when every factor is predictable from one
    dimension only; 0 when the two best dimensions are equally good.

    Settings (disentanglement_lib, `sap_score.gin`: continuous_factors=False, 10,000 train and
    5,000 test samples):

    * discrete factors: S_ij = test accuracy of a linear SVM on code i alone
      (scikit-learn `LinearSVC(C=0.01, class_weight="balanced")`, one-vs-rest), trained on the
      train split. On one dimension a one-vs-rest linear SVM separates few classes, so scores
      drop for factors with many values;
    * continuous factors: S_ij = squared correlation (R^2 of a 1-D linear regression) between
      code i and factor j on the train split only (as in disentanglement_lib; the test split
      is unused); S_ij = 0 when var(code_i) <= 1e-12.

    Returns:
        {"sap": float, "per_factor": (k,) gaps, "score_matrix": (d, k)}.

    Differences from disentanglement_lib: `LinearSVC` is given `dual=False` (the primal
    form of the same problem; scikit-learn's default changed across versions). A constant
    continuous factor raises `DataError` instead of dividing by zero; fewer than two code
    dimensions raise `DataError`.
    """
    x_tr, x_te = _codes_2d(codes_train, "codes_train"), _codes_2d(codes_test, "codes_test")
    y_tr = _factors_2d(factors_train, "factors_train")
    y_te = _factors_2d(factors_test, "factors_test")
    _same_length(x_tr, y_tr, "codes_train and factors_train")
    _same_length(x_te, y_te, "codes_test and factors_test")
    if x_tr.shape[1] != x_te.shape[1] or y_tr.shape[1] != y_te.shape[1]:
        raise DataError("train and test splits have different numbers of codes or factors")
    d, k = x_tr.shape[1], y_tr.shape[1]
    if d < 2:
        raise DataError("SAP needs at least 2 code dimensions (it is a gap between the top two)")
    s = np.zeros((d, k), dtype=np.float64)
    if continuous_factors:
        y = _codes_2d(y_tr, "factors_train")
        for j in range(k):
            yc = y[:, j] - y[:, j].mean()
            var_y = float(yc @ yc)
            if var_y <= 0:
                raise DataError(f"factor {j} is constant; its SAP score is undefined")
            for i in range(d):
                xc = x_tr[:, i] - x_tr[:, i].mean()
                var_x = float(xc @ xc)
                if var_x / max(len(xc) - 1, 1) > 1e-12:
                    s[i, j] = float(xc @ yc) ** 2 / (var_x * var_y)
    else:
        from sklearn.svm import LinearSVC

        for j in range(k):
            if np.unique(y_tr[:, j]).size < 2:
                raise DataError(f"factor {j} takes a single value in the training set")
            for i in range(d):
                clf = LinearSVC(C=0.01, class_weight="balanced", dual=False)
                clf.fit(x_tr[:, i : i + 1], y_tr[:, j])
                s[i, j] = float(np.mean(clf.predict(x_te[:, i : i + 1]) == y_te[:, j]))
    gaps = _top_two_gap(s)
    return {"sap": float(gaps.mean()), "per_factor": gaps, "score_matrix": s}


__all__ = [
    "beta_vae_score",
    "dci",
    "dci_completeness",
    "dci_disentanglement",
    "discretize",
    "entropy",
    "factor_vae_score",
    "mig",
    "mutual_info_matrix",
    "sap",
]
