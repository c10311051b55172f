"""The progress bar redraws at most a few times a second, and always shows an epoch's end."""

from __future__ import annotations

from typing import Any

import lightning.pytorch as pl
import pytest
import torch

from litmlp.callbacks import ThrottledRichProgressBar
from litmlp.data.loader import EpochBatchSampler, InMemoryLoader
from litmlp.models import MLP
from litmlp.modules import Classifier


class ShownSteps(pl.Callback):
    """After each batch, the batch count the bar shows (runs after the bar: callbacks run in order)."""

    def __init__(self, bar: ThrottledRichProgressBar) -> None:
        self.bar = bar
        self.shown: list[int] = []

    def on_train_batch_end(
        self, trainer: pl.Trainer, pl_module: pl.LightningModule, outputs: Any, batch: Any, batch_idx: int
    ) -> None:
        assert self.bar.train_progress_bar_id is not None
        assert self.bar.progress is not None
        self.shown.append(int(self.bar.progress.tasks[self.bar.train_progress_bar_id].completed))


@pytest.mark.parametrize(
    ("refresh_every_s", "expected"),
    [(0.0, [1, 2, 3, 4, 5, 6, 1, 2, 3, 4, 5, 6]), (3600.0, [1, 1, 1, 1, 1, 6, 0, 0, 0, 0, 0, 6])],
)
def test_the_bar_is_redrawn_when_due_and_at_every_epoch_end(refresh_every_s, expected):
    bar = ThrottledRichProgressBar(refresh_rate=1, refresh_every_s=refresh_every_s)
    shown = ShownSteps(bar)
    features, targets = torch.randn(60, 4), torch.randint(0, 3, (60,))
    loader = InMemoryLoader(features, targets, EpochBatchSampler(60, 10, shuffle=True))
    model = Classifier(MLP(4, 3), 3, optimizer=lambda params: torch.optim.SGD(params, lr=0.1))
    trainer = pl.Trainer(
        accelerator="cpu",
        max_epochs=2,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        callbacks=[bar, shown],
        limit_val_batches=0,
    )
    trainer.fit(model, loader)
    assert shown.shown == expected
