"""Stores the run's composed config in every checkpoint, so a checkpoint alone rebuilds its model and data."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl

from litmlp.checkpoint import CONFIG_KEY


class RunConfigInCheckpoint(pl.Callback):
    def __init__(self, config: dict[str, Any]) -> None:
        # A plain dict of primitives: loadable with torch.load(weights_only=True).
        self.config = config

    def on_save_checkpoint(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        checkpoint[CONFIG_KEY] = self.config
