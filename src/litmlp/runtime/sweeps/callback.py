"""A Hydra callback that keeps a sweep's summary current: the tables after every run, all at the end."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn
from hydra.experimental.callback import Callback
from omegaconf import DictConfig

from litmlp.errors import LitmlpError
from litmlp.runtime.sweeps.summary import RunRow, summary_line, write_summary

log = logging.getLogger(__name__)


class SweepSummary(Callback):
    """`rank_by`: the metric runs are ranked by; None: each run's monitored metric (its best value)."""

    # The last finished sweep of this process: the CLI turns failed runs into its exit code.
    last: tuple[Path, list[RunRow]] | None = None

    def __init__(self, rank_by: str | None = None) -> None:
        self.rank_by = rank_by

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if config.hydra.mode.name != "MULTIRUN":
            return
        try:
            # The plot (matplotlib: ~1 s to import, ~0.3 s to draw) waits for the end of the sweep.
            write_summary(Path(config.hydra.runtime.output_dir).parent, plot=False, rank_by=self.rank_by)
        except LitmlpError as error:  # another run wrote a half-finished file meanwhile: next time
            log.warning("sweep summary not updated: %s", error)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        sweep_dir = Path(config.hydra.sweep.dir)
        if not sweep_dir.is_dir():  # a search with nothing left to run started no run
            return
        rows = write_summary(sweep_dir, rank_by=self.rank_by)
        SweepSummary.last = (sweep_dir, rows)
        log.info("Sweep done: %s", summary_line(rows, sweep_dir))
