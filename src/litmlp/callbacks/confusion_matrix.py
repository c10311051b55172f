"""Draws the validation confusion matrix as an image in TensorBoard after every validation epoch."""

from __future__ import annotations

import lightning.pytorch as pl
import numpy as np
import torch
from lightning.pytorch.loggers import TensorBoardLogger
from lightning.pytorch.utilities import rank_zero_only

CELL_PIXELS = 32
_WHITE = np.array([255.0, 255.0, 255.0])
_BLUE = np.array([8.0, 48.0, 107.0])


def render_confusion_matrix(confusion: torch.Tensor, cell_pixels: int = CELL_PIXELS) -> np.ndarray:
    """Row-normalised matrix (true class per row) as an RGB uint8 image, white = 0 to dark blue = 1."""
    counts = confusion.double().cpu().numpy()
    rates = counts / np.maximum(counts.sum(axis=1, keepdims=True), 1.0)
    colours = _WHITE + rates[..., None] * (_BLUE - _WHITE)
    image = np.repeat(np.repeat(colours, cell_pixels, axis=0), cell_pixels, axis=1)
    image[::cell_pixels, :] = image[:, ::cell_pixels] = 200.0  # grid lines between cells
    return image.round().astype(np.uint8)


class ConfusionMatrixImage(pl.Callback):
    """Needs a module that sets `last_val_confusion` in `on_validation_epoch_end` (as `Classifier` does)."""

    @rank_zero_only
    def on_validation_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        confusion = getattr(pl_module, "last_val_confusion", None)
        if trainer.sanity_checking or confusion is None:
            return
        image = render_confusion_matrix(confusion)
        for logger in trainer.loggers:
            if isinstance(logger, TensorBoardLogger):
                logger.experiment.add_image(
                    "val/confusion_matrix", image, global_step=trainer.global_step, dataformats="HWC"
                )
