"""Keeps `checkpoints/last.ckpt` resumable, so `litmlp train resume=RUN_DIR` continues exactly.

It is written when training starts (a run stopped in its first epoch can resume), at the end of every
training epoch, every `every_n_train_steps` steps, and when the run is asked to stop (SIGTERM,
SIGINT/Ctrl-C, SIGUSR1 from SLURM before preemption, SIGPIPE when its console output was closed): the
signal only sets a flag, and the checkpoint is taken at the next step boundary, then the run exits with
`RunInterrupted`. A second Ctrl-C stops at once (`StopRequested`), keeping the previous checkpoint. In a
distributed run the ranks first agree on the step (a signal may reach only one of them).
Besides what Lightning saves (weights, optimizer, schedulers, loop progress, callbacks, the loader's
position in the epoch), it stores the RNG states, the state of every torchmetrics object of the module
(a metric updated each step holds the epoch so far: a run resumed mid-epoch then reports the same epoch
metrics as one that never stopped) and the wall time of the save; events that TensorBoard received after
that time belong to steps the resumed run will repeat.
"""

from __future__ import annotations

import logging
import os
import random
import signal
import subprocess
import time
from pathlib import Path
from types import FrameType
from typing import Any, cast

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.callbacks import Checkpoint, ModelCheckpoint
from torchmetrics import Metric

from litmlp.errors import LitmlpError, RunInterrupted, StopRequested
from litmlp.layout import LAST_CHECKPOINT_NAME
from litmlp.loggers import ContinuingWriter, ResumableCSVLogger, TensorBoardLogger
from litmlp.runtime.console import ignored_at_start, is_a_stop

log = logging.getLogger(__name__)

# When the resume checkpoint was saved: log entries written after that moment, at steps the resumed run
# logs again (from the checkpoint's global_step on), are dropped on resume (litmlp.runtime.event_files).
SAVED_AT_KEY = "litmlp_saved_at"
# The rows each CSV logger file (litmlp.loggers) held when the checkpoint was saved, by path in the run.
CSV_ROWS_KEY = "litmlp_csv_rows"
METRIC_STATES_KEY = "litmlp_metric_states"

# An all-reduce every step, even an asynchronous one, made a 2-rank CPU DDP step of the tutorial MLP 27-47%
# slower here (thread hand-offs on busy cores); every 10th step is within noise (0.95-1.01x; see
# scripts/benchmark_stop_vote.py). A stop then comes at most 20 steps after the signal.
VOTE_EVERY_N_STEPS = 10

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR1", "SIGPIPE") if hasattr(signal, name)
)


def rng_states() -> dict[str, Any]:
    """Every RNG a training step may draw from, as tensors and plain lists (weights_only-loadable)."""
    numpy_state = cast(tuple[str, np.ndarray, int, int, float], np.random.get_state(legacy=True))
    _, keys, position, has_gauss, gauss = numpy_state
    version, python_state, python_gauss = random.getstate()
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": {
            "keys": torch.from_numpy(keys.astype(np.int64)),
            "pos": int(position),
            "has_gauss": int(has_gauss),
            "gauss": float(gauss),
        },
        # One tensor, not a list of 625 ints: every checkpoint copy and save walks each list item.
        "python": {"version": version, "state": torch.tensor(python_state), "gauss": python_gauss},
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    torch.set_rng_state(states["torch"])
    numpy = states["numpy"]
    np.random.set_state(
        ("MT19937", numpy["keys"].numpy().astype(np.uint32), numpy["pos"], numpy["has_gauss"], numpy["gauss"])
    )
    python = states["python"]
    state = python["state"]  # a list of ints in checkpoints written by earlier versions
    state = state.tolist() if isinstance(state, torch.Tensor) else state
    random.setstate((python["version"], tuple(state), python["gauss"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class StopVote:
    """Makes every rank of a distributed run stop at the same step, whichever of them got the signal.

    A vote all-reduces (MAX) the signal numbers of the ranks (0 for none) over a CPU (gloo) group. During
    an epoch a vote is cast every VOTE_EVERY_N_STEPS steps and counted at the next one, so it never
    stalls a step; at the end of an epoch it is counted at once. All ranks vote at the same points, so they
    read the same outcomes.
    """

    def __init__(self) -> None:
        self.group = torch.distributed.new_group(backend="gloo")
        self.pending: tuple[torch.distributed.Work, torch.Tensor] | None = None

    def _start(self, signal_number: int | None) -> None:
        ballot = torch.tensor([signal_number or 0], dtype=torch.int32)
        work = torch.distributed.all_reduce(
            ballot, op=torch.distributed.ReduceOp.MAX, group=self.group, async_op=True
        )
        assert work is not None
        self.pending = (work, ballot)

    def _outcome(self) -> int:
        if self.pending is None:
            return 0
        work, ballot = self.pending
        self.pending = None
        work.wait()
        return int(ballot.item())

    def cast(self, signal_number: int | None) -> int | None:
        """Casts this rank's vote; returns the signal the previous vote agreed on, if any."""
        previous = self._outcome()
        self._start(signal_number)
        return previous or None

    def decide(self, signal_number: int | None) -> int | None:
        """The signal any rank has received by now, if any (waits for every rank's vote)."""
        previous = self._outcome()
        self._start(signal_number)
        return max(previous, self._outcome()) or None


class ResumeCheckpoint(Checkpoint):
    def __init__(
        self, dirpath: str, every_n_train_steps: int | None = None, filename: str = LAST_CHECKPOINT_NAME
    ) -> None:
        self.path = Path(dirpath) / filename
        self.every_n_train_steps = every_n_train_steps
        self.stop_signal: int | None = None
        self._stop_after_epoch: int | None = None
        self.saved_at: float | None = None
        self.csv_rows: dict[str, int] = {}
        self._vote: StopVote | None = None
        self._previous_handlers: dict[int, Any] = {}

    @property
    def last_model_path(self) -> str:
        return str(self.path) if self.path.is_file() else ""

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if not is_a_stop(signum):
            return
        if signum == signal.SIGINT and self.stop_signal == signal.SIGINT:
            for stop_signal in STOP_SIGNALS:  # another one must not interrupt the way out
                signal.signal(stop_signal, signal.SIG_IGN)
                self._previous_handlers[stop_signal] = signal.SIG_IGN
            raise StopRequested("SIGINT", "again, without waiting for the step's checkpoint")
        self.stop_signal = signum

    def setup(self, trainer: pl.Trainer, pl_module: pl.LightningModule, stage: str) -> None:
        """Refuse, before training, a ModelCheckpoint that would write over the resume checkpoint."""
        for callback in trainer.checkpoint_callbacks:
            if not isinstance(callback, ModelCheckpoint) or callback.dirpath is None:
                continue
            same_dir = Path(callback.dirpath).resolve() == self.path.parent.resolve()
            names = (
                {f"{callback.CHECKPOINT_NAME_LAST}{callback.FILE_EXTENSION}"} if callback.save_last else set()
            )
            if callback.filename is not None and "{" not in callback.filename:
                names.add(f"{callback.filename}{callback.FILE_EXTENSION}")
            if same_dir and self.path.name in names:
                raise LitmlpError(
                    f"callbacks.model_checkpoint would write {self.path}, the resume checkpoint: give it "
                    "another filename (or save_last=false), or put it in another dirpath"
                )

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Installed here, after Lightning registered its own SIGTERM/SLURM handlers at the start of fit.
        for signum in STOP_SIGNALS:
            if ignored_at_start(signum):
                continue  # ignored by whoever started the run (a background job's SIGINT): it stays so
            self._previous_handlers[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)
        if trainer.world_size > 1:
            self._vote = StopVote()
        if trainer.ckpt_path is None and not self._skip(trainer):
            # The run's first file of any size: with little disk space, the run can resume before a best
            # checkpoint or logs fill it; a run stopped in its first epoch resumes instead of starting over.
            self.save(trainer)

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore_handlers()
        if self._vote is not None:
            self._vote.decide(None)  # counts the last vote every rank cast: none is left in flight
            self._vote = None
        self._stop_if_asked(trainer, self._stop_after_epoch)  # asked during the last epoch's end

    def on_train_epoch_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._stop_if_asked(trainer, self._stop_after_epoch)

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._restore_handlers()
        self._vote = None  # the other ranks may be gone: no waiting for their votes

    def _skip(self, trainer: pl.Trainer) -> bool:
        # Lightning sets `fast_dev_run` on the trainer at init; its own checkpoints skip such runs too.
        return bool(getattr(trainer, "fast_dev_run", False)) or trainer.sanity_checking

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._skip(trainer) or batch_idx + 1 == trainer.num_training_batches:
            return  # the epoch's last batch: the epoch-end checkpoint follows its validation
        stop_signal = self.stop_signal
        if self._vote is not None:
            vote_due = trainer.global_step % VOTE_EVERY_N_STEPS == 0
            stop_signal = self._vote.cast(self.stop_signal) if vote_due else None
        every = self.every_n_train_steps or 0
        if (every > 0 and trainer.global_step % every == 0) or stop_signal is not None:
            self.save(trainer)
        self._stop_if_asked(trainer, stop_signal)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._skip(trainer):
            return
        self.save(trainer)
        # Lightning logs the epoch's train metrics after this hook: the run stops once they are written
        # (at the next epoch's start, or when training ends), so the curves keep that epoch's point.
        decided = self.stop_signal if self._vote is None else self._vote.decide(self.stop_signal)
        self._stop_after_epoch = decided

    def save(self, trainer: pl.Trainer) -> None:
        run_dir = self.path.parent.parent.resolve()
        for logger in trainer.loggers:
            # What was logged so far reaches the disk before the checkpoint that follows it (litmlp's
            # TensorBoardLogger writes out on `save` only every few seconds, at once on `flush`).
            if isinstance(logger, TensorBoardLogger):
                logger.flush()
            else:
                logger.save()
            writer = logger.experiment if isinstance(logger, ResumableCSVLogger) else None
            if isinstance(writer, ContinuingWriter):
                path = Path(writer.metrics_file_path).resolve()
                if path.is_relative_to(run_dir):
                    self.csv_rows[str(path.relative_to(run_dir))] = writer.rows_written
        self.saved_at = time.time()
        trainer.save_checkpoint(self.path, weights_only=False)  # the full training state

    def _stop_if_asked(self, trainer: pl.Trainer, stop_signal: int | None) -> None:
        if stop_signal is None:
            return
        name = signal.Signals(stop_signal).name
        trainer.strategy.checkpoint_io.teardown()  # the checkpoint is on disk before anyone is told so
        log.info("%s: stopped at step %d after saving %s", name, trainer.global_step, self.path)
        slurm_job = os.environ.get("SLURM_JOB_ID")
        if stop_signal == getattr(signal, "SIGUSR1", None) and slurm_job and trainer.is_global_zero:
            # SLURM sends SIGUSR1 ahead of preemption or the time limit (`#SBATCH --signal=USR1@120`):
            # put the job back in the queue (SLURM ends this one); its script resumes this run.
            log.info("Requeueing SLURM job %s", slurm_job)
            subprocess.run(["scontrol", "requeue", slurm_job], check=False)
        raise RunInterrupted(name, str(self.path.parent.parent), 128 + stop_signal)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self.saved_at is not None:
            checkpoint[SAVED_AT_KEY] = self.saved_at
            checkpoint[CSV_ROWS_KEY] = dict(self.csv_rows)
        checkpoint[METRIC_STATES_KEY] = {
            name: {"state": metric.metric_state, "updates": metric._update_count}
            for name, metric in pl_module.named_modules()
            if isinstance(metric, Metric)
        }

    def on_load_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        metrics = dict(pl_module.named_modules())
        for name, saved in checkpoint.get(METRIC_STATES_KEY, {}).items():
            metric = metrics.get(name)
            if isinstance(metric, Metric):
                for attribute, value in saved["state"].items():
                    moved = (
                        [v.to(metric.device) for v in value]
                        if isinstance(value, list)
                        else value.to(metric.device)
                    )
                    setattr(metric, attribute, moved)
                metric._update_count = saved["updates"]
                metric._computed = None

    def state_dict(self) -> dict[str, Any]:
        return {"rng": rng_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        set_rng_states(state_dict["rng"])
