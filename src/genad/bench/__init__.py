"""Benchmark runners (models x classes x seeds) and the published reference figures."""
from genad.bench.runner import bench, summarise

__all__ = ["bench", "summarise"]
