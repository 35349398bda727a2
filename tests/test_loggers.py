"""`genad train --log tensorboard|mlflow`: per-epoch metrics, the result and the config reach
the tracker, read back with the tracker's own reader; a missing package is one line before
any work. The tracker tests skip, saying why, where their package is not installed."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

from genad.cli import main

# one-vs-rest: digit 3 is the normal class, 146 training images, 364 test images
TINY = ["--protocol", "one-vs-rest", "--size", "16", "--image-size", "16", "--param", "width=8",
        "--param", "latent=4", "--epochs", "2", "--batch-size", "32", "--quiet"]
HAS_TB = importlib.util.find_spec("tensorboard") is not None
HAS_MLFLOW = importlib.util.find_spec("mlflow") is not None
needs_tb = pytest.mark.skipif(not HAS_TB, reason="tensorboard is not installed "
                              "(pip install 'genad[tensorboard]')")
needs_mlflow = pytest.mark.skipif(not HAS_MLFLOW, reason="mlflow is not installed "
                                  "(pip install 'genad[mlflow]')")


def train(out: Path, *extra: str) -> None:
    assert main(["train", "ae", "--cls", "3", "--out", str(out), *TINY, *extra]) == 0


def epochs_of(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "metrics.jsonl").read_text().splitlines()]


def events(folder: Path) -> object:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(folder), size_guidance={"scalars": 0, "tensors": 0})
    acc.Reload()
    return acc


@needs_tb
def test_tensorboard_gets_each_epoch_the_result_and_the_config(tmp_path) -> None:
    run = tmp_path / "tb"
    train(run, "--log", "tensorboard", "--select-on-test")
    acc = events(run / "tensorboard")
    rows, result = epochs_of(run), json.loads((run / "result.json").read_text())
    for key in ("rec", "seconds", "img_per_s", "test_auroc_for_selection"):
        got = [(e.step, e.value) for e in acc.Scalars(f"train/{key}")]
        assert got == [(r["epoch"], pytest.approx(r[key], rel=1e-5)) for r in rows], key
    assert [(e.step, e.value) for e in acc.Scalars("result/auroc")] == [
        (2, pytest.approx(result["auroc"], rel=1e-5))]
    assert "train/epoch" not in acc.Tags()["scalars"]
    config = acc.Tensors("config/text_summary")[0].tensor_proto.string_val[0].decode()
    assert '"model": "ae"' in config and '"epochs": 2' in config
    assert "_hparams_/experiment" in acc.PluginTagToContent("hparams")


@needs_tb
def test_tensorboard_resume_drops_the_epochs_trained_again(tmp_path) -> None:
    """A run killed after its checkpoint of epoch 1 trains epoch 2 on again: the killed
    run's later events go (purge_step), the new ones stay."""
    from genad.loggers import open_logger

    first = open_logger("tensorboard", tmp_path, {"model": "ae"})
    for epoch in (1, 2, 3):
        first.log_epoch({"epoch": epoch, "rec": 10.0 * epoch})
    first.close()
    (tmp_path / "checkpoint-0001.json").write_text(json.dumps({"epoch": 1}))
    again = open_logger("tensorboard", tmp_path, {"model": "ae"}, resume=True)
    for epoch in (2, 3):
        again.log_epoch({"epoch": epoch, "rec": float(epoch)})
    again.close()
    got = [(e.step, e.value) for e in events(tmp_path / "tensorboard").Scalars("train/rec")]
    assert got == [(1, 10.0), (2, 2.0), (3, 3.0)]


@needs_mlflow
@pytest.mark.filterwarnings("ignore:.*noload.*")  # SQLAlchemy's, about MLflow's own store
def test_mlflow_gets_each_epoch_the_result_and_the_config(tmp_path, monkeypatch) -> None:
    from mlflow import MlflowClient

    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("MLFLOW_EXPERIMENT_NAME", raising=False)
    run = tmp_path / "ml"
    train(run, "--log", "mlflow")
    client = MlflowClient(tracking_uri=f"sqlite:///{run / 'mlruns' / 'mlflow.db'}")
    (found,) = client.search_runs([client.get_experiment_by_name("genad").experiment_id])
    rows, result = epochs_of(run), json.loads((run / "result.json").read_text())
    history = client.get_metric_history(found.info.run_id, "train/rec")
    assert sorted((m.step, m.value) for m in history) == [
        (r["epoch"], pytest.approx(r["rec"])) for r in rows]
    assert found.data.metrics["result/auroc"] == pytest.approx(result["auroc"])
    params = found.data.params
    assert params["model"] == "ae" and params["params.epochs"] == "2"
    assert params["protocol"] == "one-vs-rest" and "versions.torch" in params
    assert found.info.status == "FINISHED" and found.info.run_name == "ml"
    assert found.data.tags["genad.run_folder"] == str(run.resolve())


@needs_mlflow
def test_mlflow_logs_to_the_tracking_uri_of_the_environment(tmp_path, monkeypatch) -> None:
    from mlflow import MlflowClient

    from genad.loggers import open_logger

    store = (tmp_path / "elsewhere").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")  # a fast store for the test
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "mine")
    logger = open_logger("mlflow", tmp_path / "run", {"model": "ae", "params": {"lr": 0.1}})
    logger.log_epoch({"epoch": 1, "step": 10, "rec": 0.5, "note": "text is not a metric"})
    logger.log_result({"auroc": 0.75, "seed": 0, "model": "ae"})
    logger.close("FAILED")
    assert not (tmp_path / "run" / "mlruns").exists()
    client = MlflowClient(tracking_uri=store)
    (found,) = client.search_runs([client.get_experiment_by_name("mine").experiment_id])
    assert found.data.params == {"model": "ae", "params.lr": "0.1"}
    assert found.data.metrics == {"train/rec": 0.5, "result/auroc": 0.75}
    assert found.info.status == "FAILED"


@pytest.mark.parametrize("kind, modules", [
    ("tensorboard", ("tensorboard", "torch.utils.tensorboard")),
    ("mlflow", ("mlflow",)),
])
def test_a_missing_package_is_one_line_before_any_work(kind, modules, tmp_path, monkeypatch,
                                                       capsys) -> None:
    for name in modules:  # an import of it now fails as if it were not installed
        monkeypatch.setitem(sys.modules, name, None)
    code = main(["train", "ae", "--cls", "3", "--out", str(tmp_path / "run"), *TINY,
                 "--log", kind])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "\n" not in err
    assert err.startswith("genad: error:") and f"pip install 'genad[{kind}]'" in err
    assert not (tmp_path / "run").exists()


def test_overwrite_moves_the_old_runs_logs_away(tmp_path) -> None:
    from genad.experiment import RunFolder
    from genad.io import versions

    run = tmp_path / "run"
    (run / "tensorboard").mkdir(parents=True)
    (run / "tensorboard" / "events.out.tfevents.1").write_text("old")
    (run / "config.json").write_text(json.dumps({"versions": versions()}))
    (run / "result.json").write_text("{}")
    (run / "notes.txt").write_text("the user's")
    RunFolder(run, overwrite=True)
    assert not (run / "tensorboard").exists() and (run / "notes.txt").exists()
    assert (run / RunFolder.PREVIOUS / "tensorboard" / "events.out.tfevents.1").exists()
