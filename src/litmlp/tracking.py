"""MLflow and Weights & Biases as a run uses them (`logger=mlflow`, `logger=wandb`): one tracker run per
litmlp run, its id kept in the run directory, so that a resumed run continues it; `closing_runs` ends them
once a job has logged everything.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import re
import secrets
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

from lightning.pytorch.loggers import Logger
from lightning.pytorch.loggers import MLFlowLogger as LightningMLFlowLogger
from lightning.pytorch.loggers import WandbLogger as LightningWandbLogger
from lightning.pytorch.loggers.logger import rank_zero_experiment
from lightning.pytorch.utilities import rank_zero_only

from litmlp.errors import LitmlpError, RunInterrupted, StopRequested
from litmlp.loggers import job_name, without_epoch

log = logging.getLogger(__name__)


def _require(module: str, extra: str, logger: str) -> None:
    if importlib.util.find_spec(module) is None:
        raise LitmlpError(f"logger={logger} needs {module}: pip install 'litmlp[{extra}]'")


def _read_run_file(path: Path) -> dict[str, Any]:
    """The tracking run a run directory logged to (`{}` for a new run)."""
    try:
        content = json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as error:
        raise LitmlpError(f"{path}: not a readable run record ({error}); delete it for a new run") from None
    return content if isinstance(content, dict) else {}


def _write_run_file(path: Path, content: Mapping[str, Any]) -> None:
    from litmlp.files import replacing

    path.parent.mkdir(parents=True, exist_ok=True)
    with replacing(path) as partial:
        partial.write_text(json.dumps(content, indent=2, sort_keys=True) + "\n")


@contextlib.contextmanager
def _locked(path: Path) -> Iterator[None]:
    """Held while a job creates the tracking store, its experiment or its run: the jobs of a parallel
    sweep start together, and two processes creating MLflow's tables at once would collide."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as file:
        fcntl.flock(file, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(file, fcntl.LOCK_UN)


class MLFlowLogger(LightningMLFlowLogger):
    """Lightning's `MLFlowLogger`, one MLflow run per litmlp run: a resumed run continues it.

    The run's id is kept in `<save_dir>/mlflow.json`. With a local store (an `sqlite:///` URI, the
    default `logs/mlflow/mlflow.db`), artifacts go beside it (`artifacts/`) unless `artifact_location`
    says otherwise. A resumed run does not log again the points the stopped run logged after its last
    checkpoint (the resumed run repeats those steps with the same values), and MLflow keeps a parameter's
    first value: one a resumed run changes (`trainer.max_epochs`) is logged as the tag `changed/<key>`.
    `log_run_files` adds the best checkpoint and `metrics.json` as the run's artifacts."""

    RUN_FILE = "mlflow.json"

    def __init__(
        self,
        save_dir: str,
        experiment_name: str = "litmlp",
        run_name: str | None = None,
        tracking_uri: str | None = None,
        artifact_location: str | None = None,
        prefix: str = "",
    ) -> None:
        _require("mlflow", "mlflow", "mlflow")
        tracking_uri = tracking_uri or f"sqlite:///{save_dir}/mlflow.db"  # conf/logger/mlflow.yaml sets it
        self._store = _sqlite_path(tracking_uri)
        if self._store is not None:
            self._store.parent.mkdir(parents=True, exist_ok=True)
            artifact_location = artifact_location or str(self._store.parent / "artifacts")
        self._run_dir = Path(save_dir)
        saved = _read_run_file(self._run_dir / self.RUN_FILE)
        self._continued = saved.get("tracking_uri") == tracking_uri and bool(saved.get("run_id"))
        if saved.get("run_id") and not self._continued:
            log.warning(
                "%s: the run logged to MLflow run %s in %s; it now logs to a new run in %s",
                self._run_dir / self.RUN_FILE,
                saved["run_id"],
                saved.get("tracking_uri"),
                tracking_uri,
            )
        with _locked(self._lock_file):  # MLflow's client creates the store's tables (a new SQLite file)
            super().__init__(
                experiment_name=experiment_name,
                run_name=run_name or job_name(save_dir),
                tracking_uri=tracking_uri,
                artifact_location=artifact_location,
                prefix=prefix,
                run_id=saved["run_id"] if self._continued else None,
                tags={"litmlp.run_dir": str(self._run_dir.resolve())},
            )
        self._logged: dict[str, dict[int, float]] = {}  # the continued run's points: key, step, value
        self._params: dict[str, str] = {}

    @property
    def save_dir(self) -> str:
        return str(self._run_dir)

    @property
    def _lock_file(self) -> Path:
        return (self._store or self._run_dir / self.RUN_FILE).with_suffix(".lock")

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        if self._initialized:
            return self._mlflow_client
        with _locked(self._lock_file):
            if self._continued:
                self._continue_run()
            if self._run_id is None:
                self._experiment_id = self._experiment_id or self._find_or_create_experiment()
            client = super().experiment
        if not self._continued:
            _write_run_file(
                self._run_dir / self.RUN_FILE,
                {
                    "tracking_uri": self._tracking_uri,
                    "experiment_id": self._experiment_id,
                    "run_id": self._run_id,
                },
            )
        return client

    def _find_or_create_experiment(self) -> str:
        """The experiment's id, made if need be; the jobs of a parallel sweep may race to make it (with a
        tracking server the lock file is no shared lock): the loser finds the winner's."""
        from mlflow.exceptions import MlflowException

        for _ in range(2):
            found = self._mlflow_client.get_experiment_by_name(self._experiment_name)
            if found is not None and found.lifecycle_stage != "deleted":
                return str(found.experiment_id)
            try:
                made = self._mlflow_client.create_experiment(
                    self._experiment_name, artifact_location=self._artifact_location
                )
                return str(made)
            except MlflowException as error:
                if error.error_code != "RESOURCE_ALREADY_EXISTS":
                    raise
        raise LitmlpError(f"MLflow experiment '{self._experiment_name}' exists but cannot be read or made")

    def _continue_run(self) -> None:
        from mlflow.exceptions import MlflowException

        try:
            run = self._mlflow_client.get_run(str(self._run_id))
            gone = "deleted" if run.info.lifecycle_stage == "deleted" else ""
        except MlflowException:
            run, gone = None, "not found"
        if run is None or gone:
            log.warning(
                "MLflow run %s (%s) is %s in %s: this run logs to a new one",
                self._run_id,
                self._run_dir / self.RUN_FILE,
                gone,
                self._tracking_uri,
            )
            self._run_id, self._continued = None, False
            return
        self._mlflow_client.update_run(str(self._run_id), status="RUNNING")
        self._params = dict(run.data.params)
        for key in run.data.metrics:
            history = self._mlflow_client.get_metric_history(str(self._run_id), key)
            self._logged[key] = {point.step: point.value for point in history}
        log.info("Continuing MLflow run %s", self._run_id)

    @rank_zero_only
    def log_hyperparams(self, params: Any) -> None:
        from lightning.fabric.utilities.logger import _convert_params, _flatten_dict

        _ = self.experiment
        # As Lightning logs them: a value cut to its first 250 characters
        flat = {key: str(value)[:250] for key, value in _flatten_dict(_convert_params(params)).items()}
        new = {key: value for key, value in flat.items() if key not in self._params}
        changed = {key: value for key, value in flat.items() if self._params.get(key, value) != value}
        if new:
            super().log_hyperparams(new)
            self._params.update(new)
        for key, value in changed.items():
            self._mlflow_client.set_tag(str(self._run_id), f"changed/{key}", value)

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        """A point the continued run already holds, same key, step and value, is not logged again: the
        stopped run logged it after its last checkpoint, and the resumed run repeats that step. (With
        another value, from kernels that are not deterministic, both stay: MLflow cannot drop a point.)"""
        _ = self.experiment
        at = step or 0
        metrics = without_epoch(metrics)
        if self._logged:  # a continued run
            logged = self._logged
            metrics = {k: v for k, v in metrics.items() if logged.get(self._stored_key(k), {}).get(at) != v}
        if metrics:
            super().log_metrics(metrics, step)

    def _stored_key(self, key: str) -> str:
        """The key as Lightning's logger sends it to MLflow: prefixed, characters MLflow refuses removed."""
        prefixed = f"{self._prefix}{self.LOGGER_JOIN_CHAR}{key}" if self._prefix else key
        return re.sub("[^a-zA-Z0-9_/. -]+", "", prefixed)

    @rank_zero_only
    def log_run_files(self, files: Mapping[str, str | Path]) -> None:
        """Each file as an artifact, in the folder its key names ('' for the top)."""
        for folder, path in files.items():
            self.experiment.log_artifact(self.run_id, str(path), folder or None)

    @rank_zero_only
    def close(self, status: str) -> None:
        """The run's end, once everything was logged: 'success', 'failed' or 'interrupted' (to resume)."""
        if self._initialized:
            ended = {"success": "FINISHED", "interrupted": "KILLED"}.get(status, "FAILED")
            self._mlflow_client.set_terminated(str(self._run_id), ended)


def _sqlite_path(uri: str) -> Path | None:
    prefix = "sqlite:///"
    return Path(uri[len(prefix) :]).resolve() if uri.startswith(prefix) else None


class WandbLogger(LightningWandbLogger):
    """Lightning's `WandbLogger`, offline by default (no account needed: `wandb sync <save_dir>/wandb/...`
    sends it later), one W&B run per litmlp run: the run's id is kept in `<save_dir>/wandb.json` and a
    resumed run continues it. `close` finishes the run, so the next job of a sweep run in the same process
    starts its own run instead of logging into this one (W&B's `wandb.run` is process-wide)."""

    RUN_FILE = "wandb.json"

    def __init__(
        self,
        save_dir: str,
        project: str = "litmlp",
        name: str | None = None,
        group: str | None = None,
        offline: bool = True,
        log_model: bool = False,
        prefix: str = "",
    ) -> None:
        _require("wandb", "wandb", "wandb")
        self._run_dir = Path(save_dir)
        saved = _read_run_file(self._run_dir / self.RUN_FILE)
        self._new_run = not saved.get("id")
        run_id = saved.get("id") or secrets.token_hex(4)
        super().__init__(
            name=name or job_name(save_dir),
            save_dir=save_dir,
            offline=offline,
            id=run_id,
            project=project,
            group=group,
            log_model=log_model,
            prefix=prefix,
            resume="allow",
        )

    @property
    @rank_zero_experiment
    def experiment(self) -> Any:
        import wandb

        if self._experiment is None and wandb.run is not None and wandb.run.id != self._id:
            wandb.run.finish()  # a run an earlier job in this process left open
        run = super().experiment
        if self._new_run:
            _write_run_file(self._run_dir / self.RUN_FILE, {"id": self._id, "project": self._project})
            self._new_run = False
        return run

    @rank_zero_only
    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        metrics = without_epoch(metrics)
        if metrics:
            super().log_metrics(metrics, step)

    @rank_zero_only
    def close(self, status: str) -> None:
        if self._experiment is not None:
            self._experiment.finish(exit_code=0 if status == "success" else 1)
            self._experiment = None


@contextlib.contextmanager
def closing_runs(loggers: list[Logger]) -> Iterator[None]:
    """Ends the tracking runs (MLflow, W&B) of a job once the block has logged everything, however it
    ends: FINISHED, KILLED when stopped to be resumed (a stop signal), FAILED otherwise. A tracker that
    cannot be reached then (a server gone) is a warning: the run's own files are written, and an error of
    the run itself must not be replaced by this one."""
    status = "failed"
    try:
        yield
        status = "success"
    except (StopRequested, RunInterrupted):
        status = "interrupted"
        raise
    finally:
        for logger in loggers:
            if isinstance(logger, (MLFlowLogger, WandbLogger)):
                try:
                    logger.close(status)
                except Exception as error:
                    log.warning(
                        "could not end the %s run: %s: %s", type(logger).__name__, type(error).__name__, error
                    )
