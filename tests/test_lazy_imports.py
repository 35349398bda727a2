"""genad.metrics never imports genad.models, and the metrics and report modules import heavy
libraries only inside functions (so that `import genad` stays fast)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

LAZY = {  # module -> imports it may only make inside functions (import genad stays fast)
    "genad.metrics.anomaly": ("sklearn", "matplotlib", "rich", "torch"),
    "genad.metrics.tables": ("sklearn", "matplotlib", "rich", "torch"),
    "genad.report": ("sklearn", "matplotlib", "rich", "torch"),
    "genad.metrics.disentangle": ("sklearn", "scipy", "torch"),
    "genad.metrics.fid": ("sklearn", "scipy", "torch"),
    "genad.metrics.info": ("sklearn", "scipy", "torch"),
}


@pytest.mark.parametrize("name", sorted(LAZY))
def test_heavy_imports_stay_lazy(name: str) -> None:
    """metrics never imports genad.models; heavy libraries only inside functions."""
    import importlib

    module = importlib.import_module(name)
    tree = ast.parse(Path(module.__file__).read_text(encoding="utf-8"))
    top = [n for n in tree.body if isinstance(n, (ast.Import, ast.ImportFrom))]
    names = [a.name for n in top if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in top if isinstance(n, ast.ImportFrom)]
    for heavy in ("genad.models", *LAZY[name]):
        assert not any(x.startswith(heavy) for x in names), (name, heavy)


def test_metrics_never_import_models() -> None:
    import genad.metrics

    for path in Path(genad.metrics.__file__).parent.glob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert "from genad.models" not in text and "import genad.models" not in text
        assert "from genad import models" not in text
