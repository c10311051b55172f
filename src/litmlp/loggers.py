"""Lightning's loggers as a run uses them: TensorBoard without Lightning's `epoch` scalar, and CSV
continuing its file when a run resumes (`logger=csv`); MLflow and W&B are in `litmlp.tracking`.

Lightning's `CSVLogger` deletes an existing `metrics.csv` when it starts: a resumed run would keep only
the steps after the resume. This one appends to it; the rows the stopped run logged at steps the resumed
run repeats are dropped before it starts (`litmlp.runtime.event_files.rewind_csv_files`).
"""

from __future__ import annotations

import csv
import time
from collections.abc import Mapping
from pathlib import Path

from lightning.pytorch.loggers import CSVLogger
from lightning.pytorch.loggers import TensorBoardLogger as LightningTensorBoardLogger
from lightning.pytorch.loggers.csv_logs import ExperimentWriter
from lightning.pytorch.loggers.logger import rank_zero_experiment


def without_epoch(metrics: Mapping[str, float]) -> dict[str, float]:
    """The metrics without the `epoch` Lightning adds to every epoch-level write: the step orders them."""
    return {name: value for name, value in metrics.items() if name != "epoch"}


class ContinuingWriter(ExperimentWriter):
    """Appends to an existing `metrics.csv`; `rows_written` counts the rows in the file."""

    rows_written = 0

    def _check_log_dir_exists(self) -> None:
        """An existing `metrics.csv` is continued (its columns and rows counted), not deleted."""
        if self._fs.isfile(self.metrics_file_path):
            with self._fs.open(self.metrics_file_path, "r", newline="") as file:
                reader = csv.reader(file)
                self.metrics_keys = list(next(reader, []))
                self.rows_written = sum(1 for _ in reader)

    def save(self) -> None:
        pending = len(self.metrics)
        super().save()
        self.rows_written += pending


class ResumableCSVLogger(CSVLogger):
    """`CSVLogger` whose `metrics.csv` survives a resume; by default in `<save_dir>/csv/`."""

    def __init__(
        self,
        save_dir: str,
        name: str = "csv",
        version: int | str | None = "",
        prefix: str = "",
        flush_logs_every_n_steps: int = 100,
    ) -> None:
        super().__init__(
            save_dir,
            name=name,
            version=version,
            prefix=prefix,
            flush_logs_every_n_steps=flush_logs_every_n_steps,
        )

    @property
    @rank_zero_experiment
    def experiment(self) -> ExperimentWriter:
        if not isinstance(self._experiment, ExperimentWriter):
            self._fs.makedirs(self.root_dir, exist_ok=True)
            self._experiment = ContinuingWriter(log_dir=self.log_dir)
        return self._experiment


class TensorBoardLogger(LightningTensorBoardLogger):
    """Lightning's `TensorBoardLogger` (by default in `<save_dir>/tensorboard/`, without its placeholder
    `hp_metric`), minus the `epoch` scalar Lightning adds to every epoch-level write: the step axis orders
    the points already, and its group opened the dashboard ahead of the train and val curves.

    Lightning calls `save` after every write, and Lightning's logger then waits for its writer thread to
    put every pending event in the file (~1 ms here, several times an epoch). This one writes them out at
    most every `flush_every_s` seconds, and whenever `flush` is called: the resume checkpoint calls it
    before every save, and the run's end closes the file."""

    def __init__(
        self,
        save_dir: str,
        name: str = "tensorboard",
        version: int | str | None = "",
        log_graph: bool = False,
        default_hp_metric: bool = False,
        prefix: str = "",
        sub_dir: str | None = None,
        flush_every_s: float = 2.0,
    ) -> None:
        self.flush_every_s = flush_every_s
        self._flushed_at = -float("inf")
        super().__init__(
            save_dir,
            name=name,
            version=version,
            log_graph=log_graph,
            default_hp_metric=default_hp_metric,
            prefix=prefix,
            sub_dir=sub_dir,
        )

    def log_metrics(self, metrics: Mapping[str, float], step: int | None = None) -> None:
        metrics = without_epoch(metrics)
        if metrics:
            super().log_metrics(metrics, step)

    def save(self) -> None:
        if time.monotonic() - self._flushed_at >= self.flush_every_s:
            self.flush()

    def finalize(self, status: str) -> None:
        super().finalize(status)  # flushes and closes the file; a later write (HPARAMS) opens another one
        self._flushed_at = -float("inf")  # which the next `save` writes out

    def flush(self) -> None:
        """Every event logged so far is in the file when this returns."""
        super().save()
        self._flushed_at = time.monotonic()


def user_overrides() -> list[str]:
    """The command line's overrides of this run (a sweep job's own values), without a search's bookkeeping;
    empty outside a Hydra job."""
    from hydra.core.hydra_config import HydraConfig

    from litmlp.layout import NOT_SETTINGS

    if not HydraConfig.initialized():
        return []
    task = [str(override) for override in HydraConfig.get().overrides.task]
    return [o for o in task if not o.lstrip("+~").startswith(NOT_SETTINGS)]


def job_name(run_dir: str | Path) -> str:
    """A run's name in TensorBoard's HPARAMS table, MLflow and W&B: `#3 seed=1 model.optimizer.lr=0.01`
    for a sweep job (its number and the settings the sweep gave it), the run directory's name otherwise."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if HydraConfig.initialized() and HydraConfig.get().mode == RunMode.MULTIRUN:
        return " ".join([f"#{HydraConfig.get().job.num}", *user_overrides()])
    return Path(run_dir).name
