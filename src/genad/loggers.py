"""Experiment trackers beside a run's metrics.jsonl: TensorBoard or MLflow (`--log`).

A logger gets the run's config once (as parameters), each epoch's record (what metrics.jsonl
holds: losses, seconds, img/s, the hook's extras) through the engine's `on_epoch_end` hook,
and the run's final figures. Epoch metrics are named `train/<key>`, final ones
`result/<key>`, the step being the epoch.

- tensorboard: `torch.utils.tensorboard.SummaryWriter` writing RUN/tensorboard/ (scalars, the
  config as text, and the config with the final figures on the HParams tab);
  `tensorboard --logdir RUN/tensorboard`.
- mlflow: an MLflow run in the experiment $MLFLOW_EXPERIMENT_NAME (default "genad") of the
  tracking store $MLFLOW_TRACKING_URI, by default an SQLite store in the run folder,
  RUN/mlruns/mlflow.db (MLflow 3 refuses a plain-file store unless told to):
  `mlflow ui --backend-store-uri sqlite:///RUN/mlruns/mlflow.db`.

Both packages are optional extras (pip install 'genad[tensorboard]' / 'genad[mlflow]'),
imported only here and only when asked for; `require` checks one before any training.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import time
from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from genad.errors import ConfigError

KINDS = ("tensorboard", "mlflow")
TB_FOLDER, MLFLOW_FOLDER = "tensorboard", "mlruns"  # inside the run folder


def require(kind: str) -> None:
    """A one-line ConfigError naming the pip command unless `kind`'s package imports."""
    if kind not in KINDS:
        raise ConfigError(f"unknown logger {kind!r}: use {' or '.join(KINDS)}")
    try:
        if kind == "tensorboard":
            from torch.utils.tensorboard import SummaryWriter  # noqa: F401
        else:
            import mlflow  # noqa: F401
    except ImportError as e:
        raise ConfigError(f"--log {kind} needs the {kind} package: pip install 'genad[{kind}]' "
                          f"(or pip install {kind}); importing it failed: {e}") from None


def flatten(config: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """{"params": {"epochs": 2}} -> {"params.epochs": 2}; other values as they are."""
    out: dict[str, Any] = {}
    for k, v in config.items():
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[f"{prefix}{k}"] = v
    return out


def numbers(record: Mapping[str, Any], skip: tuple[str, ...] = ()) -> dict[str, float]:
    """The finite int / float values of `record` (no bools, None or text), minus `skip`."""
    return {k: float(v) for k, v in record.items()
            if k not in skip and isinstance(v, (int, float)) and not isinstance(v, bool)
            and math.isfinite(v)}


class Logger(ABC):
    """What a run tells a tracker; `hook` is the engine's `on_epoch_end`."""

    def __init__(self) -> None:
        self.last_epoch = 0

    def hook(self, inner: Callable[[int, Any], dict | None] | None = None
             ) -> Callable[[int, Any], dict]:
        """An `on_epoch_end` hook that runs `inner` (its extras join the record), then logs
        the epoch's record (`model.history_[-1]`, see genad.train.fit)."""
        def on_epoch_end(epoch: int, model: Any) -> dict:
            extra = (inner(epoch, model) if inner is not None else None) or {}
            self.log_epoch({**model.history_[-1], **extra, "epoch": epoch})
            return extra
        return on_epoch_end

    def log_epoch(self, record: Mapping[str, Any]) -> None:
        """One epoch's record (it holds "epoch"): its numbers as train/<key> at that step."""
        self.last_epoch = int(record["epoch"])
        self._scalars({f"train/{k}": v for k, v in numbers(record, ("epoch", "step")).items()},
                      self.last_epoch)

    def log_result(self, result: Mapping[str, Any]) -> None:
        """The run's final figures as result/<key>, at the last epoch logged."""
        self._result({f"result/{k}": v for k, v in numbers(result, ("seed",)).items()})

    @abstractmethod
    def _scalars(self, values: dict[str, float], step: int) -> None: ...

    def _result(self, values: dict[str, float]) -> None:
        self._scalars(values, self.last_epoch)

    @abstractmethod
    def close(self, status: str = "FINISHED") -> None:
        """Flush and end the run; status FINISHED, FAILED or KILLED (an interrupt)."""


class TensorBoardLogger(Logger):
    """Event files in run_dir/tensorboard. On resume, events from the first epoch trained
    again on are dropped (SummaryWriter's purge_step), so an epoch is not drawn twice."""

    def __init__(self, run_dir: Path, config: Mapping[str, Any], first_epoch: int = 1) -> None:
        from torch.utils.tensorboard import SummaryWriter

        super().__init__()
        self.last_epoch = first_epoch - 1
        self.config = flatten(config)
        self.writer = SummaryWriter(str(run_dir / TB_FOLDER),
                                    purge_step=first_epoch if first_epoch > 1 else None)
        if first_epoch == 1:
            text = json.dumps(dict(config), indent=2, default=str)
            self.writer.add_text("config", "    " + text.replace("\n", "\n    "), 0)

    def _scalars(self, values: dict[str, float], step: int) -> None:
        for k, v in values.items():
            self.writer.add_scalar(k, v, step)
        self.writer.flush()  # once an epoch: a killed run keeps its curves

    def _result(self, values: dict[str, float]) -> None:
        """The figures as scalars and, with the config, on the HParams tab."""
        from torch.utils.tensorboard.summary import hparams

        params = {k: v if isinstance(v, (int, float, str, bool)) else str(v)
                  for k, v in self.config.items()}
        for summary in hparams(params, values):
            self.writer.file_writer.add_summary(summary, self.last_epoch)
        self._scalars(values, self.last_epoch)

    def close(self, status: str = "FINISHED") -> None:
        self.writer.close()


_MLFLOW_KEY = re.compile(r"[^0-9A-Za-z_\-. /]")  # MLflow's allowed name characters
MLFLOW_BATCH = 100  # params per log_batch call (MLflow's limit)


class MLflowLogger(Logger):
    """One MLflow run per run folder, found again on resume by a tag that keys the folder."""

    def __init__(self, run_dir: Path, config: Mapping[str, Any], resume: bool = False) -> None:
        from mlflow import MlflowClient
        from mlflow.entities import Param, RunTag
        from mlflow.exceptions import MlflowException

        super().__init__()
        run_dir = run_dir.resolve()
        uri = os.environ.get("MLFLOW_TRACKING_URI")
        store = run_dir / MLFLOW_FOLDER
        if not uri:
            store.mkdir(parents=True, exist_ok=True)
            uri = f"sqlite:///{store / 'mlflow.db'}"
        name = os.environ.get("MLFLOW_EXPERIMENT_NAME") or "genad"
        key = hashlib.sha1(str(run_dir).encode()).hexdigest()[:16]
        try:
            self.client = MlflowClient(tracking_uri=uri)
            found = self.client.get_experiment_by_name(name)
            exp = found.experiment_id if found is not None else self.client.create_experiment(
                name, artifact_location=None if os.environ.get("MLFLOW_TRACKING_URI")
                else (store / "artifacts").as_uri())
            old = self.client.search_runs(
                [exp], f"tags.`genad.folder_key` = '{key}'", max_results=1,
                order_by=["attributes.start_time DESC"]) if resume else []
        except MlflowException as e:
            first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ConfigError(f"mlflow cannot log to {uri}: {first}") from None
        if old:  # resume: the same MLflow run, its parameters already logged
            self.run_id = old[0].info.run_id
            self.client.update_run(self.run_id, status="RUNNING")
            return
        tags = {"genad.run_folder": str(run_dir), "genad.folder_key": key,
                "genad.model": str(config.get("model", ""))}
        self.run_id = self.client.create_run(exp, run_name=run_dir.name, tags=tags).info.run_id
        params = [Param(_MLFLOW_KEY.sub("_", k), str(v)[:500])
                  for k, v in flatten(config).items()]
        for i in range(0, len(params), MLFLOW_BATCH):
            self.client.log_batch(self.run_id, params=params[i:i + MLFLOW_BATCH])
        self.client.log_batch(self.run_id, tags=[RunTag("genad.config", json.dumps(
            dict(config), default=str)[:5000])])

    def _scalars(self, values: dict[str, float], step: int) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        metrics = [Metric(_MLFLOW_KEY.sub("_", k), v, now, step) for k, v in values.items()]
        if metrics:
            self.client.log_batch(self.run_id, metrics=metrics)

    def close(self, status: str = "FINISHED") -> None:
        self.client.set_terminated(self.run_id, status)


def open_logger(kind: str, run_dir: str | Path, config: Mapping[str, Any], *,
                resume: bool = False) -> Logger:
    """A `kind` logger for the run folder `run_dir` (created by then), given the run's
    resolved `config` (config.json's) to log as parameters. resume: the run continues from
    its newest checkpoint (TensorBoard drops events from there on; MLflow reopens its run)."""
    require(kind)
    run_dir = Path(run_dir)
    if kind == "mlflow":
        return MLflowLogger(run_dir, config, resume)
    first = 1
    if resume:
        from genad.train import latest_checkpoint

        stem = latest_checkpoint(run_dir)
        if stem is not None:
            first = int(json.loads(stem.with_suffix(".json").read_text())["epoch"]) + 1
    return TensorBoardLogger(run_dir, config, first)
