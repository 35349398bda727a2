"""Anomaly-detection metrics on arrays and results tables. Never imports `genad.models`."""

from genad.metrics.anomaly import (
    auprc,
    auroc,
    best_f1,
    check_inputs,
    f1_at,
    pixel_auroc,
    rates_at,
    roc_curve,
    summary,
)
from genad.metrics.disentangle import (
    beta_vae_score,
    dci,
    dci_completeness,
    dci_disentanglement,
    discretize,
    factor_vae_score,
    mig,
    mutual_info_matrix,
    sap,
)
from genad.metrics.fid import FeatureStats, fid_from_features, frechet_distance
from genad.metrics.info import (
    categorical_mi_lower_bound,
    discrete_total_correlation,
    gaussian_mi_lower_bound,
    gaussian_total_correlation,
)
from genad.metrics.tables import (
    aggregate,
    pivot_markdown,
    print_table,
    read_csv,
    to_markdown,
    write_csv,
)

__all__ = [
    "FeatureStats",
    "beta_vae_score",
    "categorical_mi_lower_bound",
    "dci",
    "dci_completeness",
    "dci_disentanglement",
    "discrete_total_correlation",
    "discretize",
    "factor_vae_score",
    "fid_from_features",
    "frechet_distance",
    "gaussian_mi_lower_bound",
    "gaussian_total_correlation",
    "mig",
    "mutual_info_matrix",
    "sap",
    "aggregate",
    "auprc",
    "auroc",
    "best_f1",
    "check_inputs",
    "f1_at",
    "pivot_markdown",
    "pixel_auroc",
    "print_table",
    "rates_at",
    "read_csv",
    "roc_curve",
    "summary",
    "to_markdown",
    "write_csv",
]
