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
from genad.metrics.tables import (
    aggregate,
    pivot_markdown,
    print_table,
    read_csv,
    to_markdown,
    write_csv,
)

__all__ = [
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
