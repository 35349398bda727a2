"""Benchmark runners (models x classes x seeds) and the published reference figures."""
from genad.bench.runner import Cell, bench, run_grid, summarise

__all__ = ["Cell", "bench", "run_grid", "summarise"]
