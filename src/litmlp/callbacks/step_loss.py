"""The training loss of single steps, written every `trainer.log_every_n_steps` steps."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import lightning.pytorch as pl


class StepLoss(pl.Callback):
    """Writes the loss that `training_step` returned straight to the loggers on logging steps only.

    `self.log` in `training_step` costs ~350 us per call here, about as much as the whole step of this
    small net; this callback costs nothing on the other steps, and `.item()` (a device sync) happens only
    when the value is written. The step is Lightning's own step count after the update (N, 2N, ...).
    """

    def __init__(self, name: str = "train/loss_step") -> None:
        self.name = name

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        step = trainer.global_step
        # Set on the Trainer by Lightning's logger connector, not declared on the class.
        interval: int = getattr(trainer, "log_every_n_steps", 50)
        if not trainer.loggers or step == 0 or step % interval:
            return
        loss = outputs.get("loss") if isinstance(outputs, Mapping) else outputs
        if loss is None:
            return
        for logger in trainer.loggers:
            logger.log_metrics({self.name: float(loss)}, step=step)
