"""A callback that fails the way a bug does (an exception litmlp knows nothing of), when training starts."""

from __future__ import annotations

import lightning.pytorch as pl


class Boom(pl.Callback):
    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        raise RuntimeError("boom")
