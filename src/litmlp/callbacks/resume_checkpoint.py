"""Keeps `checkpoints/last.ckpt` resumable, so `litmlp train resume=RUN_DIR` continues exactly.

It is written at the end of every training epoch, every `every_n_train_steps` steps, and when the run is
asked to stop (SIGTERM, SIGINT/Ctrl-C, SIGUSR1 from SLURM before preemption): the signal only sets a flag,
and the checkpoint is taken at the next step boundary, then the run exits with `RunInterrupted`.
Besides what Lightning saves (weights, optimizer, schedulers, loop progress, callbacks, the loader's
position in the epoch), it stores the RNG states and the wall time of the save; events that TensorBoard
received after that time belong to steps the resumed run will repeat.
"""

from __future__ import annotations

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
from lightning.pytorch.callbacks import Checkpoint

from litmlp.checkpoint import SAVED_AT_KEY
from litmlp.errors import RunInterrupted

STOP_SIGNALS = tuple(
    getattr(signal, name) for name in ("SIGTERM", "SIGINT", "SIGUSR1") if hasattr(signal, name)
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
        "python": {"version": version, "state": list(python_state), "gauss": python_gauss},
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
    random.setstate((python["version"], tuple(python["state"]), python["gauss"]))
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])


class ResumeCheckpoint(Checkpoint):
    def __init__(
        self, dirpath: str, every_n_train_steps: int | None = None, filename: str = "last.ckpt"
    ) -> None:
        self.path = Path(dirpath) / filename
        self.every_n_train_steps = every_n_train_steps
        self.stop_signal: int | None = None
        self.saved_at: float | None = None
        self._previous_handlers: dict[int, Any] = {}

    @property
    def last_model_path(self) -> str:
        return str(self.path) if self.path.is_file() else ""

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        self.stop_signal = signum
        if signum == signal.SIGINT:
            signal.signal(signal.SIGINT, signal.default_int_handler)  # a second Ctrl-C aborts at once

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # Installed here, after Lightning registered its own SIGTERM/SLURM handlers at the start of fit.
        for signum in STOP_SIGNALS:
            self._previous_handlers[signum] = signal.getsignal(signum)
            signal.signal(signum, self._on_signal)

    def _restore_handlers(self) -> None:
        for signum, handler in self._previous_handlers.items():
            signal.signal(signum, handler)
        self._previous_handlers.clear()

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        self._restore_handlers()

    def on_exception(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, exception: BaseException
    ) -> None:
        self._restore_handlers()

    def _skip(self, trainer: pl.Trainer) -> bool:
        # Lightning sets `fast_dev_run` on the trainer at init; its own checkpoints skip such runs too.
        return bool(getattr(trainer, "fast_dev_run", False)) or trainer.sanity_checking

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        if self._skip(trainer) or batch_idx + 1 == trainer.num_training_batches:
            return  # the epoch's last batch: the epoch-end checkpoint follows its validation
        every = self.every_n_train_steps or 0
        if (every > 0 and trainer.global_step % every == 0) or self.stop_signal is not None:
            self.save(trainer)
        self._stop_if_asked(trainer)

    def on_train_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        if self._skip(trainer):
            return
        self.save(trainer)
        self._stop_if_asked(trainer)

    def save(self, trainer: pl.Trainer) -> None:
        for logger in trainer.loggers:
            logger.save()  # what was logged so far reaches the disk before the checkpoint that follows it
        self.saved_at = time.time()
        trainer.save_checkpoint(self.path, weights_only=False)  # the full training state, not just weights

    def _stop_if_asked(self, trainer: pl.Trainer) -> None:
        if self.stop_signal is None:
            return
        name = signal.Signals(self.stop_signal).name
        if self.stop_signal == getattr(signal, "SIGUSR1", None) and os.environ.get("SLURM_JOB_ID"):
            # SLURM sends SIGUSR1 ahead of preemption or the time limit (`#SBATCH --signal=USR1@120`):
            # put the job back in the queue; its script resumes this run.
            subprocess.run(["scontrol", "requeue", os.environ["SLURM_JOB_ID"]], check=False)
        raise RunInterrupted(name, str(self.path.parent.parent), 128 + self.stop_signal)

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        if self.saved_at is not None:
            checkpoint[SAVED_AT_KEY] = self.saved_at

    def state_dict(self) -> dict[str, Any]:
        return {"rng": rng_states()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        set_rng_states(state_dict["rng"])
