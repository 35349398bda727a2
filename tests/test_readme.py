"""README's Python example runs as written (with fewer epochs, in a temporary folder)."""

from __future__ import annotations

import re
from pathlib import Path

import numpy as np

README = Path(__file__).resolve().parents[1] / "README.md"


def test_readme_python_example_runs(tmp_path, monkeypatch) -> None:
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), flags=re.S)
    assert blocks, "README has no python example"
    code = blocks[0].replace("epochs=15", "epochs=1")
    assert "epochs=1" in code
    monkeypatch.chdir(tmp_path)
    namespace: dict = {}
    exec(compile(code, "README.md", "exec"), namespace)
    scores, labels, maps = namespace["scores"], namespace["labels"], namespace["maps"]
    split = namespace["split"]
    assert scores.shape == (len(split.test),) and np.isfinite(scores).all()
    assert set(np.unique(labels)) <= {0, 1}
    assert maps.shape == (len(split.test), 32, 32)
    assert (tmp_path / "runs" / "g3" / "model.safetensors").is_file()
    np.testing.assert_allclose(namespace["det"].decision_function(split.test), scores, atol=1e-6)
    assert namespace["proba"].shape == (len(split.test), 2)
    assert namespace["labels_train"].shape == (len(split.train),)
