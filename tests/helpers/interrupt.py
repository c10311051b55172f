"""A Lightning callback that tests add through the config (`+callbacks.interrupt=...`) to stop a real
training process at an exact point: a signal at a given step and hook (to one rank of a distributed run),
or SIGKILL in the middle of writing a checkpoint. It fires once per run directory (a marker file), so the
resumed run goes on."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path
from typing import Any

import lightning.pytorch as pl


class _KillWhenPickled:
    """Pickling this (inside torch.save) kills the process: the checkpoint file is left half-written."""

    def __reduce__(self) -> Any:
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


class Interrupt(pl.Callback):
    def __init__(self, step: int, hook: str, signal_name: str, marker: str, rank: int = 0) -> None:
        self.step = step
        self.hook = hook
        self.signal_name = signal_name
        self.marker = Path(marker)
        self.rank = rank  # in a distributed run, only this rank is signalled
        self.saves_at_step: dict[int, int] = {}

    def _due(self, trainer: pl.Trainer, hook: str) -> bool:
        if hook != self.hook or trainer.global_step != self.step or trainer.global_rank != self.rank:
            return False
        if self.marker.exists():
            return False
        self.marker.touch()
        return True

    def _fire(self, trainer: pl.Trainer, hook: str) -> None:
        if self._due(trainer, hook):
            # Checkpoints are written in a background thread; finish the pending writes first, so the
            # signal lands at a known state (a kill during a write has a hook of its own).
            trainer.strategy.checkpoint_io.teardown()
            for name in self.signal_name.split(","):  # "SIGINT,SIGINT": Ctrl-C pressed twice
                os.kill(os.getpid(), getattr(signal, name))

    def on_train_batch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self._fire(trainer, "batch_start")

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._fire(trainer, "batch_end")

    def on_validation_end(self, trainer: pl.Trainer, *args: Any) -> None:
        self._fire(trainer, "validation_end")

    def on_train_epoch_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self._fire(trainer, "epoch_start")

    def on_sanity_check_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self._fire(trainer, "sanity_check")

    def on_test_start(self, trainer: pl.Trainer, *args: Any) -> None:
        self._fire(trainer, "test_start")

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict
    ) -> None:
        # "checkpoint_write": the step's first checkpoint; "second_checkpoint_write": its second (at an
        # epoch's end, the best checkpoint is written first, then the resume checkpoint).
        nth = self.saves_at_step[trainer.global_step] = self.saves_at_step.get(trainer.global_step, 0) + 1
        if self._due(
            trainer, "checkpoint_write" if nth == 1 else "second_checkpoint_write" if nth == 2 else ""
        ):
            checkpoint["zz_kill_while_writing"] = _KillWhenPickled()


class Pause(pl.Callback):
    """At `step`, writes `paused` and waits (up to `timeout` s) until the file `resume` exists: a test
    can act while the run is certainly in the middle of training. Then prints `say`, if given, to the
    run's standard output."""

    def __init__(self, step: int, paused: str, resume: str, timeout: float = 120, say: str = "") -> None:
        self.step = step
        self.paused = Path(paused)
        self.resume = Path(resume)
        self.timeout = timeout
        self.say = say

    def on_train_batch_end(self, trainer: pl.Trainer, *args: Any) -> None:
        if trainer.global_step != self.step or self.paused.exists():
            return
        self.paused.touch()
        waited = 0.0
        while not self.resume.exists() and waited < self.timeout:
            time.sleep(0.05)
            waited += 0.05
        if self.say:
            print(self.say, flush=True)
